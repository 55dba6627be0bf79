"""Webhook rules as pure functions: the callback payload, and when to try again.

The signature itself is defined once, in signoff_client.callbacks: the side that verifies it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

GIVE_UP_AFTER = timedelta(hours=24)
FIRST_DELAY = 2.0  # seconds
MAX_DELAY = 3600.0


class Verdict(StrEnum):
    """What one delivery attempt's answer means."""

    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"


def payload(
    *, delivery_id: str, request_id: str, status: str, decision: str | None, decided_by: str | None,
    reason: str | None, args: Mapping[str, Any], edited_args: Mapping[str, Any] | None,
    decided_at: datetime | None,
) -> dict[str, Any]:
    """The JSON body a receiver gets: the same for every attempt."""
    return {
        "delivery_id": delivery_id, "request_id": request_id, "status": status,
        "decision": decision, "decided_by": decided_by, "reason": reason, "args": dict(args),
        "edited_args": dict(edited_args) if edited_args is not None else None,
        "decided_at": decided_at.isoformat() if decided_at else None,
    }


def classify(status_code: int | None) -> Verdict:
    """2xx delivered; 4xx other than 408/429 will not get better; anything else (or no answer) retries."""
    if status_code is None:
        return Verdict.RETRY
    if 200 <= status_code < 300:
        return Verdict.DELIVERED
    if 400 <= status_code < 500 and status_code not in (408, 429):
        return Verdict.GIVE_UP
    return Verdict.RETRY


def next_delay(attempts: int, *, first: float = FIRST_DELAY, rng: random.Random | None = None) -> float:
    """Seconds before attempt `attempts + 1`: exponential, capped, with jitter so receivers
    coming back from an outage are not hit by every sender at once."""
    ceiling = min(MAX_DELAY, first * 2 ** max(0, attempts - 1))
    return ceiling * (0.5 + 0.5 * (rng or random).random())


def gives_up(*, created_at: datetime, now: datetime, delay: float) -> bool:
    """Whether the next attempt would fall past the 24 h delivery window."""
    return now + timedelta(seconds=delay) - created_at > GIVE_UP_AFTER
