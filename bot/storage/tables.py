"""SQLModel tables: the source of truth. API input/output schemas live in bot/api, not here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, TypeDecorator, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.core.vocabulary import DeliveryState


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite hands back naive ones otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(**kw: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), **kw))


def _json(**kw: Any) -> Any:
    return Field(sa_column=Column(JSON, **kw))


class Run(SQLModel, table=True):
    """One execution of a registered graph on its own thread."""

    __tablename__ = "runs"

    id: str = Field(primary_key=True, max_length=40)
    graph: str = Field(max_length=100)
    thread_id: str = Field(unique=True, max_length=200)
    status: str = Field(index=True, max_length=20)  # a RunStatus
    input: dict[str, Any] | None = _json(nullable=True)
    requester: str | None = None
    approvers: list[str] = _json(nullable=False)
    channel: str | None = None
    created_by: str = Field(max_length=64)
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)
    result: dict[str, Any] | None = _json(nullable=True)  # a summary of the final state
    error: str | None = None


class ApprovalRequest(SQLModel, table=True):
    """One request for a human decision."""

    __tablename__ = "requests"
    __table_args__ = (UniqueConstraint("created_by", "idempotency_key"),
                      UniqueConstraint("run_id", "interrupt_id"),
                      # An agent's pending requests, counted on every create under a pending cap.
                      Index("ix_requests_created_by_status", "created_by", "status"))

    id: str = Field(primary_key=True, max_length=40)
    action: str = Field(max_length=200)
    summary: str
    args: dict[str, Any] = _json(nullable=False)
    context: dict[str, Any] | str | None = _json(nullable=True)  # an object, or the agent's text
    urgency: str = Field(max_length=10)
    requester: str | None = None
    requester_id: str | None = None  # the requester as a Slack user id, when it names a person
    approvers: list[str] = _json(nullable=False)  # as the agent named them
    eligible: list[str] = _json(nullable=False)  # resolved Slack user ids
    channel: str | None = None
    dm: bool = False
    status: str = Field(index=True, max_length=20)
    version: int = 0
    created_by: str = Field(max_length=64)  # the agent (API token name)
    idempotency_key: str | None = Field(default=None, max_length=200)
    body_hash: str | None = Field(default=None, max_length=64)
    created_at: datetime = _utc(nullable=False)
    decision: str | None = Field(default=None, max_length=20)  # approve | reject | None
    decided_by: str | None = None
    decided_at: datetime | None = _utc(nullable=True)
    reason: str | None = None
    edited_args: dict[str, Any] | None = _json(nullable=True)
    callback_url: str | None = Field(default=None, max_length=2000)
    items: list[dict[str, Any]] = _json(nullable=False)  # core.items.Item, stored form
    item_decisions: list[dict[str, Any] | None] = _json(nullable=False)  # one per item, None = open
    kind: str = Field(default="api", max_length=20)  # api, or the interrupt payload's kind
    run_id: str | None = Field(default=None, foreign_key="runs.id", index=True, max_length=40)
    interrupt_id: str | None = Field(default=None, max_length=200)
    resume_state: str | None = Field(default=None, index=True, max_length=20)  # a ResumeState
    rule: str | None = Field(default=None, max_length=200)  # the policy rule that routed it
    route: dict[str, Any] | None = _json(nullable=True)  # core.deadlines.Route, stored form
    approvals: list[str] = _json(nullable=False)  # who approved any item so far (quorum)
    # Per item (None on requests stored before items were routed one by one): the policy rule it
    # matched with who may decide it (core.items.ItemRoute), and who approved it so far.
    item_routes: list[dict[str, Any]] | None = _json(nullable=True)
    item_approvals: list[list[str]] | None = _json(nullable=True)
    escalation_level: int = 0
    reminders_sent: int = 0  # reminders fired
    # What Slack was last brought up to, so the sweeper can redo card work Redis lost.
    cards_version: int = -1  # the request version every card copy last showed
    notified_level: int = 0  # the escalation level whose people were last told
    reminders_told: int = 0  # the reminder (of reminders_sent) last sent to the approvers
    # The next reminder, escalation or timeout: what the sweeper looks for (indexed, so a pass
    # costs what is due, not what is pending).
    next_deadline_at: datetime | None = _utc(nullable=True, index=True)


class SlackMessage(SQLModel, table=True):
    """One copy of a request's card in Slack (a channel post or a DM)."""

    __tablename__ = "slack_messages"
    __table_args__ = (UniqueConstraint("request_id", "channel"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(foreign_key="requests.id", index=True, max_length=40)
    channel: str = Field(max_length=40)
    ts: str = Field(max_length=40)
    recipient: str | None = None  # the approver's user id for a DM copy
    posted_at: datetime = _utc(nullable=False)


class AuditEvent(SQLModel, table=True):
    """An append-only, hash-chained audit event; `seq` has no gaps, so deletions show."""

    __tablename__ = "audit_events"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: str = Field(max_length=40)  # ISO text: hashed exactly as stored, on any backend
    request_id: str | None = Field(default=None, index=True, max_length=40)
    kind: str = Field(max_length=40)
    actor: str = Field(max_length=200)
    data: dict[str, Any] = _json(nullable=False)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The single row naming the chain's last event; writers lock it to append in order."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = Field(max_length=64)
    # The first event MACed with SIGNOFF_AUDIT_KEY (revision 0003 set it past the unkeyed events
    # already there); every keyed MAC covers it, so it cannot be moved unnoticed.
    keyed_from: int | None = None


class CallbackDelivery(SQLModel, table=True):
    """The outbox row for one signed callback: written with the outcome, delivered by a job."""

    __tablename__ = "callback_deliveries"

    id: str = Field(primary_key=True, max_length=40)  # the delivery_id the receiver sees
    request_id: str = Field(foreign_key="requests.id", unique=True, max_length=40)
    agent: str = Field(max_length=64)  # whose API token signs it
    url: str = Field(max_length=2000)
    payload: dict[str, Any] = _json(nullable=False)
    state: str = Field(default=DeliveryState.PENDING.value, index=True, max_length=20)  # DeliveryState
    attempts: int = 0
    next_attempt_at: datetime = _utc(nullable=False, index=True)
    last_error: str | None = None
    created_at: datetime = _utc(nullable=False)
    delivered_at: datetime | None = _utc(nullable=True)
