"""One log line and its metrics for each step of a request's life.

Called by the service and the jobs at the moment a step has committed; never raises into them.
Every line carries the request id, the agent and the policy rule, and a latency where one applies.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.observe import metrics as m

log = logging.getLogger("signoff.lifecycle")


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    if start.tzinfo is None or end.tzinfo is None:  # SQLite hands back naive UTC
        start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    return round((end - start).total_seconds(), 3)


def _line(step: str, request_id: str, *, agent: str | None = None, rule: str | None = None,
          latency_s: float | None = None, level: int = logging.INFO, **more: object) -> None:
    fields = {"step": step, "request_id": request_id, "agent": agent, "rule": rule, "latency_s": latency_s,
              **more}
    log.log(level, "%s %s", step, request_id, extra=fields)


def created(*, request_id: str, agent: str, rule: str | None) -> None:
    """A request was stored and is waiting (or was decided by the policy at once)."""
    m.REQUESTS_CREATED.labels(rule=rule or "", agent=agent).inc()
    _line("created", request_id, agent=agent, rule=rule)


def ended(*, request_id: str, agent: str, rule: str | None, outcome: str, created_at: datetime,
          decided_at: datetime | None, by: str | None = None) -> None:
    """A request reached its final status (decided, expired, cancelled)."""
    latency = _seconds(created_at, decided_at)
    m.REQUESTS_ENDED.labels(outcome=outcome, rule=rule or "", agent=agent).inc()
    if latency is not None:
        m.DECISION_SECONDS.labels(rule=rule or "").observe(max(latency, 0.0))
    step = "expired" if outcome == "expired" else "decided"
    _line(step, request_id, agent=agent, rule=rule, latency_s=latency, outcome=outcome, by=by)


def posted(*, request_id: str, agent: str, rule: str | None, created_at: datetime, now: datetime,
           copies: int) -> None:
    """Cards for a request reached Slack (latency: since its creation)."""
    _line("posted", request_id, agent=agent, rule=rule, latency_s=_seconds(created_at, now), copies=copies)


def deadline_fired(*, kind: str, request_id: str, agent: str, rule: str | None, due_at: datetime | None,
                   now: datetime, level: int | None = None) -> None:
    """A reminder, escalation or timeout fired (latency: how late after its due time)."""
    late = _seconds(due_at, now)
    if late is not None:
        m.DEADLINE_LATENESS.labels(kind=kind).observe(max(late, 0.0))
    if kind == "escalated":
        m.ESCALATIONS.labels(rule=rule or "").inc()
    if kind != "timeout":  # a timeout's line is its `expired` / `decided` one
        _line(kind, request_id, agent=agent, rule=rule, latency_s=late, level_reached=level)


def resumed(*, request_id: str, agent: str | None, rule: str | None, decided_at: datetime | None,
            now: datetime, applied: bool) -> None:
    """The waiting graph was resumed with the decision (latency: since the decision)."""
    _line("resumed", request_id, agent=agent, rule=rule, latency_s=_seconds(decided_at, now), applied=applied)


def resume_failed(*, request_id: str, error: str, final: bool) -> None:
    """A resume attempt failed; RQ retries it unless `final`."""
    m.RESUME_FAILURES.labels(final=str(final).lower()).inc()
    _line("resume_failed", request_id, error=error, final=final, level=logging.WARNING)


def callback(*, request_id: str, agent: str, delivered: bool, final: bool, attempt: int,
             created_at: datetime, now: datetime, error: str | None = None) -> None:
    """One callback attempt's outcome (latency: since the decision was queued for delivery)."""
    m.CALLBACK_ATTEMPTS.labels(agent=agent).inc()
    if not delivered:
        m.CALLBACK_FAILURES.labels(agent=agent, final=str(final).lower()).inc()
    _line("callback_delivered" if delivered else "callback_failed", request_id, agent=agent,
          latency_s=_seconds(created_at, now), attempt=attempt, final=final, error=error,
          level=logging.INFO if delivered else logging.WARNING)
