"""bookpipe against what a data engineer would use instead, side by side on the same data, in one run.

Run through bench/run (it builds bookpipe and the generator and makes the venv). For each size it
generates a raw partition shaped like Open Library's (cached in the work folder), then measures,
each `--runs` times, as separate processes (wall time, CPU time and peak RSS from wait4):

  transform      bookpipe transform  |  DuckDB read_json -> Parquet  |  polars  |  json + pandas + pyarrow
  load, DuckDB   bookpipe load       |  DuckDB's own read_parquet into the same tables
  load, Postgres bookpipe load       |  psql \\copy of the same rows as CSV
  aggregate      bookpipe aggregate on DuckDB and on PostgreSQL
  history        bookpipe load and aggregate of one subject's slice day after day, on both engines:
                 day 1 against day N, as the tables' history grows
  whole job      bookpipe run (fetch → transform → load → aggregate → report) against dlt (its REST API
                 source and a parallel transformer into DuckDB, then the answers in SQL), from a fake
                 Open Library with no rate limit; requests counted, answers checked against bookpipe's
  fetch          bookpipe fetch from a fake Open Library on 127.0.0.1 that answers after a latency and
                 enforces Open Library's rate (3 requests/s, burst 25, 429 beyond): a cold cache,
                 then the next day

and prints medians as Markdown tables. Every contender's output is checked against bookpipe's
(same tables, same rows), so a faster wrong answer cannot win. No timing is asserted: the numbers
are the result, not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
# The PostgreSQL server the scheduler test starts too.
sys.path.insert(0, str(ROOT / "tests" / "postgres"))
from checks import gold_matches_silver, warehouse_matches_silver  # noqa: E402
from goals import goals, goals_table  # noqa: E402
from history import history, history_table  # noqa: E402

from fake_api import FakeOpenLibrary  # noqa: E402
from postgres import Postgres  # noqa: E402

SUBJECT, DS = "love", "2026-11-21"
TABLES = ["books", "authors", "book_authors"]
WORKS_PER_AUTHOR = 5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="the bookpipe binary")
    parser.add_argument("--generator", required=True, help="the generate_raw example binary")
    parser.add_argument("--floor", required=True, help="the raw_floor example binary")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="works per partition, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="runs of every measurement (the median is shown)")
    parser.add_argument("--pandas-max", type=int, default=1_000_000, help="largest size pandas is run at")
    parser.add_argument("--polars-max", type=int, default=1_000_000, help="largest size polars is run at")
    parser.add_argument("--duckdb-max", type=int, default=1_000_000, help="largest size DuckDB's transform is run at")
    parser.add_argument("--job-sizes", default="5000,50000", help="works of the whole-job comparison with dlt")
    parser.add_argument("--fetch-works", type=int, default=20_000, help="works of the fetch benchmark's subject")
    parser.add_argument("--fetch-authors", type=int, default=6_000, help="distinct authors of that subject")
    parser.add_argument("--fetch-rate", type=float, default=3.0, help="requests/s the fake allows (and --rate)")
    parser.add_argument("--fetch-latency", type=float, default=0.1, help="seconds the fake API waits per answer")
    parser.add_argument("--history-days", type=int, default=60, help="days of the history benchmark")
    parser.add_argument("--history-works", type=int, default=20_000, help="works of its subject")
    parser.add_argument("--skip", default="", help="sections to leave out: transform,duckdb,postgres,history,job,fetch")
    parser.add_argument("--smoke", action="store_true", help="CI-sized: 2,000 works, one run")
    parser.add_argument("--workdir", default=str(Path.home() / ".cache/bookpipe/bench"), help="data and outputs")
    parser.add_argument("--out", help="also write the tables to this Markdown file")
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.runs, args.fetch_works, args.fetch_authors = "2000", 1, 2000, 600
        args.job_sizes = "1000"
        args.history_days, args.history_works = 4, 2000
    return args


def main() -> None:
    args = parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(Path(args.bin), Path(args.generator), Path(args.floor), work, args.runs)

    report = [machine(args)]
    # In the system temp folder: the server's user (postgres, when run as root) must reach it.
    postgres = None if "postgres" in skip else Postgres.start(Path(tempfile.mkdtemp(prefix="bookpipe-bench-pg-")))
    try:
        rows = {"transform": [], "load": [], "aggregate": []}
        for size in sizes:
            lake = bench.generate(size)
            if "transform" not in skip:
                rows["transform"] += bench.transform(
                    lake,
                    size,
                    pandas=size <= args.pandas_max,
                    polars=size <= args.polars_max,
                    duckdb=size <= args.duckdb_max,
                )
            else:
                bench.run_bookpipe("transform", lake, "--force")
            if "duckdb" not in skip:
                rows["load"] += bench.load_duckdb(lake, size)
                rows["aggregate"] += bench.aggregate(lake, size, "DuckDB", f"duckdb:{work / 'bookpipe.duckdb'}")
            if postgres is not None:
                url = postgres.database("bench")
                rows["load"] += bench.load_postgres(lake, size, postgres, url)
                rows["aggregate"] += bench.aggregate(lake, size, "PostgreSQL", url)
        tables = [
            (transform_table, rows["transform"]),
            (load_table, rows["load"]),
            (aggregate_table, rows["aggregate"]),
        ]
        report += [table(found) for table, found in tables if found]
        if "history" not in skip:
            found = history(bench, postgres, args.history_days, args.history_works, sys.modules[__name__])
            report.append(history_table(found, markdown))
        jobs = []
        if "job" not in skip:
            jobs = [row for works in args.job_sizes.split(",") for row in bench.job(int(works))]
            report.append(job_table(jobs))
        if "fetch" not in skip:
            report.append(
                fetch_table(bench.fetch(args.fetch_works, args.fetch_authors, args.fetch_rate, args.fetch_latency))
            )
        report.append(goals_table(goals(rows["transform"], rows["load"], rows["aggregate"], jobs), markdown))
    finally:
        if postgres is not None:
            postgres.stop()
    text = "\n\n".join(part for part in report if part)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


class Bench:
    def __init__(self, binary: Path, generator: Path, floor: Path, work: Path, runs: int) -> None:
        self.bin, self.generator, self.floor, self.work, self.runs = binary, generator, floor, work, runs
        self.python = sys.executable
        self.contenders = str(Path(__file__).resolve().parent / "contenders.py")

    # -- data ------------------------------------------------------------------------------------

    def generate(self, works: int, authors: int | None = None) -> Path:
        """A raw partition of `works` works by `authors` authors (default works/5), generated once
        per generator source."""
        default = max(1, works // WORKS_PER_AUTHOR)
        authors = authors or default
        sources = [
            ROOT / "tests/it/support/synth.rs",
            ROOT / "examples/generate_raw.rs",
            *sorted(path for path in (ROOT / "tests/fixtures").iterdir() if path.is_file()),
        ]
        digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:16]
        lake = self.work / (f"lake-{works}" if authors == default else f"lake-{works}-{authors}")
        marker = lake / f".generated-{digest}"
        if not marker.exists():
            shutil.rmtree(lake, ignore_errors=True)
            log(f"generating {works:,} works by {authors:,} authors into {lake}")
            run([str(self.generator), str(lake), SUBJECT, DS, str(works), str(authors)])
            marker.touch()
        return lake

    # -- measuring -------------------------------------------------------------------------------

    def measure(self, command: list[str], env: dict | None = None, before=None) -> dict:
        """Median wall and CPU seconds and the largest peak RSS of `runs` runs of a command."""
        walls, cpus, peaks = [], [], []
        for _ in range(self.runs):
            if before is not None:
                before()
            result = timed(command, env)
            walls.append(result["wall"])
            cpus.append(result["cpu"])
            peaks.append(result["rss_mb"])
        return {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "rss_mb": max(peaks)}

    def bookpipe(self, task: str, lake: Path, *extra: str) -> list[str]:
        return [str(self.bin), task, "--lake", str(lake), "--subject", SUBJECT, "--ds", DS, *extra]

    def run_bookpipe(self, task: str, lake: Path, *extra: str) -> None:
        run(self.bookpipe(task, lake, *extra), quiet_env())

    # -- transform -------------------------------------------------------------------------------

    def transform(self, lake: Path, works: int, pandas: bool, polars: bool, duckdb: bool) -> list[dict]:
        raw_mb = raw_bytes(lake) / 1e6
        out = self.work / "out"
        contenders = [("bookpipe", self.bookpipe("transform", lake, "--force"), silver(lake))]
        if duckdb:
            command = [self.python, self.contenders, "duckdb-transform", str(lake), SUBJECT, DS, str(out / "duckdb")]
            contenders.append(("DuckDB", command, out / "duckdb"))
        if polars:
            command = [self.python, self.contenders, "polars-transform", str(lake), SUBJECT, DS, str(out / "polars")]
            contenders.append(("polars", command, out / "polars"))
        if pandas:
            command = [self.python, self.contenders, "pandas-transform", str(lake), SUBJECT, DS, str(out / "pandas")]
            contenders.append(("pandas", command, out / "pandas"))
        rows = []
        for tool, command, _ in contenders:
            log(f"transform {works:,} works: {tool}")
            rows.append({"works": works, "tool": tool, "raw_mb": raw_mb, **self.measure(command, quiet_env())})
        rows[0]["floor"] = self.transform_floor(lake)
        reference = read_tables(silver(lake))
        for tool, _, output in contenders[1:]:
            same_tables(tool, read_tables(output), reference)
        return rows

    def transform_floor(self, lake: Path) -> dict:
        """Transform's two fixed costs (examples/raw_floor.rs): the sha256 of every raw object and
        the parse of every page, one thread, I/O excluded; the medians of `runs` runs, and their sum
        spread over this machine's cores."""
        found = []
        for _ in range(self.runs):
            output = subprocess.run([str(self.floor), str(lake), SUBJECT, DS], check=True, capture_output=True)
            found.append(json.loads(output.stdout))
        sha256 = statistics.median(run["sha256_s"] for run in found)
        parse = statistics.median(run["page_parse_s"] for run in found)
        cores = os.cpu_count() or 1
        return {"sha256_s": sha256, "parse_s": parse, "cores": cores, "wall": (sha256 + parse) / cores}

    # -- load ------------------------------------------------------------------------------------

    def load_duckdb(self, lake: Path, works: int) -> list[dict]:
        ours, theirs = self.work / "bookpipe.duckdb", self.work / "duckdb.duckdb"
        log(f"load {works:,} works into DuckDB")
        bookpipe = self.measure(
            self.bookpipe("load", lake, "--warehouse", f"duckdb:{ours}"), quiet_env(), lambda: remove(ours)
        )
        ingest = [
            self.python,
            self.contenders,
            "duckdb-ingest",
            str(theirs),
            ",".join(str(path) for path in MIGRATIONS),
            SUBJECT,
            DS,
            str(lake / "silver"),
        ]
        duckdb = self.measure(ingest, None, lambda: remove(theirs))
        self.run_bookpipe("load", lake, "--warehouse", f"duckdb:{ours}")
        warehouse_matches_silver("bookpipe load (DuckDB)", ours, silver(lake), SUBJECT, DS)
        warehouse_matches_silver("DuckDB read_parquet", theirs, silver(lake), SUBJECT, DS)
        rows = sum(duckdb_counts(ours).values())
        return [
            {"works": works, "rows": rows, "engine": "DuckDB", "tool": "bookpipe load", **bookpipe},
            {"works": works, "rows": rows, "engine": "DuckDB", "tool": "DuckDB read_parquet", **duckdb},
        ]

    def load_postgres(self, lake: Path, works: int, pg: Postgres, url: str) -> list[dict]:
        log(f"load {works:,} works into PostgreSQL")
        self.run_bookpipe("load", lake, "--warehouse", url)  # creates the schema
        csv = self.work / "csv"
        columns = write_csv(silver(lake), csv)
        truncate = lambda: pg.psql("bench", ["-c", "TRUNCATE books, authors, book_authors, loads"])  # noqa: E731
        bookpipe = self.measure(self.bookpipe("load", lake, "--warehouse", url), quiet_env(), truncate)
        copies = []
        for table in TABLES:
            copies += ["-c", f"\\copy {table} ({columns[table]}) FROM '{csv / table}.csv' CSV HEADER"]
        psql = self.measure(pg.psql_command("bench", ["-1", *copies]), None, truncate)
        warehouse_matches_silver("psql \\copy", (pg, "bench"), silver(lake), SUBJECT, DS)
        self.run_bookpipe("load", lake, "--warehouse", url)
        warehouse_matches_silver("bookpipe load (PostgreSQL)", (pg, "bench"), silver(lake), SUBJECT, DS)
        rows = sum(pg.counts("bench", TABLES).values())
        return [
            {"works": works, "rows": rows, "engine": "PostgreSQL", "tool": "bookpipe load", **bookpipe},
            {"works": works, "rows": rows, "engine": "PostgreSQL", "tool": "psql \\copy (CSV)", **psql},
        ]

    def aggregate(self, lake: Path, works: int, engine: str, url: str) -> list[dict]:
        log(f"aggregate {works:,} works on {engine}")
        command = self.bookpipe("aggregate", lake, "--warehouse", url, "--output", "json")
        measured = self.measure(command, quiet_env())
        gold_matches_silver(f"bookpipe aggregate ({engine})", lake, SUBJECT, DS)
        return [{"works": works, "engine": engine, **measured}]

    # -- the whole job ---------------------------------------------------------------------------

    def job(self, works: int) -> list[dict]:
        """From an API to the answers: bookpipe `run` and the dlt job, each into an empty lake and
        DuckDB file, from a fake Open Library with no rate limit and no latency (the tools' own
        speed, not the API's); requests counted; dlt's answers must equal bookpipe's gold tables."""
        lake = self.generate(works)
        today = time.strftime("%Y-%m-%d", time.gmtime())
        rows, answers = [], {}
        with FakeOpenLibrary(lake, SUBJECT, DS, 0.0, rate=1e9, burst=10**9) as api:
            for tool in ("bookpipe", "dlt"):
                runs = []
                for _ in range(self.runs):
                    target = Path(tempfile.mkdtemp(prefix=f"job-{tool}-", dir=self.work))
                    db = target / "warehouse.duckdb"
                    if tool == "bookpipe":
                        command = [str(self.bin), "run", "--lake", str(target / "lake"), "--subject", SUBJECT]
                        command += ["--ds", today, "--api-url", api.url, "--rate", "1000"]
                        command += ["--contact", "bench@example.invalid", "--warehouse", f"duckdb:{db}"]
                    else:
                        out = target / "answers.json"
                        command = [self.python, self.contenders, "dlt-job", api.url, SUBJECT, str(db), str(out)]
                    api.requests.clear()
                    log(f"whole job, {works:,} works: {tool}")
                    runs.append((timed(command, quiet_env()), len(api.requests)))
                    answers[tool] = bookpipe_answers(db, today) if tool == "bookpipe" else dlt_answers(out)
                    shutil.rmtree(target)
                rows.append(
                    {
                        "works": works,
                        "authors": api.authors,
                        "tool": tool,
                        "requests": runs[0][1],
                        "wall": statistics.median(result["wall"] for result, _ in runs),
                        "rss_mb": max(result["rss_mb"] for result, _ in runs),
                    }
                )
        if answers["dlt"] != answers["bookpipe"]:
            differ = [name for name in answers["dlt"] if answers["dlt"][name] != answers["bookpipe"][name]]
            sys.exit(f"whole job, {works:,} works: dlt's answers differ from bookpipe's in {differ}")
        return rows

    # -- fetch -----------------------------------------------------------------------------------

    def fetch(self, works: int, authors: int, rate: float, latency: float) -> list[dict]:
        """A cold fetch into an empty lake, then the next day's fetch of the same subject, against a
        fake that enforces the rate. Requests are counted: a fetch that asks for anything twice, or
        for less or more than the pages and batches it needs, fails the run."""
        lake = self.generate(works, authors)
        today = time.gmtime()
        days = [time.strftime("%Y-%m-%d", today), time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))]
        pages = -(-works // 1000)
        # The listed authors in batches of 100, then the people the merged ones redirect to.
        details = raw_manifest(lake)["details"]
        listed, people = details["authors"]["distinct"], details["authors"]["fetched"] - details["authors"]["distinct"]
        expected = {"cold": pages + -(-listed // 100) + -(-people // 100), "next day": pages}
        results = {scenario: [] for scenario in expected}
        with FakeOpenLibrary(lake, SUBJECT, DS, latency, rate=rate, burst=25) as api:
            for _ in range(self.runs):
                target = Path(tempfile.mkdtemp(prefix="fetch-", dir=self.work))
                for scenario, ds in zip(expected, days, strict=True):
                    api.requests.clear()
                    log(f"fetch, {scenario}: {works:,} works by {authors:,} authors at {rate:g}/s")
                    command = [str(self.bin), "fetch", "--lake", str(target), "--subject", SUBJECT, "--ds", ds]
                    command += ["--api-url", api.url, "--rate", f"{rate:g}", "--contact", "bench@example.invalid"]
                    results[scenario].append((timed(command, quiet_env()), list(api.requests)))
                shutil.rmtree(target)
        rows = []
        for scenario, runs in results.items():
            for _, requests in runs:
                answered = [path for path, refused in requests if not refused]
                counted = Counter(answered)
                if len(answered) != expected[scenario] or len(counted) != len(answered):
                    sys.exit(
                        f"fetch, {scenario}: {len(answered)} requests answered ({len(counted)} distinct); "
                        f"{expected[scenario]} expected"
                    )
            requests = runs[0][1]
            rows.append(
                {
                    "scenario": scenario,
                    "works": works,
                    "authors": authors,
                    "requests": len(requests),
                    "refused": sum(refused for _, refused in requests),
                    "redundant": len(requests) - len({path for path, _ in requests}),
                    "rate": rate,
                    "latency": latency,
                    "wall": statistics.median(result["wall"] for result, _ in runs),
                    "rss_mb": max(result["rss_mb"] for result, _ in runs),
                }
            )
        return rows


# DuckDB's migrations, in order: the shared ones and DuckDB's own (not PostgreSQL's).
MIGRATIONS = sorted(p for p in (ROOT / "sql/migrations").glob("*.sql") if not p.name.endswith(".postgres.sql"))


# -- processes --------------------------------------------------------------------------------------


def timed(command: list[str], env: dict | None) -> dict:
    """Runs a command to completion: wall seconds, CPU seconds (user + system), peak RSS in MB.

    The peak comes from GNU time, not from this process's wait4: Linux carries a process's peak RSS
    over exec, so a child forked from this (large) Python process would report at least its size."""
    with tempfile.NamedTemporaryFile() as usage, tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        timer = [TIME, "-q", "-f", "%U %S %M", "-o", usage.name]
        code = subprocess.run(
            [*timer, *command], stdout=subprocess.DEVNULL, stderr=errors, env=env, check=False
        ).returncode
        wall = time.perf_counter() - start
        if code != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-3000:]
            sys.exit(f"{' '.join(command)} exited {code}:\n{tail}")
        user, system, peak_kb = Path(usage.name).read_text().split()[-3:]
    return {"wall": wall, "cpu": float(user) + float(system), "rss_mb": int(peak_kb) / 1024}


TIME = "/usr/bin/time"
if not Path(TIME).is_file():
    sys.exit("the benchmark needs GNU time (/usr/bin/time) for peak memory: apt-get install time")


def run(command: list[str], env: dict | None = None) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr[-3000:]}")


def quiet_env() -> dict:
    """bookpipe logs only warnings: the benchmark times the work, not the logging."""
    return {**os.environ, "BOOKPIPE_LOG": "warn"}


def remove(path: Path) -> None:
    for candidate in (path, Path(f"{path}.wal")):
        candidate.unlink(missing_ok=True)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- data checks ------------------------------------------------------------------------------------


def silver(lake: Path) -> Path:
    return lake / "silver"


def raw_manifest(lake: Path) -> dict:
    return json.loads((lake / f"raw/openlibrary/subjects/subject={SUBJECT}/ds={DS}/_manifest.json").read_text())


def raw_bytes(lake: Path) -> int:
    """Bytes of JSON a transform reads: the pages and author objects the raw manifest lists."""
    return sum(o["bytes"] for o in raw_manifest(lake)["objects"])


def table_file(folder: Path, table: str) -> Path:
    partition = folder / table / f"subject={SUBJECT}" / f"ds={DS}" / "part-00000.parquet"
    return partition if partition.exists() else folder / f"{table}.parquet"


def read_tables(folder: Path) -> dict:
    import pyarrow.parquet as pq

    return {table: pq.read_table(table_file(folder, table)) for table in TABLES}


def same_tables(tool: str, tables: dict, reference: dict) -> None:
    """The contender wrote the same rows, in the same order, as bookpipe (types may differ in width)."""
    for table in TABLES:
        theirs, ours = tables[table], reference[table]
        if theirs.column_names != ours.column_names or not theirs.cast(ours.schema).equals(ours):
            sys.exit(f"{tool}'s {table} differs from bookpipe's ({theirs.num_rows} rows vs {ours.num_rows})")


def duckdb_counts(path: Path) -> dict:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        return {table: con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] for table in TABLES}


def write_csv(silver_folder: Path, out: Path) -> dict:
    """The warehouse rows (slice columns first) of bookpipe's silver Parquet as CSV, for psql."""
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    columns = {}
    with duckdb.connect() as con:
        for table in TABLES:
            source = f"read_parquet('{table_file(silver_folder, table)}', hive_partitioning = false)"
            names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
            columns[table] = ", ".join(["subject", "ds", *names])
            con.execute(
                f"COPY (SELECT '{SUBJECT}' AS subject, DATE '{DS}' AS ds, * FROM {source}) "
                f"TO '{out / table}.csv' (HEADER)"
            )
    return columns


# The three answers, row by row (floats rounded: the engines may differ in the last bit).
ANSWER_COLUMNS = {
    "author_books_per_year": "author_key, author_name, year, books",
    "author_yearly_average": "author_key, author_name, total_books, dated_books, first_year, last_year, "
    "active_years, avg_books_per_active_year, avg_books_per_career_year",
    "books_per_year": "year, books, authors",
}


def rounded(rows) -> list[list]:
    return [[round(v, 9) if isinstance(v, float) else v for v in row] for row in rows]


def bookpipe_answers(db: Path, ds: str) -> dict:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return {
            name: rounded(
                con.execute(
                    f"SELECT {columns} FROM {name} WHERE subject = ? AND ds = CAST(? AS DATE) ORDER BY ALL",
                    [SUBJECT, ds],
                ).fetchall()
            )
            for name, columns in ANSWER_COLUMNS.items()
        }


def dlt_answers(path: Path) -> dict:
    found = json.loads(path.read_text())
    return {name: rounded(sorted(tuple(row) for row in found[name])) for name in ANSWER_COLUMNS}


# -- report -----------------------------------------------------------------------------------------


def machine(args) -> str:
    import dlt
    import duckdb
    import pandas
    import polars
    import pyarrow

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    memory = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    version = subprocess.run([args.bin, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return (
        f"Machine: {cpu}, {os.cpu_count()} cores, {memory / 2**20:.0f} GiB; {platform.platform()}\n"
        f"{version}; DuckDB {duckdb.__version__}, polars {polars.__version__}, pandas {pandas.__version__}, "
        f"pyarrow {pyarrow.__version__}, dlt {dlt.__version__}, "
        f"Python {platform.python_version()}; {args.runs} run(s) per measurement, medians shown"
    )


def markdown(title: str, columns: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; a column whose header starts with "<" is left-aligned, others right."""
    header = "| " + " | ".join(column.lstrip("<") for column in columns) + " |"
    rule = "|" + "|".join("---" if column.startswith("<") else "---:" for column in columns) + "|"
    return "\n".join([f"### {title}", "", header, rule, *("| " + " | ".join(cells) + " |" for cells in rows)])


def transform_table(rows: list[dict]) -> str:
    ours = {row["works"]: row["wall"] for row in rows if row["tool"] == "bookpipe"}
    cells = [
        [
            f"{row['works']:,}",
            f"{row['raw_mb']:,.0f}",
            row["tool"],
            f"{row['wall']:.2f}",
            f"{row['works'] / row['wall']:,.0f}",
            f"{row['raw_mb'] / row['wall']:,.1f}",
            f"{row['cpu']:.2f}",
            f"{row['rss_mb']:,.0f}",
            "—" if row["tool"] == "bookpipe" else f"{row['wall'] / ours[row['works']]:.1f}",
        ]
        for row in rows
    ]
    columns = [
        "works",
        "raw MB",
        "<tool",
        "median s",
        "works/s",
        "MB/s",
        "CPU s",
        "peak RSS MB",
        "speed-up of bookpipe",
    ]
    return markdown("transform: raw JSON → books, authors, book_authors as sorted Parquet", columns, cells)


def load_table(rows: list[dict]) -> str:
    ours = {(r["works"], r["engine"]): r["wall"] for r in rows if r["tool"] == "bookpipe load"}
    cells = [
        [
            f"{row['works']:,}",
            f"{row['rows']:,}",
            row["engine"],
            row["tool"],
            f"{row['wall']:.2f}",
            f"{row['rows'] / row['wall']:,.0f}",
            f"{row['rss_mb']:,.0f}",
            "—" if row["tool"] == "bookpipe load" else f"{row['wall'] / ours[(row['works'], row['engine'])]:.2f}",
        ]
        for row in rows
    ]
    columns = [
        "works",
        "rows",
        "<engine",
        "<tool",
        "median s",
        "rows/s",
        "peak RSS MB",
        "bookpipe's speed ÷ the tool's",
    ]
    return markdown("load: the silver tables into the warehouse (one transaction)", columns, cells)


def aggregate_table(rows: list[dict]) -> str:
    cells = [[f"{row['works']:,}", row["engine"], f"{row['wall']:.2f}", f"{row['rss_mb']:,.0f}"] for row in rows]
    title = "aggregate: the three gold tables (warehouse SQL, plus gold Parquet and CSV in the lake)"
    return markdown(title, ["works", "<engine", "median s", "peak RSS MB"], cells)


def job_table(rows: list[dict]) -> str:
    ours = {row["works"]: row["wall"] for row in rows if row["tool"] == "bookpipe"}
    cells = [
        [
            f"{row['works']:,}",
            f"{row['authors']:,}",
            row["tool"],
            f"{row['requests']:,}",
            f"{row['wall']:.2f}",
            f"{row['rss_mb']:,.0f}",
            "—" if row["tool"] == "bookpipe" else f"{row['wall'] / ours[row['works']]:.1f}",
        ]
        for row in rows
    ]
    columns = ["works", "authors", "<tool", "requests", "median s", "peak RSS MB", "speed-up of bookpipe"]
    title = "whole job: API → DuckDB → the three answers (fake API, no rate limit, no latency)"
    return markdown(title, columns, cells)


def fetch_table(rows: list[dict]) -> str:
    columns = ["<scenario", "works", "authors", "requests", "429s", "redundant", "rate/s", "latency ms"]
    columns += ["median s", "peak RSS MB"]
    cells = [
        [
            row["scenario"],
            f"{row['works']:,}",
            f"{row['authors']:,}",
            f"{row['requests']:,}",
            str(row["refused"]),
            str(row["redundant"]),
            f"{row['rate']:g}",
            f"{row['latency'] * 1000:.0f}",
            f"{row['wall']:.2f}",
            f"{row['rss_mb']:,.0f}",
        ]
        for row in rows
    ]
    title = "fetch: a fake Open Library on 127.0.0.1 enforcing its rate (burst 25, 429 beyond, no Retry-After)"
    return markdown(title, columns, cells)


if __name__ == "__main__":
    main()
