"""Webhook jobs: one callback delivery attempt per job; the next attempt is scheduled with backoff."""

from __future__ import annotations

from bot.webhooks import sender
from workers import runtime


def deliver_callback(delivery_id: str, attempt: int) -> None:
    """Try to deliver a callback; schedule the next attempt if the receiver was not ready."""
    ctx = runtime.current()
    outcome = sender.attempt(ctx.db, delivery_id, secrets=ctx.callback_secrets,
                             outbound=ctx.outbound,
                             clock=ctx.clock, allow_private=ctx.allow_private_callbacks)
    if outcome.retry_in is not None:
        ctx.jobs.deliver_callback(delivery_id, attempt=attempt + 1, delay=outcome.retry_in)
