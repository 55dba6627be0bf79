"""Callback jobs: one attempt per job; the next attempt is scheduled with backoff."""

from __future__ import annotations

from bot import callbacks
from bot.core.callbacks import Verdict
from bot.storage.tables import CallbackDelivery
from workers import cards, runtime


def deliver_callback(delivery_id: str, attempt: int) -> None:
    """Try to deliver a callback; schedule the next attempt if the receiver was not ready."""
    ctx = runtime.current()
    outcome = callbacks.attempt(ctx.db, delivery_id, secrets=ctx.callback_secrets, http=ctx.http,
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
            cards.refresh(row.request_id)
