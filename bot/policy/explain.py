"""First-match matching of a request against the policy, and why each earlier rule did not match."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

from bot.core.identity import normalise
from bot.core.vocabulary import DEFAULT_URGENCY
from bot.errors import InvalidInput
from bot.policy.conditions import check_condition, show_value
from bot.policy.durations import format_duration
from bot.policy.model import Explanation, Policy, Rule


def match(
    policy: Policy, *, action: str, args: Mapping[str, Any], requester: str | None, urgency: str | None,
    agent: str | None = None,
) -> Explanation:
    """The first rule that matches the request (else the default), with why earlier ones did not.

    A rule whose action (and requester, agent, urgency) fits but whose condition cannot be decided
    (a missing field, a string where a number is compared) raises InvalidInput naming the field, the
    rule and the value: falling through to a later, laxer rule is exactly what must not happen.
    """
    facts = {"action": action, "args": args, "requester": normalise(requester) if requester else None,
             "agent": agent, "urgency": urgency or DEFAULT_URGENCY}
    skipped: list[tuple[str, str]] = []
    for rule in policy.rules:
        why = mismatch(rule, facts)
        if why is None:
            return Explanation(rule=rule, skipped=tuple(skipped))
        skipped.append((rule.name, why))
    return Explanation(rule=policy.default, skipped=tuple(skipped))


def mismatch(rule: Rule, facts: Mapping[str, Any]) -> str | None:
    """Why `rule` does not match these facts, or None when it does; InvalidInput when it cannot tell."""
    action, requester, urgency = facts.get("action"), facts.get("requester"), facts.get("urgency")
    agent = facts.get("agent")
    if rule.actions and not any(fnmatchcase(str(action), glob) for glob in rule.actions):
        return f"action {show_value(action)} is not {_alternatives(rule.actions)}"
    if rule.agents and agent not in rule.agents:
        return f"agent {show_value(agent)} is not {_alternatives(rule.agents)}"
    if rule.requesters and requester not in {normalise(r) for r in rule.requesters}:
        if requester is None:
            return f"the requester is unknown, the rule wants {_alternatives(rule.requesters)}"
        return f"requester {show_value(requester)} is not {_alternatives(rule.requesters)}"
    if rule.urgencies and urgency not in rule.urgencies:
        return f"urgency {show_value(urgency)} is not {_alternatives(rule.urgencies)}"
    for condition in rule.conditions:
        holds, seen = check_condition(condition, facts)
        if holds is None:
            where = f" (line {rule.line})" if rule.line else ""
            raise InvalidInput(
                f"policy rule {rule.name!r}{where} cannot decide {action}: {condition.text} cannot be "
                f"checked because {seen}; send {condition.path} as the rule expects",
                fields={condition.path: f"{seen} (rule {rule.name!r}: {condition.text})"})
        if not holds:
            return f"{condition.text} is false ({seen})"
    return None


def _alternatives(values: Sequence[str]) -> str:
    return values[0] if len(values) == 1 else "one of " + ", ".join(values)




def describe(rule: Rule) -> str:
    """One line on what a rule does: auto-decides, or whom it asks, where, and until when."""
    if rule.auto:
        return f"decided by the system: auto-{rule.auto}"
    who = list(rule.approvers)
    if rule.allow_request_approvers:
        who.append("the approvers the request names")
    parts = [f"asks {', '.join(who) or 'nobody'}"]
    if rule.channel is None and rule.notify is None:
        parts.append("by DM, and in the request's channel if it names one")
    else:
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
