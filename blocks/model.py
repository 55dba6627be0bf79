"""The Card value object: everything a card shows about one approval request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blocks import limits
from blocks.text import length

URGENCIES = ("low", "normal", "high")
STATUSES = ("pending", "approved", "rejected", "cancelled", "expired")


@dataclass(frozen=True, kw_only=True)
class Card:
    """One approval request as the card shows it; all datetimes aware UTC."""

    request_id: str
    action: str  # e.g. "issue_refund"
    summary: str  # one line, human
    args: Mapping[str, Any]  # JSON-able arguments of the action
    context: Mapping[str, Any] | None = None  # extra JSON-able context
    urgency: str = "normal"  # low | normal | high
    requester: str | None = None  # free text or a Slack user id like "U123"
    approvers: Sequence[str] = ()  # Slack user ids
    status: str = "pending"  # pending | approved | rejected | cancelled | expired
    decided_by: str | None = None  # Slack user id, or "system" / "agent:<name>"
    decided_at: datetime | None = None
    reason: str | None = None
    created_at: datetime

    def __post_init__(self) -> None:
        # Fail closed: a card that cannot carry its id or state must not be sent at all.
        check_request_id(self.request_id)
        if self.urgency not in URGENCIES:
            raise ValueError(f"urgency must be one of {URGENCIES}, not {self.urgency!r}")
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")
        for name in ("created_at", "decided_at"):
            at = getattr(self, name)
            if at is not None and (at.tzinfo is None or at.utcoffset() is None):
                raise ValueError(f"{name} must be an aware datetime")


def check_request_id(request_id: str) -> None:
    """Refuse a request id that cannot ride in a button value or private_metadata."""
    # Truncating it would make every click point at the wrong (or no) request.
    if not request_id or length(request_id) > limits.REQUEST_ID:
        raise ValueError(f"request_id must be 1..{limits.REQUEST_ID} characters")
