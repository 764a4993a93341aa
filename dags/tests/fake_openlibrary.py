"""The fake Open Library of the end-to-end and scheduler tests: the one fake (tests/fake_openlibrary/)
as a process on 127.0.0.1, serving the works of the real science_fiction subject page as every
subject, paged by `limit` and `offset` in key order (`sort=key`) with the `work_count` it pages
through, and an author record (shaped like the real OL4452558A record) named as the page lists each
author, one by one (`/authors/<KEY>.json`) or in batches (`/api/get_many?keys=[...]`), as Open
Library answers them. `requests` is every request asked, as sent (path and query)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "fake_openlibrary"))
from openlibrary_launcher import FakeOpenLibraryProcess

__all__ = ["FakeOpenLibrary", "FakeOpenLibraryProcess"]


class FakeOpenLibrary(FakeOpenLibraryProcess):
    def __init__(self, *faults: object) -> None:
        super().__init__("--science-fiction", *faults)

    @property
    def requests(self) -> list[str]:
        return self.requests_as(lambda entry: entry["target"])
