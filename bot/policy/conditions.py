"""Policy conditions (`args.amount < 50`): parsed once, checked against a request's facts."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPERATORS = ("<", "<=", ">", ">=", "==", "!=", "in", "not in", "contains")

_PATH = re.compile(r"(args(?:\.[^\s.<>=!\[\]\"',]+)*|action|requester|agent|urgency)(?=[\s<>=!]|$)")
_OPERATOR = re.compile(r"(<=|>=|==|!=|<|>|not\s+in(?=\s|\[|$)|in(?=\s|\[|$)|contains(?=\s|$))")
_NUMBER = re.compile(r"-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_WORD = re.compile(r"[^\s,\[\]]+")
_WORDS = {"true": True, "false": False, "null": None, "~": None}


@dataclass(frozen=True, kw_only=True)
class Condition:
    """One `<path> <op> <value>` test, e.g. `args.amount < 50`; lists in `value` are tuples."""

    text: str
    path: str  # "args.amount", "action", "requester" or "urgency"
    op: str
    value: Any


def parse_condition(text: str) -> Condition:
    """Read `args.amount < 50`-style text; ValueError says what is wrong with it."""
    source = text.strip()
    path = _PATH.match(source)
    if path is None:
        raise ValueError(
            f"cannot read condition {source!r}: it must start with args.<key>, action, requester, agent "
            "or urgency"
        )
    rest = source[path.end():].lstrip()
    word = re.match(r"[<>=!~]+|\S+", rest)
    if word is None:
        raise ValueError(f"condition {source!r} has no operator; use {_ops_list()}")
    op = _OPERATOR.match(rest)
    symbols = word.group() if word.group()[0] in "<>=!~" else None
    if op is None or (symbols is not None and symbols != op.group()):
        raise ValueError(f"unknown operator {word.group()!r} in {source!r}; use {_ops_list()}")
    name = " ".join(op.group().split())
    try:
        value = parse_literal(rest[op.end():])
    except ValueError as e:
        raise ValueError(f"cannot read the value in {source!r}: {e}") from None
    _check_operand(source, name, value)
    return Condition(text=source, path=path.group(), op=name, value=value)


def _ops_list() -> str:
    return ", ".join(OPERATORS[:-1]) + " or " + OPERATORS[-1]


def _check_operand(source: str, op: str, value: Any) -> None:
    if op in ("in", "not in") and not isinstance(value, tuple):
        raise ValueError(f"{op!r} needs a list after it, like [a, b], in {source!r}")
    if op in ("<", "<=", ">", ">=") and _kind(value) not in ("number", "string"):
        raise ValueError(f"{op!r} compares with a number or a string, not {show_value(value)}, in {source!r}")


def parse_literal(text: str) -> Any:
    """A YAML/JSON-like literal: number, quoted or bare-word string, true/false/null, or list `[a, b]`."""
    value, end = _literal(text, 0, top=True)
    if text[end:].strip():
        raise ValueError("unexpected text after it; quote strings that contain spaces or commas")
    return value


def _literal(text: str, at: int, *, top: bool) -> tuple[Any, int]:
    at = _skip_space(text, at)
    if at >= len(text):
        raise ValueError("it is missing" if top else "a list item is missing")
    if text[at] == "[":
        return _list(text, at + 1)
    if text[at] in "\"'":
        return _quoted(text, at)
    word = _WORD.match(text, at)
    if word is None:
        raise ValueError(f"unexpected {text[at]!r}")
    return _bare(word.group()), word.end()


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def _list(text: str, at: int) -> tuple[tuple[Any, ...], int]:
    items: list[Any] = []
    at = _skip_space(text, at)
    if at < len(text) and text[at] == "]":
        return (), at + 1
    while True:
        item, at = _literal(text, at, top=False)
        items.append(item)
        at = _skip_space(text, at)
        if at < len(text) and text[at] == ",":
            at += 1
        elif at < len(text) and text[at] == "]":
            return tuple(items), at + 1
        else:
            raise ValueError("a list needs ',' between items and ']' at its end")


def _quoted(text: str, at: int) -> tuple[str, int]:
    quote = text[at]
    if quote == "'":  # YAML single quotes: '' is a quote, nothing else is escaped
        found = re.compile(r"'((?:[^']|'')*)'").match(text, at)
        if found is None:
            raise ValueError("a quoted string has no closing quote")
        return found.group(1).replace("''", "'"), found.end()
    found = re.compile(r'"(?:[^"\\]|\\.)*"').match(text, at)
    if found is None:
        raise ValueError("a quoted string has no closing quote")
    try:
        return str(json.loads(found.group())), found.end()
    except json.JSONDecodeError as e:
        raise ValueError(f"bad string {found.group()}: {e.msg}") from None


def _bare(word: str) -> Any:
    if word.lower() in _WORDS:
        return _WORDS[word.lower()]
    if _NUMBER.fullmatch(word):
        number = float(word)
        return int(word) if re.fullmatch(r"-?\d+", word) else number
    return word


_MISSING = object()


def _lookup(path: str, facts: Mapping[str, Any]) -> Any:
    head, *keys = path.split(".")
    current = facts.get(head, _MISSING)
    for key in keys:
        if isinstance(current, Mapping) and key in current:
            current = current[key]
        elif isinstance(current, list | tuple) and key.isdigit() and int(key) < len(current):
            current = current[int(key)]
        else:
            return _MISSING
    return _MISSING if current is None and head != "args" else current


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def _same(a: Any, b: Any) -> bool:
    """Equality without Python's `True == 1`: values of different kinds are never equal."""
    kind = _kind(a)
    if kind != _kind(b):
        return False
    if kind == "list":
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if kind == "object":
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _comparable(a: Any, b: Any) -> bool:
    return "null" in (_kind(a), _kind(b)) or _kind(a) == _kind(b)


def show_value(value: Any) -> str:
    """A value as short JSON for messages (60 characters at most)."""
    if isinstance(value, tuple):
        value = list(value)
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _holds(condition: Condition, actual: Any) -> bool | None:
    """True or False, or None when the two sides cannot be compared."""
    op, value = condition.op, condition.value
    if op in ("<", "<=", ">", ">="):
        if _kind(actual) != _kind(value):
            return None
        return {"<": actual < value, "<=": actual <= value, ">": actual > value, ">=": actual >= value}[op]
    if op in ("==", "!="):
        return None if not _comparable(actual, value) else _same(actual, value) == (op == "==")
    if op in ("in", "not in"):
        if value and not any(_comparable(actual, v) for v in value):
            return None
        return any(_same(actual, v) for v in value) == (op == "in")
    return _contains(actual, value)


def _contains(actual: Any, value: Any) -> bool | None:
    if isinstance(actual, str):
        return value in actual if isinstance(value, str) else None
    if isinstance(actual, list | tuple):
        return any(_same(item, value) for item in actual)
    if isinstance(actual, Mapping):
        return value in actual if isinstance(value, str) else None
    return None


def check_condition(condition: Condition, facts: Mapping[str, Any]) -> tuple[bool | None, str]:
    """Whether the condition holds for `facts` (action, requester, agent, urgency, args), and what
    it saw; None when it cannot tell (the field is missing, or of a kind the value cannot be
    compared with), which a caller must treat as an error, never as "does not hold"."""
    actual = _lookup(condition.path, facts)
    if actual is _MISSING:
        return None, f"{condition.path} is missing"
    seen = f"{condition.path} is {show_value(actual)}"
    result = _holds(condition, actual)
    if result is None:
        other = show_value(condition.value)
        return None, f"{seen}, a {_kind(actual)}, which cannot be compared with {other}"
    return result, seen
