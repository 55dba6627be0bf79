"""Routing policy as pure data: rules, durations, conditions, first-match matching and its explanation.

Reading the YAML file (and its line numbers) lives in `bot.policy_file`; this module only knows
the model, so the service, the CLI and the tests share one definition of what matches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from fnmatch import fnmatchcase
from typing import Any

from bot.errors import InvalidSettings

AUTO = ("approve", "reject")
NOTIFY = ("channel", "dm", "both")
ON_TIMEOUT = ("reject", "approve", "wait")
MENTIONS = ("approvers", "none", "here")  # whom a channel card pings
URGENCIES = ("low", "normal", "high")
OPERATORS = ("<", "<=", ">", ">=", "==", "!=", "in", "not in", "contains")
DEFAULT_URGENCY = "normal"  # what the service assumes when a request names none


class InvalidPolicy(InvalidSettings):
    """The policy file cannot be used; the message names the file, the line and the reason."""


# ---------------------------------------------------------------------------------------------
# Durations

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def parse_duration(text: str) -> timedelta:
    """`30s`, `10m`, `2h`, `1d` or combinations (`1h30m`) as a timedelta; ValueError says how to write one."""
    raw = str(text).strip()
    found = _DURATION.fullmatch(raw)
    if not raw or found is None:
        raise ValueError(f"{str(text)!r} is not a duration; use 30s, 10m, 2h or 1d")
    days, hours, minutes, seconds = (int(g or 0) for g in found.groups())
    value = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if value <= timedelta(0):
        raise ValueError(f"{str(text)!r} is not a duration longer than zero; use 30s, 10m, 2h or 1d")
    return value


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


# ---------------------------------------------------------------------------------------------
# Conditions

_PATH = re.compile(r"(args(?:\.[^\s.<>=!\[\]\"',]+)*|action|requester|urgency)(?=[\s<>=!]|$)")
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
            f"cannot read condition {source!r}: it must start with args.<key>, action, requester or urgency"
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
        raise ValueError(f"{op!r} compares with a number or a string, not {_show(value)}, in {source!r}")


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


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        value = list(value)
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _label(path: str) -> str:
    return path.removeprefix("args.") if path != "args" else path


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


def check_condition(condition: Condition, facts: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the condition holds for `facts` (action, requester, urgency, args) and what it saw."""
    actual = _lookup(condition.path, facts)
    label = _label(condition.path)
    if actual is _MISSING:
        return False, f"{label} is missing"
    seen = f"{label} is {_show(actual)}"
    result = _holds(condition, actual)
    if result is None:
        return False, f"{seen}, a {_kind(actual)}, which cannot be compared with {_show(condition.value)}"
    return result, seen


# ---------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True, kw_only=True)
class Escalation:
    """After `after` (from the request's creation), `to` become eligible and are told."""

    after: timedelta
    to: tuple[str, ...]
    notify: str = "dm"  # dm | channel | both


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One route: what it matches, and who decides how (or `auto`, decided by the system)."""

    name: str
    line: int  # where it starts in the file, for messages; 0 when not from a file
    actions: tuple[str, ...] = ()  # fnmatch globs; empty: any
    requesters: tuple[str, ...] = ()  # exact; empty: any
    urgencies: tuple[str, ...] = ()  # empty: any
    conditions: tuple[Condition, ...] = ()  # all must hold
    auto: str | None = None  # approve | reject
    approvers: tuple[str, ...] = ()
    channel: str | None = None
    notify: str | None = None  # channel | dm | both; None: channel if a channel is set, else dm
    urgency: str | None = None
    quorum: int = 1
    separation_of_duties: bool = True
    remind_every: timedelta | None = None
    escalations: tuple[Escalation, ...] = ()
    timeout: timedelta | None = None
    on_timeout: str = "reject"  # reject | approve | wait
    allow_request_approvers: bool = False
    mention: str = "approvers"  # one of MENTIONS
    confirm: bool | None = None  # Approve asks first; None: only at high urgency

    @property
    def notify_mode(self) -> str:
        """`notify`, or what it defaults to: `channel` when a channel is set, else `dm`."""
        return self.notify or ("channel" if self.channel else "dm")


@dataclass(frozen=True, kw_only=True)
class Policy:
    """Rules tried in order, first match wins; `default` (named "default") when none matches."""

    rules: tuple[Rule, ...]
    default: Rule

    @classmethod
    def permissive(cls) -> Policy:
        """No policy file: every request goes to the approvers it names, as before policies existed."""
        return cls(rules=(), default=Rule(name="default", line=0, allow_request_approvers=True))


@dataclass(frozen=True, kw_only=True)
class Explanation:
    """The rule that applies, and why each earlier rule did not, in order."""

    rule: Rule
    skipped: tuple[tuple[str, str], ...]

    @property
    def is_default(self) -> bool:
        """Whether no rule matched and the default applies."""
        return self.rule.name == "default"


def match(
    policy: Policy, *, action: str, args: Mapping[str, Any], requester: str | None, urgency: str | None
) -> Explanation:
    """The first rule that matches the request (else the default), with why earlier ones did not."""
    facts = {"action": action, "args": args, "requester": requester, "urgency": urgency or DEFAULT_URGENCY}
    skipped: list[tuple[str, str]] = []
    for rule in policy.rules:
        why = mismatch(rule, facts)
        if why is None:
            return Explanation(rule=rule, skipped=tuple(skipped))
        skipped.append((rule.name, why))
    return Explanation(rule=policy.default, skipped=tuple(skipped))


def mismatch(rule: Rule, facts: Mapping[str, Any]) -> str | None:
    """Why `rule` does not match these facts, or None when it does."""
    action, requester, urgency = facts.get("action"), facts.get("requester"), facts.get("urgency")
    if rule.actions and not any(fnmatchcase(str(action), glob) for glob in rule.actions):
        return f"action {_show(action)} is not {_alternatives(rule.actions)}"
    if rule.requesters and requester not in rule.requesters:
        if requester is None:
            return f"the requester is unknown, the rule wants {_alternatives(rule.requesters)}"
        return f"requester {_show(requester)} is not {_alternatives(rule.requesters)}"
    if rule.urgencies and urgency not in rule.urgencies:
        return f"urgency {_show(urgency)} is not {_alternatives(rule.urgencies)}"
    for condition in rule.conditions:
        holds, seen = check_condition(condition, facts)
        if not holds:
            return f"{condition.text} is false ({seen})"
    return None


def _alternatives(values: Sequence[str]) -> str:
    return values[0] if len(values) == 1 else "one of " + ", ".join(values)


# ---------------------------------------------------------------------------------------------
# Explanation as text


def describe(rule: Rule) -> str:
    """One line on what a rule does: auto-decides, or whom it asks, where, and until when."""
    if rule.auto:
        return f"decided by the system: auto-{rule.auto}"
    who = list(rule.approvers)
    if rule.allow_request_approvers:
        who.append("the approvers the request names")
    parts = [f"asks {', '.join(who) or 'nobody'}"]
    parts.append({"dm": "by DM", "channel": f"in {rule.channel}",
                  "both": f"in {rule.channel} and by DM"}[rule.notify_mode])
    if rule.quorum > 1:
        parts.append(f"needs {rule.quorum} approvals")
    if not rule.separation_of_duties:
        parts.append("the requester may vote")
    if rule.urgency:
        parts.append(f"urgency {rule.urgency}")
    if rule.remind_every:
        parts.append(f"reminds every {format_duration(rule.remind_every)}")
    for step in rule.escalations:
        parts.append(f"after {format_duration(step.after)} adds {', '.join(step.to)} ({step.notify})")
    if rule.timeout:
        parts.append(f"after {format_duration(rule.timeout)} {_timeout_effect(rule.on_timeout)}")
    return "; ".join(parts)


def _timeout_effect(on_timeout: str) -> str:
    return {"reject": "rejects", "approve": "approves", "wait": "keeps waiting"}[on_timeout]


def explain_text(e: Explanation) -> str:
    """Human text for `signoff policy explain`: the rule that applies and why earlier rules did not."""
    where = f" (line {e.rule.line})" if e.rule.line else ""
    head = "no rule matches; the default applies" if e.is_default else f"rule {e.rule.name!r} matches"
    lines = [f"{head}{where}: {describe(e.rule)}"]
    if e.skipped:
        lines.append("skipped:")
        lines += [f"  {name}: {why}" for name, why in e.skipped]
    return "\n".join(lines)
