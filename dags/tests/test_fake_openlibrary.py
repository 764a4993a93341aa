"""The fake Open Library as the DAG tests and the benchmark start it (the `fake_openlibrary` example
through tests/fake_openlibrary/openlibrary_launcher.py): each world it serves and each fault switch
its flags turn on, answered as the real server answers. The Rust tests cover the same fake in
process (tests/it/fetch_rules.rs and others); these make sure the process serves it unchanged."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from fake_openlibrary import FakeOpenLibrary, FakeOpenLibraryProcess


def get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read()


def test_the_science_fiction_page_as_every_subject_with_its_authors_and_every_request_logged():
    with FakeOpenLibrary() as api:
        assert api.url.startswith("http://127.0.0.1:")
        status, _, body = get(f"{api.url}/subjects/love.json?limit=5&offset=10&sort=key")
        page = json.loads(body)
        assert (status, page["key"], page["work_count"], len(page["works"])) == (200, "/subjects/love", 12, 2)
        keys = [w["key"] for w in json.loads(get(f"{api.url}/subjects/horror.json?limit=12&sort=key")[2])["works"]]
        assert keys == sorted(keys) and len(keys) == 12
        author = page["works"][0]["authors"][0]
        record = json.loads(get(f"{api.url}{author['key']}.json")[2])
        assert (record["key"], record["name"], record["remote_ids"]["wikidata"]) == (
            author["key"],
            author["name"],
            "Q718463",
        )
        batch = json.dumps([author["key"], "/authors/OL1A"])
        status, _, body = get(f"{api.url}/api/get_many?keys={urllib.request.quote(batch)}")
        assert (status, list(json.loads(body)["result"])) == (200, [author["key"]])
        assert get(f"{api.url}/authors/OL1A.json")[0] == 404
        assert [r.split("?")[0] for r in api.requests] == [
            "/subjects/love.json",
            "/subjects/horror.json",
            f"{author['key']}.json",
            "/api/get_many",
            "/authors/OL1A.json",
        ]
        api.requests.clear()
        assert api.requests == []


def test_the_server_s_own_refusals_a_limit_over_1000_and_a_request_line_over_4094_bytes():
    with FakeOpenLibraryProcess("--generated", "love", 30, 5) as api:
        assert api.world == {"subject": "love", "works": 30, "work_count": 30, "authors": 5}
        status, _, body = get(f"{api.url}/subjects/love.json?limit=1001&sort=key")
        assert (status, json.loads(body)["detail"][0]["type"]) == (422, "less_than_equal")
        assert get(f"{api.url}/subjects/love.json?sort=rating")[0] == 500
        assert get(f"{api.url}/subjects/mystery.json")[0] == 404
        keys = urllib.request.quote(json.dumps([f"/authors/OL{n}A" for n in range(400)]))
        assert get(f"{api.url}/api/get_many?keys={keys}")[0] == 400
        assert [entry["status"] for entry in api.logged()] == [422, 500, 404, 400]


def test_a_rate_limit_refuses_beyond_the_burst_with_a_429_and_no_retry_after():
    with FakeOpenLibrary("--rate", 1, "--burst", 2) as api:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(get, [f"{api.url}/authors/OL1000{n}A.json" for n in range(8)]))
        refusals = [(headers, body) for status, headers, body in answers if status == 429]
        assert len(refusals) >= 4, [status for status, _, _ in answers]
        assert all("Retry-After" not in headers and json.loads(body)["status"] == 429 for headers, body in refusals)
        assert sorted(entry["status"] for entry in api.logged()).count(429) == len(refusals)


def test_latency_a_solr_failure_and_get_many_gone_or_failing():
    with FakeOpenLibraryProcess("--generated", "love", 30, 5, "--latency", 0.3, "--solr-failures", 1) as api:
        started = time.monotonic()
        failed = json.loads(get(f"{api.url}/subjects/love.json?limit=10&sort=key")[2])
        assert time.monotonic() - started >= 0.3
        assert (failed["work_count"], failed["works"]) == (None, [])
        assert len(json.loads(get(f"{api.url}/subjects/love.json?limit=10&sort=key")[2])["works"]) == 10
    keys = urllib.request.quote(json.dumps(["/authors/OL1A"]))
    with FakeOpenLibraryProcess("--generated", "love", 30, 5, "--get-many", "gone") as api:
        assert get(f"{api.url}/api/get_many?keys={keys}")[0] == 404
    with FakeOpenLibraryProcess("--generated", "love", 30, 5, "--get-many", "failing") as api:
        status, _, body = get(f"{api.url}/api/get_many?keys={keys}")
        assert (status, json.loads(body)["status"]) == (200, "fail")


def test_a_raw_partition_s_works_in_key_order_and_its_author_records_byte_for_byte(tmp_path):
    partition = "raw/openlibrary/subjects/subject=love/ds=2026-01-02"
    works = [{"key": f"/works/OL{n}W", "title": str(n), "authors": [{"key": "/authors/OL7A"}]} for n in (3, 1, 2)]
    record = b'{"key": "/authors/OL7A", "name": "Seven"}'
    files = {
        f"{partition}/page-00000.json": json.dumps({"work_count": 4, "works": works}).encode(),
        "raw/openlibrary/authors/OL7A.json": record,
        f"{partition}/_manifest.json": json.dumps(
            {
                "objects": [{"path": f"{partition}/page-00000.json"}],
                "details": {"author_records": [{"key": "OL7A", "path": "raw/openlibrary/authors/OL7A.json"}]},
            }
        ).encode(),
    }
    for path, data in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    with FakeOpenLibraryProcess("--lake", tmp_path, "--subject", "love", "--ds", "2026-01-02") as api:
        assert (api.world["works"], api.world["work_count"], api.world["authors"]) == (3, 4, 1)
        page = json.loads(get(f"{api.url}/subjects/love.json?limit=2&offset=1&sort=key")[2])
        assert [w["key"] for w in page["works"]] == ["/works/OL2W", "/works/OL3W"]
        assert get(f"{api.url}/authors/OL7A.json")[2] == record
