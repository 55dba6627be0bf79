"""The Card value object: everything a card shows about one approval request and its items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from blocks import limits
from blocks.text import length
from bot.core.vocabulary import DEFAULT_URGENCY, DecisionType, Status, Urgency

URGENCIES = tuple(Urgency)
STATUSES = tuple(Status)  # "answered": every item answered, not all of them approve/edit, nor all reject
DECISIONS = tuple(DecisionType)
_PLAIN = frozenset(("approve", "reject"))
MENTIONS = ("approvers", "none", "here")  # whom a channel card pings
DEADLINE_OUTCOMES = ("reject", "approve", "escalate")
FAILURES = ("resume", "run", "callback")  # what can fail after a decision


@dataclass(frozen=True, kw_only=True)
class CardItem:
    """One thing to decide on a card (a tool call, or a question), mirrored from bot's Item."""

    action: str
    args: Mapping[str, Any]
    description: str | None = None
    allowed: tuple[str, ...] = ("approve", "reject")  # a subset of DECISIONS
    # Once answered: {"type", "by", "at" (ISO string), "args"?, "message"?, "answer"?}.
    decision: Mapping[str, Any] | None = None
    # Its own rule's quorum and who approved it so far (items of a batch are decided one by one).
    quorum: int = 1
    approvals: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Fail closed: a card must not offer a button nobody asked for, nor misstate an answer.
        allowed = tuple(self.allowed)
        object.__setattr__(self, "allowed", allowed)
        if not allowed or len(set(allowed)) != len(allowed) or not set(allowed) <= set(DECISIONS):
            raise ValueError(f"allowed must be distinct decisions out of {DECISIONS}, not {allowed!r}")
        if self.decision is not None:
            check_decision(self.decision)


def check_decision(decision: Mapping[str, Any]) -> None:
    """Refuse an item decision the card could not show faithfully."""
    if decision.get("type") not in DECISIONS:
        raise ValueError(f"decision type must be one of {DECISIONS}, not {decision.get('type')!r}")
    if not isinstance(decision.get("by"), str):
        raise ValueError("decision needs who decided ('by')")
    at = decision.get("at")
    if at is not None:
        when = datetime.fromisoformat(at) if isinstance(at, str) else at
        if not isinstance(when, datetime) or when.tzinfo is None or when.utcoffset() is None:
            raise ValueError("decision 'at' must be an aware ISO datetime")
    if decision.get("args") is not None and not isinstance(decision["args"], Mapping):
        raise ValueError("decision 'args' must be a mapping")


@dataclass(frozen=True, kw_only=True)
class Deadline:
    """What happens at `at` if nobody decides: auto-reject, auto-approve, or escalate to `to`."""

    at: datetime
    outcome: str  # one of DEADLINE_OUTCOMES
    to: tuple[str, ...] = ()  # user ids an escalation adds

    def __post_init__(self) -> None:
        if self.outcome not in DEADLINE_OUTCOMES:
            raise ValueError(f"outcome must be one of {DEADLINE_OUTCOMES}, not {self.outcome!r}")
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("a deadline must be an aware datetime")


@dataclass(frozen=True, kw_only=True)
class Failure:
    """Something that failed after the decision: resuming the graph, the run, the callback."""

    what: str  # one of FAILURES
    final: bool  # Signoff gave up (False: it retries with backoff)
    error: str = ""

    def __post_init__(self) -> None:
        if self.what not in FAILURES:
            raise ValueError(f"what must be one of {FAILURES}, not {self.what!r}")


@dataclass(frozen=True, kw_only=True)
class Card:
    """One approval request as the card shows it; all datetimes aware UTC."""

    request_id: str
    action: str  # e.g. "issue_refund"
    summary: str  # one line, human
    args: Mapping[str, Any]  # JSON-able arguments of the action
    context: Mapping[str, Any] | str | None = None  # extra JSON-able context, or the agent's text
    urgency: str = DEFAULT_URGENCY  # an Urgency
    requester: str | None = None  # free text or a Slack user id like "U123"
    approvers: Sequence[str] = ()  # Slack user ids
    status: str = "pending"  # pending | approved | rejected | cancelled | expired
    decided_by: str | None = None  # Slack user id, or "system" / "agent:<name>"
    decided_at: datetime | None = None
    reason: str | None = None
    created_at: datetime
    # The items to decide one by one; empty (or one plain approve/reject item): the classic card.
    items: Sequence[CardItem] = field(default=())
    # Progress while pending: approvals so far when `quorum` > 1, and who it was escalated to.
    quorum: int = 1
    approved_by: Sequence[str] = ()
    escalated_to: Sequence[str] = ()
    # Who to ping and what is at stake: all optional, so a bare card still renders.
    groups: Sequence[str] = ()  # Slack user group ids (S…) named as approvers
    mention: str = "approvers"  # one of MENTIONS
    agent: str | None = None  # the API token's name: the requester when no person is named
    deadlines: Sequence[Deadline] = ()  # upcoming, earliest first
    rule: str | None = None  # the policy rule that routed it
    link: str | None = None  # the run or the agent's URL
    confirm: bool | None = None  # Approve asks "are you sure?"; None: only at high urgency
    # After the decision: when each vote came, the edited arguments, what failed since.
    voted_at: Mapping[str, datetime] = field(default_factory=dict)
    edited_args: Mapping[str, Any] | None = None
    failure: Failure | None = None

    def __post_init__(self) -> None:
        # Fail closed: a card that cannot carry its id or state must not be sent at all.
        if self.mention not in MENTIONS:
            raise ValueError(f"mention must be one of {MENTIONS}, not {self.mention!r}")
        if self.link is not None and (not self.link.startswith(("https://", "http://"))
                                      or any(c in self.link for c in " |<>\n")):
            raise ValueError("link must be an http(s) URL with no spaces, '|', '<' or '>'")
        check_request_id(self.request_id)
        if self.urgency not in URGENCIES:
            raise ValueError(f"urgency must be one of {URGENCIES}, not {self.urgency!r}")
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")
        for name in ("created_at", "decided_at"):
            at = getattr(self, name)
            if at is not None and (at.tzinfo is None or at.utcoffset() is None):
                raise ValueError(f"{name} must be an aware datetime")
        if not all(isinstance(item, CardItem) for item in self.items):
            raise ValueError("items must be CardItem values")
        object.__setattr__(self, "items", tuple(self.items))


def uses_items(card: Card) -> bool:
    """Whether the card shows its items one by one rather than the classic approve/reject."""
    items = card.items
    return len(items) > 1 or (len(items) == 1 and set(items[0].allowed) != _PLAIN)


def check_request_id(request_id: str) -> None:
    """Refuse a request id that cannot ride in a button value or private_metadata."""
    # Truncating it would make every click point at the wrong (or no) request; "#" would be
    # read back as the start of an item index (see ids.button_value).
    if not request_id or length(request_id) > limits.REQUEST_ID:
        raise ValueError(f"request_id must be 1..{limits.REQUEST_ID} characters")
    if "#" in request_id:
        raise ValueError("request_id must not contain '#'")
