"""A throwaway PostgreSQL server for the benchmark (bench/) and the scheduler test (its Airflow's
metadata database, dags/tests/test_scheduler.py), like the one the Rust tests start
(tests/it/support/postgres.rs): initdb into a folder, a free 127.0.0.1 port, trusting local
connections, durability settings off (fsync, synchronous_commit, full_page_writes) so the disk of
this machine is not what is measured. As root, the server runs as the `postgres` user, since
initdb refuses root. A missing server binary is an error: nothing here skips."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path


def pg_bin() -> Path:
    if "BOOKPIPE_PG_BIN" in os.environ:
        return Path(os.environ["BOOKPIPE_PG_BIN"])
    found = sorted(p / "bin" for p in Path("/usr/lib/postgresql").glob("*") if (p / "bin/initdb").is_file())
    if not found:
        raise RuntimeError("no /usr/lib/postgresql/*/bin/initdb: install postgresql (or set BOOKPIPE_PG_BIN)")
    return found[-1]


class Postgres:
    def __init__(self, folder: Path, port: int, clock: list[str]) -> None:
        self.folder, self.port, self.bin, self.clock = folder, port, pg_bin(), clock
        self.user = "postgres" if os.geteuid() == 0 else None
        self.databases: set[str] = set()

    @classmethod
    def start(cls, folder: Path, clock: list[str] | None = None) -> Postgres:
        """A server in `folder` (emptied first); `clock`, a command prefix its programs run under
        (the scheduler test's faked clock)."""
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = cls(folder, port, clock or [])
        if server.user:
            subprocess.run(["chown", "-R", server.user, str(folder)], check=True)
        data = str(folder / "data")
        server.run("initdb", "-D", data, "-A", "trust", "-U", "bookpipe", "--locale=C", "-E", "UTF8")
        options = (
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        server.run("pg_ctl", "-D", data, "-o", options, "-l", str(folder / "server.log"), "-w", "-t", "60", "start")
        return server

    def command(self, program: str, *args: str) -> list[str]:
        path = str(self.bin / program)
        command = [*self.clock, path, *args]
        return ["runuser", "-u", self.user, "--", *command] if self.user else command

    def run(self, program: str, *args: str) -> str:
        result = subprocess.run(
            self.command(program, *args), cwd=self.folder, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stdout}{result.stderr}")
        return result.stdout

    def database(self, name: str) -> str:
        """A database (created once) and its URL."""
        if name not in self.databases:
            self.run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "bookpipe", name)
            self.databases.add(name)
        return f"postgres://bookpipe@127.0.0.1:{self.port}/{name}"

    def psql_command(self, database: str, args: list[str]) -> list[str]:
        connection = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "bookpipe", "-d", database]
        return [str(self.bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", *connection, *args]

    def psql(self, database: str, args: list[str]) -> str:
        result = subprocess.run(self.psql_command(database, args), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout

    def counts(self, database: str, tables: list[str]) -> dict:
        return {t: int(self.psql(database, ["-A", "-t", "-c", f"SELECT count(*) FROM {t}"]).strip()) for t in tables}

    def stop(self) -> None:
        subprocess.run(
            self.command("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop"),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.folder, ignore_errors=True)
