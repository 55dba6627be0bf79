"""The words the whole service shares, each defined once: the API schemas, blocks, the CLI, the
policy, the tables and the workers derive theirs from these (the client keeps Literal copies,
checked against these by a test, so it needs no server to import)."""

from __future__ import annotations

from enum import StrEnum


class Urgency(StrEnum):
    """How urgent a request is; the card and the App Home show it."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


DEFAULT_URGENCY = Urgency.NORMAL  # what the service assumes when a request names none


class Status(StrEnum):
    """Where a request is in its life; everything but PENDING is final."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    ANSWERED = "answered"  # mixed or free-text answers (respond), as LangChain HITL allows
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class DecisionType(StrEnum):
    """The four answers a person can give to one item."""

    APPROVE = "approve"  # run it as asked
    EDIT = "edit"  # run it with changed arguments
    REJECT = "reject"  # do not run it; `message` says why
    RESPOND = "respond"  # do not run it; `message` is the answer instead


class RunStatus(StrEnum):
    """Where a hosted graph run is."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"  # interrupted: its requests are pending
    DONE = "done"
    FAILED = "failed"
    STOPPED = "stopped"  # a request it waits on ended without a decision to resume with


class ResumeState(StrEnum):
    """Whether a decided request's graph has been resumed (None on the row: nothing to resume)."""

    QUEUED = "queued"
    DONE = "done"
    FAILED = "failed"


class DeliveryState(StrEnum):
    """Where a webhook callback delivery is."""

    PENDING = "pending"
    DELIVERED = "delivered"
    GAVE_UP = "gave_up"
