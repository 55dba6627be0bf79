"""Parsing policy YAML text into a validated `Policy`; reading the file is `bot.policy.loader`'s.

Validation walks PyYAML's composed nodes rather than loaded values, so every problem carries
the line it is on. `parse_policy` reports the first problem in the text; `policy_problems` all.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.core.identity import is_person, normalise
from bot.policy.conditions import parse_condition
from bot.policy.durations import format_duration, parse_duration
from bot.policy.model import (
    AUTO,
    MENTIONS,
    NOTIFY,
    ON_TIMEOUT,
    URGENCIES,
    Escalation,
    InvalidPolicy,
    Policy,
    Rule,
)

TOP_FIELDS = ("rules", "default")
MATCH_FIELDS = ("action", "agent", "requester", "urgency", "when")
ROUTE_FIELDS = ("auto", "approvers", "channel", "notify", "urgency", "quorum", "separation_of_duties",
                "remind_every", "escalate", "timeout", "on_timeout", "max_timeout", "allow_request_approvers",
                "mention", "confirm")
RULE_FIELDS = ("name", "match", *ROUTE_FIELDS)
ESCALATION_FIELDS = ("after", "to", "notify")
DEFAULT_HINTS = {
    "name": "the default has no 'name': it is always called 'default'",
    "match": "the default has no 'match': it applies when no rule matches",
}

_STR, _INT, _BOOL = ("tag:yaml.org,2002:" + t for t in ("str", "int", "bool"))
Fields = dict[str, tuple[Node, Node]]  # field name -> (key node, value node)


def parse_policy(text: str, *, source: str = "<policy>") -> Policy:
    """Validate policy YAML; InvalidPolicy says `source:line: reason` for the first problem."""
    policy, problems = _parse(text)
    if problems:
        line, reason = problems[0]
        raise InvalidPolicy(f"{source}:{line}: {reason}")
    assert policy is not None
    return policy


def policy_warnings(policy: Policy) -> list[tuple[int, str]]:
    """What a valid policy does that is probably not meant, as (line, reason)."""
    warnings = []
    for rule in policy.every_rule:
        if rule.auto and rule.requesters and not rule.agents:
            warnings.append((rule.line, (
                f"rule {rule.name!r} auto-{rule.auto}s on 'requester', which the agent claims for itself; "
                "any agent can name any requester. Match on 'agent' (the name of the API token) instead")))
        if (short := _short_of_quorum(rule)) is not None:
            warnings.append((rule.line, short))
    return sorted(warnings)  # the default may come first in the file


def _short_of_quorum(rule: Rule) -> str | None:
    """Why `rule`'s own approvers can never reach its quorum, or None when they might.

    Only people count for sure: a `@handle` may be a user group of any size, and a rule that
    takes the request's approvers may be given enough.
    """
    people = {normalise(a) for a in rule.approvers}
    if rule.auto or rule.allow_request_approvers or not all(map(is_person, people)):
        return None
    if len(people) >= rule.quorum:
        return None
    then = ("until an escalation adds people (each request escalates at once)" if rule.escalations
            else "by anyone: it has no escalation, so each request only times out")
    return (f"rule {rule.name!r} needs {rule.quorum} approvals but names {len(people)} approver(s); "
            f"its requests cannot be decided {then}. Lower 'quorum' or add approvers")


def policy_problems(text: str) -> list[tuple[int, str]]:
    """Every problem in policy YAML as (line, reason), in text order; empty when it is valid."""
    return _parse(text)[1]


def _parse(text: str) -> tuple[Policy | None, list[tuple[int, str]]]:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        return None, [_syntax_problem(e)]
    except yaml.YAMLError as e:
        return None, [(1, f"invalid YAML: {e}")]
    reader = _Reader(loader)
    try:
        policy = reader.policy(root)
    finally:
        loader.dispose()
    problems = sorted(reader.problems, key=lambda p: p[0])  # stable: ties keep discovery order
    return (None if problems else policy), problems


def _syntax_problem(e: yaml.MarkedYAMLError) -> tuple[int, str]:
    problem, context = e.problem_mark, e.context_mark
    reason = f"invalid YAML: {e.context + ': ' if e.context else ''}{e.problem}"
    # An unclosed [ { or quote, or a key without its ':', is noticed lines later: point at its start.
    if context is not None and problem is not None and e.context and e.context.startswith(_STARTS):
        if context.line != problem.line:
            return context.line + 1, f"{reason} (noticed at line {problem.line + 1})"
    mark = problem or context
    return (mark.line + 1 if mark is not None else 1), reason


_STARTS = ("while parsing a flow", "while scanning a quoted", "while scanning a simple key")


class _Bad(Exception):
    """One field is unusable; the reader records it and goes on with the next field."""

    def __init__(self, node: Node, reason: str) -> None:
        super().__init__(reason)
        self.line = _line(node)
        self.reason = reason


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _shown(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == "tag:yaml.org,2002:null":
        return "nothing"
    return repr(node.value)


class _Reader:
    """Walks the composed YAML nodes, building the policy and collecting every problem."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.problems: list[tuple[int, str]] = []

    def note(self, node: Node, reason: str) -> None:
        """Record a problem at `node`'s line."""
        self.problems.append((_line(node), reason))

    def policy(self, root: Node | None) -> Policy | None:
        """The whole file: `rules` (optional) and `default` (required)."""
        if root is None:
            self.problems.append((1, "the policy file is empty; it needs at least a 'default'"))
            return None
        if not isinstance(root, MappingNode):
            self.note(root, "the policy file must be a mapping with 'rules' and 'default'")
            return None
        fields = self.fields(root, TOP_FIELDS, "at the top level")
        rules = self.rules(fields["rules"][1]) if "rules" in fields else ()
        if "default" not in fields:
            self.note(root, "the policy has no 'default'; add one: it routes requests no rule matches")
            return None
        key, value = fields["default"]
        default = self.rule(value, is_default=True, line=_line(key))
        return Policy(rules=rules, default=default) if default is not None else None

    def fields(self, node: Node, known: tuple[str, ...], where: str,
               hints: Mapping[str, str] | None = None) -> Fields:
        """A mapping's fields by name; duplicate and unknown fields are recorded and left out."""
        if not isinstance(node, MappingNode):
            raise _Bad(node, f"expected a mapping of fields {where}, not {_shown(node)}")
        found: Fields = {}
        for key, value in node.value:
            name = key.value if isinstance(key, ScalarNode) else None
            if not isinstance(name, str) or key.tag != _STR:
                self.note(key, f"a field name must be text, not {_shown(key)} ({where})")
            elif name in found:
                first = _line(found[name][0])
                self.note(key, f"field {name!r} appears twice {where} (first at line {first})")
            elif name not in known:
                self.note(key, _unknown(name, known, where, hints or {}))
            else:
                found[name] = (key, value)
        return found

    def rules(self, node: Node) -> tuple[Rule, ...]:
        """The `rules` list, in order; a rule with problems is left out (its problems are recorded)."""
        if not isinstance(node, SequenceNode):
            self.note(node, f"'rules' must be a list of rules, not {_shown(node)}")
            return ()
        rules: list[Rule] = []
        names: dict[str, int] = {}
        for item in node.value:
            rule = self.rule(item, is_default=False, line=_line(item))
            if rule is None:
                continue
            if rule.name in names:
                self.problems.append(
                    (rule.line, f"duplicate rule name {rule.name!r} (first at line {names[rule.name]})"))
            names.setdefault(rule.name, rule.line)
            rules.append(rule)
        return tuple(rules)

    def rule(self, node: Node, *, is_default: bool, line: int) -> Rule | None:
        """One rule (or the default), checked field by field and then as a whole."""
        failed = len(self.problems)
        try:
            if is_default:
                fields = self.fields(node, ROUTE_FIELDS, "in the default", DEFAULT_HINTS)
            else:
                fields = self.fields(node, RULE_FIELDS, _rule_place(node))
        except _Bad as e:
            self.problems.append((e.line, e.reason))
            return None
        values: dict[str, Any] = {}
        for name, (_key, value) in fields.items():
            try:
                values.update(self.field(name, value))
            except _Bad as e:
                self.problems.append((e.line, e.reason))
        if is_default:
            values["name"] = "default"
        elif "name" not in fields:
            self.note(node, "a rule needs a 'name'")
        lines = values.pop("_escalation_lines", ())
        rule = Rule(line=line, **values) if "name" in values else None
        if rule is not None and len(self.problems) == failed:
            self.check_rule(rule, fields, lines)
        return rule

    def field(self, name: str, node: Node) -> dict[str, Any]:
        """Rule keyword arguments from one field."""
        if name == "match":
            return self.match(node)
        if name == "escalate":
            return self.escalations(node)
        parse: Callable[[Node, str], Any] = getattr(self, "_" + name)
        return {name: parse(node, name)}

    def match(self, node: Node) -> dict[str, Any]:
        """The `match` block: action globs, requesters, urgencies and conditions."""
        fields = self.fields(node, MATCH_FIELDS, "in match")
        out: dict[str, Any] = {}
        for name, (_key, value) in fields.items():
            try:
                out.update(self.match_field(name, value))
            except _Bad as e:
                self.problems.append((e.line, e.reason))
        return out

    def match_field(self, name: str, node: Node) -> dict[str, Any]:
        """One `match` field as Rule keyword arguments."""
        items = self.strings(node, name)
        if name == "action":
            return {"actions": tuple(text for _n, text in items)}
        if name == "requester":
            return {"requesters": tuple(text for _n, text in items)}
        if name == "agent":
            return {"agents": tuple(text for _n, text in items)}
        if name == "urgency":
            return {"urgencies": tuple(self.choice(n, name, URGENCIES) for n, _t in items)}
        conditions = []
        for item, text in items:
            try:
                conditions.append(parse_condition(text))
            except ValueError as e:
                raise _Bad(item, str(e)) from None
        return {"conditions": tuple(conditions)}

    def escalations(self, node: Node) -> dict[str, Any]:
        """The `escalate` list, whose `after` must increase."""
        if not isinstance(node, SequenceNode) or not node.value:
            raise _Bad(node, f"'escalate' must be a list of {{after, to}} steps, not {_shown(node)}")
        steps: list[Escalation] = []
        lines: list[tuple[int, int | None]] = []
        for item in node.value:
            fields = self.fields(item, ESCALATION_FIELDS, "in an escalation")
            for required in ("after", "to"):
                if required not in fields:
                    raise _Bad(item, f"an escalation needs '{required}'")
            after_node = fields["after"][1]
            after = self._duration(after_node, "after")
            if steps and after <= steps[-1].after:
                before = format_duration(steps[-1].after)
                raise _Bad(after_node, f"escalation after {format_duration(after)} is not later than the one "
                                       f"before it ({before}); order them by 'after'")
            notify = fields.get("notify")
            steps.append(Escalation(after=after, to=self._approvers(fields["to"][1], "to"),
                                    notify=self._notify(notify[1], "notify") if notify else "dm"))
            lines.append((_line(after_node), _line(notify[1]) if notify else None))
        return {"escalations": tuple(steps), "_escalation_lines": tuple(lines)}

    def check_rule(self, rule: Rule, fields: Fields,
                   escalation_lines: tuple[tuple[int, int | None], ...]) -> None:
        """Checks across fields: auto versus routing, channels for notify, timeout after escalations."""
        what = "the default" if rule.name == "default" else f"rule {rule.name!r}"
        if rule.auto:
            for name in ROUTE_FIELDS:
                if name != "auto" and name in fields:
                    reason = f"'{name}' does nothing in {what}, which is auto: {rule.auto}; remove one"
                    self.note(fields[name][0], reason)
            return
        if not rule.approvers and not rule.allow_request_approvers:
            self.problems.append((rule.line, f"{what} has neither 'auto' nor 'approvers'; name who approves, "
                                             "or set auto: approve or auto: reject"))
        if rule.notify in ("channel", "both") and not rule.channel:
            self.note(fields["notify"][1], f"notify: {rule.notify} needs a 'channel' in {what}")
        for step, (_after_line, notify_line) in zip(rule.escalations, escalation_lines, strict=True):
            if step.notify in ("channel", "both") and not rule.channel and notify_line is not None:
                reason = f"escalation notify: {step.notify} needs a 'channel' in {what}"
                self.problems.append((notify_line, reason))
        self.check_timeout(rule, fields, escalation_lines)

    def check_timeout(self, rule: Rule, fields: Fields,
                      escalation_lines: tuple[tuple[int, int | None], ...]) -> None:
        """`timeout` must come after every escalation; `on_timeout` means nothing without it."""
        if rule.timeout is None:
            if "on_timeout" in fields:
                self.note(fields["on_timeout"][0], "'on_timeout' does nothing without a 'timeout'")
            return
        if rule.escalations and rule.timeout <= rule.escalations[-1].after:
            last, (after_line, _n) = rule.escalations[-1], escalation_lines[-1]
            self.note(fields["timeout"][1], f"timeout {format_duration(rule.timeout)} is not later than "
                                            f"the escalation after {format_duration(last.after)} "
                                            f"(line {after_line})")

    # ---- single fields: each takes the value node and the field name, and raises _Bad

    def strings(self, node: Node, name: str) -> list[tuple[Node, str]]:
        """A string or a non-empty list of strings, each with its node (for its line)."""
        items = node.value if isinstance(node, SequenceNode) else [node]
        if isinstance(node, SequenceNode) and not items:
            raise _Bad(node, f"'{name}' is an empty list; leave it out instead")
        return [(item, self._text(item, name)) for item in items]

    def choice(self, node: Node, name: str, choices: tuple[str, ...]) -> str:
        """One of `choices`, as text."""
        if not isinstance(node, ScalarNode) or node.value not in choices:
            raise _Bad(node, f"'{name}' must be one of {', '.join(choices)}, not {_shown(node)}")
        return str(node.value)

    def scalar(self, node: Node, name: str, tag: str, kind: str) -> Any:
        """A plain YAML scalar of the given tag, constructed (so `yes` is a boolean, as YAML says)."""
        if not isinstance(node, ScalarNode) or node.tag != tag:
            raise _Bad(node, f"'{name}' must be {kind}, not {_shown(node)}")
        return self.loader.construct_object(node)

    def _text(self, node: Node, name: str) -> str:
        if not isinstance(node, ScalarNode) or node.tag != _STR or not node.value.strip():
            raise _Bad(node, f"'{name}' must be text, not {_shown(node)}")
        return str(node.value).strip()

    def _name(self, node: Node, name: str) -> str:
        text = self._text(node, name)
        if text == "default":
            raise _Bad(node, "the rule name 'default' is taken by the default; choose another")
        return text

    def _duration(self, node: Node, name: str) -> timedelta:
        if not isinstance(node, ScalarNode) or node.tag not in (_STR, _INT):
            raise _Bad(node, f"'{name}' must be a duration like 30s, 10m, 2h or 1d, not {_shown(node)}")
        try:
            return parse_duration(node.value)
        except ValueError as e:
            raise _Bad(node, f"{name}: {e}") from None

    def _approvers(self, node: Node, name: str) -> tuple[str, ...]:
        return tuple(text for _n, text in self.strings(node, name))

    def _auto(self, node: Node, name: str) -> str:
        return self.choice(node, name, AUTO)

    def _notify(self, node: Node, name: str) -> str:
        return self.choice(node, name, NOTIFY)

    def _on_timeout(self, node: Node, name: str) -> str:
        return self.choice(node, name, ON_TIMEOUT)

    def _urgency(self, node: Node, name: str) -> str:
        return self.choice(node, name, URGENCIES)

    def _channel(self, node: Node, name: str) -> str:
        return self._text(node, name)

    def _quorum(self, node: Node, name: str) -> int:
        quorum = int(self.scalar(node, name, _INT, "a whole number"))
        if quorum < 1:
            raise _Bad(node, f"'quorum' must be at least 1, not {quorum}")
        return quorum

    def _separation_of_duties(self, node: Node, name: str) -> bool:
        return bool(self.scalar(node, name, _BOOL, "true or false"))

    def _allow_request_approvers(self, node: Node, name: str) -> bool:
        return bool(self.scalar(node, name, _BOOL, "true or false"))

    def _mention(self, node: Node, name: str) -> str:
        return self.choice(node, name, MENTIONS)

    def _confirm(self, node: Node, name: str) -> bool:
        return bool(self.scalar(node, name, _BOOL, "true or false"))

    def _remind_every(self, node: Node, name: str) -> timedelta:
        return self._duration(node, name)

    def _max_timeout(self, node: Node, name: str) -> timedelta:
        return self._duration(node, name)

    def _timeout(self, node: Node, name: str) -> timedelta:
        return self._duration(node, name)


def _rule_place(node: Node) -> str:
    """`in rule 'x'` when the rule's name can be read already, else `in a rule`."""
    for key, value in node.value if isinstance(node, MappingNode) else ():
        if key.value == "name" and isinstance(value, ScalarNode) and value.tag == _STR and value.value:
            return f"in rule {value.value.strip()!r}"
    return "in a rule"


def _unknown(name: str, known: tuple[str, ...], where: str, hints: Mapping[str, str]) -> str:
    if name in hints:
        return hints[name]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"unknown field {name!r} {where}; did you mean {close[0]!r}?"
    return f"unknown field {name!r} {where}; known fields: {', '.join(known)}"
