"""Deadline jobs: fire what is due, and the sweeper that finds what Redis lost."""

from __future__ import annotations

import logging
from datetime import timedelta

from workers import runtime

log = logging.getLogger(__name__)


def fire(request_id: str) -> None:
    """Fire a request's due reminder, escalation or timeout, then schedule its next one."""
    ctx = runtime.current()
    next_at = ctx.service.fire_deadlines(request_id)
    if next_at is not None:
        ctx.jobs.schedule_deadline(request_id, next_at)


def sweep() -> int:
    """One pass: fire every overdue deadline found in SQL and requeue lost work; then reschedule.

    It costs what is due, not what is pending: one indexed range query on next_deadline_at.
    Firing is conditional, so a deadline the scheduled job (or another sweeper) fired is a no-op.
    """
    ctx = runtime.current()
    fired = 0
    try:
        for request_id in ctx.service.due_request_ids():
            try:
                fire(request_id)
                fired += 1
            except Exception:  # noqa: BLE001 - one bad request must not stop the sweep
                log.exception("sweeper: firing the deadline of %s failed", request_id)
        requeue_lost(ctx)
    finally:
        ctx.jobs.sweep_in(ctx.sweep_interval)
    return fired


def requeue_lost(ctx: runtime.JobContext) -> None:
    """Queue again what SQL says is owed but Redis may have lost: cards, resumes, callbacks."""
    grace = ctx.clock() - timedelta(seconds=30)
    for request_id in ctx.lost_cards(before=grace):
        ctx.jobs.post_cards(request_id)
    for request_id in ctx.db_resumes_queued(before=grace):
        ctx.jobs.resume(request_id)
    for delivery_id, attempts in ctx.lost_callbacks(before=grace):
        ctx.jobs.deliver_callback(delivery_id, attempt=attempts + 1)
