"""Bounds on what an agent may send: NUL-free strings, JSON nesting depth and size per field.

PostgreSQL refuses a NUL in text and JSON (a 500 after validation passed), and arguments nested a
few hundred deep were stored and then could not be answered; both are refused at the door.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32  # nesting of objects and lists inside `args`, `context` or a run's `input`
MAX_FIELD_BYTES = 64 * 1024  # one such field, serialised as compact JSON


def value_problem(value: Any) -> str | None:
    """Why a JSON value cannot be stored and shown (a NUL, too deep, too large), or None."""
    if (where := nul_at(value)) is not None:
        return f"contains a NUL character (at {where})"
    return json_problem(value)


def nul_at(value: Any, path: str = "") -> str | None:
    """Where the first NUL character is in a string, a key or a nested value; None if nowhere."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, v = stack.pop()
        if isinstance(v, str) and "\x00" in v:
            return where or "value"
        if isinstance(v, dict):
            for k, item in v.items():
                if isinstance(k, str) and "\x00" in k:
                    return f"{where}.{k!r}" if where else repr(k)
                stack.append((f"{where}.{k}" if where else str(k), item))
        elif isinstance(v, list | tuple):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(v))
    return None


def depth(value: Any) -> int:
    """How deep objects and lists nest: a scalar is 0, `{"a": [1]}` is 2."""
    deepest = 0
    stack: list[tuple[int, Any]] = [(0, value)]
    while stack:
        level, v = stack.pop()
        if isinstance(v, dict):
            children = list(v.values())
        elif isinstance(v, list | tuple):
            children = list(v)
        else:
            deepest = max(deepest, level)
            continue
        deepest = max(deepest, level + 1)
        stack.extend((level + 1, c) for c in children)
    return deepest


def json_problem(value: Any, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_FIELD_BYTES) -> str | None:
    """Why a free-form JSON field is refused (too deep, too large), or None."""
    if (d := depth(value)) > max_depth:
        return f"nests {d} levels deep; the limit is {max_depth}"
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > max_bytes:
        return f"is {size} bytes as JSON; the limit is {max_bytes}"
    return None
