"""Start-up checks: each failure is one line that says what to do, never a traceback."""

from __future__ import annotations

import errno
import socket

from redis import Redis
from redis.exceptions import RedisError

from bot.errors import InvalidSettings
from bot.settings import redact_url


class StartupFailure(InvalidSettings):
    """Something the process needs is missing; the message says what to do about it."""


def check_port(host: str, port: int, *, setting: str = "SIGNOFF_PORT", hosts: str = "SIGNOFF_HOST") -> None:
    """StartupFailure when `host:port` cannot be bound (taken, or not an address of this machine);
    `setting` and `hosts` name what chooses them."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        # uvicorn sets SO_REUSEADDR too: a port in TIME_WAIT is free for both of us.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise StartupFailure(
                    f"port {port} on {host} is already in use: stop whatever listens there "
                    f"(`ss -ltnp`), or set {setting} to a free port") from None
            raise StartupFailure(f"cannot listen on {host}:{port} ({e.strerror}); check {hosts} "
                                 f"and {setting}") from None


def check_redis(url: str) -> None:
    """StartupFailure when Redis at `url` does not answer PING."""
    client = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except RedisError as e:
        raise StartupFailure(
            f"cannot reach Redis at {redact_url(url)} ({first_line(e)}): start it, fix REDIS_URL, or "
            "leave REDIS_URL empty to use the embedded redis-server") from None
    finally:
        client.close()


def database_problem(url: str, error: BaseException) -> StartupFailure:
    """The one line for a database that cannot be opened."""
    return StartupFailure(
        f"cannot open the database at {redact_url(url)} ({first_line(error)}): check that it is up "
        "and that DATABASE_URL is right")


def first_line(error: BaseException) -> str:
    """`Class: first line of the message`, for a one-line report of `error`."""
    text = str(error).strip().splitlines()
    return f"{error.__class__.__name__}: {text[0]}" if text else error.__class__.__name__
