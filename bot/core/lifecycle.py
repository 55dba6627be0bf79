"""The request lifecycle as pure functions: state and `now` in, the transition to apply out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.errors import AlreadyDecided, NotAuthorized


class Status(StrEnum):
    """Where a request is in its life; everything but PENDING is final."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Verdict(StrEnum):
    """What a person decided."""

    APPROVE = "approve"
    REJECT = "reject"


_OUTCOME = {Verdict.APPROVE: Status.APPROVED, Verdict.REJECT: Status.REJECTED}


@dataclass(frozen=True, kw_only=True)
class RequestState:
    """The part of a request the lifecycle rules look at."""

    id: str
    status: Status
    version: int
    eligible: tuple[str, ...]
    decided_by: str | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Event:
    """An audit event to append, as data; the store chains and writes it."""

    kind: str
    actor: str
    request_id: str | None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Transition:
    """A conditional move out of `pending`, valid only if the version is still `from_version`."""

    request_id: str
    from_version: int
    status: Status
    decision: str | None  # the verdict, or None when nobody decided (cancelled, expired)
    decided_by: str
    decided_at: datetime
    reason: str | None
    event: Event


def check_can_decide(state: RequestState, *, actor: str) -> None:
    """Raise NotAuthorized or AlreadyDecided if `actor` may not decide `state` now."""
    if actor not in state.eligible:
        raise NotAuthorized(
            f"{actor} is not an approver of request {state.id}", actor=actor, approvers=state.eligible
        )
    if state.status is not Status.PENDING:
        raise already_decided(state)


def decide(
    state: RequestState, *, actor: str, verdict: Verdict, reason: str | None, now: datetime
) -> Transition:
    """The transition for `actor` deciding `verdict` on a pending request."""
    check_can_decide(state, actor=actor)
    if verdict is Verdict.REJECT and not (reason or "").strip():
        # The modal requires it too; this guards every other path (API, tests, future UIs).
        raise ValueError("a rejection needs a reason")
    status = _OUTCOME[verdict]
    data: dict[str, Any] = {"verdict": verdict.value, "status": status.value}
    if reason:
        data["reason"] = reason
    return Transition(
        request_id=state.id,
        from_version=state.version,
        status=status,
        decision=verdict.value,
        decided_by=actor,
        decided_at=now,
        reason=reason,
        event=Event(kind="decided", actor=actor, request_id=state.id, data=data),
    )


def cancel(state: RequestState, *, actor: str, reason: str, now: datetime) -> Transition:
    """The transition for the requesting agent withdrawing a pending request."""
    if state.status is not Status.PENDING:
        raise already_decided(state)
    return Transition(
        request_id=state.id,
        from_version=state.version,
        status=Status.CANCELLED,
        decision=None,
        decided_by=actor,
        decided_at=now,
        reason=reason,
        event=Event(kind="cancelled", actor=actor, request_id=state.id, data={"reason": reason}),
    )


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
