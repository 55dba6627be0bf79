"""`request_approval()`: pause a LangGraph node until someone decides in Slack.

    from bot.agents import request_approval

    def send_invoice(state):
        decision = request_approval(action="send_invoice", args={"to": state["email"], "eur": 120},
                                    summary="Send the March invoice?", urgency="high")
        if not decision.approved:
            return {"status": f"not sent: {decision.message or 'rejected'}"}
        billing.send(**decision.args)          # the edited args when the approver changed them
        return {"status": f"sent, approved by {decision.by}"}

The graph needs a checkpointer (Signoff's workers provide one for hosted graphs); the call
raises LangGraph's interrupt, Signoff posts the card, and the node continues once the
request is decided.

Code before `request_approval()` runs twice. LangGraph does not resume a node where it
stopped: on resume it runs the interrupted node again from its first line, and this time
`request_approval()` returns the decision instead of pausing. Anything the node did before
the call (send a message, charge a card, insert a row, call an API) happens again, and once
more for each further `request_approval()` in the same node. So do side effects after the
call, move them to a node of their own, or make them idempotent (an idempotency key, an
upsert, a "did I already do this?" check). Reading and computing before the call is fine.
Several approvals in one node are matched to answers by their order, so keep that order
the same on every run (no approvals inside branches that depend on time or randomness).
"""

from __future__ import annotations

import decimal
import json
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, NotRequired

# pydantic (through langgraph) needs typing_extensions' TypedDict before Python 3.12.
from typing_extensions import TypedDict

from bot.agents.payloads import SIGNOFF_PAYLOAD_TYPE, signoff_payload_problem
from bot.core.items import DecisionType

_ARGUMENT = {"allowed": "allow"}  # the payload's field -> request_approval's argument


@dataclass(frozen=True, kw_only=True)
class Decision:
    """What the approver decided, as the node gets it back."""

    type: str  # approve | edit | reject | respond
    args: dict[str, Any]  # the arguments to act on: the edited ones for edit, the original otherwise
    message: str | None  # reject reason / respond text
    by: str | None  # Slack user id of who decided (or "system")
    at: datetime | None = None  # when it was decided

    @property
    def approved(self) -> bool:
        """True when the action may run: approved as asked or with edited arguments."""
        return self.type in (DecisionType.APPROVE, DecisionType.EDIT)


def request_approval(*, action: str, args: Mapping[str, Any] | None = None, summary: str | None = None,
                     context: Mapping[str, Any] | None = None, urgency: str = "normal",
                     approvers: Sequence[str] = (), channel: str | None = None,
                     allowed_decisions: Sequence[str] = ("approve", "edit", "reject"),
                     timeout: float | None = None, on_timeout: str | None = None,
                     allow: Sequence[str] | None = None) -> Decision:
    """Pause the graph for a Slack decision (calls langgraph's interrupt()) and return it typed.

    `allowed_decisions` is named as in the API and the client (`allow`, its older name, still
    works). `timeout` (seconds) and `on_timeout` (reject, approve or wait) give this request its
    own deadline, within what the policy rule allows: shorter, or stricter, never longer or laxer.
    """
    # Imported here so `import bot.agents` stays light for the service, which only reads payloads.
    from langgraph.types import interrupt

    payload = approval_payload(action=action, args=args, summary=summary, context=context,
                               urgency=urgency, approvers=approvers, channel=channel,
                               allow=allowed_decisions if allow is None else allow,
                               timeout=timeout, on_timeout=on_timeout)
    # A typed response_schema makes langgraph check the answer before saving it: a bad one
    # raises and the request can be answered again, instead of being stored and failing here.
    answer = interrupt(payload, response_schema=_answer_type(tuple(payload["allowed"])))
    return _decision(answer)


def approval_payload(*, action: str, args: Mapping[str, Any] | None, summary: str | None,
                     context: Mapping[str, Any] | None, urgency: str, approvers: Sequence[str],
                     channel: str | None, allow: Sequence[str], timeout: float | None = None,
                     on_timeout: str | None = None) -> dict[str, Any]:
    """The JSON-able interrupt value `request_approval` raises; ValueError when it cannot be one."""
    if isinstance(approvers, str):
        raise ValueError("approvers is a sequence of Slack user ids, not one string")
    payload: dict[str, Any] = {
        "type": SIGNOFF_PAYLOAD_TYPE, "action": action, "args": dict(args or {}), "summary": summary,
        "context": dict(context) if context is not None else None, "urgency": urgency,
        "approvers": list(approvers), "channel": channel, "allowed": list(dict.fromkeys(allow))}
    if timeout is not None:
        # Any real number of seconds (a Fraction, a Decimal, a numpy float) as a float; not a bool.
        real = isinstance(timeout, numbers.Real | decimal.Decimal) and not isinstance(timeout, bool)
        seconds = float(timeout) if real else timeout
        payload |= {"timeout": seconds, "on_timeout": on_timeout}
    elif on_timeout is not None:
        raise ValueError("on_timeout needs a timeout")
    # The worker reads the payload with the same check: what passes here is never refused there.
    if wrong := signoff_payload_problem(payload):
        field, problem = wrong
        raise ValueError(f"{_ARGUMENT.get(field, field)} {problem}, not {payload[field]!r}")
    if timeout is not None:
        payload["timeout"] = int(payload["timeout"])
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"args and context must be JSON-serialisable: {exc}") from exc
    return payload


@lru_cache(maxsize=32)
def _answer_type(allowed: tuple[str, ...]) -> type:
    """The resume value's type: the shape `payloads.resume_value` gives for a signoff item."""
    return TypedDict("SignoffAnswer", {  # type: ignore[operator]
        "type": Literal[allowed],  # type: ignore[valid-type]
        "args": dict[str, Any],
        "message": NotRequired[str | None],
        "by": NotRequired[str | None],
        "at": NotRequired[datetime | None],
    })


def _decision(answer: Mapping[str, Any]) -> Decision:
    return Decision(type=str(answer["type"]), args=dict(answer["args"]), message=answer.get("message"),
                    by=answer.get("by"), at=answer.get("at"))
