"""One proposed tool call → one Signoff request → allow or deny; the policy on the server routes it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from signoff_client.client import AsyncSignoffClient, SignoffClient
from signoff_client.errors import APIError
from signoff_client.models import ApprovalRequest

_GAVE_UP = "the agent stopped waiting for a decision"
SUMMARY_LIMIT = 300  # the card shows the arguments in full; the summary is the line people scan


@dataclass(frozen=True, kw_only=True)
class Gate:
    """Where and how to ask: the request fields the runtime cannot know, and how long to wait."""

    approvers: tuple[str, ...] = ()  # empty: the policy rule that matches names them
    channel: str | None = None
    urgency: str = "normal"
    requester: str | None = None
    timeout: float = 600.0  # seconds to wait before answering deny (and withdrawing the request)

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if self.urgency not in ("low", "normal", "high"):
            raise ValueError(f"urgency must be low, normal or high, not {self.urgency!r}")


@dataclass(frozen=True, kw_only=True)
class ToolCall:
    """A tool call an agent proposes: the tool's name is the action, its input the args."""

    name: str
    args: dict[str, Any]
    summary: str | None = None
    key: str | None = None  # the runtime's id for this call: asking twice makes one request
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """Allow with these args, or deny with a reason the model is shown."""

    allow: bool
    args: dict[str, Any]
    reason: str
    request_id: str | None = None
    decided_by: str | None = None
    edited: bool = False


def summary_of(call: ToolCall) -> str:
    """The card's one line: the given summary, else the tool and its most telling argument."""
    if call.summary and call.summary.strip():
        text = call.summary.strip()
    else:
        telling = next((call.args[k] for k in ("command", "description", "file_path", "url")
                        if isinstance(call.args.get(k), str) and call.args[k].strip()), None)
        shown = telling if telling is not None else json.dumps(call.args, sort_keys=True, default=str)
        text = f"{call.name}: {shown}"
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


def check(call: ToolCall) -> ToolCall:
    """Refuse a call that cannot become a request; nothing is asked for it."""
    if not isinstance(call.name, str) or not call.name.strip():
        raise ValueError("the tool call has no tool name")
    if not isinstance(call.args, dict):
        raise ValueError(f"the tool input must be a JSON object, got {type(call.args).__name__}")
    return call


def verdict_of(request: ApprovalRequest, *, timeout: float) -> Verdict:
    """The decision as allow/deny; anything but an approval denies (fail closed)."""
    who = f" by {request.decided_by}" if request.decided_by else ""
    why = f": {request.reason}" if request.reason else ""
    base: dict[str, Any] = {"args": request.effective_args, "request_id": request.id,
                            "decided_by": request.decided_by}
    if request.approved:
        return Verdict(allow=True, reason=f"approved in Signoff{who}{why}",
                       edited=request.edited_args is not None and request.edited_args != request.args, **base)
    reasons = {
        "rejected": f"rejected in Signoff{who}{why}",
        "answered": f"not run; the approver{who} answered instead{why}",
        "expired": f"no decision in Signoff before the policy's deadline{why}",
        "cancelled": f"the approval request was cancelled{why}",
        "pending": f"no decision in Signoff within {timeout:g} s; the request was withdrawn",
    }
    status = "pending" if request.status == "cancelled" and request.reason == _GAVE_UP else request.status
    return Verdict(allow=False, reason=reasons.get(status, f"not approved ({status})"), **base)


def _create_fields(call: ToolCall, gate: Gate) -> dict[str, Any]:
    return {"action": call.name, "summary": summary_of(call), "approvers": list(gate.approvers),
            "args": call.args, "context": call.context or None, "urgency": gate.urgency,
            "channel": gate.channel, "requester": gate.requester, "idempotency_key": call.key}


def ask(client: SignoffClient, call: ToolCall, gate: Gate) -> Verdict:
    """Ask Signoff about `call` and wait; at the timeout withdraw the request and deny."""
    asked = client.request(**_create_fields(check(call), gate))
    decided = client.wait(asked.id, timeout=gate.timeout)
    if decided.is_pending:
        decided = _withdraw(lambda: client.cancel(asked.id, reason=_GAVE_UP), lambda: client.get(asked.id))
    return verdict_of(decided, timeout=gate.timeout)


async def open_async(client: AsyncSignoffClient, call: ToolCall, gate: Gate) -> ApprovalRequest:
    """Create the request for `call` (the same `key` finds the request already made)."""
    return await client.request(**_create_fields(check(call), gate))


async def settle_async(client: AsyncSignoffClient, request_id: str, gate: Gate) -> Verdict:
    """Wait for a request's decision; at the timeout withdraw it and deny."""
    decided = await client.wait(request_id, timeout=gate.timeout)
    if decided.is_pending:
        try:
            decided = await client.cancel(request_id, reason=_GAVE_UP)
        except APIError as e:
            if e.status != 409:
                raise
            decided = await client.get(request_id)
    return verdict_of(decided, timeout=gate.timeout)


async def ask_async(client: AsyncSignoffClient, call: ToolCall, gate: Gate) -> Verdict:
    """`ask` for asyncio."""
    asked = await open_async(client, call, gate)
    return await settle_async(client, asked.id, gate)


def _withdraw(cancel: Any, get: Any) -> ApprovalRequest:
    # A click can land between the wait's timeout and the cancel: then that decision stands.
    try:
        return cancel()
    except APIError as e:
        if e.status != 409:
            raise
        return get()


def gate_from(values: Mapping[str, Any], *, approvers: Sequence[str] = ()) -> Gate:
    """A Gate from loose settings (CLI flags, environment), refusing unknown names."""
    known = {"channel", "urgency", "requester", "timeout"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
    return Gate(approvers=tuple(approvers), **{k: v for k, v in values.items() if v is not None})
