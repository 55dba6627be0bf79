"""The approval service: owns transactions, applies the pure lifecycle, and asks for jobs."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.core import callbacks as callback_rules
from bot.core import lifecycle
from bot.core.items import Item
from bot.core.lifecycle import Event, RequestState, Status, Transition, Verdict
from bot.errors import IdempotencyConflict, NotAuthorized, NotFound, SignoffError
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.tables import ApprovalRequest, CallbackDelivery

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The wall clock, aware UTC."""
    return datetime.now(UTC)


class Jobs(Protocol):
    """Background work the service asks for once its transaction has committed."""

    def post_cards(self, request_id: str) -> None: ...

    def request_changed(self, request_id: str) -> None:
        """Update every card (an item of a batch was answered)."""
        ...

    def request_ended(self, request_id: str, *, delivery_id: str | None, resume: bool) -> None:
        """Update every card, deliver the callback, resume the graph, wake long-polling agents."""
        ...


class Directory(Protocol):
    """Turns approver names (user ids, emails, group handles) into Slack user ids."""

    def resolve(self, entries: Sequence[str]) -> list[str]: ...


@dataclass(frozen=True, kw_only=True)
class NewRequest:
    """What an agent asks for; validated by the API schema before it gets here."""

    action: str
    summary: str
    args: Mapping[str, Any] = field(default_factory=dict)
    approvers: Sequence[str] = ()
    context: Mapping[str, Any] | None = None
    urgency: str = "normal"
    channel: str | None = None
    dm: bool | None = None
    requester: str | None = None
    idempotency_key: str | None = None
    callback_url: str | None = None
    # Set for requests raised by a graph's interrupt: several items, and where to resume.
    items: Sequence[Item] | None = None
    kind: str = "api"
    run_id: str | None = None
    interrupt_id: str | None = None

    def body_hash(self) -> str:
        """A digest of everything but the idempotency key, to spot a reused key."""
        body = {k: v for k, v in asdict(self).items() if k != "idempotency_key"}
        body["items"] = [i.to_json() for i in self.items or ()]
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


class ApprovalService:
    """Creates and decides requests; every state change and its audit event commit together."""

    def __init__(
        self, db: Database, *, jobs: Jobs, directory: Directory, clock: Clock = utcnow,
        default_channel: str | None = None,
        check_callback_url: Callable[[str], None] = lambda url: None,
    ) -> None:
        self.db = db
        self.jobs = jobs
        self.directory = directory
        self.clock = clock
        self.default_channel = default_channel
        self.check_callback_url = check_callback_url

    def create(self, new: NewRequest, *, agent: str) -> tuple[ApprovalRequest, bool]:
        """Store a request and queue its cards; (request, False) when the idempotency key was seen."""
        if new.idempotency_key is not None and (seen := self._replay(new, agent=agent)):
            return seen, False
        if new.run_id is not None and (seen := self._for_interrupt(new.run_id, new.interrupt_id)):
            return seen, False  # the interrupted node ran again: its request already exists
        if new.callback_url is not None:
            self.check_callback_url(new.callback_url)
        eligible = self.directory.resolve(new.approvers)
        row = self._new_row(new, agent=agent, eligible=eligible)
        try:
            with self.db.write() as s:
                s.add(row)
                s.flush()
                data = {"action": row.action, "eligible": eligible, "urgency": row.urgency}
                repo.append_event(
                    s, Event(kind="requested", actor=f"agent:{agent}", request_id=row.id, data=data),
                    at=row.created_at,
                )
        except IntegrityError:
            # A concurrent create with the same key won the unique constraint: answer with it.
            if new.idempotency_key is not None and (seen := self._replay(new, agent=agent)):
                return seen, False
            if new.run_id is not None and (seen := self._for_interrupt(new.run_id, new.interrupt_id)):
                return seen, False
            raise
        self.jobs.post_cards(row.id)
        return row, True

    def _for_interrupt(self, run_id: str, interrupt_id: str | None) -> ApprovalRequest | None:
        with self.db.read() as s:
            return repo.find_by_interrupt(s, run_id=run_id, interrupt_id=interrupt_id)

    def _replay(self, new: NewRequest, *, agent: str) -> ApprovalRequest | None:
        assert new.idempotency_key is not None
        with self.db.read() as s:
            seen = repo.find_by_idempotency_key(s, created_by=agent, key=new.idempotency_key)
        if seen is not None and seen.body_hash != new.body_hash():
            raise IdempotencyConflict(
                f"idempotency_key {new.idempotency_key!r} was used for request {seen.id} with a "
                "different body; use a new key for a new request"
            )
        return seen

    def _new_row(self, new: NewRequest, *, agent: str, eligible: list[str]) -> ApprovalRequest:
        channel = new.channel or (self.default_channel if new.dm is None else None)
        items = list(new.items or [Item(action=new.action, args=new.args)])
        return ApprovalRequest(
            id="req_" + secrets.token_hex(10),
            action=new.action,
            summary=new.summary,
            args=dict(new.args),
            context=dict(new.context) if new.context is not None else None,
            urgency=new.urgency,
            requester=new.requester,
            approvers=list(new.approvers),
            eligible=eligible,
            channel=channel,
            dm=new.dm if new.dm is not None else channel is None,
            status=Status.PENDING.value,
            version=0,
            created_by=agent,
            idempotency_key=new.idempotency_key,
            body_hash=new.body_hash() if new.idempotency_key is not None else None,
            callback_url=new.callback_url,
            items=[i.to_json() for i in items],
            item_decisions=[None] * len(items),
            kind=new.kind,
            run_id=new.run_id,
            interrupt_id=new.interrupt_id,
            created_at=self.clock(),
        )

    def get(self, request_id: str) -> ApprovalRequest:
        """The request, or NotFound."""
        with self.db.read() as s:
            row = repo.get_request(s, request_id)
        if row is None:
            raise NotFound(f"no request with id {request_id!r}")
        return row

    def list(self, *, status: str | None = None, limit: int = 100) -> list[ApprovalRequest]:
        """Requests, newest first."""
        with self.db.read() as s:
            return repo.list_requests(s, status=status, limit=limit)

    def check_can_decide(self, request_id: str, *, actor: str) -> ApprovalRequest:
        """The request if `actor` may decide it now; a refusal is audited before it is raised."""
        row = self.get(request_id)
        try:
            lifecycle.check_can_decide(repo.state_of(row), actor=actor)
        except NotAuthorized as refused:
            self._audit_refusal(row, refused)
            raise
        return row

    def decide(
        self, request_id: str, *, actor: str, verdict: Verdict, reason: str | None = None,
        index: int | None = None, args: Mapping[str, Any] | None = None, answer: Any = None,
    ) -> ApprovalRequest:
        """Answer an item (the only one when `index` is None) exactly once; losers get AlreadyDecided."""
        return self._end(request_id, lambda state, now: lifecycle.decide(
            state, actor=actor, verdict=verdict, reason=reason, now=now, index=index, args=args,
            answer=answer))

    def cancel(self, request_id: str, *, agent: str, reason: str) -> ApprovalRequest:
        """Withdraw a pending request; only the agent that created it may (others get NotFound)."""
        if self.get(request_id).created_by != agent:
            raise NotFound(f"no request with id {request_id!r} created by agent {agent!r}")
        return self._end(request_id, lambda state, now: lifecycle.cancel(
            state, actor=f"agent:{agent}", reason=reason, now=now))

    def _end(
        self, request_id: str, make: Callable[[RequestState, datetime], Transition]
    ) -> ApprovalRequest:
        """Apply a transition exactly once: the UPDATE, its audit event and the callback outbox row
        commit together; the jobs that follow are queued after the commit."""
        # Most late clicks meet a request that has already ended: answer them from a plain read,
        # without queueing for the write lock. The conditional UPDATE stays the guard.
        seen = self.get(request_id)
        try:
            make(repo.state_of(seen), self.clock())  # raises for an ended request or a refused actor
        except NotAuthorized as refused:
            self._audit_refusal(seen, refused)
            raise
        for _ in range(5):
            applied = self._apply(request_id, make)
            if applied is not None:
                break
        else:
            raise SignoffError(f"request {request_id} keeps changing under us; try again")
        t, delivery_id = applied
        ended = self.get(request_id)
        if t.final:
            self.jobs.request_ended(request_id, delivery_id=delivery_id, resume=ended.run_id is not None)
        else:
            self.jobs.request_changed(request_id)
        return ended

    def _apply(
        self, request_id: str, make: Callable[[RequestState, datetime], Transition]
    ) -> tuple[Transition, str | None] | None:
        """One attempt; None when someone changed the request between our read and our UPDATE
        (PostgreSQL read committed; SQLite holds its write lock from the read on)."""
        now = self.clock()
        with self.db.write() as s:
            row = repo.get_request(s, request_id)
            if row is None:
                raise NotFound(f"no request with id {request_id!r}")
            t = make(repo.state_of(row), now)  # AlreadyDecided here names whoever won
            if not repo.apply_transition(s, t):
                return None
            repo.append_event(s, t.event, at=now)
            delivery_id = None
            if t.final:
                delivery_id = self._queue_callback(s, row, t)
                if row.run_id is not None:
                    repo.set_resume_state(s, request_id, "queued")
        return t, delivery_id

    def _queue_callback(self, s: Session, row: ApprovalRequest, t: Transition) -> str | None:
        if row.callback_url is None:
            return None
        delivery_id = "dlv_" + secrets.token_hex(10)
        body = callback_rules.payload(
            delivery_id=delivery_id, request_id=row.id, status=t.status.value, decision=t.decision,
            decided_by=t.decided_by, reason=t.reason, args=row.args, edited_args=t.edited_args,
            decided_at=t.decided_at)
        s.add(CallbackDelivery(id=delivery_id, request_id=row.id, agent=row.created_by,
                               url=row.callback_url, payload=body, next_attempt_at=t.decided_at,
                               created_at=t.decided_at))
        return delivery_id

    def _audit_refusal(self, row: ApprovalRequest, refused: NotAuthorized) -> None:
        """Record a refused click in its own transaction (the refused one changed nothing)."""
        event = lifecycle.refused_click(repo.state_of(row), actor=refused.actor, why=str(refused))
        with self.db.write() as s:
            repo.append_event(s, event, at=self.clock())
