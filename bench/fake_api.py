"""The fake Open Library of the benchmark: the one fake (tests/fake_openlibrary/) as a process on
127.0.0.1, answering as the 2026 server does from a generated raw partition (subject pages in
`sort=key` order, author records one by one and through `/api/get_many`, request lines over
gunicorn's 4094 bytes refused), behind Open Library's nginx rate limit (`limit_req rate=R
burst=B`: a request beyond the burst refused with a 429, a JSON body and no Retry-After), every
answer after `latency` seconds. `requests` is every request as (target, refused), `authors` how
many author records it serves."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fake_openlibrary"))
from openlibrary_launcher import FakeOpenLibraryProcess


class FakeOpenLibrary(FakeOpenLibraryProcess):
    def __init__(self, lake: Path, subject: str, ds: str, latency: float, *, rate: float, burst: int) -> None:
        world = ["--lake", lake, "--subject", subject, "--ds", ds]
        super().__init__(*world, "--latency", latency, "--rate", rate, "--burst", burst)

    def __enter__(self) -> FakeOpenLibrary:
        super().__enter__()
        self.authors = self.world["authors"]
        return self

    @property
    def requests(self) -> list[tuple[str, bool]]:
        return self.requests_as(lambda entry: (entry["target"], entry["status"] == 429))
