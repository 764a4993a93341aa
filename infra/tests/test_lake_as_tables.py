"""The lake as the engines read it, from a real `bookpipe run` (conftest.lake_run) of subjects whose
keys hold `:`, `(`, `)`, `'`, `-` and digits.

- Every silver and gold table folder holds Parquet and `_`-prefixed metadata only: Athena (through
  Glue), Spark, Trino and `pyarrow.dataset` read every other object below a table's location as the
  table's format.
- Each table folder opens by folder, not by a glob of the names bookpipe writes, as a Hive-partitioned
  dataset in pyarrow and in DuckDB; the partition columns come back as the exact subject strings and
  ds, and the rows equal the DuckDB warehouse's (rejects, which are not loaded: their manifests'
  counts).
- The Glue tables of the Terraform module name those same folders: each table location exists, and
  the projection template, expanded as Athena's partition projection expands it (the value put in
  as it is, unescaped, when the table has a storage.location.template), gives exactly the folder
  the run wrote for every subject and ds, and nothing else.
- The queries of docs/engines.md run here as written (pyarrow, DuckDB).
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from conftest import ROOT, blocks

SILVER = ["books", "authors", "book_authors", "rejects"]
GOLD = ["author_books_per_year", "author_yearly_average", "books_per_year"]
TABLES = [f"silver/{t}" for t in SILVER] + [f"gold/{t}" for t in GOLD]
# The warehouse table holding each lake table's rows (rejects are not loaded).
WAREHOUSE = {f"silver/{t}": t for t in SILVER if t != "rejects"} | {f"gold/{t}": t for t in GOLD}
# The partition columns with their exact types, as docs/engines.md tells every engine to declare them.
PARTITIONING = pads.partitioning(pa.schema([("subject", pa.string()), ("ds", pa.date32())]), flavor="hive")
DUCKDB_TYPES = "hive_types = {'subject': 'VARCHAR', 'ds': 'DATE'}"
ENGINES_MD = ROOT / "docs" / "engines.md"


def rows(columns: list[list]) -> list[tuple]:
    """Columns as rows, in an order that does not depend on the reader (values may be None)."""
    return sorted(zip(*columns, strict=True), key=repr)


def warehouse_rows(run, lake_table: str, columns: list[str]) -> list[tuple]:
    with duckdb.connect(str(run.warehouse), read_only=True) as con:
        found = con.execute(f"SELECT {', '.join(columns)}, subject, ds FROM {WAREHOUSE[lake_table]}").fetchall()
    return sorted(found, key=repr)


def manifest_rows(run, lake_table: str) -> int:
    """Rows every committed partition of a table lists in its manifest."""
    total = 0
    for manifest in (run.lake / lake_table).glob("subject=*/ds=*/_manifest.json"):
        total += sum(o.get("rows", 0) for o in json.loads(manifest.read_text())["objects"])
    return total


def data_columns(run, lake_table: str) -> list[str]:
    (first,) = list((run.lake / lake_table / "subject=love" / f"ds={run.ds}").glob("*.parquet"))
    return pq.read_schema(first).names


def expected_partitions(run) -> set[tuple[str, datetime.date]]:
    return {(subject, datetime.date.fromisoformat(run.ds)) for subject in run.subjects}


def test_a_table_folder_holds_parquet_and_underscore_metadata_only(lake_run):
    zones = [p for p in lake_run.lake.glob("*/*") if p.is_dir() and p.parent.name != "quality"]
    folders = sorted(p.relative_to(lake_run.lake).as_posix() for p in zones)
    # Every folder of silver/ and gold/ is a table but the report's pages; the CSV copies are in exports/.
    assert folders == sorted([*TABLES, "gold/report", "exports/gold_csv", "raw/openlibrary"])
    # The quality gate's documents (JSON, not a table) are a zone of their own: quality/subject=S/ds=D/.
    quality = {p.name for p in (lake_run.lake / "quality").glob("subject=*/ds=*/*")}
    assert quality == {"checks.json", "_manifest.json"}, quality
    for table in TABLES:
        for path in (lake_run.lake / table).rglob("*"):
            if path.is_file() and not path.name.startswith(("_", ".")):
                assert path.suffix == ".parquet", path
                pq.read_metadata(path)  # a Parquet footer, not just a name
    for table in GOLD:
        csvs = sorted((lake_run.lake / "exports" / "gold_csv" / table).rglob("*.csv"))
        assert len(csvs) == len(lake_run.subjects), table


def test_the_partition_folders_are_the_subject_keys_as_they_are(lake_run):
    """No escaping: the folder name is `subject=<key>` byte for byte, the string Athena's projection
    template produces. (Hive's and Spark's own writers would escape `:` and `'`; their readers
    unescape only `%XX`, which a key never holds, so they read these folders back unchanged.)"""
    for table in TABLES:
        written = {p.name for p in (lake_run.lake / table).iterdir()}
        assert written == {f"subject={s}" for s in lake_run.subjects}, table
        for subject in lake_run.subjects:
            assert [p.name for p in (lake_run.lake / table / f"subject={subject}").iterdir()] == [f"ds={lake_run.ds}"]


def expected_rows(run, table: str) -> int:
    rows = manifest_rows(run, table)
    # Only rejects may be empty (the fake Open Library's records are all good ones).
    assert rows > 0 or table == "silver/rejects", table
    return rows


@pytest.mark.parametrize("table", TABLES)
def test_pyarrow_reads_the_table_folder_as_a_hive_dataset(lake_run, table):
    folder = lake_run.lake / table
    # As documented: the partition columns declared, ds as a date. Each file's partition, read from
    # its folders (a table without rows has partitions too).
    dataset = pads.dataset(folder, format="parquet", partitioning=PARTITIONING)
    keys = [pads.get_partition_keys(f.partition_expression) for f in dataset.get_fragments()]
    assert {(k["subject"], k["ds"]) for k in keys} == expected_partitions(lake_run)
    assert len(keys) == len(lake_run.subjects)
    read = dataset.to_table()
    # Inferred (partitioning="hive"): the same subject strings, ds as the string of the folder name.
    inferred = pads.dataset(folder, format="parquet", partitioning="hive")
    keys = [pads.get_partition_keys(f.partition_expression) for f in inferred.get_fragments()]
    assert {(k["subject"], k["ds"]) for k in keys} == {(s, lake_run.ds) for s in lake_run.subjects}
    assert read.num_rows == expected_rows(lake_run, table)
    if table in WAREHOUSE:
        columns = data_columns(lake_run, table)
        got = rows([read[c].to_pylist() for c in [*columns, "subject", "ds"]])
        assert got == warehouse_rows(lake_run, table, columns)


@pytest.mark.parametrize("table", TABLES)
def test_duckdb_reads_the_table_folder_with_hive_partitioning(lake_run, table):
    folder = lake_run.lake / table
    columns = data_columns(lake_run, table)
    select = f"SELECT {', '.join(columns)}, subject, ds"
    with duckdb.connect() as con:
        # A folder path: every .parquet file below it; the partition columns typed as documented.
        typed = con.execute(f"{select} FROM read_parquet('{folder}', hive_partitioning = true, {DUCKDB_TYPES})")
        got = sorted(typed.fetchall(), key=repr)
        # Inferred types: DuckDB reads ds as a DATE and these subjects as VARCHAR too.
        glob = f"read_parquet('{folder}/**/*.parquet', hive_partitioning = true)"
        inferred = con.execute(f"SELECT DISTINCT subject, ds FROM {glob}").fetchall()
        # DuckDB's `/**` takes every object, `_manifest.json` included, unlike Spark and Athena.
        with pytest.raises(duckdb.InvalidInputException, match=r"_manifest\.json"):
            con.execute(f"SELECT count(*) FROM read_parquet('{folder}/**', hive_partitioning = true)").fetchall()
    assert len(got) == expected_rows(lake_run, table)
    if got:
        assert {(r[-2], r[-1]) for r in got} == set(inferred) == expected_partitions(lake_run)
    if table in WAREHOUSE:
        assert got == warehouse_rows(lake_run, table, columns)


# What the module's references stand for in an example deployment, and Terraform's `$${…}` escape.
LAKE_URL = "s3://example-bookpipe-lake/prod"


def rendered(value: str, key: str) -> str:
    return value.replace("${local.lake_url}", LAKE_URL).replace("${each.key}", key).replace("$${", "${")


def projected(template: str, values: dict[str, str]) -> str:
    """A partition's location as Athena's projection computes it from storage.location.template:
    each `${column}` replaced by the value as it is (Trino's implementation, PartitionProjection:
    "Don't escape partition value if storage location template is defined")."""
    return re.sub(r"\$\{([^}]+)\}", lambda m: values[m[1]], template)


def in_lake(run, location: str) -> Path:
    assert location.startswith(LAKE_URL + "/"), location
    return run.lake / location[len(LAKE_URL) + 1 :]


def test_the_glue_locations_and_projection_templates_name_the_folders_a_run_writes(every, lake_run):
    (tables,) = [entry["lake_tables"] for entry in every["locals"] if "lake_tables" in entry]
    (glue,) = blocks(every, "resource", "aws_glue_catalog_table").values()
    assert sorted(tables) == sorted(TABLES), "a Glue table for every table folder, and for nothing else"
    parameters = glue["parameters"]
    assert [k["name"] for k in glue["partition_keys"]] == ["subject", "ds"]  # the folders' nesting order
    assert parameters["projection.subject.type"] == "injected"
    # ds: Java's yyyy-MM-dd is Python's %Y-%m-%d; the run's day is in the projected range.
    assert parameters["projection.ds.format"] == "yyyy-MM-dd"
    start, end = parameters["projection.ds.range"].split(",")
    assert end == "NOW" and datetime.date.fromisoformat(start) <= datetime.date.fromisoformat(lake_run.ds)
    for table in tables:
        location = rendered(glue["storage_descriptor"][0]["location"], table)
        assert in_lake(lake_run, location) == lake_run.lake / table and (lake_run.lake / table).is_dir()
        template = rendered(parameters["storage.location.template"], table)
        assert template.startswith(location), (template, location)
        projected_folders = set()
        for subject in lake_run.subjects:
            day = datetime.datetime.strptime(lake_run.ds, "%Y-%m-%d").date()
            folder = in_lake(lake_run, projected(template, {"subject": subject, "ds": day.strftime("%Y-%m-%d")}))
            # What Athena reads there: every object not named _… or .…, as Parquet.
            read = [p for p in folder.iterdir() if not p.name.startswith(("_", "."))]
            assert read and all(pq.read_metadata(p).num_columns == len(tables[table]) for p in read), folder
            projected_folders.add(folder)
        written = {p for p in (lake_run.lake / table).glob("subject=*/ds=*") if p.is_dir()}
        assert projected_folders == written, table


# The queries docs/engines.md shows, run here against the lake the run wrote ("lake/" is its path).
DOC_DUCKDB = (
    "SELECT subject, ds, year, books FROM read_parquet('lake/gold/books_per_year', hive_partitioning = true, "
    "hive_types = {'subject': 'VARCHAR', 'ds': 'DATE'}) WHERE subject = 'place:london' ORDER BY ds, year"
)
DOC_PYARROW = """\
import pyarrow as pa
import pyarrow.dataset as ds

partitioning = ds.partitioning(pa.schema([("subject", pa.string()), ("ds", pa.date32())]), flavor="hive")
books = ds.dataset("lake/silver/books", format="parquet", partitioning=partitioning)
table = books.to_table(filter=ds.field("subject") == "person:sherlock_holmes_(fictitious_character)")
"""


def test_the_queries_of_docs_engines_md_run_as_written(lake_run):
    text = ENGINES_MD.read_text()
    assert DOC_DUCKDB in text
    assert DOC_PYARROW in text
    with duckdb.connect() as con:
        got = con.execute(DOC_DUCKDB.replace("'lake/", f"'{lake_run.lake}/")).fetchall()
    with duckdb.connect(str(lake_run.warehouse), read_only=True) as con:
        query = "SELECT subject, ds, year, books FROM books_per_year WHERE subject = 'place:london' ORDER BY ds, year"
        assert got == con.execute(query).fetchall() and got
    scope: dict = {}
    exec(DOC_PYARROW.replace('"lake/', f'"{lake_run.lake}/'), scope)  # the documented snippet, as written
    table = scope["table"]
    assert set(table["subject"].to_pylist()) == {"person:sherlock_holmes_(fictitious_character)"}
    assert set(table["ds"].to_pylist()) == {datetime.date.fromisoformat(lake_run.ds)}
    assert table.num_rows == manifest_rows(lake_run, "silver/books") // len(lake_run.subjects)
