"""Decisions from UIs other than Slack, around the one decision path (`ApprovalService.decide`).

What this adds to a click: the person named by email or id, an idempotency key (kept in the
decision's own audit event, so no table of its own), and optimistic concurrency on the request's
version and, for a graph, the thread's checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from blocks.schema import problems  # pure: the checks Slack's forms make
from bot.core.items import Item
from bot.core.lifecycle import Verdict
from bot.core.vocabulary import Status
from bot.errors import (
    AlreadyDecided,
    AlreadyVoted,
    IdempotencyConflict,
    InvalidInput,
    NotAuthorized,
    StaleDecision,
)
from bot.service.approvals import ApprovalService
from bot.storage import repo
from bot.storage.tables import ApprovalRequest

# The thread's current checkpoint id for a graph's request (None for a plain API request).
CheckpointOf = Callable[[ApprovalRequest], str | None]


@dataclass(frozen=True, kw_only=True)
class UIDecision:
    """One person's decision as a UI sends it on their behalf."""

    request_id: str
    verdict: Verdict
    by: str  # as the UI named the person: a Slack user id or an email
    via: str  # the UI: its API token's agent name
    expected_version: int
    idempotency_key: str
    reason: str | None = None
    args: Mapping[str, Any] | None = None
    answer: Any = None
    item: int | None = None
    expected_checkpoint_id: str | None = None

    def fingerprint(self) -> str:
        """What the key stands for: the same key with another decision is a conflict, not a replay."""
        body = {"request": self.request_id, "verdict": self.verdict.value, "by": self.by,
                "reason": self.reason, "args": self.args, "answer": self.answer, "item": self.item}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


class DecisionDesk:
    """Decides for UIs through `ApprovalService.decide`: the same checks and audit as a click."""

    def __init__(self, service: ApprovalService, *, checkpoint_of: CheckpointOf) -> None:
        self.service = service
        self.checkpoint_of = checkpoint_of

    def person(self, name: str, *, field: str) -> str:
        """The Slack user id `name` (an id or an email) stands for; InvalidInput names `field`."""
        try:
            found = self.service.directory.resolve([name])
        except InvalidInput as e:
            raise InvalidInput(f"{name!r} is not a Slack user id or the email of a Slack user",
                               fields={field: next(iter(e.fields.values()), str(e))}) from e
        if len(found) != 1:
            raise InvalidInput(f"{name!r} names a group; decisions are made by one person",
                               fields={field: "one person's Slack user id or email"})
        return found[0]

    def pending(self, approver: str) -> tuple[str, Sequence[ApprovalRequest]]:
        """The person `approver` names, and what waits on them now (the App Home's list)."""
        user = self.person(approver, field="approver")
        return user, self.service.waiting_on(user)

    def decide(self, d: UIDecision) -> tuple[ApprovalRequest, bool]:
        """(the request, whether this answers a key seen before); a stale view is StaleDecision."""
        if (seen := self._replay(d)) is not None:
            return seen, True
        row = self.service.get(d.request_id)
        actor = self.person(d.by, field="by")
        if row.created_by == d.via:
            # One token must not both ask and answer: a UI that decides for people never approves
            # what it asked for itself, whoever it names.
            refused = NotAuthorized(f"{d.via} created request {row.id}; the token that asks cannot also "
                                    "decide it", actor=actor)
            self.service.audit_refusal(repo.state_of(row), refused)
            raise refused
        _check_forms(row, d)
        if row.status == Status.PENDING:
            self._check_checkpoint(row, d)
        note = {"via": d.via, "idempotency_key": d.idempotency_key, "fingerprint": d.fingerprint()}
        try:
            decided = self.service.decide(
                d.request_id, actor=actor, verdict=d.verdict, reason=d.reason, index=d.item,
                args=d.args, answer=d.answer, expected_version=d.expected_version, note=note)
        except (StaleDecision, AlreadyDecided, AlreadyVoted):
            # The same key sent twice at once: the loser answers with what the winner did.
            if (seen := self._replay(d)) is not None:
                return seen, True
            raise
        return decided, False

    def _check_checkpoint(self, row: ApprovalRequest, d: UIDecision) -> None:
        current = self.checkpoint_of(row)
        if current is None:
            return
        if d.expected_checkpoint_id is None:
            raise InvalidInput(f"request {row.id} waits in a graph: send the checkpoint you saw",
                               fields={"expected_checkpoint_id": f"required (now {current})"})
        if d.expected_checkpoint_id != current:
            raise StaleDecision(f"the graph of request {row.id} is at checkpoint {current}, not "
                                f"{d.expected_checkpoint_id}: reload it and decide again", request_id=row.id)

    def _replay(self, d: UIDecision) -> ApprovalRequest | None:
        """The request as it stands if this UI already decided with this key; None if it did not."""
        with self.service.db.read() as s:
            for event in repo.audit_records(s, request_id=d.request_id):
                data = event.data
                if data.get("via") != d.via or data.get("idempotency_key") != d.idempotency_key:
                    continue
                if data.get("fingerprint") != d.fingerprint():
                    raise IdempotencyConflict(
                        f"idempotency_key {d.idempotency_key!r} was used for another decision on "
                        f"{d.request_id}; use a new key for a new decision")
                break
            else:
                return None
        return self.service.get(d.request_id)


def _check_forms(row: ApprovalRequest, d: UIDecision) -> None:
    """What Slack's Edit and answer forms check, checked here too: edits and answers fit their schema."""
    index = d.item if d.item is not None else 0
    if not 0 <= index < len(row.items):
        return  # the decision path says which items there are
    item = Item.from_json(row.items[index])
    if d.verdict is Verdict.EDIT and item.args_schema and isinstance(d.args, Mapping):
        if wrong := problems(item.args_schema, dict(d.args), "args"):
            raise InvalidInput("the edited args do not fit the request's args_schema: " + "; ".join(wrong),
                               fields={"args": "; ".join(wrong)})
    if d.verdict is Verdict.RESPOND and item.answer_schema and d.answer is not None:
        if wrong := problems(item.answer_schema, d.answer, "answer"):
            raise InvalidInput("the answer does not fit the request's response_schema: " + "; ".join(wrong),
                               fields={"answer": "; ".join(wrong)})
