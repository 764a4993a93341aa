"""bookpipe's OpenLineage events against the spec: a `bookpipe run` of two subjects sends every
event to a local receiver, and every event — and every facet, against the schema its `_schemaURL`
names — validates against the pinned OpenLineage JSON schemas; a failing task's FAIL does too.
The checker itself refuses events that break the spec, so a pass means something.
(tests/it/lineage.rs checks the same events' content through the Rust test suite; the scheduler
test checks the events of the DAG's tasks under a real Airflow.)"""

from __future__ import annotations

import copy
import datetime
import os
import subprocess

from fake_openlibrary import FakeOpenLibrary
from lineage_receiver import LineageReceiver, problems

AIRFLOW_TASK = "default/bookpipe_openlibrary.subject.fetch/01937a4e-7b3c-7d2e-8f00-0123456789ab"


def bookpipe(binary: str, tmp_path, args: list[str], receiver: LineageReceiver, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BOOKPIPE_", "OPENLINEAGE_"))}
    clean |= {"OPENLINEAGE_URL": receiver.url, **env}
    command = [binary, "--lake", str(tmp_path / "lake"), *args]
    return subprocess.run(command, env=clean, capture_output=True, text=True, check=False)


def test_every_event_of_a_run_is_valid_openlineage(binary, tmp_path):
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    with FakeOpenLibrary() as api, LineageReceiver() as receiver:
        args = ["run", "--subject", "love,science_fiction", "--ds", today, "--api-url", api.url, "--rate", "200"]
        args += ["--warehouse", f"duckdb:{tmp_path / 'w.duckdb'}"]
        done = bookpipe(binary, tmp_path, args, receiver, OPENLINEAGE_PARENT_ID=AIRFLOW_TASK)
        assert done.returncode == 0, done.stderr
        events = receiver.received()
    # The chain, then START and COMPLETE of five tasks for each of two subjects.
    assert len(events) == 2 + 2 * 5 * 2
    for event in events:
        assert problems(event) == [], (event["eventType"], event["job"]["name"])
    kinds = {(e["eventType"], e["job"]["name"]) for e in events}
    for task in ("run", "fetch", "transform", "load", "aggregate", "report"):
        assert ("COMPLETE", f"bookpipe_openlibrary.{task}") in kinds
    chain = events[0]
    assert chain["run"]["facets"]["parent"]["job"]["name"] == "bookpipe_openlibrary.subject.fetch"
    counted = [
        o
        for e in events
        if e["eventType"] == "COMPLETE"
        for o in e["outputs"]
        if "outputStatistics" in o.get("outputFacets", {})
    ]
    assert len(counted) > 20


def test_a_fail_event_is_valid_and_the_checker_refuses_broken_events(binary, tmp_path):
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    with LineageReceiver() as receiver:
        done = bookpipe(binary, tmp_path, ["transform", "--ds", today, "--subject", "love"], receiver)
        assert done.returncode == 4, done.stderr
        start, fail = receiver.received()
    assert fail["eventType"] == "FAIL"
    assert problems(start) == [] and problems(fail) == []
    assert "raw partition is missing" in fail["run"]["facets"]["errorMessage"]["message"]

    broken = copy.deepcopy(fail)
    broken["eventType"] = "FINISHED"
    assert problems(broken)
    broken = copy.deepcopy(fail)
    del broken["run"]["facets"]["errorMessage"]["programmingLanguage"]
    assert any("programmingLanguage" in p for p in problems(broken))
    broken = copy.deepcopy(fail)
    broken["run"]["facets"]["errorMessage"]["_schemaURL"] = "https://example.com/Other.json#/$defs/X"
    assert any("not a pinned schema" in p for p in problems(broken))
    broken = copy.deepcopy(start)
    broken["outputs"][0]["facets"]["schema"]["fields"][0].pop("name")
    assert problems(broken)
