"""Starts the one fake Open Library (tests/fake_openlibrary/, built as the `fake_openlibrary` example)
for the Python side: the DAG tests and the benchmark. Standard library only, as they live in
different venvs. What the fake answers, and which faults its flags switch on, is written once, in
tests/fake_openlibrary/mod.rs and examples/fake_openlibrary.rs; this module only runs it, and reads
back the requests it logged.

The binary: $BOOKPIPE_FAKE_OPENLIBRARY if set, else `examples/fake_openlibrary` in
$BOOKPIPE_BIN_DIR (scripts/env sets it), else beside $BOOKPIPE_BINARY (the DAG tests set it).
`cargo test` and `cargo build --example fake_openlibrary` build it."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path


def binary() -> Path:
    """Where the fake's binary is (see the module's docstring)."""
    if os.environ.get("BOOKPIPE_FAKE_OPENLIBRARY"):
        return Path(os.environ["BOOKPIPE_FAKE_OPENLIBRARY"])
    if os.environ.get("BOOKPIPE_BIN_DIR"):
        folder = Path(os.environ["BOOKPIPE_BIN_DIR"])
    elif os.environ.get("BOOKPIPE_BINARY"):
        folder = Path(os.environ["BOOKPIPE_BINARY"]).parent
    else:
        raise RuntimeError("set BOOKPIPE_BIN_DIR (source scripts/env) or BOOKPIPE_FAKE_OPENLIBRARY")
    path = folder / "examples" / "fake_openlibrary"
    if not path.is_file():
        raise RuntimeError(f"{path} is not built: cargo build --example fake_openlibrary (cargo test builds it)")
    return path


class RequestLog(list):
    """The requests since the fake started or was last cleared, in arrival order; `clear()` also
    forgets them at the source, so the next read starts after them."""

    def __init__(self, items, forget) -> None:
        super().__init__(items)
        self._forget = forget

    def clear(self) -> None:
        super().clear()
        self._forget()


class FakeOpenLibraryProcess:
    """The fake as a context manager: `url` while inside it; `logged()` the requests, each a dict
    with the `target` asked for (path and query, as sent) and the `status` it was answered."""

    def __init__(self, *args: object) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="fake-openlibrary-")
        self._log = Path(self._folder.name) / "requests.jsonl"
        self._args = [str(binary()), *map(str, args), "--log", str(self._log)]
        self._seen = 0
        self.url = ""
        self.world: dict = {}

    def __enter__(self):
        # Its stdin is a pipe it serves until closed: a test that dies takes the fake with it.
        self._process = subprocess.Popen(self._args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self._process.stdout.readline().strip()
        described = self._process.stdout.readline()
        if not self.url.startswith("http://127.0.0.1:") or not described:
            self._stop()
            raise RuntimeError(f"{self._args[0]} did not start (exit {self._process.returncode}); see its stderr")
        self.world = json.loads(described)
        return self

    def __exit__(self, *exc) -> None:
        self._stop()

    def _stop(self) -> None:
        self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()
        self._folder.cleanup()

    def _lines(self) -> list[str]:
        # Only whole lines: the fake writes each in one append, but a read may meet one mid-write.
        text = self._log.read_text() if self._log.exists() else ""
        return text[: text.rfind("\n") + 1].splitlines()

    def logged(self) -> list[dict]:
        """Every request since the start or the last `forget()`, in arrival order."""
        return [json.loads(line) for line in self._lines()[self._seen :]]

    def forget(self) -> None:
        """Forget the requests logged so far."""
        self._seen = len(self._lines())

    def requests_as(self, shape) -> RequestLog:
        """The logged requests, each as `shape(entry)` makes it, in a list whose `clear()` forgets them."""
        return RequestLog([shape(entry) for entry in self.logged()], self.forget)
