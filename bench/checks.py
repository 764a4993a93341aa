"""Row-for-row checks of what the benchmark measures, so that no figure comes from a wrong answer.

- `warehouse_matches_silver`: after a load, the slice of `books`, `authors` and `book_authors` in a
  warehouse (a DuckDB file, or a PostgreSQL database read through psql) holds exactly the rows of
  the silver Parquet it was loaded from, duplicates included (EXCEPT ALL both ways, and the counts).
- `gold_matches_silver`: after an aggregate, the three gold tables equal the answers an independent
  query computes from silver (written here, in DuckDB SQL, from the design doc's definitions, not
  copied from bookpipe's), row for row, floats rounded to 9 digits.

Both raise SystemExit naming the table and the difference; the harness calls them after every
contender it measures."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

TABLES = ["books", "authors", "book_authors"]
GOLD = {
    "author_books_per_year": "author_key, author_name, year, books",
    "author_yearly_average": "author_key, author_name, total_books, dated_books, first_year, last_year, "
    "active_years, avg_books_per_active_year, avg_books_per_career_year",
    "books_per_year": "year, books, authors",
}


def silver_source(silver: Path, table: str, subject: str, ds: str) -> str:
    return f"read_parquet('{silver}/{table}/subject={subject}/ds={ds}/*.parquet', hive_partitioning = false)"


def compare(con, what: str, ours: str, reference: str) -> None:
    """Exits unless the two queries give the same multiset of rows."""
    missing = con.execute(f"SELECT count(*) FROM (({reference}) EXCEPT ALL ({ours}))").fetchone()[0]
    extra = con.execute(f"SELECT count(*) FROM (({ours}) EXCEPT ALL ({reference}))").fetchone()[0]
    counts = [con.execute(f"SELECT count(*) FROM ({q})").fetchone()[0] for q in (ours, reference)]
    if missing or extra or counts[0] != counts[1]:
        sys.exit(f"{what}: {counts[0]} rows, {counts[1]} expected; {missing} missing, {extra} not expected")


def warehouse_matches_silver(tool: str, warehouse, silver: Path, subject: str, ds: str) -> None:
    """`warehouse` is a DuckDB file's Path, or (Postgres, database) for a PostgreSQL one."""
    import duckdb

    with duckdb.connect() as con, tempfile.TemporaryDirectory() as scratch:
        for table in TABLES:
            source = silver_source(silver, table, subject, ds)
            described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
            names, types = [r[0] for r in described], {r[0]: r[1] for r in described}
            columns = ", ".join(names)
            reference = f"SELECT {columns} FROM {source}"
            if isinstance(warehouse, Path):
                con.execute(f"ATTACH IF NOT EXISTS '{warehouse}' AS w (READ_ONLY)")
                ours = f"SELECT {columns} FROM w.{table} WHERE subject = '{subject}' AND ds = DATE '{ds}'"
            else:
                pg, database = warehouse
                csv = Path(scratch) / f"{table}.csv"
                select = f"SELECT {columns} FROM {table} WHERE subject = '{subject}' AND ds = DATE '{ds}'"
                pg.psql(database, ["-c", f"\\copy ({select}) TO '{csv}' CSV HEADER"])
                typed = ", ".join(f"'{name}': '{types[name]}'" for name in names)
                ours = f"SELECT {columns} FROM read_csv('{csv}', header = true, columns = {{{typed}}})"
            compare(con, f"{tool}: warehouse table {table} against silver", ours, reference)


def independent_answers(silver: Path, subject: str, ds: str) -> dict[str, str]:
    """The three answers from silver, as queries (design doc, "The three answers")."""
    books = silver_source(silver, "books", subject, ds)
    links = silver_source(silver, "book_authors", subject, ds)
    authors = silver_source(silver, "authors", subject, ds)
    # An author's works with their year, each (author, work) once whatever the positions.
    linked = (
        f"(SELECT DISTINCT l.author_key, l.work_key, b.first_publish_year AS year "
        f"FROM {links} l JOIN {books} b USING (work_key))"
    )
    names = f"(SELECT author_key, name AS author_name FROM {authors})"
    return {
        "author_books_per_year": f"""
            SELECT author_key, n.author_name, year, count(*) AS books
            FROM {linked} LEFT JOIN {names} n USING (author_key) WHERE year IS NOT NULL
            GROUP BY ALL""",
        "author_yearly_average": f"""
            SELECT author_key, n.author_name, count(*) AS total_books, count(year) AS dated_books,
                   min(year) AS first_year, max(year) AS last_year, count(DISTINCT year) AS active_years,
                   round(count(year) / nullif(count(DISTINCT year), 0), 9) AS avg_books_per_active_year,
                   round(count(year) / (max(year) - min(year) + 1), 9) AS avg_books_per_career_year
            FROM {linked} LEFT JOIN {names} n USING (author_key) GROUP BY ALL""",
        "books_per_year": f"""
            SELECT first_publish_year AS year, count(DISTINCT work_key) AS books,
                   (SELECT count(DISTINCT author_key) FROM {linked} l WHERE l.year = b.first_publish_year) AS authors
            FROM {books} b WHERE first_publish_year IS NOT NULL GROUP BY ALL""",
    }


def gold_matches_silver(tool: str, lake: Path, subject: str, ds: str) -> None:
    """The gold Parquet of the slice (read back from the warehouse by `aggregate`) against the
    independent answers."""
    import duckdb

    silver = lake / "silver"
    with duckdb.connect() as con:
        for name, query in independent_answers(silver, subject, ds).items():
            gold = silver_source(lake / "gold", name, subject, ds)
            columns = GOLD[name]
            if name == "author_yearly_average":
                columns = columns.replace(
                    "avg_books_per_active_year, avg_books_per_career_year",
                    "round(avg_books_per_active_year, 9), round(avg_books_per_career_year, 9)",
                )
            ours = f"SELECT {columns} FROM {gold}"
            compare(con, f"{tool}: gold table {name} against an independent query of silver", ours, query)
