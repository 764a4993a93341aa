"""A fake Open Library on 127.0.0.1 for the end-to-end test: the real science_fiction subject page
for every subject request, and an author record (shaped like the real OL4452558A record) named as
the page lists each author. Every request is logged."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"


class FakeOpenLibrary:
    def __init__(self) -> None:
        self.page = (FIXTURES / "subjects_science_fiction.json").read_bytes()
        template = json.loads((FIXTURES / "author_OL4452558A__2021-09.json").read_text())
        self.authors: dict[str, bytes] = {}
        for work in json.loads(self.page)["works"]:
            for author in work["authors"]:
                key = author["key"].rsplit("/", 1)[-1]
                record = dict(template, key=author["key"], name=author["name"])
                self.authors.setdefault(key, json.dumps(record).encode())
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake.requests.append(self.path)
                path = self.path.split("?", 1)[0]
                body, status = b'{"error": "notfound"}', 404
                if path.startswith("/subjects/"):
                    body, status = fake.page, 200
                elif path.startswith("/authors/"):
                    key = path.rsplit("/", 1)[-1].removesuffix(".json")
                    if key in fake.authors:
                        body, status = fake.authors[key], 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenLibrary:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
