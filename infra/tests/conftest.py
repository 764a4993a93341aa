"""The Terraform under infra/terraform as data: every file parsed with python-hcl2 and normalised
(quotes and parser bookkeeping stripped), for the checks in test_infra.py; and a lake a real
`bookpipe run` wrote, for the checks that read it as the Glue tables and the engines do."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "infra" / "terraform"
MODULE = TERRAFORM / "modules" / "bookpipe"


def clean(value):
    """python-hcl2 8 keeps string quotes and adds `__is_block__`/comment keys: strip them."""
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parse(path: Path) -> dict:
    with path.open() as f:
        return clean(hcl2.load(f))


def blocks(parsed: dict, kind: str, type_: str) -> dict[str, dict]:
    """`resource`/`data` blocks of one type, by name."""
    found = {}
    for entry in parsed.get(kind, []):
        for name, body in entry.get(type_, {}).items():
            found[name] = body
    return found


@pytest.fixture(scope="session")
def module() -> dict[str, dict]:
    return {path.name: parse(path) for path in sorted(MODULE.glob("*.tf"))}


@pytest.fixture(scope="session")
def every(module) -> dict:
    """The module's blocks of every file together: {"resource": [...], "data": [...], "locals": [...], ...}."""
    merged: dict[str, list] = {}
    for parsed in module.values():
        for kind, entries in parsed.items():
            merged.setdefault(kind, []).extend(entries)
    return merged


@pytest.fixture
def binary() -> str:
    path = os.environ.get("BOOKPIPE_BINARY")
    assert path and Path(path).is_file(), "set BOOKPIPE_BINARY to the bookpipe binary (scripts/test does)"
    return path


REFERENCE = re.compile(r"\$\{([^}]+)\}")

# Subjects whose keys hold what Open Library keys hold besides letters and `_`: a prefix's `:`,
# `(`, `)`, `'`, `-` and digits. The fake Open Library serves the same works for every subject.
SUBJECTS = ["love", "place:london", "person:sherlock_holmes_(fictitious_character)", "o'brien", "science-fiction_2"]
DS = "2024-05-01"


@dataclass(frozen=True)
class Run:
    lake: Path
    warehouse: Path
    subjects: list[str]
    ds: str


@pytest.fixture(scope="session")
def lake_run(tmp_path_factory) -> Run:
    """One `bookpipe run` of SUBJECTS for DS from a fake Open Library into a lake folder and a DuckDB
    file (the binary of BOOKPIPE_BINARY, as scripts/test sets it)."""
    binary = os.environ.get("BOOKPIPE_BINARY")
    assert binary and Path(binary).is_file(), "set BOOKPIPE_BINARY to the bookpipe binary (scripts/test does)"
    sys.path.insert(0, str(ROOT / "dags" / "tests"))
    from fake_openlibrary import FakeOpenLibrary

    root = tmp_path_factory.mktemp("run")
    lake, warehouse = root / "lake", root / "w.duckdb"
    with FakeOpenLibrary() as api:
        subjects = [arg for subject in SUBJECTS for arg in ("--subject", subject)]
        done = subprocess.run(
            [binary, "--lake", str(lake), "run", *subjects, "--ds", DS, "--api-url", api.url, "--rate", "200",
             "--contact", "tests@example.com", "--warehouse", f"duckdb:{warehouse}", "--allow-past-ds"],
            capture_output=True, text=True, check=False, env={**os.environ, "BOOKPIPE_LOG": "warn"},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return Run(lake, warehouse, list(SUBJECTS), DS)
