"""Shared set-up for the DAG tests: an isolated AIRFLOW_HOME with a migrated SQLite database, the
DAG folder on sys.path, and a DagBag loader that honours the runtime chosen by the test."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(DAGS))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Before anything imports airflow: its home, no examples, this folder as the DAG folder.
_HOME = tempfile.mkdtemp(prefix="bookpipe-airflow-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"


# The Kubernetes runtime refuses a movable image reference; tests use this digest (set before
# the DAG modules are imported by the tests, which parses the DAG under the default runtime).
PINNED_IMAGE = "registry.example.com/bookpipe@sha256:" + "0" * 64
os.environ.setdefault("BOOKPIPE_IMAGE", PINNED_IMAGE)


@pytest.fixture(autouse=True)
def pinned_image(monkeypatch):
    monkeypatch.setenv("BOOKPIPE_IMAGE", PINNED_IMAGE)
    return PINNED_IMAGE


@pytest.fixture(scope="session")
def airflow_db():
    """`airflow db migrate` once per session (SQLite in the temp AIRFLOW_HOME)."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)
    return _HOME


def load_dag(monkeypatch, runtime: str):
    """The DAG as the scheduler would parse it under `runtime`, with the DagBag's import errors."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("BOOKPIPE_RUNTIME", runtime)
    bag = DagBag(dag_folder=str(DAGS / "bookpipe_openlibrary.py"))
    return bag.dags.get("bookpipe_openlibrary"), bag.import_errors


@pytest.fixture
def binary():
    """The bookpipe binary the Rust tests built (scripts/test sets BOOKPIPE_BINARY)."""
    path = os.environ.get("BOOKPIPE_BINARY")
    assert path and Path(path).is_file(), "set BOOKPIPE_BINARY to the bookpipe binary (scripts/test does)"
    return path


def wait_out_the_real_midnight(margin: datetime.timedelta) -> None:
    """Sleeps past the real UTC midnight when it is less than `margin` away: a test that takes its
    days from the real date and runs the bookpipe binary (static, so on the real clock, which
    fetches a ds from yesterday to tomorrow only) must not see the date change under it."""
    now = datetime.datetime.now(datetime.UTC)
    midnight = datetime.datetime.combine(now.date() + datetime.timedelta(days=1), datetime.time(0), tzinfo=datetime.UTC)
    if midnight - now < margin:
        pause = (midnight - now).total_seconds() + 30
        print(f"waiting {pause:.0f}s for the real UTC midnight: the test's days come from the real date")
        time.sleep(pause)
