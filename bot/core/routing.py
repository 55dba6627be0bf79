"""Pure routing rules: a policy rule's timing as a `Route`, who the requester is, and whether a
request is stranded (only its requester could approve, so it escalates at once)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from bot.core.deadlines import Route, Step
from bot.policy.model import Rule

Resolve = Callable[[Sequence[str]], list[str]]  # approver names -> Slack user ids; raises on a bad one


def route_for(rule: Rule, *, resolve: Resolve) -> Route:
    """The rule's timing, with escalation targets resolved to Slack users now (fail early)."""
    steps = tuple(Step(after=e.after, to=tuple(resolve(e.to)), notify=e.notify) for e in rule.escalations)
    return Route(rule=rule.name, quorum=rule.quorum, separation_of_duties=rule.separation_of_duties,
                 remind_every=rule.remind_every, escalations=steps, timeout=rule.timeout,
                 on_timeout=rule.on_timeout)


def names_a_person(requester: str | None) -> bool:
    """Whether the requester is spelled as a person (a user id, a `<@U…>` mention or an email), not a
    bot or service name; only a person can be resolved to a Slack user and kept from approving."""
    if not requester:
        return False
    return requester.lstrip("<@").startswith(("U", "W")) or "@" in requester


def requester_identity(requester: str | None, requester_id: str | None) -> str | None:
    """Who separation of duties keeps from deciding: the resolved Slack user id when the requester
    names a person, else the requester as given."""
    return requester_id or requester


def is_stranded(
    *, separation_of_duties: bool, eligible: Iterable[str], requester: str | None, requester_id: str | None
) -> bool:
    """Only the requester could approve and separation of duties forbids it: nobody can decide, so
    the request escalates at once instead of waiting for its first escalation."""
    if not separation_of_duties:
        return False
    return not set(eligible) - {requester_identity(requester, requester_id)}
