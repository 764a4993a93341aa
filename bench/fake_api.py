"""A fake Open Library on 127.0.0.1 for the fetch benchmark, answering as the 2026 server does:
subject pages (`limit` up to 1000, any `offset`, `sort=key` order) from a generated raw partition,
author records at `/authors/<KEY>.json` and in batches at `/api/get_many?keys=[...]`
(`{"status": "ok", "result": {...}}`, unknown keys left out), request lines over gunicorn's 4094
bytes refused, and Open Library's nginx rate limit: `limit_req rate=R burst=B` per client, a request
beyond the burst refused with a 429, a JSON body and no Retry-After. Every answer waits `latency`
seconds, as a distant server would; every request is logged with whether it was refused."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

MAX_LIMIT = 1000
MAX_REQUEST_LINE = 4094
REFUSAL = b'{"status": 429, "message": "Too Many Requests. Consider using https://openlibrary.org/developers/dumps."}'


class FakeOpenLibrary:
    def __init__(self, lake: Path, subject: str, ds: str, latency: float, *, rate: float, burst: int) -> None:
        partition = lake / f"raw/openlibrary/subjects/subject={subject}/ds={ds}"
        manifest = json.loads((partition / "_manifest.json").read_text())
        pages = [json.loads((lake / o["path"]).read_bytes()) for o in manifest["objects"] if "/page-" in o["path"]]
        self.works = [work for page in pages for work in page["works"]]
        self.works.sort(key=lambda work: work["key"])
        self.work_count = pages[0]["work_count"] if pages else 0
        self.records = {r["key"]: (lake / r["path"]).read_bytes() for r in manifest["details"]["author_records"]}
        self.authors = len(self.records)
        self.subject, self.latency = subject, latency
        self.interval, self.burst = 1.0 / rate, burst
        self.excess, self.last = 0.0, time.monotonic()
        self.requests: list[tuple[str, bool]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                refused = fake.over_limit()
                with fake.lock:
                    fake.requests.append((self.path, refused))
                time.sleep(fake.latency)
                status, body = (429, REFUSAL) if refused else fake.answer(self.path)
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

    def over_limit(self) -> bool:
        """nginx's leaky bucket: the excess drains at the rate; over the burst is refused."""
        with self.lock:
            now = time.monotonic()
            self.excess = max(0.0, self.excess - (now - self.last) / self.interval)
            self.last = now
            if self.excess > self.burst + 0.001:
                return True
            self.excess += 1.0
            return False

    def answer(self, path: str) -> tuple[int, bytes]:
        if len("GET  HTTP/1.1") + len(path) > MAX_REQUEST_LINE:
            return 400, b"Bad Request\nRequest Line is too large"
        url = urlsplit(path)
        query = parse_qs(url.query)
        if url.path == f"/subjects/{self.subject}.json":
            limit, offset = int(query.get("limit", ["12"])[0]), int(query.get("offset", ["0"])[0])
            if limit > MAX_LIMIT:
                detail = {"detail": [{"type": "less_than_equal", "loc": ["query", "limit"], "input": str(limit)}]}
                return 422, json.dumps(detail).encode()
            page = {
                "key": f"/subjects/{self.subject}",
                "name": self.subject,
                "subject_type": "subject",
                "work_count": self.work_count,
                "works": self.works[offset : offset + limit],
            }
            return 200, json.dumps(page).encode()
        if url.path == "/api/get_many":
            keys = json.loads(query["keys"][0])
            result = {}
            for key in keys:
                record = self.records.get(key.removeprefix("/authors/"))
                if record is not None:
                    result[key] = json.loads(record)
            return 200, json.dumps({"status": "ok", "result": result}).encode()
        if url.path.startswith("/authors/") and url.path.endswith(".json"):
            record = self.records.get(url.path[len("/authors/") : -len(".json")])
            if record is not None:
                return 200, record
        return 404, b'{"error": "notfound"}'

    def __enter__(self) -> FakeOpenLibrary:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
