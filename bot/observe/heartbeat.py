"""The worker heartbeat: each sweeper pass stamps Redis; /metrics and `signoff doctor` read it."""

from __future__ import annotations

from datetime import datetime

from redis import Redis

KEY = "signoff:worker:heartbeat"
# Long enough for several sweeper passes; a key that outlives every worker is what alerts on.
TTL_SECONDS = 7 * 86400


def beat(redis: Redis, now: datetime) -> None:
    """Record that a worker's sweeper ran at `now`."""
    redis.set(KEY, f"{now.timestamp():.3f}", ex=TTL_SECONDS)


def last_beat(redis: Redis) -> float | None:
    """Unix time of the last sweeper pass of any worker; None when none was ever seen."""
    raw = redis.get(KEY)
    return float(raw) if raw is not None else None
