"""What /metrics reads from SQL and Redis at each scrape: cheap, bounded queries only."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from bot.core.vocabulary import Status
from bot.errors import Unavailable
from bot.observe import heartbeat
from bot.observe.metrics import StoreReading
from bot.storage.db import Database
from bot.storage.tables import ApprovalRequest

log = logging.getLogger(__name__)

# Age buckets of pending requests: label -> lower bound in seconds.
AGES = (("0-60", 0), ("60-900", 60), ("900-3600", 900), ("3600-86400", 3600), ("86400+", 86400))
OVERDUE_GRACE = timedelta(minutes=1)


def read_store(db: Database, redis: Redis, *, queues: tuple[str, ...], now: datetime) -> StoreReading:
    """Pending requests by age, overdue deadlines, RQ queue depths and failures, the heartbeat.

    A part that cannot be read (the database or Redis down or hung) is left out of this scrape,
    never the whole scrape: a 500 would drop every series, the process counters too. Without
    Redis the heartbeat reads 0, so "no worker heartbeat" fires rather than going quiet."""
    counts: list[tuple[str, int]] = []
    overdue_now: int | None = None
    created, due = col(ApprovalRequest.created_at), col(ApprovalRequest.next_deadline_at)
    buckets = [func.sum(case((created <= now - timedelta(seconds=low), 1), else_=0)) for _, low in AGES]
    overdue = func.sum(case((due < now - OVERDUE_GRACE, 1), else_=0))
    try:
        with db.read() as s:
            pending = col(ApprovalRequest.status) == Status.PENDING.value
            row = s.execute(select(*buckets, overdue).where(pending)).one()
    except (Unavailable, SQLAlchemyError) as e:
        log.warning("metrics: the database cannot answer (%s); pending and overdue left out", e)
    else:
        at_least = [int(n or 0) for n in row[:-1]]
        # Each bucket holds those at least its bound old but younger than the next bound.
        counts = [(label, at_least[i] - (at_least[i + 1] if i + 1 < len(AGES) else 0))
                  for i, (label, _) in enumerate(AGES)]
        overdue_now = int(row[-1] or 0)
    depths: dict[str, tuple[int, int]] = {}
    beat: float | None = None
    try:
        for name in queues:
            q = Queue(name, connection=redis)
            depths[name] = (q.count, q.failed_job_registry.count)
        beat = heartbeat.last_beat(redis)
    except RedisError as e:
        log.warning("metrics: Redis cannot answer (%s); queues left out, heartbeat 0", e)
        depths = {}
    return StoreReading(pending_by_age=counts, overdue=overdue_now, queues=depths, heartbeat=beat)
