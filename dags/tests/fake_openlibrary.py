"""A fake Open Library on 127.0.0.1 for the end-to-end test: the works of the real science_fiction
subject page as every subject, paged by `limit` and `offset` in key order (`sort=key`) with the
`work_count` it pages through, and an author record (shaped like the real OL4452558A record) named
as the page lists each author, one by one (`/authors/<KEY>.json`) or in batches
(`/api/get_many?keys=[...]`), as Open Library answers them. Every request is logged."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"


class FakeOpenLibrary:
    def __init__(self) -> None:
        self.page = json.loads((FIXTURES / "subjects_science_fiction.json").read_bytes())
        self.page["works"].sort(key=lambda work: work["key"])
        self.page["work_count"] = len(self.page["works"])
        template = json.loads((FIXTURES / "author_OL4452558A__2021-09.json").read_text())
        self.authors: dict[str, bytes] = {}
        for work in self.page["works"]:
            for author in work["authors"]:
                key = author["key"].rsplit("/", 1)[-1]
                record = dict(template, key=author["key"], name=author["name"])
                self.authors.setdefault(key, json.dumps(record).encode())
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake.requests.append(self.path)
                url = urlsplit(self.path)
                path, query = url.path, parse_qs(url.query)
                body, status = b'{"error": "notfound"}', 404
                if path.startswith("/subjects/"):
                    limit, offset = int(query.get("limit", ["12"])[0]), int(query.get("offset", ["0"])[0])
                    page = dict(fake.page, works=fake.page["works"][offset : offset + limit])
                    body, status = json.dumps(page).encode(), 200
                elif path == "/api/get_many":
                    keys = json.loads(query["keys"][0])
                    result = {key: json.loads(fake.authors[key[9:]]) for key in keys if key[9:] in fake.authors}
                    body, status = json.dumps({"status": "ok", "result": result}).encode(), 200
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
