"""Real servers for tests: redis-server, PostgreSQL, and the web app on a thread."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bot.embedded_redis import free_port


@contextmanager
def serve(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve the ASGI `app` with uvicorn on a thread; yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           limit_concurrency=1000, backlog=2048))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test web server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_healthy(url: str, *, proc: subprocess.Popen[Any] | None = None, timeout: float = 90,
                 output: Callable[[], str] = lambda: "") -> None:
    """Wait until `url`/healthz answers 200. AssertionError, with `output()` (say, the process's
    log), if `proc` exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{url}: the process exited with {proc.returncode}:\n{output()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer /healthz within {timeout:g} s:\n{output()}")
        time.sleep(0.2)


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


class Postgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (run as the `postgres` user when we are root)."""

    def __init__(self) -> None:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.root = Path(tempfile.mkdtemp(prefix="signoff-pg-"))
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True)

    def start(self) -> Postgres:
        """initdb and start; returns once it accepts connections."""
        if self.as_user:
            shutil.chown(self.root, "postgres")
        data = str(self.root / "data")
        self._run(self.initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
        self.up()
        return self

    def up(self) -> None:
        """Start the initialised cluster (again); returns once it accepts connections."""
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=300")
        self._run(self.pg_ctl, "-D", str(self.root / "data"), "-o", opts, "-w", "-l", str(self.root / "log"),
                  "start")

    def down(self) -> None:
        """Stop the cluster, keeping its files (a restart is down() then up())."""
        self._run(self.pg_ctl, "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of `database` on this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the cluster and remove its files."""
        try:
            self._run(self.pg_ctl, "-D", str(self.root / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
