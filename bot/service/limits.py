"""Per-agent limits on creating requests: a rate (Redis, shared by every web process) and a cap
on pending requests (counted in SQL). A runaway agent is refused before it reaches a person."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func
from sqlmodel import col, select

from bot.core.lifecycle import Event
from bot.core.limits import fixed_window, pending_retry_after
from bot.core.vocabulary import Status
from bot.errors import RateLimited, Unavailable
from bot.service.ports import Clock
from bot.settings import RateLimit
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.tables import ApprovalRequest

log = logging.getLogger(__name__)

# One `rate_limited` audit event per agent, limit and this many seconds at most: a runaway agent
# hammering the API must not flood the audit log either.
AUDIT_EVERY = 60


@dataclass(frozen=True, kw_only=True)
class AgentLimits:
    """Checks one agent's next request against the configured limits; raises RateLimited."""

    db: Database
    redis: Redis
    clock: Clock
    rate: RateLimit | None = None
    max_pending: int | None = None

    @property
    def active(self) -> bool:
        """True when any limit is configured."""
        return self.rate is not None or self.max_pending is not None

    def check(self, agent: str, *, adds_pending: bool = True) -> None:
        """Count this request against `agent`'s rate and refuse it over a limit; changes nothing else.

        The rate is counted in Redis; when Redis cannot answer the request is refused with 503
        (fail closed: an uncounted agent is an unlimited one). The pending cap is SQL's alone, and
        only for a request that would add one (not the retry of a request that exists).
        """
        if self.rate is not None:
            self._check_rate(agent, self.rate)
        if self.max_pending is not None and adds_pending:
            self._check_pending(agent, self.max_pending)

    def _check_rate(self, agent: str, rate: RateLimit) -> None:
        index, retry_after = fixed_window(self.clock().timestamp(), rate.period)
        key = f"signoff:rate:{agent}:{int(rate.period)}:{index}"
        try:
            pipe = self.redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, int(rate.period) + 1)
            count = pipe.execute()[0]
        except RedisError as e:
            raise Unavailable("the agent rate limit cannot be counted (Redis is unreachable)",
                              retry_after=5) from e
        if count > rate.count:
            self._audit(agent, "rate", str(rate), retry_after)
            raise RateLimited(f"agent {agent!r} is over its limit of {rate} requests; nothing was "
                              f"stored, retry in {retry_after} s", retry_after=retry_after)

    def _check_pending(self, agent: str, cap: int) -> None:
        # Counted on ix_requests_created_by_status. Web processes check concurrently, so a burst
        # may pass the cap by the number of creates in flight at once; the rate bounds that burst.
        query = (select(func.count(), func.min(ApprovalRequest.created_at))
                 .where(col(ApprovalRequest.created_by) == agent,
                        col(ApprovalRequest.status) == Status.PENDING.value))
        with self.db.read() as s:
            pending, oldest = s.exec(query).one()
        if pending < cap:
            return
        age = (self.clock() - oldest).total_seconds() if oldest is not None else 0.0
        retry_after = pending_retry_after(age)
        self._audit(agent, "pending", f"{cap} pending", retry_after)
        raise RateLimited(f"agent {agent!r} has {pending} pending requests, its limit is {cap}; "
                          f"nothing was stored, retry once people have decided some "
                          f"(in {retry_after} s)", retry_after=retry_after)

    def _audit(self, agent: str, which: str, limit: str, retry_after: int) -> None:
        """A `rate_limited` event, at most one per agent and limit every AUDIT_EVERY s."""
        index, _ = fixed_window(self.clock().timestamp(), AUDIT_EVERY)
        try:
            first = self.redis.set(f"signoff:rate-audited:{agent}:{which}:{index}", 1, nx=True,
                                   ex=AUDIT_EVERY + 1)
        except RedisError:
            first = True  # cannot tell whether it was recorded: record it (the cap is SQL's alone)
        if not first:
            return
        with self.db.write() as s:
            repo.append_event(s, Event(kind="rate_limited", actor=f"agent:{agent}", request_id=None,
                                       data={"agent": agent, "limit": limit, "which": which}),
                              at=self.clock())
        log.warning("agent %s refused: over its %s limit (%s)", agent, which, limit)
