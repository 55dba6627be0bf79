"""Card jobs: take a request id, load state, act; idempotent because RQ retries them."""

from __future__ import annotations

from bot.slack import delivery
from workers import runtime


def post_cards(request_id: str) -> None:
    """Post the missing copies of a request's card."""
    ctx = runtime.current()
    delivery.post_cards(ctx.db, ctx.slack, request_id, clock=ctx.clock, policy=ctx.service.policy)


def update_cards(request_id: str) -> None:
    """Bring every copy of a request's card up to date."""
    ctx = runtime.current()
    delivery.update_cards(ctx.db, ctx.slack, request_id, policy=ctx.service.policy)


def escalate(request_id: str, from_level: int, to_level: int) -> None:
    """Tell the people these escalation levels added (a DM card each, a note under every card)."""
    ctx = runtime.current()
    delivery.escalate(ctx.db, ctx.slack, request_id, from_level=from_level, to_level=to_level,
                      clock=ctx.clock, policy=ctx.service.policy)


def remind(request_id: str, reminder: int | None = None) -> None:
    """Send reminder number `reminder` to the approvers who have not acted yet (None: a job an
    older version queued, for the latest reminder)."""
    ctx = runtime.current()
    delivery.remind(ctx.db, ctx.slack, request_id, reminder=reminder, clock=ctx.clock)
