"""Checks on JSON values from outside, before they are stored or matched by a policy."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bot.errors import InvalidInput


def check_finite(value: Any, *, where: str) -> None:
    """Refuse NaN and ±Infinity anywhere in `value`: they compare false with everything, so a rule
    like `args.amount < 50` would silently decide them, and PostgreSQL's JSON refuses them."""
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            raise InvalidInput(f"{path} is {v!r}, not a finite number; send a number or a string",
                               fields={path: "not a finite number"})
        if isinstance(v, Mapping):
            stack.extend((f"{path}.{k}", x) for k, x in v.items())
        elif isinstance(v, list | tuple):
            stack.extend((f"{path}[{n}]", x) for n, x in enumerate(v))
