"""The DAG as deployed: `airflow standalone` (scheduler, DAG processor, API server, triggerer,
LocalExecutor) on 127.0.0.1 with `dags/` as its DAGs folder and the `local` runtime, its metadata
database a PostgreSQL server of its own (as deployed: on SQLite, a backfill created while the
scheduler writes can kill the scheduler, see `Airflow`), driven only through the REST API
v2, as an operator would: a run with a logical date, a run without one, a run whose fetch is
refused, and a backfill of three past days over raw partitions fetched earlier.

**Why the clock is faked.** The DAG fires at 06:00 UTC (catchup=False, no start_date), and the
scheduler makes runs of its own while the test drives the API, which ones depending on the hour:
unpaused within a tenth of a day (2 h 24 min) after a 06:00 it runs that 06:00 at once (with no
start_date, airflow/timetables/trigger.py `_calc_first_run`, which treats `run_immediately=False`
like `None`), else it waits for the next 06:00; a 06:00 that passes during the test fires; and after
the backfill the latest 06:00 gone by is due (the latest automated run is now the backfill's, and
catchup=False only skips ahead to the latest 06:00, `next_dagrun_info`). So the Airflow processes
and their PostgreSQL server run under libfaketime with a constant offset (`FAKETIME=+N`, one clock
for every process they start; the monotonic clock left alone: `faked`) that puts their clock at the
real UTC date at 05:59, 06:01, 12:00 and 23:59 (one test each; BOOKPIPE_TEST_CLOCKS="05:59,12:00"
picks some), and the test expects the scheduler's runs: before the manual runs, that day's 06:00,
fired a minute in (05:59) or at once (06:01), or none (12:00, 23:59); after the backfill, that day's
06:00 at every clock, none other, and the next run planned for the next 06:00. From 23:59 the manual
runs start past Airflow's midnight: the run without a logical date fetches the real tomorrow. The
bookpipe binary is statically linked, so it keeps the real clock (its fetch accepts a ds from
yesterday to tomorrow): the test starts only when the real UTC date cannot change before it ends.

It proves, at each clock: the scheduler's runs ran the three default subjects in parallel (one
mapped task group, labelled by subject) on one DuckDB warehouse, every task once; a run with a
logical date fetches its day, one without fetches the UTC day of its `run_after`; a fetch of a past
day never fetched fails at once, unretried; a backfill re-runs three past days from the raw zone;
Open Library is asked exactly what those runs fetch; and the warehouse holds exactly their slices,
with a report page each and the index linking each subject's latest. Subjects of the manual runs
are not the defaults, so they never share a partition with the scheduler's runs.

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
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import psutil
import pytest

from conftest import wait_out_the_real_midnight
from fake_openlibrary import FakeOpenLibrary
from lineage_receiver import LineageReceiver, problems

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "postgres"))
from postgres import Postgres

DAG_ID = "bookpipe_openlibrary"
DAGS = Path(os.environ.get("BOOKPIPE_TEST_DAGS_FOLDER") or Path(__file__).resolve().parents[1])
# How long one run may take here before the test calls it stuck (a healthy one takes ~20 s).
RUN_TIMEOUT = float(os.environ.get("BOOKPIPE_TEST_RUN_TIMEOUT", "240"))
STEPS = ("fetch", "transform", "load", "aggregate", "report")
# The DAG's default `subjects` param: what its scheduled runs fetch.
DEFAULT_SUBJECTS = ["science_fiction", "fantasy", "love"]
DAY = datetime.timedelta(days=1)
# The clock of the Airflow processes when they start: the real UTC date at these times of day.
CLOCKS = ("05:59", "06:01", "12:00", "23:59")
SELECTED = [c.strip() for c in os.environ.get("BOOKPIPE_TEST_CLOCKS", ",".join(CLOCKS)).split(",") if c.strip()]
if unknown := set(SELECTED) - set(CLOCKS):
    raise ValueError(f"BOOKPIPE_TEST_CLOCKS: {sorted(unknown)}; choose from {', '.join(CLOCKS)}")
# A 06:00 or a midnight due this soon (on Airflow's clock) is waited for before the manual runs, so
# none fires among them and all of them see one date.
HORIZON = datetime.timedelta(minutes=30)
# A test takes a few minutes: started closer than this to the real midnight, it waits it out.
MIDNIGHT_MARGIN = datetime.timedelta(minutes=15)


# The sitecustomize of the Airflow processes: time.sleep as a relative select() timeout.
SLEEP_RELATIVE = """import select
import time


def sleep(seconds):
    select.select([], [], [], seconds)


time.sleep = sleep
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def faked(offset: int) -> list[str]:
    """A command prefix that runs a program, and every process it starts, on a clock `offset`
    seconds from the real one: libfaketime preloaded, as the `faketime` wrapper does, but without
    the wrapper, which outlives a daemon it starts (pg_ctl's server) waiting on it. A relative
    offset, not a start time (`@...`), which every process would start again from; the monotonic
    clock left alone (faked, it hangs Python's lock timeouts: sem_clockwait is not intercepted,
    wolfcw/libfaketime#390)."""
    libraries = sorted(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"))
    assert libraries, "libfaketime is not installed (apt-get install faketime; scripts/preflight)"
    return ["env", f"LD_PRELOAD={libraries[0]}", f"FAKETIME={offset:+d}", "DONT_FAKE_MONOTONIC=1"]


def utc(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value).astimezone(datetime.UTC)


class Airflow:
    """`airflow standalone` in its own home, its own process group, on a clock `offset` seconds
    from the real one (every process it starts included), and its REST API.

    Its metadata database is `database` (SQLAlchemy URL), a PostgreSQL server on the same clock,
    as deployed. Not SQLite: there every writer waits for one file lock, and a `POST /backfills`
    that loses that race to the scheduler gets 503 "database is locked" after Airflow committed
    some of the backfill's runs; its clean-up deletes them under the scheduler, which dies on
    `StaleDataError` (and `airflow standalone` does not restart it)."""

    def __init__(self, home: Path, database: str, extra_env: dict[str, str], offset: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.offset = datetime.timedelta(seconds=offset)
        venv_bin = str(Path(sys.executable).parent)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "BOOKPIPE_", "FAKETIME")) and k != "LD_PRELOAD"
        }
        env.update(
            {
                "PATH": f"{venv_bin}:{env.get('PATH', '')}",
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
                "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                # Not 8793 and 8794, the defaults: another Airflow on this machine must not collide.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
                **extra_env,
            }
        )
        # Python's time.sleep fails with EINVAL under `faked` (libfaketime 0.9.10 shifts its
        # absolute monotonic deadline even with the monotonic clock left alone, #426): a
        # sitecustomize sleeps relative.
        (home / "clock").mkdir()
        (home / "clock" / "sitecustomize.py").write_text(SLEEP_RELATIVE)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(home / "clock"), env.get("PYTHONPATH")]))
        self.log = open(home / "standalone.log", "w")
        self.process = subprocess.Popen(
            [*faked(offset), str(Path(venv_bin) / "airflow"), "standalone"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.home = home
        # The processes `airflow standalone` runs, once `watch` is called: pid -> command line.
        self.watched: dict[int, str] = {}

    def watch(self) -> None:
        """From now on a wait fails at once, naming it, when one of the processes `airflow
        standalone` runs (scheduler, DAG processor, API server, triggerer) has exited: standalone
        does not restart it, so a dead scheduler would otherwise show only as a run that never ends."""
        self.watched = {p.pid: " ".join(p.cmdline()[1:]) for p in psutil.Process(self.process.pid).children()}
        assert len(self.watched) == 4, self.watched

    def exited(self) -> list[str]:
        def alive(pid: int) -> bool:
            try:
                return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return False

        return [command for pid, command in self.watched.items() if not alive(pid)]

    def now(self) -> datetime.datetime:
        """The time on Airflow's clock."""
        return datetime.datetime.now(datetime.UTC) + self.offset

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

    def get(self, path: str) -> dict:
        status, body = self.api("GET", path)
        assert status == 200, (path, body)
        return body

    def wait(self, what: str, check, timeout: float, detail=lambda: ""):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"airflow standalone exited with {self.process.returncode}:\n{self.tail()}")
            if exited := self.exited():
                pytest.fail(f"{exited} exited under airflow standalone, which does not restart it:\n{self.tail()}")
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

    def trigger(self, run_id: str, logical_date: datetime.datetime | None, subject: str) -> tuple[dict, dict]:
        """A run of `subject` through the API, to its end: the run and its task instances."""
        body = {
            "dag_run_id": run_id,
            "logical_date": logical_date and logical_date.isoformat(),
            "conf": {"subjects": [subject]},
        }
        status, run = self.api("POST", f"/dags/{DAG_ID}/dagRuns", body)
        assert status == 200, run
        self.finished(run_id)
        return self.get(f"/dags/{DAG_ID}/dagRuns/{run_id}"), self.task_instances(run_id)

    def runs(self, run_type: str) -> list[dict]:
        runs = self.get(f"/dags/{DAG_ID}/dagRuns?run_type={run_type}&limit=100")["dag_runs"]
        # A run without a logical date (triggered with `logical_date: null`) sorts by its run_after.
        return sorted(runs, key=lambda run: run["logical_date"] or run["run_after"])

    def settle(self, parsed_after: datetime.datetime | None = None) -> list[dict]:
        """The scheduler's own runs once every one has finished and its next run is planned past
        HORIZON (a 06:00 or a midnight due sooner is waited for), on a parse of the DAG after
        `parsed_after`."""

        def settled():
            dag, runs = self.get(f"/dags/{DAG_ID}"), self.runs("scheduled")
            if parsed_after and utc(dag["last_parsed_time"]) <= parsed_after:
                return None
            if any(run["state"] not in ("success", "failed") for run in runs):
                return None
            now = self.now()
            soon = now + HORIZON
            return utc(dag["next_dagrun_run_after"]) > soon and soon.date() == now.date() and (runs,)

        (runs,) = self.wait(
            "the scheduler's own runs to finish",
            settled,
            RUN_TIMEOUT * 2,
            detail=lambda: f"at {self.now()}: {self.get(f'/dags/{DAG_ID}')}, runs {self.runs('scheduled')}",
        )
        return runs

    def task_instances(self, run_id: str) -> dict[tuple[str, int], dict]:
        body = self.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100")
        return {(ti["task_id"], ti["map_index"]): ti for ti in body["task_instances"]}


def at_six(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(6), tzinfo=datetime.UTC)


def latest_six(now: datetime.datetime) -> datetime.datetime:
    """The latest 06:00 UTC at or before `now`."""
    six = at_six(now.date())
    return six if six <= now else six - DAY


def first_six(unpaused: datetime.datetime) -> datetime.datetime:
    """The first scheduled run of a DAG unpaused at `unpaused` (CronTriggerTimetable without a
    start_date, trigger.py `_calc_first_run`): the latest 06:00 if at most a tenth of the interval
    (2 h 24 min) old, else the next one."""
    six = latest_six(unpaused)
    return six if unpaused - six <= max(DAY / 10, datetime.timedelta(minutes=5)) else six + DAY


def states(tis: dict) -> dict[str, str]:
    return {f"{task_id}[{index}]" if index >= 0 else task_id: ti["state"] for (task_id, index), ti in tis.items()}


def expect(tis: dict, subjects: list[str], **by_step: str) -> None:
    """The run's `subjects` task succeeded, then each subject's steps (map index i: subjects[i],
    labelled by it) ended as told (else success); every task that ran, ran once."""
    assert tis[("subjects", -1)]["state"] == "success", states(tis)
    assert len(tis) == 1 + len(STEPS) * len(subjects), states(tis)
    for index, subject in enumerate(subjects):
        for step in STEPS:
            ti = tis[(f"subject.{step}", index)]
            assert ti["state"] == by_step.get(step, "success"), (step, subject, states(tis))
            if ti["state"] != "upstream_failed":
                assert ti["rendered_map_index"] == subject, ti
    tries = {key: ti["try_number"] for key, ti in tis.items()}
    assert tries == {key: 0 if ti["state"] == "upstream_failed" else 1 for key, ti in tis.items()}, tries


def expect_scheduled(airflow: Airflow, runs: list[dict], sixes: list[datetime.datetime]) -> None:
    """The scheduler's runs are those of `sixes`, each the three default subjects, all succeeded."""
    assert [utc(run["logical_date"]) for run in runs] == sixes, runs
    for run in runs:
        assert run["dag_run_id"].startswith("scheduled__"), run
        assert (run["triggered_by"], run["state"]) == ("timetable", "success"), run
        expect(airflow.task_instances(run["dag_run_id"]), DEFAULT_SUBJECTS)


def manual_runs(airflow: Airflow, today: datetime.date) -> datetime.date:
    """A run with a logical date, one without (the day it fetched returned) and a refused one."""
    # A run with a logical date: --ds is its day.
    run, tis = airflow.trigger("with-a-date", at_six(today - DAY), "mystery")
    expect(tis, ["mystery"])
    assert run["state"] == "success", run
    # A run without one (`logical_date: null`, as the API and Assets make them): --ds is
    # the UTC day of its run_after (from the 23:59 clock, past Airflow's midnight: the real tomorrow).
    fake_today = airflow.now().date()
    run, tis = airflow.trigger("without-a-date", None, "horror")
    expect(tis, ["horror"])
    assert run["state"] == "success" and run["logical_date"] is None, run
    undated = utc(run["run_after"]).date()
    assert undated == fake_today, run
    # A past day never fetched: fetch is refused (exit 2) and fails at once, unretried.
    run, refused = airflow.trigger("refused", at_six(today - datetime.timedelta(days=10)), "fantasy")
    expect(
        refused,
        ["fantasy"],
        fetch="failed",
        transform="upstream_failed",
        load="upstream_failed",
        aggregate="upstream_failed",
        report="upstream_failed",
    )
    assert run["state"] == "failed", run
    return undated


def backfill(airflow: Airflow, days: list[datetime.date]) -> None:
    """A backfill of three past days: fetch finds each raw partition complete (exit 3, skipped),
    transform, load and aggregate run from the raw zone."""
    backfill_request = {
        "dag_id": DAG_ID,
        "from_date": datetime.datetime.combine(days[0], datetime.time(0), tzinfo=datetime.UTC).isoformat(),
        "to_date": datetime.datetime.combine(days[-1], datetime.time(12), tzinfo=datetime.UTC).isoformat(),
        "dag_run_conf": {"subjects": ["science_fiction"]},
        "reprocess_behavior": "none",
        "max_active_runs": 1,
    }
    status, backfill = airflow.api("POST", "/backfills", backfill_request)
    assert status == 200, backfill
    airflow.wait(
        "the backfill to complete",
        lambda: airflow.get(f"/backfills/{backfill['id']}").get("completed_at"),
        RUN_TIMEOUT * 3,
    )
    backfilled = airflow.runs("backfill")
    assert [utc(r["logical_date"]) for r in backfilled] == [at_six(day) for day in days]
    for run in backfilled:
        assert run["state"] == "success", run
        expect(airflow.task_instances(run["dag_run_id"]), ["science_fiction"], fetch="skipped")


@pytest.mark.parametrize("clock", SELECTED)
def test_a_real_scheduler_runs_its_own_runs_and_the_api_s_and_backfills(clock, tmp_path, binary):
    wait_out_the_real_midnight(MIDNIGHT_MARGIN)
    started = time.monotonic()
    today = datetime.datetime.now(datetime.UTC).date()
    yesterday = today - DAY
    days = [today - datetime.timedelta(days=n) for n in (4, 3, 2)]
    lake, warehouse = tmp_path / "lake", tmp_path / "warehouse.duckdb"
    with FakeOpenLibrary() as api, LineageReceiver() as receiver:
        # Airflow's OpenLineage provider and, through the DAG, every bookpipe task send their events
        # to one receiver, as they would to Marquez.
        lineage_env = {"OPENLINEAGE_URL": receiver.url, "OPENLINEAGE_NAMESPACE": "bookpipe-test"}
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
        start = datetime.datetime.combine(today, datetime.time.fromisoformat(clock), tzinfo=datetime.UTC)
        offset = round((start - datetime.datetime.now(datetime.UTC)).total_seconds())
        # Airflow's metadata database on Airflow's clock: the scheduler asks it which runs are due
        # (`next_dagrun_create_after <= now()`).
        # Not under tmp_path, which only root may enter: the server runs as `postgres` (as root).
        postgres = Postgres.start(Path(tempfile.mkdtemp(prefix="bookpipe-airflow-pg-")), clock=faked(offset))
        try:
            database = postgres.database("airflow").replace("postgres://", "postgresql+psycopg2://", 1)
            airflow = Airflow(home, database, {**bookpipe_env, **lineage_env}, offset)
            try:
                sixes, undated, ran, timings = drive(airflow, today, days)
            finally:
                airflow.stop()
        finally:
            postgres.stop()
        check_lineage(receiver.received(), ran)
        # Open Library was asked for exactly what the runs that fetched (and the backfill's raw
        # partitions, earlier) needed: one page each.
        fetched = [*["science_fiction"] * len(days), "mystery", "horror"]
        fetched += [subject for _ in sixes for subject in DEFAULT_SUBJECTS]
        asked = sorted(r.split("?")[0] for r in api.requests if not r.startswith("/api/get_many"))
        assert asked == sorted(f"/subjects/{subject}.json" for subject in fetched)

    slices = [("science_fiction", day) for day in days] + [("mystery", yesterday), ("horror", undated)]
    slices += [(subject, six.date()) for six in sixes for subject in DEFAULT_SUBJECTS]
    check_the_slices_and_reports(lake, warehouse, slices)
    print(
        f"clock {clock} (fake {start:%Y-%m-%d %H:%M} at start): scheduled runs "
        f"{[f'{six:%Y-%m-%d %H:%M}' for six in sixes]}; {timings}, {time.monotonic() - started:.1f}s in all"
    )


def drive(
    airflow: Airflow, today: datetime.date, days: list[datetime.date]
) -> tuple[list[datetime.datetime], datetime.date, int, str]:
    """Through the API, once the scheduler is up: unpause, the scheduler's own runs, the manual runs,
    the backfill, the scheduler's runs after it. Returns the 06:00s the scheduler ran, the day the
    undated run fetched, how many bookpipe steps ran, and how long each part took."""
    started = time.monotonic()
    airflow.wait(
        "the scheduler to be healthy",
        lambda: airflow.api("GET", "/monitor/health")[1].get("scheduler", {}).get("status") == "healthy",
        120,
    )
    airflow.wait("the DAG to be parsed", lambda: airflow.api("GET", f"/dags/{DAG_ID}")[0] == 200, 120)
    airflow.watch()
    errors = airflow.get("/importErrors")
    assert errors["total_entries"] == 0, errors
    assert airflow.api("PATCH", f"/dags/{DAG_ID}", {"is_paused": False})[0] == 200
    unpaused = airflow.now()
    ready = time.monotonic()
    # The scheduler's own runs first: the first 06:00 and any due since, each run to the end.
    first = first_six(unpaused)
    scheduled = airflow.settle()
    sixes = [first + n * DAY for n in range(3) if first + n * DAY <= airflow.now()]
    expect_scheduled(airflow, scheduled, sixes)
    settled = time.monotonic()

    undated = manual_runs(airflow, today)
    backfill(airflow, days)
    backfilled_at = airflow.now()

    # The scheduler again, on a parse after the backfill: the latest 06:00 gone by is due
    # when it is later than every scheduled or backfilled run, and nothing else.
    scheduled = airflow.settle(parsed_after=backfilled_at)
    now = airflow.now()
    if latest_six(now) > max([*sixes, at_six(days[-1])]):
        sixes.append(latest_six(now))
    expect_scheduled(airflow, scheduled, sixes)
    assert utc(airflow.get(f"/dags/{DAG_ID}")["next_dagrun_run_after"]) == latest_six(now) + DAY
    timings = (
        f"{settled - ready:.1f}s for its own runs, {time.monotonic() - settled:.1f}s for the rest"
        f" (healthy after {ready - started:.1f}s)"
    )
    return sixes, undated, steps_that_ran(airflow), timings


def steps_that_ran(airflow: Airflow) -> int:
    """How many bookpipe steps (task instances of the subject group) ran, in every run."""
    return sum(
        ti["state"] in ("success", "failed", "skipped") and task_id.startswith("subject.")
        for kind in ("scheduled", "manual", "backfill")
        for run in airflow.runs(kind)
        for (task_id, _), ti in airflow.task_instances(run["dag_run_id"]).items()
    )


def check_lineage(events: list[dict], ran: int) -> None:
    """Every bookpipe task that ran sent a START and a COMPLETE or FAIL, valid OpenLineage, whose
    parent is the run of its Airflow task instance as Airflow's own OpenLineage provider announced
    it (same run ID, job `bookpipe_openlibrary.subject.<step>`), with the DAG run as the root; and
    Airflow's `aggregate` events name the gold Assets as the very datasets bookpipe wrote."""
    ours = [e for e in events if e["producer"].startswith("https://github.com/bookpipe/")]
    airflow = [e for e in events if e not in ours]
    for event in ours:
        assert problems(event) == [], (event["eventType"], event["job"]["name"], problems(event))
    tasks = {e["run"]["runId"]: e["job"]["name"] for e in airflow if e["job"]["name"].startswith(f"{DAG_ID}.subject.")}
    dag_runs = {e["run"]["runId"] for e in airflow if e["job"]["name"] == DAG_ID}
    runs: dict[str, list[str]] = {}
    for event in ours:
        runs.setdefault(event["run"]["runId"], []).append(event["eventType"])
        step = event["job"]["name"].removeprefix(f"{DAG_ID}.")
        parent = event["run"]["facets"]["parent"]
        assert parent["job"] == {"namespace": "bookpipe-test", "name": f"{DAG_ID}.subject.{step}"}, event
        assert event["job"]["namespace"] == "bookpipe-test"
        assert tasks.get(parent["run"]["runId"]) == parent["job"]["name"], (parent, "not an Airflow task's run")
        assert parent["root"]["job"]["name"] == DAG_ID and parent["root"]["run"]["runId"] in dag_runs, parent
    assert all(kinds in (["START", "COMPLETE"], ["START", "FAIL"]) for kinds in runs.values()), runs
    # One bookpipe run per task instance that ran (a skip is bookpipe's exit 3: it ran too).
    assert len(runs) == ran, (len(runs), ran)
    assert sum(kinds[-1] == "FAIL" for kinds in runs.values()) == 1, "the refused fetch"
    written = {
        (o["namespace"], o["name"])
        for e in ours
        if e["job"]["name"] == f"{DAG_ID}.aggregate" and e["eventType"] == "COMPLETE"
        for o in e["outputs"]
    }
    declared = {
        (o["namespace"], o["name"])
        for e in airflow
        if e["job"]["name"] == f"{DAG_ID}.subject.aggregate" and e["eventType"] == "COMPLETE"
        for o in e.get("outputs", [])
    }
    assert len(declared) == 3 and declared <= written, (declared, written)


def check_the_slices_and_reports(lake, warehouse, slices: list[tuple[str, datetime.date]]) -> None:
    """The warehouse holds exactly these (subject, day) slices and their gold, and each has its
    report page; the index links each subject's latest."""
    assert len(set(slices)) == len(slices), slices
    con = duckdb.connect(str(warehouse), read_only=True)
    loaded = con.execute("SELECT subject, CAST(ds AS VARCHAR), books FROM loads ORDER BY ALL").fetchall()
    assert loaded == sorted((subject, str(day), 12) for subject, day in slices)
    gold = con.execute("SELECT count(DISTINCT (subject, ds)) FROM books_per_year").fetchone()
    assert gold == (len(slices),)
    reports = sorted(str(p.relative_to(lake)) for p in lake.glob("gold/report/subject=*/ds=*/index.html"))
    assert reports == sorted(f"gold/report/subject={subject}/ds={day}/index.html" for subject, day in slices)
    index = (lake / "gold" / "report" / "index.html").read_text().replace("&#x2f;", "/")
    for subject in {subject for subject, _ in slices}:
        latest = max(day for s, day in slices if s == subject)
        assert f'href="subject={subject}/ds={latest}/index.html"' in index, subject
