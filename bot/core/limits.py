"""Per-agent limits as arithmetic: which window a moment falls in, and what an agent is told."""

from __future__ import annotations

import math


def fixed_window(now: float, period: float) -> tuple[int, int]:
    """The index of the `period`-second window `now` (epoch seconds) falls in, and whole seconds
    until it ends (at least 1: a Retry-After of 0 invites an immediate retry)."""
    index = int(now // period)
    return index, max(1, math.ceil((index + 1) * period - now))


# A slot under the pending cap frees when a person decides: not within a second or two.
PENDING_RETRY_AT_LEAST = 10.0


def pending_retry_after(oldest_age: float, expected_wait: float = 60.0) -> int:
    """Seconds an agent at its pending cap should wait: a guess, since a person frees the slot.

    Half the age of its oldest pending request (how long, so far, people have taken), but never
    less than PENDING_RETRY_AT_LEAST (an agent told 1 s would ask every second) nor more than
    `expected_wait`.
    """
    return int(min(expected_wait, max(PENDING_RETRY_AT_LEAST, oldest_age / 2)))
