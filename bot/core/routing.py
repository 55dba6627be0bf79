"""Pure routing rules: a policy rule's timing as a `Route`, the one route of a request whose items
matched several rules, who the requester is, and whether a request is stranded (only its requester
could approve an item, so it escalates at once)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Protocol

from bot.core.deadlines import Route, Step
from bot.core.items import ItemRoute
from bot.core.lifecycle import RequestState
from bot.errors import InvalidInput
from bot.policy.durations import format_duration
from bot.policy.model import Rule


class Resolve(Protocol):
    """Approver names -> Slack user ids; raises naming each bad one as `field[n]`."""

    def __call__(self, entries: Sequence[str], *, field: str = ...) -> list[str]: ...


def combined_route(rules: Sequence[Rule], *, resolve: Resolve) -> Route:
    """One timing for a request whose items matched `rules` (each asks people): the strictest of
    them. The earliest timeout; at it, approve only if every rule approves on its timeout, reject if
    any rejects, else keep waiting; the most frequent reminder; every rule's escalations, each
    adding people only to the items of its own rule."""
    distinct = list({r.name: r for r in rules}.values())
    steps = sorted((Step(after=e.after, to=tuple(resolve(e.to, field=f"policy rule {r.name!r} escalate.to")),
                         notify=e.notify, rule=r.name)
                    for r in distinct for e in r.escalations), key=lambda s: s.after)
    timeouts = [r.timeout for r in distinct if r.timeout is not None]
    effects = {r.on_timeout if r.timeout is not None else "wait" for r in distinct}
    on_timeout = "reject" if "reject" in effects or not timeouts else (
        "approve" if effects == {"approve"} else "wait")
    # Rejecting early is always allowed; approving early never: no item is approved by the system
    # before its own rule's timeout, so an approving deadline is the latest of them.
    timeout = (max if on_timeout == "approve" else min)(timeouts) if timeouts else None
    reminders = [r.remind_every for r in distinct if r.remind_every is not None]
    return Route(rule=" + ".join(r.name for r in distinct), quorum=max(r.quorum for r in distinct),
                 separation_of_duties=any(r.separation_of_duties for r in distinct),
                 remind_every=min(reminders, default=None), escalations=tuple(steps), timeout=timeout,
                 on_timeout=on_timeout)


# What a timeout does, laxest first: a request may choose a stricter one than its rules, never a laxer.
_STRICTNESS = ("approve", "wait", "reject")


def with_request_deadline(
    route: Route, *, timeout: timedelta | None, on_timeout: str | None, max_timeout: timedelta | None,
) -> Route:
    """The route with the request's own deadline: a request may shorten its rules' timeout (and stay
    within their `max_timeout`) or make what happens then stricter, never lengthen or loosen it."""
    if timeout is None and on_timeout is None:
        return route
    limits = [t for t in (route.timeout, max_timeout) if t is not None]
    if timeout is not None and limits and timeout > min(limits):
        raise InvalidInput(
            f"timeout {format_duration(timeout)} is longer than policy rule {route.rule!r} allows "
            f"({format_duration(min(limits))}); a request may shorten its deadline, never lengthen it",
            fields={"timeout": f"at most {format_duration(min(limits))}"})
    if timeout is None and route.timeout is None:
        raise InvalidInput(f"on_timeout needs a timeout: policy rule {route.rule!r} sets none",
                           fields={"on_timeout": "give a timeout too"})
    ruled = route.on_timeout if route.timeout is not None else "wait"  # no timeout: people decide
    effect = on_timeout or (route.on_timeout if route.timeout is not None else "reject")
    if _STRICTNESS.index(effect) < _STRICTNESS.index(ruled):
        raise InvalidInput(
            f"on_timeout {effect} is laxer than policy rule {route.rule!r} ({ruled}); a request may only "
            "make what happens at its deadline stricter", fields={"on_timeout": f"{ruled} or stricter"})
    if effect == "approve" and timeout is not None and route.timeout is not None and timeout < route.timeout:
        raise InvalidInput(
            f"a shorter deadline would approve sooner than policy rule {route.rule!r} does "
            f"({format_duration(route.timeout)}); shorten it only with on_timeout reject or wait",
            fields={"timeout": "shorter than the rule's approving deadline"})
    return replace(route, timeout=timeout or route.timeout, on_timeout=effect)


def escalated(routes: Sequence[ItemRoute], steps: Sequence[Step]) -> list[ItemRoute]:
    """The item routes once `steps` fired: each step's people join the items of its rule."""
    out = []
    for route in routes:
        added = [u for step in steps if step.rule in (None, route.rule) for u in step.to]
        eligible = tuple(dict.fromkeys([*route.eligible, *added]))
        out.append(replace(route, eligible=eligible))
    return out


def requester_identity(requester: str | None, requester_id: str | None) -> str | None:
    """Who separation of duties keeps from deciding: the resolved Slack user id when the requester
    names a person, else the requester as given."""
    return requester_id or requester


def is_stranded(state: RequestState) -> bool:
    """Some open item has fewer people who may approve it than its quorum (the requester, whom
    separation of duties forbids, does not count): nobody can decide it, so the request escalates
    at once instead of waiting for its first level."""
    for i in state.open_items():
        route = state.route_of(i)
        able = set(route.eligible) - ({state.requester} if route.separation_of_duties else set())
        if len(able) < route.quorum:  # fewer people who may approve than approvals needed
            return True
    return False


