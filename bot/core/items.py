"""What a request asks about, item by item, and what people answered.

A request holds one or more items: a plain API request has one, a batched LangChain
`HITLRequest` has one per tool call. Each item names the decisions it allows; the request
ends once every item is answered (or one reject ends a plain approval).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.core.vocabulary import DecisionType, Status


@dataclass(frozen=True, kw_only=True)
class Item:
    """One thing to decide: an action with arguments, or a question (`action` may be a title)."""

    action: str
    args: Mapping[str, Any] = field(default_factory=dict)
    description: str | None = None
    allowed: tuple[DecisionType, ...] = (DecisionType.APPROVE, DecisionType.REJECT)
    # JSON schema of the arguments (edit) or of the answer (respond with a form); None: free JSON/text.
    args_schema: Mapping[str, Any] | None = None
    answer_schema: Mapping[str, Any] | None = None
    approve_comment: str = "none"  # none | optional | required: a comment with Approve

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        stored = {"action": self.action, "args": dict(self.args), "description": self.description,
                  "allowed": [a.value for a in self.allowed],
                  "args_schema": dict(self.args_schema) if self.args_schema else None,
                  "answer_schema": dict(self.answer_schema) if self.answer_schema else None}
        if self.approve_comment != "none":  # items stored before it existed read back the same
            stored["approve_comment"] = self.approve_comment
        return stored

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Item:
        """Read the stored form back."""
        return cls(action=str(data["action"]), args=dict(data.get("args") or {}),
                   description=data.get("description"),
                   allowed=tuple(DecisionType(a) for a in data.get("allowed") or ("approve", "reject")),
                   args_schema=data.get("args_schema"), answer_schema=data.get("answer_schema"),
                   approve_comment=str(data.get("approve_comment") or "none"))


@dataclass(frozen=True, kw_only=True)
class ItemDecision:
    """One person's answer to one item."""

    type: DecisionType
    by: str
    at: datetime
    args: Mapping[str, Any] | None = None  # EDIT: the changed arguments (whole, not a patch)
    message: str | None = None  # REJECT: the reason; RESPOND: the answer text
    answer: Any = None  # RESPOND with an answer_schema: the validated form value

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"type": self.type.value, "by": self.by, "at": self.at.isoformat(),
                "args": dict(self.args) if self.args is not None else None,
                "message": self.message, "answer": self.answer}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ItemDecision:
        """Read the stored form back."""
        return cls(type=DecisionType(data["type"]), by=str(data["by"]),
                   at=datetime.fromisoformat(data["at"]), args=data.get("args"),
                   message=data.get("message"), answer=data.get("answer"))


def outcome(decisions: Sequence[ItemDecision]) -> Status:
    """The request's final status once every item is answered."""
    kinds = {d.type for d in decisions}
    if kinds <= {DecisionType.APPROVE, DecisionType.EDIT}:
        return Status.APPROVED
    if kinds == {DecisionType.REJECT}:
        return Status.REJECTED
    return Status.ANSWERED


@dataclass(frozen=True, kw_only=True)
class ItemRoute:
    """Who may decide one item, from the policy rule its own action and arguments matched.

    Each item of a batch is routed on its own: a harmless first call never decides the route of a
    dangerous second one. `eligible` grows when an escalation of this rule fires.
    """

    rule: str
    eligible: tuple[str, ...]
    quorum: int = 1
    separation_of_duties: bool = True
    urgency: str | None = None  # as the request asked, before any rule raised it: an edit re-matches on it

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"rule": self.rule, "eligible": list(self.eligible), "quorum": self.quorum,
                "separation_of_duties": self.separation_of_duties, "urgency": self.urgency}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ItemRoute:
        """Read the stored form back."""
        return cls(rule=str(data["rule"]), eligible=tuple(data.get("eligible") or ()),
                   quorum=int(data.get("quorum", 1)),
                   separation_of_duties=bool(data.get("separation_of_duties", True)),
                   urgency=data.get("urgency"))
