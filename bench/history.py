"""The history benchmark: the same subject loaded and aggregated day after day, so the warehouse
holds ever more slices. A slice's load (delete the slice, insert it, record it) and aggregate
(the three gold queries of one slice) should cost the same on day 60 as on day 1: their time may
not grow with the history the tables hold.

Day n is the generated raw partition of bench.DS copied under the n-th consecutive ds, then
transformed; each engine's warehouse starts empty and takes the days in order. After the last day,
its slice of the warehouse is checked against silver and its gold tables against an independent
query (bench/checks.py), row for row. Each load and
aggregate is timed once (a single run of a 0.2 s task varies by ±50 % here); the median of the
first third of the days (at most 10) is compared with the median of as many last days."""

from __future__ import annotations

import datetime
import shutil
import statistics

from checks import gold_matches_silver, warehouse_matches_silver


def history(bench, postgres, days: int, works: int, harness) -> list[dict]:
    """`harness` is bench.py's module: its helpers (log, run, timed, ...) and SUBJECT, DS."""
    subject, ds = harness.SUBJECT, harness.DS
    log, quiet_env, remove, run, timed = harness.log, harness.quiet_env, harness.remove, harness.run, harness.timed
    lake = bench.work / f"history-{works}"
    source = bench.generate(works)
    last = datetime.date.fromisoformat(ds)
    dates = [(last - datetime.timedelta(days=days - 1 - n)).isoformat() for n in range(days)]
    if lake.exists():
        shutil.rmtree(lake)
    raw = source / f"raw/openlibrary/subjects/subject={subject}/ds={ds}"
    # The objects the manifest names (pages of ds, author records) stay where they are: every
    # day's copy of the manifest reads them.
    shutil.copytree(source / "raw/openlibrary/authors", lake / "raw/openlibrary/authors")
    shutil.copytree(raw, lake / f"raw/openlibrary/subjects/subject={subject}/ds={ds}")
    log(f"history: {days} days of {works:,} works")
    for day in dates:
        if day != ds:
            shutil.copytree(raw, lake / f"raw/openlibrary/subjects/subject={subject}/ds={day}")
        run([str(bench.bin), "transform", "--lake", str(lake), "--subject", subject, "--ds", day], quiet_env())
    engines = [("DuckDB", f"duckdb:{bench.work / 'history.duckdb'}")]
    remove(bench.work / "history.duckdb")
    if postgres is not None:
        engines.append(("PostgreSQL", postgres.database("history")))
    rows = []
    for engine, url in engines:
        times = {"load": [], "aggregate": []}
        for day in dates:
            for task, walls in times.items():
                command = [str(bench.bin), task, "--lake", str(lake), "--subject", subject, "--ds", day]
                command += ["--warehouse", url]
                walls.append(timed(command, quiet_env())["wall"])
        # The last day's slice and answers, row for row (each day's input is the same partition).
        target = bench.work / "history.duckdb" if engine == "DuckDB" else (postgres, "history")
        warehouse_matches_silver(f"history, {engine}", target, lake / "silver", subject, dates[-1])
        gold_matches_silver(f"history, {engine}", lake, subject, dates[-1])
        window = max(1, min(10, days // 3))
        for task, walls in times.items():
            first, last_days = statistics.median(walls[:window]), statistics.median(walls[-window:])
            rows.append(
                {
                    "engine": engine,
                    "task": task,
                    "works": works,
                    "days": days,
                    "window": window,
                    "first": first,
                    "last": last_days,
                }
            )
    shutil.rmtree(lake)
    return rows


def history_table(rows: list[dict], markdown) -> str:
    columns = ["<engine", "<task", "works a day", "days", "first days: median s", "last days: median s", "ratio"]
    cells = [
        [
            row["engine"],
            row["task"],
            f"{row['works']:,}",
            str(row["days"]),
            f"{row['first']:.3f}",
            f"{row['last']:.3f}",
            f"{row['last'] / row['first']:.2f}",
        ]
        for row in rows
    ]
    window = rows[0]["window"] if rows else 0
    title = f"history: one subject's slice, day after day (medians of the first and last {window} days)"
    return markdown(title, columns, cells)
