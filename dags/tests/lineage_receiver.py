"""An OpenLineage receiver on 127.0.0.1 (`POST /api/v1/lineage`, answered `201` as Marquez does) that
keeps every event, and the check every captured event passes: valid against the OpenLineage spec's
JSON schemas pinned in tests/fixtures/openlineage/ (the RunEvent, and each facet against the
schema its `_schemaURL` names, which must be one of the pinned ones), with the formats the spec
declares (`uuid`, `date-time`, `uri`) checked too."""

from __future__ import annotations

import datetime
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import referencing

SPEC = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "openlineage"
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def _registry() -> referencing.Registry:
    resources = []
    for path in sorted(SPEC.glob("*.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], referencing.Resource.from_contents(schema)))
    return referencing.Registry().with_resources(resources)


REGISTRY = _registry()


def _errors(instance, ref: str) -> list[str]:
    validator = jsonschema.Draft202012Validator({"$ref": ref}, registry=REGISTRY)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


def _facets(event: dict):
    """Every facet of the event, with where it sits."""
    yield from (("run", name, f) for name, f in event["run"].get("facets", {}).items())
    yield from (("job", name, f) for name, f in event["job"].get("facets", {}).items())
    for side in ("inputs", "outputs"):
        for dataset in event.get(side, []):
            where = f"{side}:{dataset['name']}"
            for group in ("facets", "inputFacets", "outputFacets"):
                yield from ((where, name, f) for name, f in dataset.get(group, {}).items())


def problems(event: dict) -> list[str]:
    """Why `event` is not a valid OpenLineage RunEvent (empty: it is)."""
    found = _errors(event, RUN_EVENT)
    if found:
        return found
    for where, name, facet in _facets(event):
        url = facet["_schemaURL"]
        if url.split("#")[0] not in {r for r in REGISTRY}:
            found.append(f"{where} facet {name}: {url} is not a pinned schema")
            continue
        found += [f"{where} facet {name}: {e}" for e in _errors(facet, url)]
    parent = event["run"].get("facets", {}).get("parent")
    try:
        uuid.UUID(event["run"]["runId"])
        datetime.datetime.fromisoformat(event["eventTime"])
        if parent:
            uuid.UUID(parent["run"]["runId"])
    except ValueError as e:
        found.append(f"format: {e}")
    for uri in [event["producer"], event["schemaURL"]] + [f["_producer"] for _, _, f in _facets(event)]:
        if not (urlsplit(uri).scheme and urlsplit(uri).netloc):
            found.append(f"format: {uri!r} is not a URI")
    return found


class LineageReceiver:
    """Keeps every event POSTed to /api/v1/lineage; anything else is a 404."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = 404
                if self.path == "/api/v1/lineage":
                    with receiver.lock:
                        receiver.events.append(json.loads(body))
                    status = 201
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def received(self) -> list[dict]:
        with self.lock:
            return list(self.events)

    def __enter__(self) -> LineageReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
