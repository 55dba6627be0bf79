"""Webhook jobs: one callback delivery attempt per job; the next attempt is scheduled with backoff."""

from __future__ import annotations

from bot.core.webhooks import Verdict
from bot.storage.tables import CallbackDelivery
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
    # The card says when the agent cannot be told: at the first failure, when Signoff gives up,
    # and when a later attempt gets through.
    failed_first = outcome.verdict is Verdict.RETRY and attempt == 1
    recovered = outcome.verdict is Verdict.DELIVERED and attempt > 1
    if failed_first or recovered or outcome.verdict is Verdict.GIVE_UP:
        with ctx.db.read() as s:
            row = s.get(CallbackDelivery, delivery_id)
        if row is not None:
            ctx.jobs.refresh_cards(row.request_id)
