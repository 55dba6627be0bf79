"""ApprovalRequest: a request as the agent API returns it, parsed tolerantly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

# Copies of the service's vocabulary (bot.core.vocabulary), kept here so the client needs only
# httpx; tests/client/test_vocabulary.py fails when the two drift apart.
# "answered": a decided "respond" (a free-text answer in place of running the tool) ends here.
Status = Literal["pending", "approved", "rejected", "answered", "cancelled", "expired"]
Urgency = Literal["low", "normal", "high"]
Decision = Literal["approve", "edit", "reject", "respond"]
_REQUIRED = ("id", "status", "action", "summary")


@dataclass(frozen=True, kw_only=True)
class ApprovalRequest:
    """One approval request; unknown server fields are ignored, missing optional ones are None."""

    id: str
    status: str
    action: str
    summary: str
    args: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] | str | None = None  # an object, or the agent's text
    urgency: str | None = None
    requester: str | None = None
    approvers: tuple[str, ...] = ()
    eligible_approvers: tuple[str, ...] = ()
    channel: str | None = None
    dm: bool | None = None
    created_at: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    idempotency_key: str | None = None
    decision: str | None = None
    edited_args: dict[str, Any] | None = None
    callback_url: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApprovalRequest:
        """Parse the API's JSON object; raises ValueError naming what is missing or malformed."""
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        missing = [k for k in _REQUIRED if data.get(k) is None]
        if missing:
            raise ValueError(f"missing field(s): {', '.join(missing)}")
        return cls(
            id=str(data["id"]), status=str(data["status"]), action=str(data["action"]),
            summary=str(data["summary"]), args=_object(data, "args") or {},
            context=_text_or_object(data, "context"), urgency=data.get("urgency"),
            requester=data.get("requester"),
            approvers=_strings(data, "approvers"), eligible_approvers=_strings(data, "eligible_approvers"),
            channel=data.get("channel"), dm=data.get("dm"), created_at=_moment(data, "created_at"),
            decided_by=data.get("decided_by"), decided_at=_moment(data, "decided_at"),
            reason=data.get("reason"), idempotency_key=data.get("idempotency_key"),
            decision=data.get("decision"), edited_args=_object(data, "edited_args"),
            callback_url=data.get("callback_url"),
        )

    @property
    def is_pending(self) -> bool:
        """True while nobody has decided and it has not ended."""
        return self.status == "pending"

    @property
    def approved(self) -> bool:
        """True when an approver approved it (possibly with edited args)."""
        return self.status == "approved"

    @property
    def effective_args(self) -> dict[str, Any]:
        """The args to act on: the approver's edits when present, else the args asked for."""
        return self.edited_args if self.edited_args is not None else self.args


def _object(data: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    value = data.get(name)
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"{name} must be an object or null, got {type(value).__name__}")
    return value


def _text_or_object(data: Mapping[str, Any], name: str) -> dict[str, Any] | str | None:
    value = data.get(name)
    return value if isinstance(value, str) else _object(data, name)


def _strings(data: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = data.get(name) or []
    if not isinstance(value, list):
        raise ValueError(f"{name} must be a list, got {type(value).__name__}")
    return tuple(str(v) for v in value)


def _moment(data: Mapping[str, Any], name: str) -> datetime | None:
    """An aware datetime; the server writes UTC, and a naive value is read as UTC."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an ISO 8601 string, got {type(value).__name__}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as e:
        raise ValueError(f"{name} is not ISO 8601: {value!r}") from e
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
