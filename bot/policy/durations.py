"""Policy durations: `30s`, `10m`, `2h`, `1d` and combinations, read and written."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
LONGEST = timedelta(days=366)  # a deadline further off is a typo (and one far enough off overflowed)


def parse_duration(text: str) -> timedelta:
    """`30s`, `10m`, `2h`, `1d` or combinations (`1h30m`), up to 366d, as a timedelta; ValueError
    says how to write one."""
    raw = str(text).strip()
    found = _DURATION.fullmatch(raw)
    if not raw or found is None:
        raise ValueError(f"{str(text)!r} is not a duration; use 30s, 10m, 2h or 1d")
    seconds = sum(int(g or 0) * size for g, (_, size) in zip(found.groups(), _UNITS, strict=True))
    if seconds > LONGEST.total_seconds():
        raise ValueError(f"{_clip(raw)!r} is longer than {format_duration(LONGEST)}; use at most "
                         f"{format_duration(LONGEST)}")
    value = timedelta(seconds=seconds)
    if value <= timedelta(0):
        raise ValueError(f"{str(text)!r} is not a duration longer than zero; use 30s, 10m, 2h or 1d")
    return value


def _clip(raw: str) -> str:
    return raw if len(raw) <= 40 else raw[:37] + "..."


def format_duration(td: timedelta) -> str:
    """The shortest text `parse_duration` reads back (`1h30m`); below a second counts as `0s`."""
    total = int(td.total_seconds())
    sign, total = ("-", -total) if total < 0 else ("", total)
    parts = []
    for unit, size in _UNITS:
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + ("".join(parts) or "0s")
