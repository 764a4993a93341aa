"""Real Airflow, `local` runtime: the real bookpipe binary against a fake Open Library on
127.0.0.1, a temp lake and a DuckDB file. Needs BOOKPIPE_BINARY (scripts/test sets it to the
binary `cargo test` built)."""

from __future__ import annotations

import datetime
import time

import duckdb

from conftest import load_dag, wait_out_the_real_midnight
from fake_openlibrary import FakeOpenLibrary

SUBJECTS = ["science_fiction", "love"]


def run_day(dag, day: datetime.date):
    logical = datetime.datetime.combine(day, datetime.time(6), tzinfo=datetime.UTC)
    run = dag.test(logical_date=logical, run_conf={"subjects": SUBJECTS})
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    return run.state, states


def test_two_days_and_a_rerun_leave_exactly_two_slices(airflow_db, monkeypatch, tmp_path, binary):
    warehouse = tmp_path / "warehouse.duckdb"
    with FakeOpenLibrary() as api:
        for name, value in {
            "BOOKPIPE_API_URL": api.url,
            "BOOKPIPE_LAKE": str(tmp_path / "lake"),
            "BOOKPIPE_WAREHOUSE": f"duckdb:{warehouse}",
            "BOOKPIPE_RATE": "200",
            "BOOKPIPE_BINARY": binary,
        }.items():
            monkeypatch.setenv(name, value)
        dag, errors = load_dag(monkeypatch, "local")
        assert errors == {}
        # Two days of the real date, each fetched: the date may not change between them.
        wait_out_the_real_midnight(datetime.timedelta(minutes=10))
        today = datetime.datetime.now(datetime.UTC).date()
        yesterday = today - datetime.timedelta(days=1)

        started = time.monotonic()
        state, states = run_day(dag, today)
        first_run = time.monotonic() - started
        assert state == "success", states
        assert all(s == "success" for s in states.values()), states
        # Per subject: 1 page and 1 /api/get_many batch of its 18 distinct authors.
        assert sorted(r.split("?")[0] for r in api.requests) == ["/api/get_many"] * 2 + [
            "/subjects/love.json",
            "/subjects/science_fiction.json",
        ]

        state, _ = run_day(dag, yesterday)
        assert state == "success"
        # The first day again: fetch and transform find their partitions complete (skipped),
        # load and aggregate replace the slice.
        state, states = run_day(dag, today)
        assert state == "success"
        assert states[("subject.fetch", 0)] == "skipped"
        assert states[("subject.transform", 0)] == "skipped"
        assert states[("subject.load", 0)] == "success"
        assert states[("subject.aggregate", 1)] == "success"
        print(f"first Airflow run: {first_run:.1f}s")

    con = duckdb.connect(str(warehouse), read_only=True)

    def rows(sql: str, *params) -> list[tuple]:
        return con.execute(sql, list(params)).fetchall()

    slices = rows("SELECT subject, CAST(ds AS VARCHAR), books FROM loads ORDER BY ALL")
    assert slices == [
        ("love", str(yesterday), 12),
        ("love", str(today), 12),
        ("science_fiction", str(yesterday), 12),
        ("science_fiction", str(today), 12),
    ]
    assert rows("SELECT count(*), count(DISTINCT (subject, ds, work_key)) FROM books") == [(48, 48)]
    assert rows("SELECT count(*) FROM book_authors") == [(80,)]
    assert rows("SELECT count(*) FROM latest_books") == [(24,)]
    wells = rows(
        "SELECT total_books, dated_books, first_year, last_year, avg_books_per_active_year, avg_books_per_career_year "
        "FROM author_yearly_average "
        "WHERE subject = 'science_fiction' AND ds = CAST(? AS DATE) AND author_key = 'OL13066A'",
        str(today),
    )
    assert wells == [(3, 3, 1895, 1898, 1.0, 0.75)]
    per_year = rows(
        "SELECT year, books, authors FROM books_per_year WHERE subject = 'love' AND ds = CAST(? AS DATE) ORDER BY year",
        str(yesterday),
    )
    assert per_year[0] == (1800, 1, 9) and (1897, 2, 2) in per_year and len(per_year) == 11
