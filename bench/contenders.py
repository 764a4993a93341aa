"""What a data engineer would write instead of bookpipe, run by bench/bench.py on the same data.

Each contender is a subcommand run as its own process, so the harness measures its wall time and
peak memory exactly as it measures bookpipe's:

    contenders.py duckdb-transform LAKE SUBJECT DS OUT    read_json of the raw pages and author
                                                         records -> books, authors, book_authors
    contenders.py pandas-transform LAKE SUBJECT DS OUT    the same with json + pandas + pyarrow
    contenders.py polars-transform LAKE SUBJECT DS OUT    the same with polars (read_json with a pinned
                                                         schema, explode/unnest, write_parquet zstd;
                                                         author records parsed with json)
    contenders.py dlt-job API_URL SUBJECT DB OUT          (bench/dlt_job.py) the whole job with dlt: works through its
                                                         REST API source, authors through a parallel
                                                         transformer, into DuckDB; then the three
                                                         answers in SQL, as JSON in OUT
    contenders.py duckdb-ingest DB MIGRATION[,MIGRATION...] SUBJECT DS SILVER
                                                         DuckDB's own read_parquet of bookpipe's
                                                         silver Parquet into the warehouse tables

Both transforms read exactly the objects the raw partition's manifest lists and write the same
three tables as bookpipe (same columns, same rules where SQL can say them simply: keys stripped of
their /works/ and /authors/ prefixes, works without key or title dropped, a work seen twice kept
once, years outside 1..2100 null, a birth or death year as the first 3- or 4-digit number, authors
without a record named as their pages list them, a merged author's key followed through its redirect
records to the person, a loop kept as listed), sorted the same way, zstd-compressed Parquet.
"""

import json
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor

RAW = "raw/openlibrary/subjects/subject={subject}/ds={ds}"


def raw_inputs(lake, subject, ds):
    """The page paths, and (author key, object path, batch) for every author record the raw manifest
    lists: `batch` says the object is a stored /api/get_many answer holding the record as
    `result["/authors/<key>"]`; otherwise the object is the record (fetch's fallback path)."""
    partition = os.path.join(lake, RAW.format(subject=subject, ds=ds))
    with open(os.path.join(partition, "_manifest.json")) as f:
        manifest = json.load(f)
    pages = [os.path.join(lake, o["path"]) for o in manifest["objects"] if re.search(r"/page-\d+\.json$", o["path"])]
    records = manifest["details"]["author_records"]
    authors = [(r["key"], os.path.join(lake, r["path"]), bool(r.get("batch"))) for r in records]
    return pages, authors


WORKS = (
    "STRUCT(key VARCHAR, title VARCHAR, first_publish_year BIGINT, edition_count BIGINT, "
    "cover_id BIGINT, has_fulltext BOOLEAN, public_scan BOOLEAN, "
    "authors STRUCT(key VARCHAR, name VARCHAR)[])[]"
)
AUTHOR_COLUMNS = {
    "key": "VARCHAR",
    "name": "VARCHAR",
    "birth_date": "VARCHAR",
    "death_date": "VARCHAR",
    "bio": "JSON",
    "remote_ids": "STRUCT(wikidata VARCHAR, viaf VARCHAR, isni VARCHAR)",
    "type": "STRUCT(key VARCHAR)",
    "location": "VARCHAR",
}
# The same fields as a from_json structure, for the records inside get_many answers.
AUTHOR_STRUCTURE = {
    "key": "VARCHAR",
    "name": "VARCHAR",
    "birth_date": "VARCHAR",
    "death_date": "VARCHAR",
    "bio": "JSON",
    "remote_ids": {"wikidata": "VARCHAR", "viaf": "VARCHAR", "isni": "VARCHAR"},
    "type": {"key": "VARCHAR"},
    "location": "VARCHAR",
}
# Redirect chains longer than this are loops: their keys stay as listed (as bookpipe does).
MAX_CHAIN = 64
YEAR = (
    "CASE WHEN TRY_CAST(regexp_extract({0}, '(^|[^0-9])([0-9]{{3,4}})([^0-9]|$)', 2) AS SMALLINT) "
    "BETWEEN 1 AND 2100 THEN TRY_CAST(regexp_extract({0}, '(^|[^0-9])([0-9]{{3,4}})([^0-9]|$)', 2) "
    "AS SMALLINT) END"
)


def duckdb_transform(lake, subject, ds, out):
    import duckdb

    pages, authors = raw_inputs(lake, subject, ds)
    os.makedirs(out, exist_ok=True)
    con = duckdb.connect()
    parquet = "(FORMAT parquet, COMPRESSION zstd)"
    # Every page is one JSON object; only `works` is read, with its fields typed up front (the
    # schema a data engineer would pin rather than let DuckDB sample).
    con.execute(
        f"""
        CREATE TEMP TABLE kept AS
        SELECT * FROM (
            SELECT regexp_extract(work.key, '^/works/(OL[0-9]+W)$', 1) AS work_key, work, page, idx
            FROM (
                SELECT filename AS page, unnest(works) AS work,
                       generate_subscripts(works, 1) AS idx
                FROM read_json(?, columns = {{'works': '{WORKS}'}}, filename = true,
                               maximum_object_size = 268435456)
            )
            WHERE work.title IS NOT NULL AND trim(work.title) <> ''
        )
        WHERE work_key <> ''
        QUALIFY row_number() OVER (PARTITION BY work_key ORDER BY page, idx) = 1
        """,
        [pages],
    )
    con.execute(
        f"""
        COPY (
            SELECT work_key, work.title AS title,
                   CASE WHEN work.first_publish_year BETWEEN 1 AND 2100
                        THEN work.first_publish_year::SMALLINT END AS first_publish_year,
                   work.edition_count::INTEGER AS edition_count, work.cover_id AS cover_id,
                   work.has_fulltext AS has_fulltext, work.public_scan AS public_scan
            FROM kept ORDER BY work_key
        ) TO '{out}/books.parquet' {parquet}
        """
    )
    birth, death = YEAR.format("birth_date"), YEAR.format("death_date")
    # Author records: the entries of the stored get_many answers (one read_json of every batch,
    # `result` as a map, each entry typed by from_json with the same structure) and the single
    # records of fetch's fallback path (one read_json of those files); either joined to the keys the
    # manifest says each object holds.
    singles = [(key, path) for key, path, batch in authors if not batch]
    batched = [(key, path) for key, path, batch in authors if batch]
    structure = json.dumps(AUTHOR_STRUCTURE)
    sources = []
    if batched:
        sources.append(
            f"""
            SELECT f.author_key, from_json(e.value, '{structure}') AS r
            FROM (SELECT filename, unnest(map_entries(result)) AS e
                  FROM read_json(?, columns = {{'result': 'MAP(VARCHAR, JSON)'}}, filename = true,
                                 maximum_object_size = 268435456)) b
            JOIN (SELECT unnest(?::VARCHAR[]) AS author_key, unnest(?::VARCHAR[]) AS filename) f
              ON f.filename = b.filename AND e.key = '/authors/' || f.author_key
            """
        )
    if singles:
        sources.append(
            f"""
            SELECT f.author_key, struct_pack({", ".join(f"{c} := r.{c}" for c in AUTHOR_STRUCTURE)}) AS r
            FROM read_json(?, columns = {AUTHOR_COLUMNS!r}, filename = true) r
            JOIN (SELECT unnest(?::VARCHAR[]) AS author_key, unnest(?::VARCHAR[]) AS filename) f USING (filename)
            """
        )
    parameters = []
    for part in (batched, singles):
        if part:
            unique = sorted({path for _, path in part})
            parameters += [unique, [key for key, _ in part], [path for _, path in part]]
    con.execute(
        f"""
        CREATE TEMP TABLE records AS
        SELECT author_key, r.name AS name, nullif(trim(r.birth_date), '') AS birth_date,
               nullif(trim(r.death_date), '') AS death_date,
               CASE WHEN json_type(r.bio) = 'VARCHAR' THEN r.bio ->> '$' ELSE r.bio ->> '$.value' END AS bio,
               r.remote_ids.wikidata AS wikidata, r.remote_ids.viaf AS viaf, r.remote_ids.isni AS isni,
               coalesce(r.type.key = '/type/redirect', false) AS redirect,
               regexp_extract(r.location, '^/authors/(OL[0-9]+A)$', 1) AS location
        FROM ({" UNION ALL ".join(sources) or "SELECT NULL AS author_key, NULL AS r WHERE false"})
        """,
        parameters,
    )
    # Merged authors: every listed key to the person its redirects lead to.
    con.execute(
        f"""
        CREATE TEMP TABLE links AS
        WITH listed_links AS (
            SELECT work_key, regexp_extract(a.key, '^/authors/(OL[0-9]+A)$', 1) AS listed_author_key,
                   a.name AS listed_name, pos
            FROM (SELECT work_key, unnest(work.authors) AS a,
                         generate_subscripts(work.authors, 1) AS pos FROM kept)
        ),
        chain AS (
            WITH RECURSIVE chain(listed, current, depth) AS (
                SELECT DISTINCT listed_author_key, listed_author_key, 0 FROM listed_links
                UNION ALL
                SELECT c.listed, r.location, c.depth + 1
                FROM chain c JOIN records r ON r.author_key = c.current AND r.redirect AND r.location <> ''
                WHERE c.depth < {MAX_CHAIN}
            )
            SELECT listed, CASE WHEN max(depth) >= {MAX_CHAIN} THEN listed
                                ELSE arg_max(current, depth) END AS person
            FROM chain GROUP BY listed
        )
        SELECT work_key, c.person AS author_key,
               (row_number() OVER (PARTITION BY work_key ORDER BY pos) - 1)::INTEGER AS position,
               listed_author_key, listed_name
        FROM listed_links JOIN chain c ON c.listed = listed_author_key
        WHERE listed_author_key <> ''
        """
    )
    con.execute(
        f"COPY (SELECT work_key, author_key, position, listed_author_key FROM links ORDER BY work_key, position) "
        f"TO '{out}/book_authors.parquet' {parquet}"
    )
    con.execute(
        f"""
        COPY (
            WITH listed AS (
                SELECT author_key, first(listed_name ORDER BY work_key, position) AS listed_name
                FROM links GROUP BY author_key
            )
            SELECT author_key, name, birth_date, death_date, {birth} AS birth_year,
                   {death} AS death_year, bio, wikidata, viaf, isni, true AS from_record
            FROM records WHERE NOT redirect
            UNION ALL
            SELECT l.author_key, l.listed_name, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false
            FROM listed l
            WHERE l.author_key NOT IN (SELECT author_key FROM records WHERE NOT redirect)
            ORDER BY author_key
        ) TO '{out}/authors.parquet' {parquet}
        """
    )


YEAR_RE = re.compile(r"(?<![0-9])([0-9]{3,4})(?![0-9])")


def parse_year(text):
    if not isinstance(text, str):
        return None
    match = YEAR_RE.search(text)
    if not match:
        return None
    year = int(match.group(1))
    return year if 1 <= year <= 2100 else None


def strip_key(raw, prefix, kind):
    if not isinstance(raw, str):
        return None
    key = raw[len(prefix) :] if raw.startswith(prefix) else raw
    digits = key[2:-1]
    ok = key.startswith("OL") and key.endswith(kind) and digits.isdigit()
    return key if ok else None


def read_author_records(authors):
    """Every author record by key, and a function from a listed key to the person its redirects
    lead to (a loop keeps the key as listed). A batch object is read and parsed once for all the
    records it holds."""
    records, batches = {}, {}
    for author_key, path, batch in authors:
        if batch:
            if path not in batches:
                with open(path, "rb") as f:
                    batches[path] = json.load(f)["result"]
            records[author_key] = batches[path][f"/authors/{author_key}"]
        else:
            with open(path, "rb") as f:
                records[author_key] = json.load(f)
    batches.clear()
    redirects = {}
    for author_key, record in records.items():
        if (record.get("type") or {}).get("key") == "/type/redirect":
            target = strip_key(record.get("location"), "/authors/", "A")
            if target is not None:
                redirects[author_key] = target

    def person(listed):
        chain = [listed]
        while chain[-1] in redirects:
            if redirects[chain[-1]] in chain:
                return listed
            chain.append(redirects[chain[-1]])
        return chain[-1]

    return records, person


def author_rows(records):
    """The authors table's rows from the author records (redirects are not authors)."""
    rows = []
    for author_key, record in records.items():
        if (record.get("type") or {}).get("key") == "/type/redirect":
            continue
        bio, remote = record.get("bio"), record.get("remote_ids") or {}
        rows.append(
            {
                "author_key": author_key,
                "name": record.get("name"),
                "birth_date": record.get("birth_date"),
                "death_date": record.get("death_date"),
                "birth_year": parse_year(record.get("birth_date")),
                "death_year": parse_year(record.get("death_date")),
                "bio": bio.get("value") if isinstance(bio, dict) else bio,
                "wikidata": remote.get("wikidata"),
                "viaf": remote.get("viaf"),
                "isni": remote.get("isni"),
                "from_record": True,
            }
        )
    return rows


def pandas_transform(lake, subject, ds, out):
    import pandas as pd

    pages, authors = raw_inputs(lake, subject, ds)
    os.makedirs(out, exist_ok=True)
    records, person = read_author_records(authors)
    books, links, seen = [], [], set()
    for page in pages:
        with open(page, "rb") as f:
            works = json.load(f)["works"]
        for work in works:
            key = strip_key(work.get("key"), "/works/", "W")
            title = work.get("title")
            if key is None or not isinstance(title, str) or not title.strip() or key in seen:
                continue
            seen.add(key)
            year = work.get("first_publish_year")
            books.append(
                {
                    "work_key": key,
                    "title": title,
                    "first_publish_year": year if isinstance(year, int) and 1 <= year <= 2100 else None,
                    "edition_count": work.get("edition_count"),
                    "cover_id": work.get("cover_id"),
                    "has_fulltext": work.get("has_fulltext"),
                    "public_scan": work.get("public_scan"),
                }
            )
            position = 0
            for ref in work.get("authors") or []:
                author_key = strip_key(ref.get("key"), "/authors/", "A")
                if author_key is None:
                    continue
                links.append(
                    {
                        "work_key": key,
                        "author_key": person(author_key),
                        "position": position,
                        "listed_author_key": author_key,
                        "listed_name": ref.get("name"),
                    }
                )
                position += 1
    books = pd.DataFrame(books).astype(
        {
            "first_publish_year": "Int16",
            "edition_count": "Int32",
            "cover_id": "Int64",
            "has_fulltext": "boolean",
            "public_scan": "boolean",
        }
    )
    books.sort_values("work_key").to_parquet(f"{out}/books.parquet", compression="zstd", index=False)
    links = pd.DataFrame(links).astype({"position": "int32"})
    links = links.sort_values(["work_key", "position"])
    links[["work_key", "author_key", "position", "listed_author_key"]].to_parquet(
        f"{out}/book_authors.parquet", compression="zstd", index=False
    )

    rows = author_rows(records)
    recorded = {row["author_key"] for row in rows}
    listed = links.drop_duplicates("author_key")
    for author_key, name in zip(listed["author_key"], listed["listed_name"], strict=True):
        if author_key not in recorded:
            rows.append({"author_key": author_key, "name": name, "from_record": False})
    authors = pd.DataFrame(rows).astype({"birth_year": "Int16", "death_year": "Int16"})
    authors.sort_values("author_key").to_parquet(f"{out}/authors.parquet", compression="zstd", index=False)


def polars_transform(lake, subject, ds, out):
    import polars as pl

    pages, authors = raw_inputs(lake, subject, ds)
    os.makedirs(out, exist_ok=True)
    records, person = read_author_records(authors)
    # The page schema pinned, as a data engineer would rather than let polars infer it.
    author_ref = pl.Struct({"key": pl.String, "name": pl.String})
    work = pl.Struct(
        {
            "key": pl.String,
            "title": pl.String,
            "first_publish_year": pl.Int64,
            "edition_count": pl.Int64,
            "cover_id": pl.Int64,
            "has_fulltext": pl.Boolean,
            "public_scan": pl.Boolean,
            "authors": pl.List(author_ref),
        }
    )

    # Pages parsed on every core: polars' read_json of one document is single-threaded, and it
    # releases the GIL, so a thread pool reads several at once (map keeps the pages' order).
    def read_page(numbered):
        n, page = numbered
        return pl.read_json(page, schema={"works": pl.List(work)}).with_columns(page=pl.lit(n))

    with ThreadPoolExecutor(os.cpu_count()) as pool:
        frames = list(pool.map(read_page, enumerate(pages)))
    works = (
        pl.concat(frames)
        .explode("works")
        .unnest("works")
        .with_row_index("seen")
        .with_columns(work_key=pl.col("key").str.extract(r"^/works/(OL[0-9]+W)$"))
        .filter(pl.col("work_key").is_not_null() & (pl.col("title").str.strip_chars() != ""))
        .unique("work_key", keep="first", maintain_order=True)
    )
    year = pl.col("first_publish_year")
    books = works.select(
        "work_key",
        "title",
        pl.when(year.is_between(1, 2100)).then(year).cast(pl.Int16).alias("first_publish_year"),
        pl.col("edition_count").cast(pl.Int32),
        "cover_id",
        "has_fulltext",
        "public_scan",
    ).sort("work_key")
    books.write_parquet(f"{out}/books.parquet", compression="zstd")

    links = (
        works.select("work_key", "authors")
        .explode("authors")
        .unnest("authors")
        .with_columns(listed_author_key=pl.col("key").str.extract(r"^/authors/(OL[0-9]+A)$"))
        .filter(pl.col("listed_author_key").is_not_null())
    )
    listed = links["listed_author_key"].unique().to_list()
    people = {key: person(key) for key in listed}
    links = links.with_columns(
        author_key=pl.col("listed_author_key").replace_strict(people, return_dtype=pl.String),
        position=(pl.int_range(pl.len()).over("work_key")).cast(pl.Int32),
        listed_name=pl.col("name"),
    )
    links.select("work_key", "author_key", "position", "listed_author_key").sort(
        ["work_key", "position"]
    ).write_parquet(f"{out}/book_authors.parquet", compression="zstd")

    rows = author_rows(records)
    recorded = pl.DataFrame(
        rows,
        schema={
            "author_key": pl.String, "name": pl.String, "birth_date": pl.String, "death_date": pl.String,
            "birth_year": pl.Int16, "death_year": pl.Int16, "bio": pl.String, "wikidata": pl.String,
            "viaf": pl.String, "isni": pl.String, "from_record": pl.Boolean,
        },
    )  # fmt: skip
    unrecorded = (
        links.sort(["work_key", "position"])
        .unique("author_key", keep="first", maintain_order=True)
        .join(recorded.select("author_key"), on="author_key", how="anti")
        .select("author_key", pl.col("listed_name").alias("name"), from_record=pl.lit(False))
    )
    pl.concat([recorded, unrecorded], how="diagonal_relaxed").sort("author_key").write_parquet(
        f"{out}/authors.parquet", compression="zstd"
    )


def dlt_job(api_url, subject, db, out):
    """The whole job with dlt (bench/dlt_job.py, imported here so the other commands never load dlt)."""
    from dlt_job import dlt_job as run

    run(api_url, subject, db, out)


def duckdb_ingest(db, migrations, subject, ds, silver):
    import duckdb

    con = duckdb.connect(db)
    for migration in migrations.split(","):
        with open(migration) as f:
            con.execute(f.read())
    con.execute("BEGIN")
    for table, columns in [
        ("books", "work_key, title, first_publish_year, edition_count, cover_id, has_fulltext, public_scan"),
        (
            "authors",
            "author_key, name, birth_date, death_date, birth_year, death_year, bio, wikidata, viaf, isni, from_record",
        ),
        ("book_authors", "work_key, author_key, position, listed_author_key"),
    ]:
        source = f"{silver}/{table}/subject={subject}/ds={ds}/*.parquet"
        con.execute(
            f"INSERT INTO {table} (subject, ds, {columns}) SELECT ?, CAST(? AS DATE), {columns} FROM read_parquet(?)",
            [subject, ds, source],
        )
    con.execute("COMMIT")
    con.close()


def main(argv):
    commands = {
        "duckdb-transform": duckdb_transform,
        "pandas-transform": pandas_transform,
        "polars-transform": polars_transform,
        "dlt-job": dlt_job,
        "duckdb-ingest": duckdb_ingest,
    }
    if len(argv) < 2 or argv[1] not in commands:
        sys.exit(f"usage: contenders.py {{{','.join(commands)}}} ARGS...")
    commands[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
