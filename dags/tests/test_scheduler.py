"""The DAG as deployed: `airflow standalone` (scheduler, DAG processor, API server, triggerer,
LocalExecutor, SQLite) on 127.0.0.1 with `dags/` as its DAGs folder and the `local` runtime, driven
only through the REST API v2, as an operator would: a run with a logical date, a run without one, a
run whose fetch is refused, and a backfill of three past days over raw partitions fetched earlier.

Set BOOKPIPE_TEST_DAGS_FOLDER to run it against another copy of the DAGs (how it was checked to
fail on the DAG before issue 16: the pool nobody creates, `ds` undefined without a logical date).
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest

from fake_openlibrary import FakeOpenLibrary

DAG_ID = "bookpipe_openlibrary"
DAGS = Path(os.environ.get("BOOKPIPE_TEST_DAGS_FOLDER") or Path(__file__).resolve().parents[1])
# How long one run may take here before the test calls it stuck (a healthy one takes ~20 s).
RUN_TIMEOUT = float(os.environ.get("BOOKPIPE_TEST_RUN_TIMEOUT", "240"))
STEPS = ("fetch", "transform", "load", "aggregate", "report")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Airflow:
    """`airflow standalone` in its own home, its own process group, and its REST API."""

    def __init__(self, home: Path, extra_env: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        venv_bin = str(Path(sys.executable).parent)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BOOKPIPE_"))}
        env.update(
            {
                "PATH": f"{venv_bin}:{env.get('PATH', '')}",
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                # Not 8793, the default: another Airflow on this machine must not collide.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
                **extra_env,
            }
        )
        self.log = open(home / "standalone.log", "w")
        self.process = subprocess.Popen(
            [str(Path(venv_bin) / "airflow"), "standalone"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.home = home

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()

    def tail(self, lines: int = 60) -> str:
        return "\n".join((self.home / "standalone.log").read_text(errors="replace").splitlines()[-lines:])

    def api(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/api/v2{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def wait(self, what: str, check, timeout: float, detail=lambda: ""):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"airflow standalone exited with {self.process.returncode}:\n{self.tail()}")
            try:
                result = check()
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                result = None
            if result:
                return result
            time.sleep(1)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}: {detail()}\n{self.tail()}")

    def run_state(self, run_id: str) -> str | None:
        status, run = self.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")
        return run.get("state") if status == 200 else None

    def finished(self, run_id: str) -> str:
        return self.wait(
            f"run {run_id} to finish (a task that is never scheduled stays 'scheduled' for ever)",
            lambda: (state := self.run_state(run_id)) in ("success", "failed") and state,
            RUN_TIMEOUT,
            detail=lambda: f"task instances {states(self.task_instances(run_id))}",
        )

    def create_backfill(self, request: dict) -> dict:
        """`POST /backfills`. On SQLite the API refuses it while the scheduler holds the database
        (503 "Database is locked"): asked again, as an operator would."""
        for _ in range(30):
            status, backfill = self.api("POST", "/backfills", request)
            if status != 503:
                break
            time.sleep(1)
        assert status == 200, backfill
        return backfill

    def task_instances(self, run_id: str) -> dict[tuple[str, int], dict]:
        status, body = self.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100")
        assert status == 200, body
        return {(ti["task_id"], ti["map_index"]): ti for ti in body["task_instances"]}


def at_six(day: datetime.date) -> str:
    return datetime.datetime.combine(day, datetime.time(6), tzinfo=datetime.UTC).isoformat()


def states(tis: dict) -> dict[str, str]:
    return {f"{task_id}[{index}]" if index >= 0 else task_id: ti["state"] for (task_id, index), ti in tis.items()}


def expect(tis: dict, subject: str, **by_step: str) -> None:
    """The run's `subjects` task succeeded once, and each step of its one subject ended as told,
    labelled by its subject, never retried."""
    assert tis[("subjects", -1)]["state"] == "success", states(tis)
    for step in STEPS:
        ti = tis[(f"subject.{step}", 0)]
        assert ti["state"] == by_step.get(step, "success"), (step, states(tis))
        if ti["state"] != "upstream_failed":
            assert ti["rendered_map_index"] == subject, ti
    assert max(ti["try_number"] for ti in tis.values()) <= 1, {k: ti["try_number"] for k, ti in tis.items()}


def test_a_real_scheduler_runs_the_dag_with_and_without_a_logical_date_and_backfills(tmp_path, binary):
    started = time.monotonic()
    today = datetime.datetime.now(datetime.UTC).date()
    days = [today - datetime.timedelta(days=n) for n in (4, 3, 2)]
    lake, warehouse = tmp_path / "lake", tmp_path / "warehouse.duckdb"
    with FakeOpenLibrary() as api:
        bookpipe_env = {
            "BOOKPIPE_RUNTIME": "local",
            "BOOKPIPE_BINARY": binary,
            "BOOKPIPE_API_URL": api.url,
            "BOOKPIPE_LAKE": str(lake),
            "BOOKPIPE_WAREHOUSE": f"duckdb:{warehouse}",
            "BOOKPIPE_RATE": "200",
            "BOOKPIPE_CONTACT": "tests@example.com",
        }
        # The raw partitions a backfill re-runs from: fetched on their day (here: now, filed
        # under the past day on purpose).
        for day in days:
            subprocess.run(
                [binary, "fetch", "--ds", str(day), "--subject", "science_fiction", "--allow-past-ds"],
                env={**os.environ, **bookpipe_env},
                check=True,
                capture_output=True,
            )
        home = tmp_path / "airflow"
        home.mkdir()
        airflow = Airflow(home, bookpipe_env)
        try:
            airflow.wait(
                "the scheduler to be healthy",
                lambda: airflow.api("GET", "/monitor/health")[1].get("scheduler", {}).get("status") == "healthy",
                120,
            )
            airflow.wait("the DAG to be parsed", lambda: airflow.api("GET", f"/dags/{DAG_ID}")[0] == 200, 120)
            status, errors = airflow.api("GET", "/importErrors")
            assert status == 200 and errors["total_entries"] == 0, errors
            assert airflow.api("PATCH", f"/dags/{DAG_ID}", {"is_paused": False})[0] == 200
            ready = time.monotonic()

            def trigger(run_id: str, logical_date: str | None, subject: str) -> dict:
                body = {"dag_run_id": run_id, "logical_date": logical_date, "conf": {"subjects": [subject]}}
                status, run = airflow.api("POST", f"/dags/{DAG_ID}/dagRuns", body)
                assert status == 200, run
                airflow.finished(run_id)
                return airflow.task_instances(run_id)

            yesterday = today - datetime.timedelta(days=1)
            # A run with a logical date: --ds is its day.
            expect(trigger("with-a-date", at_six(yesterday), "science_fiction"), "science_fiction")
            assert airflow.run_state("with-a-date") == "success"
            # A run without one (`logical_date: null`, as the API and Assets make them): --ds is
            # the day of run_after, today.
            expect(trigger("without-a-date", None, "love"), "love")
            assert airflow.run_state("without-a-date") == "success"
            # A past day never fetched: fetch is refused (exit 2) and fails at once, unretried.
            refused = trigger("refused", at_six(today - datetime.timedelta(days=10)), "fantasy")
            expect(
                refused,
                "fantasy",
                fetch="failed",
                transform="upstream_failed",
                load="upstream_failed",
                aggregate="upstream_failed",
                report="upstream_failed",
            )
            assert airflow.run_state("refused") == "failed"

            # A backfill of three past days: fetch finds each raw partition complete (exit 3,
            # skipped), transform, load and aggregate run from the raw zone.
            backfill_request = {
                "dag_id": DAG_ID,
                "from_date": datetime.datetime.combine(days[0], datetime.time(0), tzinfo=datetime.UTC).isoformat(),
                "to_date": datetime.datetime.combine(days[-1], datetime.time(12), tzinfo=datetime.UTC).isoformat(),
                "dag_run_conf": {"subjects": ["science_fiction"]},
                "reprocess_behavior": "none",
                "max_active_runs": 1,
            }
            backfill = airflow.create_backfill(backfill_request)
            airflow.wait(
                "the backfill to complete",
                lambda: airflow.api("GET", f"/backfills/{backfill['id']}")[1].get("completed_at"),
                RUN_TIMEOUT * 3,
            )
            status, runs = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns?run_type=backfill&limit=10")
            assert status == 200, runs
            backfilled = sorted(runs["dag_runs"], key=lambda r: r["logical_date"])
            assert [r["logical_date"][:10] for r in backfilled] == [str(day) for day in days]
            for run in backfilled:
                assert run["state"] == "success", run
                expect(airflow.task_instances(run["dag_run_id"]), "science_fiction", fetch="skipped")
            driven = time.monotonic() - ready
        finally:
            airflow.stop()
        # Only the two runs that fetch today's or yesterday's data asked the API anything.
        assert sorted(r.split("?")[0] for r in api.requests if not r.startswith("/api/get_many")) == [
            "/subjects/love.json",
            "/subjects/science_fiction.json",
        ] + ["/subjects/science_fiction.json"] * len(days)

    check_the_slices_and_reports(lake, warehouse, days, yesterday, today)
    print(f"airflow standalone: {ready - started:.1f}s to a healthy scheduler; runs: {driven:.1f}s")


def check_the_slices_and_reports(lake, warehouse, days, yesterday, today) -> None:
    """The warehouse's five slices and gold, and every run's report page with the index."""
    con = duckdb.connect(str(warehouse), read_only=True)
    loaded = con.execute("SELECT subject, CAST(ds AS VARCHAR), books FROM loads ORDER BY ALL").fetchall()
    assert loaded == sorted(
        [("science_fiction", str(day), 12) for day in [*days, yesterday]] + [("love", str(today), 12)]
    )
    gold = con.execute("SELECT count(DISTINCT (subject, ds)) FROM books_per_year").fetchone()
    assert gold == (5,)
    # Every successful run ended with its report page, and the index links each subject's latest.
    reports = sorted(str(p.relative_to(lake)) for p in lake.glob("gold/report/subject=*/ds=*/index.html"))
    assert reports == sorted(
        [f"gold/report/subject=science_fiction/ds={day}/index.html" for day in [*days, yesterday]]
        + [f"gold/report/subject=love/ds={today}/index.html"]
    )
    index = (lake / "gold" / "report" / "index.html").read_text().replace("&#x2f;", "/")
    assert f'href="subject=science_fiction/ds={yesterday}/index.html"' in index
