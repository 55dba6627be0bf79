"""Per-agent limits as arithmetic: which window a moment falls in, and what an agent is told."""

from __future__ import annotations

import math


def fixed_window(now: float, period: float) -> tuple[int, int]:
    """The index of the `period`-second window `now` (epoch seconds) falls in, and whole seconds
    until it ends (at least 1: a Retry-After of 0 invites an immediate retry)."""
    index = int(now // period)
    return index, max(1, math.ceil((index + 1) * period - now))


def pending_retry_after(oldest_age: float, expected_wait: float = 60.0) -> int:
    """Seconds an agent at its pending cap should wait: a guess, since a person frees the slot.

    Never less than 1 s nor more than `expected_wait`; half the age of its oldest pending request
    is how long, so far, people have taken.
    """
    return int(min(expected_wait, max(1.0, oldest_age / 2)))
