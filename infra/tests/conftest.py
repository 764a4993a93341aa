"""The Terraform under infra/terraform as data: every file parsed with python-hcl2 and normalised
(quotes and parser bookkeeping stripped), for the checks in test_infra.py."""

from __future__ import annotations

import os
import re
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
