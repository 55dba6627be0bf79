"""The request lifecycle as pure functions: state and `now` in, the transition to apply out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.core.items import DecisionType, Item, ItemDecision, outcome
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

    @property
    def final(self) -> bool:
        """Whether the request ends with this transition."""
        return self.status is not Status.PENDING


def check_can_decide(state: RequestState, *, actor: str) -> None:
    """Raise NotAuthorized or AlreadyDecided if `actor` may not decide `state` now."""
    if actor not in state.eligible:
        raise NotAuthorized(
            f"{actor} is not an approver of request {state.id}", actor=actor, approvers=state.eligible
        )
    if state.separation_of_duties and actor == state.requester:
        raise NotAuthorized(
            f"{actor} requested {state.id}; separation of duties means someone else decides it",
            actor=actor, approvers=tuple(u for u in state.eligible if u != actor), own_request=True,
        )
    if state.status is not Status.PENDING:
        raise already_decided(state)


def decide(
    state: RequestState, *, actor: str, verdict: DecisionType, reason: str | None = None,
    now: datetime, index: int | None = None, args: Mapping[str, Any] | None = None,
    answer: Any = None,
) -> Transition:
    """The transition for `actor` answering item `index` (the only item when None)."""
    check_can_decide(state, actor=actor)
    _check_comment(state, verdict=verdict, index=index, reason=reason)
    if state.quorum > 1 and verdict is DecisionType.APPROVE and len(state.items) == 1:
        return _vote(state, actor=actor, now=now, comment=reason)
    if state.quorum > 1 and verdict is DecisionType.EDIT:
        # One person's edit must not stand in for the approvals of several.
        raise InvalidInput(f"this request needs {state.quorum} approvals, so it cannot be edited; "
                           "approve it as asked or reject it")
    i = _item_index(state, index)
    item, taken = state.items[i], state.item_decisions[i]
    if taken is not None:
        raise AlreadyDecided(request_id=state.id, status=f"{taken.type.value}d item",
                             decided_by=taken.by, decided_at=taken.at)
    decision = ItemDecision(type=verdict, by=actor, at=now, args=args, message=reason, answer=answer)
    _check_decision(item, decision)
    decisions = state.item_decisions[:i] + (decision,) + state.item_decisions[i + 1:]
    done = all(d is not None for d in decisions)
    status = Status(outcome([d for d in decisions if d is not None])) if done else Status.PENDING
    data: dict[str, Any] = {"verdict": verdict.value, "status": status.value}
    if len(state.items) > 1:
        data["item"] = i
    if reason:
        data["reason"] = reason
    if args is not None:
        data["edited_args"] = dict(args)
    if answer is not None:
        data["answer"] = answer
    single = len(state.items) == 1
    return Transition(
        request_id=state.id, from_version=state.version, status=status,
        decision=verdict.value if single else None, decided_by=actor, decided_at=now,
        reason=reason if single else None,
        event=Event(kind="decided" if done else "item_decided", actor=actor, request_id=state.id,
                    data=data),
        item_decisions=decisions, edited_args=args if single else None,
    )


def _vote(state: RequestState, *, actor: str, now: datetime, comment: str | None = None) -> Transition:
    """One approval towards a quorum: distinct people only; the last one needed decides."""
    if actor in state.approvals:
        raise AlreadyVoted(f"you already approved; {state.quorum - len(state.approvals)} more "
                           f"approval(s) needed", approvals=state.approvals, quorum=state.quorum)
    approvals = (*state.approvals, actor)
    done = len(approvals) >= state.quorum
    data = {"verdict": "approve", "approvals": len(approvals), "quorum": state.quorum, "rule": state.rule}
    if comment:
        data["reason"] = comment
    return Transition(
        request_id=state.id, from_version=state.version,
        status=Status.APPROVED if done else Status.PENDING, decision="approve", decided_by=actor,
        decided_at=now, reason=None,
        event=Event(kind="decided" if done else "vote", actor=actor, request_id=state.id, data=data),
        item_decisions=(ItemDecision(type=DecisionType.APPROVE, by=actor, at=now),) if done else None,
        approvals=approvals,
    )


def _check_comment(state: RequestState, *, verdict: DecisionType, index: int | None,
                   reason: str | None) -> None:
    """An item that asks for a comment with Approve gets one, on every path (a vote included)."""
    if verdict is not DecisionType.APPROVE or (reason or "").strip():
        return
    if state.items[_item_index(state, index)].approve_comment == "required":
        raise InvalidInput("approving this needs a comment", fields={"reason": "say why it may go ahead"})


def _item_index(state: RequestState, index: int | None) -> int:
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
    """The system ends a pending request by policy: auto-approve/reject, or a timeout."""
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


