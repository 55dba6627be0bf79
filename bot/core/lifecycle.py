"""The request lifecycle as pure functions: state and `now` in, the transition to apply out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.core.items import DecisionType, Item, ItemDecision, ItemRoute, outcome
from bot.core.vocabulary import Status
from bot.errors import AlreadyDecided, AlreadyVoted, InvalidInput, NotAuthorized

# A person's answer to an item; the API and Slack speak of approve/reject most of the time.
Verdict = DecisionType


@dataclass(frozen=True, kw_only=True)
class RequestState:
    """The part of a request the lifecycle rules look at."""

    id: str
    status: Status
    version: int
    eligible: tuple[str, ...]
    items: tuple[Item, ...] = (Item(action="action"),)
    item_decisions: tuple[ItemDecision | None, ...] = (None,)
    decided_by: str | None = None
    decided_at: datetime | None = None
    requester: str | None = None
    quorum: int = 1
    separation_of_duties: bool = False
    approvals: tuple[str, ...] = ()  # who approved so far, when a quorum is needed
    rule: str | None = None  # the policy rule that routed it (named in vote events)
    # Per item: the rule it matched and who may decide it; None for requests stored before items
    # were routed one by one (the request-level fields above then hold for every item).
    item_routes: tuple[ItemRoute, ...] | None = None
    item_approvals: tuple[tuple[str, ...], ...] | None = None  # per item: who approved it so far

    def route_of(self, index: int) -> ItemRoute:
        """Who may decide item `index`, and how many of them must approve it."""
        if self.item_routes is not None:
            return self.item_routes[index]
        return ItemRoute(rule=self.rule or "default", eligible=self.eligible, quorum=self.quorum,
                         separation_of_duties=self.separation_of_duties)

    def votes_of(self, index: int) -> tuple[str, ...]:
        """Who has approved item `index` so far, towards its quorum."""
        if self.item_approvals is not None:
            return self.item_approvals[index]
        return self.approvals if len(self.items) == 1 else ()

    def open_items(self) -> list[int]:
        """The items nobody has decided yet."""
        return [i for i, d in enumerate(self.item_decisions) if d is None]


@dataclass(frozen=True, kw_only=True)
class Event:
    """An audit event to append, as data; the store chains and writes it."""

    kind: str
    actor: str
    request_id: str | None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Transition:
    """A conditional change of a pending request, valid only if the version is still `from_version`.

    `status` stays PENDING while some items of a batch are still open.
    """

    request_id: str
    from_version: int
    status: Status
    decision: str | None  # the verdict of a one-item request; None when nobody decided
    decided_by: str
    decided_at: datetime
    reason: str | None
    event: Event
    item_decisions: tuple[ItemDecision | None, ...] | None = None
    edited_args: Mapping[str, Any] | None = None
    approvals: tuple[str, ...] | None = None
    item_approvals: tuple[tuple[str, ...], ...] | None = None

    @property
    def final(self) -> bool:
        """Whether the request ends with this transition."""
        return self.status is not Status.PENDING


def check_can_decide(state: RequestState, *, actor: str, index: int | None = None) -> None:
    """Raise NotAuthorized or AlreadyDecided if `actor` may not decide item `index` now (with None:
    any item still open). Each item is checked against its own rule's approvers."""
    indices = [item_index(state, index)] if index is not None or len(state.items) == 1 else (
        state.open_items() or list(range(len(state.items))))
    routes = [state.route_of(i) for i in indices]
    mine = [r for r in routes if actor in r.eligible]
    if not mine:
        approvers = tuple(dict.fromkeys(u for r in routes for u in r.eligible))
        raise NotAuthorized(f"{actor} is not an approver of request {state.id}", actor=actor,
                            approvers=approvers)
    if all(r.separation_of_duties for r in mine) and actor == state.requester:
        others = tuple(dict.fromkeys(u for r in routes for u in r.eligible if u != actor))
        raise NotAuthorized(
            f"{actor} requested {state.id}; separation of duties means someone else decides it",
            actor=actor, approvers=others, own_request=True,
        )
    if state.status is not Status.PENDING:
        taken = state.item_decisions[indices[0]] if index is not None else None
        if taken is not None and len(state.items) > 1:  # tell who decided the item clicked
            raise AlreadyDecided(request_id=state.id, status=f"{taken.type.value}d item",
                                 decided_by=taken.by, decided_at=taken.at)
        raise already_decided(state)


def decide(
    state: RequestState, *, actor: str, verdict: DecisionType, reason: str | None = None,
    now: datetime, index: int | None = None, args: Mapping[str, Any] | None = None,
    answer: Any = None,
) -> Transition:
    """The transition for `actor` answering item `index` (the only item when None)."""
    check_can_decide(state, actor=actor, index=index)
    i = item_index(state, index)
    if args is not None and verdict is not DecisionType.EDIT:
        # Arguments change only through an edit, which is checked against the item's rule and schema;
        # an approve carrying arguments would run them unchecked.
        raise InvalidInput(f"only an edit changes the arguments; {verdict.value} does not take any",
                           fields={"args": f"not allowed with {verdict.value}"})
    _check_comment(state.items[i], verdict=verdict, reason=reason)
    route, taken = state.route_of(i), state.item_decisions[i]
    if taken is not None:
        raise AlreadyDecided(request_id=state.id, status=f"{taken.type.value}d item",
                             decided_by=taken.by, decided_at=taken.at)
    if route.quorum > 1 and verdict is DecisionType.EDIT:
        # One person's edit must not stand in for the approvals of several.
        raise InvalidInput(f"this needs {route.quorum} approvals (policy rule {route.rule!r}), so it "
                           "cannot be edited; approve it as asked or reject it")
    if route.quorum > 1 and verdict is DecisionType.APPROVE:
        return _vote(state, i, actor=actor, now=now, comment=reason)
    decision = ItemDecision(type=verdict, by=actor, at=now, args=args, message=reason, answer=answer)
    _check_decision(state.items[i], decision)
    return _with_decision(state, i, decision, rule=route.rule, extra={
        "reason": reason, "edited_args": dict(args) if args is not None else None, "answer": answer})


def _with_decision(state: RequestState, i: int, decision: ItemDecision, *, rule: str,
                   extra: Mapping[str, Any] | None = None,
                   item_approvals: tuple[tuple[str, ...], ...] | None = None) -> Transition:
    """The transition recording `decision` for item `i`; the request ends when no item is open."""
    decisions = state.item_decisions[:i] + (decision,) + state.item_decisions[i + 1:]
    done = all(d is not None for d in decisions)
    status = Status(outcome([d for d in decisions if d is not None])) if done else Status.PENDING
    data: dict[str, Any] = {"verdict": decision.type.value, "status": status.value, "rule": rule}
    if len(state.items) > 1:
        data["item"] = i
    data |= {k: v for k, v in (extra or {}).items() if v is not None and v != ""}
    single = len(state.items) == 1
    return Transition(
        request_id=state.id, from_version=state.version, status=status,
        decision=decision.type.value if single else None, decided_by=decision.by, decided_at=decision.at,
        reason=decision.message if single else None,
        event=Event(kind="decided" if done else "item_decided", actor=decision.by, request_id=state.id,
                    data=data),
        item_decisions=decisions, edited_args=decision.args if single else None,
        item_approvals=item_approvals,
        approvals=_everyone(item_approvals) if item_approvals is not None else None,
    )


def _vote(
    state: RequestState, i: int, *, actor: str, now: datetime, comment: str | None = None
) -> Transition:
    """One approval of item `i` towards its quorum: distinct people only; the last one needed decides."""
    route, votes = state.route_of(i), state.votes_of(i)
    if actor in votes:
        left = route.quorum - len(votes)
        raise AlreadyVoted(f"you already approved; {left} more approval{'' if left == 1 else 's'} needed",
                           approvals=votes, quorum=route.quorum)
    votes = (*votes, actor)
    every = tuple(state.votes_of(n) for n in range(len(state.items)))
    every = every[:i] + (votes,) + every[i + 1:]
    counts: dict[str, Any] = {"approvals": len(votes), "quorum": route.quorum}
    if comment:
        counts["reason"] = comment
    if len(votes) >= route.quorum:
        return _with_decision(state, i, ItemDecision(type=DecisionType.APPROVE, by=actor, at=now),
                              rule=route.rule, extra=counts, item_approvals=every)
    data: dict[str, Any] = {"verdict": "approve", **counts, "rule": route.rule}
    if len(state.items) > 1:
        data["item"] = i
    return Transition(
        request_id=state.id, from_version=state.version, status=Status.PENDING, decision="approve",
        decided_by=actor, decided_at=now, reason=None,
        event=Event(kind="vote", actor=actor, request_id=state.id, data=data),
        item_approvals=every, approvals=_everyone(every),
    )


def _check_comment(item: Item, *, verdict: DecisionType, reason: str | None) -> None:
    """An item that asks for a comment with Approve gets one, on every path (a vote included)."""
    if verdict is DecisionType.APPROVE and item.approve_comment == "required" and not (reason or "").strip():
        raise InvalidInput("approving this needs a comment", fields={"reason": "say why it may go ahead"})


def _everyone(votes: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """Everyone who approved any item, in order, once each (the request's `approvals`)."""
    return tuple(dict.fromkeys(u for item in votes for u in item))


def waits_on(state: RequestState, user: str) -> bool:
    """Whether `user` may decide an open item of `state` and has not approved it yet (App Home)."""
    for i in state.open_items():
        try:
            check_can_decide(state, actor=user, index=i)
        except (NotAuthorized, AlreadyDecided):
            continue
        if user not in state.votes_of(i):
            return True
    return False


def item_index(state: RequestState, index: int | None) -> int:
    """The item `index` names (the only one when None); InvalidInput when there is no such item."""
    if index is None:
        if len(state.items) != 1:
            raise InvalidInput(f"request {state.id} has {len(state.items)} items: say which one")
        return 0
    if not 0 <= index < len(state.items):
        raise InvalidInput(f"request {state.id} has no item {index}")
    return index


def _check_decision(item: Item, d: ItemDecision) -> None:
    if d.type not in item.allowed:
        allowed = ", ".join(a.value for a in item.allowed)
        raise InvalidInput(f"{d.type.value} is not allowed for {item.action}; allowed: {allowed}")
    if d.type is DecisionType.REJECT and not (d.message or "").strip():
        raise InvalidInput("a rejection needs a reason", fields={"reason": "say why"})
    if d.type is DecisionType.EDIT and not isinstance(d.args, Mapping):
        raise InvalidInput("an edit needs the changed arguments", fields={"args": "an object"})
    if d.type is DecisionType.RESPOND and not ((d.message or "").strip() or d.answer is not None):
        raise InvalidInput("a response needs an answer", fields={"response": "say something"})


def end_without_decision(
    state: RequestState, *, status: Status, actor: str, reason: str, now: datetime
) -> Transition:
    """The transition ending a pending request nobody decided (cancelled, expired)."""
    if state.status is not Status.PENDING:
        raise already_decided(state)
    return Transition(
        request_id=state.id, from_version=state.version, status=status, decision=None,
        decided_by=actor, decided_at=now, reason=reason,
        event=Event(kind=status.value, actor=actor, request_id=state.id, data={"reason": reason}),
    )


def system_decision(
    state: RequestState, *, status: Status, reason: str, now: datetime, kind: str, rule: str
) -> Transition:
    """The system ends a pending request by policy: a timeout (every open item gets the outcome)."""
    if state.status is not Status.PENDING:
        raise already_decided(state)
    decision = {Status.APPROVED: "approve", Status.REJECTED: "reject", Status.EXPIRED: "reject"}[status]
    data = {"rule": rule, "status": status.value, "decision": decision, "reason": reason}
    return Transition(
        request_id=state.id, from_version=state.version, status=status, decision=decision,
        decided_by="system", decided_at=now, reason=reason,
        event=Event(kind=kind, actor="system", request_id=state.id, data=data),
        item_decisions=tuple(d or ItemDecision(type=DecisionType(decision), by="system", at=now,
                                               message=reason if decision == "reject" else None)
                             for d in state.item_decisions),
    )


def auto_decide(
    state: RequestState, *, verdicts: Sequence[tuple[str, str] | None], now: datetime
) -> Transition:
    """The policy decides the items whose own rule says `auto` (verdicts[i] = (approve|reject, rule));
    the request ends only if that leaves no item open for people."""
    if state.status is not Status.PENDING:
        raise already_decided(state)
    decisions = list(state.item_decisions)
    decided: list[dict[str, Any]] = []
    for i, verdict in enumerate(verdicts):
        if verdict is None or decisions[i] is not None:
            continue
        kind, rule = verdict
        reason = f"auto-{kind}d by policy rule {rule!r}"
        decisions[i] = ItemDecision(type=DecisionType(kind), by="system", at=now,
                                    message=reason if kind == "reject" else None)
        decided.append({"item": i, "decision": kind, "rule": rule, "reason": reason})
    done = all(d is not None for d in decisions)
    status = Status(outcome([d for d in decisions if d is not None])) if done else Status.PENDING
    single = len(state.items) == 1
    data: dict[str, Any] = {"status": status.value, "items": decided}
    if single:  # the shape a one-item request always had
        data |= {"rule": decided[0]["rule"], "decision": decided[0]["decision"],
                 "reason": decided[0]["reason"]}
    else:
        data["rule"] = sorted({d["rule"] for d in decided})
    first = decisions[decided[0]["item"]] if decided else None
    return Transition(
        request_id=state.id, from_version=state.version, status=status,
        decision=first.type.value if single and first else None,
        decided_by="system", decided_at=now, reason=decided[0]["reason"] if single and decided else None,
        event=Event(kind="auto_decided", actor="system", request_id=state.id, data=data),
        item_decisions=tuple(decisions),
    )


def cancel(state: RequestState, *, actor: str, reason: str, now: datetime) -> Transition:
    """The transition for the requesting agent withdrawing a pending request."""
    return end_without_decision(state, status=Status.CANCELLED, actor=actor, reason=reason, now=now)


def refused_click(state: RequestState, *, actor: str, why: str) -> Event:
    """The audit event for a click that was not allowed to decide."""
    return Event(kind="refused_click", actor=actor, request_id=state.id, data={"why": why})


def already_decided(state: RequestState) -> AlreadyDecided:
    """The error telling a late clicker who won and when."""
    assert state.decided_by is not None and state.decided_at is not None
    return AlreadyDecided(
        request_id=state.id,
        status=state.status.value,
        decided_by=state.decided_by,
        decided_at=state.decided_at,
    )


