"""A fake Open Library on 127.0.0.1 for the fetch benchmark: it answers from a generated raw
partition (subject pages of 1000 works by offset, author records by key), waits `latency` seconds
before every answer as a distant server would, and logs every request path."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

PAGE = 1000


class FakeOpenLibrary:
    def __init__(self, lake: Path, subject: str, ds: str, latency: float) -> None:
        partition = lake / f"raw/openlibrary/subjects/subject={subject}/ds={ds}"
        manifest = json.loads((partition / "_manifest.json").read_text())
        self.pages = [(lake / o["path"]).read_bytes() for o in manifest["objects"] if "/page-" in o["path"]]
        self.records = {r["key"]: (lake / r["path"]).read_bytes() for r in manifest["details"]["author_records"]}
        self.authors = len(self.records)
        self.subject, self.latency = subject, latency
        self.requests: list[str] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                with fake.lock:
                    fake.requests.append(self.path)
                time.sleep(fake.latency)
                status, body = fake.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str) -> tuple[int, bytes]:
        url = urlsplit(path)
        if url.path == f"/subjects/{self.subject}.json":
            query = parse_qs(url.query)
            limit, offset = int(query["limit"][0]), int(query["offset"][0])
            if limit != PAGE or offset % PAGE:
                return 400, b'{"error": "the fake serves pages of 1000 only"}'
            index = offset // PAGE
            empty = json.dumps({"key": f"/subjects/{self.subject}", "works": []}).encode()
            return 200, self.pages[index] if index < len(self.pages) else empty
        if url.path.startswith("/authors/") and url.path.endswith(".json"):
            record = self.records.get(url.path[len("/authors/") : -len(".json")])
            if record is not None:
                return 200, record
        return 404, b'{"error": "notfound"}'

    def expected_requests(self) -> int:
        """One request per page and per author: what a fetch without waste sends."""
        return len(self.pages) + len(self.records)

    def __enter__(self) -> FakeOpenLibrary:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
