"""The whole job with dlt, run by `contenders.py dlt-job API_URL SUBJECT DB OUT`: what a data engineer
would write with dlt instead of bookpipe's fetch → transform → load → aggregate."""

import json
import os

from contenders import MAX_CHAIN


def dlt_job(api_url, subject, db, out):
    """The whole job with dlt: the subject's works through its REST API source (offset paginator),
    their authors through a parallel transformer asking /api/get_many for 100 keys at a time, both
    into DuckDB; then the three answers in SQL, written as JSON to `out`."""
    import threading

    import dlt
    from dlt.sources.helpers import requests
    from dlt.sources.rest_api import rest_api_resources

    works = rest_api_resources(
        {
            "client": {"base_url": f"{api_url}/"},
            "resource_defaults": {"write_disposition": "replace"},
            "resources": [
                {
                    "name": "works",
                    "endpoint": {
                        "path": f"subjects/{subject}.json",
                        "params": {"sort": "key"},
                        "data_selector": "works",
                        "paginator": {
                            "type": "offset",
                            "limit": 1000,
                            "offset_param": "offset",
                            "limit_param": "limit",
                            "total_path": "work_count",
                        },
                    },
                }
            ],
        }
    )[0]
    seen, lock = set(), threading.Lock()

    @dlt.transformer(data_from=works, write_disposition="replace", parallelized=True)
    def authors(page):
        with lock:
            keys = sorted({a["key"] for w in page for a in w.get("authors") or []} - seen)
            seen.update(keys)
        # A merged author's record redirects to the person's key: ask for those too, to the end of
        # each chain (a key is asked for once, so a loop ends).
        while keys:
            targets = set()
            for start in range(0, len(keys), 100):
                batch = keys[start : start + 100]
                answer = requests.get(f"{api_url}/api/get_many", params={"keys": json.dumps(batch)})
                answer.raise_for_status()
                records = list(answer.json()["result"].values())
                targets |= {r["location"] for r in records if (r.get("type") or {}).get("key") == "/type/redirect"}
                yield records
            with lock:
                keys = sorted(targets - seen)
                seen.update(keys)

    pipeline = dlt.pipeline(
        pipeline_name="openlibrary",
        destination=dlt.destinations.duckdb(db),
        dataset_name="openlibrary",
        pipelines_dir=os.path.join(os.path.dirname(out), "dlt-pipelines"),
    )
    pipeline.run([works, authors])

    import duckdb

    con = duckdb.connect(db)
    con.execute("SET schema = 'openlibrary'")
    # Merged authors: each listed key to the person its redirect records lead to (dlt creates the
    # redirect columns only when some record has them).
    columns = {row[0] for row in con.execute("SELECT column_name FROM (DESCRIBE authors)").fetchall()}
    redirects = (
        "SELECT regexp_extract(key, '^/authors/(OL[0-9]+A)$', 1) AS author_key, "
        "regexp_extract(location, '^/authors/(OL[0-9]+A)$', 1) AS target FROM authors "
        "WHERE type__key = '/type/redirect' AND location IS NOT NULL"
        if {"type__key", "location"} <= columns
        else "SELECT NULL AS author_key, NULL AS target WHERE false"
    )
    con.execute(f"CREATE TEMP TABLE redirects AS {redirects}")
    con.execute(
        f"""
        CREATE TEMP TABLE people AS
        WITH RECURSIVE chain(listed, current, depth) AS (
            SELECT DISTINCT k, k, 0
            FROM (SELECT regexp_extract(key, '^/authors/(OL[0-9]+A)$', 1) AS k FROM works__authors)
            UNION ALL
            SELECT c.listed, r.target, c.depth + 1 FROM chain c JOIN redirects r ON r.author_key = c.current
            WHERE c.depth < {MAX_CHAIN}
        )
        SELECT listed, CASE WHEN max(depth) >= {MAX_CHAIN} THEN listed ELSE arg_max(current, depth) END AS person
        FROM chain GROUP BY listed
        """
    )
    con.execute(
        """
        CREATE TEMP TABLE links AS
        SELECT DISTINCT p.person AS author_key,
               regexp_extract(w.key, '^/works/(OL[0-9]+W)$', 1) AS work_key,
               CASE WHEN w.first_publish_year BETWEEN 1 AND 2100 THEN CAST(w.first_publish_year AS INTEGER) END AS year
        FROM works w JOIN works__authors a ON a._dlt_parent_id = w._dlt_id
        JOIN people p ON p.listed = regexp_extract(a.key, '^/authors/(OL[0-9]+A)$', 1)
        """
    )
    con.execute(
        """
        CREATE TEMP TABLE names AS
        SELECT regexp_extract(key, '^/authors/(OL[0-9]+A)$', 1) AS author_key, any_value(name) AS author_name
        FROM authors WHERE name IS NOT NULL GROUP BY 1
        """
    )
    answers = {
        "author_books_per_year": """
            SELECT l.author_key, n.author_name, l.year, count(DISTINCT l.work_key) AS books
            FROM links l LEFT JOIN names n USING (author_key) WHERE l.year IS NOT NULL
            GROUP BY ALL ORDER BY l.author_key, l.year""",
        "author_yearly_average": """
            SELECT l.author_key, n.author_name, count(*) AS total_books, count(l.year) AS dated_books,
                   min(l.year) AS first_year, max(l.year) AS last_year, count(DISTINCT l.year) AS active_years,
                   CASE WHEN count(l.year) > 0 THEN count(l.year) / count(DISTINCT l.year) END
                       AS avg_books_per_active_year,
                   CASE WHEN count(l.year) > 0 THEN count(l.year) / (max(l.year) - min(l.year) + 1) END
                       AS avg_books_per_career_year
            FROM links l LEFT JOIN names n USING (author_key)
            GROUP BY l.author_key, n.author_name ORDER BY l.author_key""",
        "books_per_year": """
            SELECT CAST(w.first_publish_year AS INTEGER) AS year,
                   count(DISTINCT regexp_extract(w.key, '^/works/(OL[0-9]+W)$', 1)) AS books,
                   count(DISTINCT p.person) AS authors
            FROM works w LEFT JOIN works__authors a ON a._dlt_parent_id = w._dlt_id
            LEFT JOIN people p ON p.listed = regexp_extract(a.key, '^/authors/(OL[0-9]+A)$', 1)
            WHERE w.first_publish_year BETWEEN 1 AND 2100
            GROUP BY 1 ORDER BY 1""",
    }
    result = {name: con.execute(sql).fetchall() for name, sql in answers.items()}
    with open(out, "w") as f:
        json.dump(result, f)
