"""Agent API input and output schemas (separate from the tables on purpose)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.core import bounds
from bot.core.cards import CardDelivery
from bot.core.deadlines import Route
from bot.core.vocabulary import DEFAULT_URGENCY, DecisionType, Status, Urgency
from bot.policy.durations import LONGEST
from bot.storage import repo
from bot.storage.tables import ApprovalRequest

DURATION = r"^\s*(\d+\s*[smhd]\s*)+$"
OnTimeout = Literal["reject", "approve", "wait"]
Seconds = Annotated[int, Field(ge=1, le=int(LONGEST.total_seconds()))]


class ApiBody(BaseModel):
    """Base of every agent API body: no NUL in any string, however deep (PostgreSQL refuses it)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if (where := bounds.nul_at(value)) is not None:
            raise ValueError(f"contains a NUL character (at {where})")
        return value


def bounded_json(value: Any) -> Any:
    """Refuse a free-form JSON field nested too deep or too large (validator body)."""
    if (problem := bounds.json_problem(value)) is not None:
        raise ValueError(problem)
    return value


class CreateRequest(ApiBody):
    """`POST /v1/requests` body."""

    action: str = Field(min_length=1, max_length=200, examples=["issue_refund"])
    summary: str = Field(min_length=1, max_length=2000, examples=["Refund $340 to order #1234"])
    args: dict[str, Any] = Field(default_factory=dict, examples=[{"order": 1234, "amount": 340}])
    approvers: list[Annotated[str, Field(min_length=1, max_length=254, pattern=r"\S")]] = Field(
        default_factory=list, max_length=100,
        description="Slack user ids (U…), emails, or user-group handles (@finance); required unless "
                    "the policy rule that matches names the approvers",
        examples=[["U024BE7LH", "lead@example.com", "@finance"]],
    )
    context: dict[str, Any] | Annotated[str, Field(max_length=3000)] | None = Field(
        default=None, description="shown on the card: an object as `key: value` lines, a string as text",
        examples=[{"customer": "ACME", "ticket": "INT-4821"}, "The customer was double-charged in May."])
    urgency: Urgency = DEFAULT_URGENCY
    channel: str | None = Field(default=None, max_length=40, description="Slack channel id (C…)")
    dm: bool | None = Field(
        default=None, description="Also DM each approver; default: DM only when there is no channel"
    )
    requester: str | None = Field(default=None, max_length=200)
    timeout: Seconds | Annotated[str, Field(pattern=DURATION)] | None = Field(
        default=None, description="This request's own deadline: seconds, or a duration like 30m or 1h30m; "
                                  "at most what its policy rule allows (timeout, max_timeout)",
        examples=[1800, "30m"])
    on_timeout: OnTimeout | None = Field(
        default=None, description="What the deadline does: reject (the default), approve, or wait; never "
                                  "laxer than the policy rule's")
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    callback_url: str | None = Field(
        default=None, max_length=2000,
        description="POSTed the outcome, signed with your API token (see the README)",
        examples=["https://agent.example.com/signoff/callback"],
    )
    allowed_decisions: list[DecisionType] | None = Field(
        default=None, min_length=1, max_length=4,
        description="what approvers may answer; default approve and reject. `edit` approves with "
                    "changed arguments, `respond` answers in place of running the action",
        examples=[["approve", "edit", "reject"]])
    args_schema: dict[str, Any] | None = Field(
        default=None, description="JSON schema of `args`: builds the Edit form and checks edits",
        examples=[{"type": "object", "properties": {"amount": {"type": "integer", "maximum": 500}}}])
    response_schema: dict[str, Any] | None = Field(
        default=None, description="JSON schema of a `respond` answer: builds the answer form")
    approve_comment: Literal["none", "optional", "required"] = Field(
        default="none", description="whether Approve asks for a comment (Slack opens a modal for it)")

    _bounded = field_validator("args", "context")(bounded_json)


class DeliveryOut(BaseModel):
    """Where the request's cards stand in Slack."""

    state: Literal["pending", "posted", "fallback_dm", "failed"]
    detail: str | None = Field(default=None, description="what Slack said when the channel refused the card")


class RequestOut(BaseModel):
    """A request as agents see it."""

    id: str
    status: Status
    rule: str | None
    approvals: list[str]
    escalation_level: int
    action: str
    summary: str
    args: dict[str, Any]
    context: dict[str, Any] | str | None
    urgency: str
    requester: str | None
    requester_id: str | None  # the requester as a Slack user id, when it names a person
    approvers: list[str]
    eligible_approvers: list[str]
    channel: str | None
    dm: bool
    created_at: datetime
    decision: DecisionType | None
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    edited_args: dict[str, Any] | None
    idempotency_key: str | None
    callback_url: str | None
    items: list[dict[str, Any]]
    item_decisions: list[dict[str, Any] | None]
    run_id: str | None
    expires_at: datetime | None = Field(
        description="When this request's deadline rejects or approves it (null: it waits for people)")
    delivery: DeliveryOut = Field(
        description="posted; fallback_dm when the channel refused the card (archived, the bot removed) "
                    "and the approvers were DMed instead; failed when neither worked")

    @classmethod
    def of(cls, row: ApprovalRequest, *, delivery: CardDelivery) -> RequestOut:
        """The API view of a stored request, with where its cards stand (every view carries it)."""
        return cls(
            delivery=DeliveryOut(**delivery.to_json()),
            id=row.id, status=Status(row.status),
            rule=row.rule, approvals=row.approvals, escalation_level=row.escalation_level,
            action=row.action, summary=row.summary, args=row.args,
            context=row.context, urgency=row.urgency, requester=row.requester, requester_id=row.requester_id,
            approvers=row.approvers, eligible_approvers=row.eligible, channel=row.channel,
            dm=row.dm, created_at=row.created_at,
            decision=DecisionType(row.decision) if row.decision is not None else None,
            decided_by=row.decided_by, decided_at=row.decided_at, reason=row.reason,
            edited_args=row.edited_args, idempotency_key=row.idempotency_key,
            callback_url=row.callback_url, items=_items(row), item_decisions=row.item_decisions,
            run_id=row.run_id, expires_at=_expires_at(row),
        )


def _expires_at(row: ApprovalRequest) -> datetime | None:
    route = Route.from_json(row.route)
    if row.route is None or route.timeout is None or route.on_timeout == "wait":
        return None
    return row.created_at + route.timeout


class CancelBody(ApiBody):
    """`POST /v1/requests/{id}/cancel` body."""

    reason: str = Field(min_length=1, max_length=2000, examples=["The customer withdrew the refund"])


class RequestList(BaseModel):
    """`GET /v1/requests` answer."""

    requests: list[RequestOut]


class ErrorOut(BaseModel):
    """Every error the API returns."""

    error: str
    detail: str
    fields: dict[str, str] | None = None


def _items(row: ApprovalRequest) -> list[dict[str, Any]]:
    """Each item with the rule it was routed by, who may decide it, its votes and its decision."""
    state = repo.state_of(row)
    out = []
    for i, item in enumerate(row.items):
        route = state.route_of(i)
        out.append({**item, "rule": route.rule, "eligible": list(route.eligible), "quorum": route.quorum,
                    "approvals": list(state.votes_of(i)), "decision": row.item_decisions[i]})
    return out
