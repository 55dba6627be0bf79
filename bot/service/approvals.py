"""The decision half of the service: creates requests and decides them, owning the transactions.

Every state change and its audit event commit together; the jobs that follow are asked for after
the commit. The deadline half (reminders, escalations, timeouts) is `bot.service.deadlines`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.core import lifecycle, routing
from bot.core import webhooks as webhook_rules
from bot.core.cards import CardDelivery, card_delivery
from bot.core.deadlines import next_deadline
from bot.core.items import Item
from bot.core.lifecycle import Event, RequestState, Status, Transition, Verdict
from bot.core.vocabulary import ResumeState
from bot.errors import (
    IdempotencyConflict,
    InvalidInput,
    NotAuthorized,
    NotFound,
    SignoffError,
)
from bot.policy.explain import match
from bot.policy.model import Policy, Rule
from bot.service.deadlines import DeadlineService
from bot.service.ports import Clock, Directory, Jobs, utcnow
from bot.service.requests import NewRequest
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.tables import ApprovalRequest, CallbackDelivery


class ApprovalService:
    """Creates and decides requests; every state change and its audit event commit together."""

    def __init__(
        self, db: Database, *, jobs: Jobs, directory: Directory, clock: Clock = utcnow,
        default_channel: str | None = None,
        check_callback_url: Callable[[str], None] = lambda url: None,
        policy: Policy | None = None,
    ) -> None:
        self.db = db
        self.jobs = jobs
        self.directory = directory
        self.clock = clock
        self.default_channel = default_channel
        self.check_callback_url = check_callback_url
        self.policy = policy or Policy.permissive()
        self.deadlines = DeadlineService(self)  # the deadline half, firing through `transition`

    def create(self, new: NewRequest, *, agent: str) -> tuple[ApprovalRequest, bool]:
        """Store a request and queue its cards; (request, False) when the idempotency key was seen."""
        if new.idempotency_key is not None and (seen := self._replay(new, agent=agent)):
            return seen, False
        if new.run_id is not None and (seen := self._for_interrupt(new.run_id, new.interrupt_id)):
            return seen, False  # the interrupted node ran again: its request already exists
        if new.callback_url is not None:
            self.check_callback_url(new.callback_url)
        explanation = match(self.policy, action=new.action, args=new.args,
                                   requester=new.requester, urgency=new.urgency)
        rule = explanation.rule
        eligible = self.directory.resolve(self._approvers(new, rule)) if rule.auto is None else []
        row = self._new_row(new, agent=agent, eligible=eligible, rule=rule)
        if row.channel is not None:  # a channel the bot cannot post in would strand the request
            self.directory.check_channel(row.channel)
        delivery_id = None
        try:
            with self.db.write() as s:
                s.add(row)
                s.flush()
                data = {"action": row.action, "eligible": eligible, "urgency": row.urgency,
                        "rule": rule.name}
                repo.append_event(
                    s, Event(kind="requested", actor=f"agent:{agent}", request_id=row.id, data=data),
                    at=row.created_at,
                )
                if rule.auto is not None:  # decided by the policy, in the same transaction
                    delivery_id = self._auto_decide(s, row, rule)
        except IntegrityError:
            # A concurrent create with the same key won the unique constraint: answer with it.
            if new.idempotency_key is not None and (seen := self._replay(new, agent=agent)):
                return seen, False
            if new.run_id is not None and (seen := self._for_interrupt(new.run_id, new.interrupt_id)):
                return seen, False
            raise
        if rule.auto is not None:
            decided = self.get(row.id)
            self.jobs.request_ended(row.id, delivery_id=delivery_id, resume=row.run_id is not None,
                                    version=decided.version)
            return decided, True
        self.jobs.post_cards(row.id)
        if row.next_deadline_at is not None:
            self.jobs.schedule_deadline(row.id, row.next_deadline_at)
        return row, True

    def _auto_decide(self, s: Session, row: ApprovalRequest, rule: Rule) -> str | None:
        status = Status.APPROVED if rule.auto == "approve" else Status.REJECTED
        t = lifecycle.system_decision(repo.state_of(row), status=status, now=row.created_at,
                                      reason=f"auto-{rule.auto}d by policy rule {rule.name!r}",
                                      kind="auto_decided", rule=rule.name)
        if not repo.apply_transition(s, t):
            raise SignoffError(f"request {row.id} changed while it was being auto-decided")
        repo.append_event(s, t.event, at=row.created_at)
        if row.run_id is not None:
            repo.set_resume_state(s, row.id, ResumeState.QUEUED)
        return self._queue_callback(s, row, t)

    def _approvers(self, new: NewRequest, rule: Rule) -> list[str]:
        """Who decides: the rule's approvers, plus the request's own where the rule allows it."""
        named = list(new.approvers)
        if named and not rule.allow_request_approvers and rule.approvers:
            if new.kind == "api":
                raise InvalidInput(
                    f"policy rule {rule.name!r} names who approves {new.action}; requests may not add "
                    "their own approvers", fields={"approvers": f"not allowed by rule {rule.name!r}"})
            named = []  # a graph's own approvers give way to the policy's
        approvers = [*rule.approvers, *named]
        if not approvers:
            raise InvalidInput(
                f"nobody to ask: the request names no approvers and policy rule {rule.name!r} names none",
                fields={"approvers": "name at least one approver (or route the action in the policy)"})
        return approvers

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

    def _new_row(
        self, new: NewRequest, *, agent: str, eligible: list[str], rule: Rule
    ) -> ApprovalRequest:
        items = list(new.items or [Item(action=new.action, args=new.args)])
        now = self.clock()
        if rule.approvers or rule.channel or rule.notify:  # the policy routes it
            channel = rule.channel or new.channel or self.default_channel
            dm = rule.notify_mode in ("dm", "both") or channel is None
            channel = channel if rule.notify_mode in ("channel", "both") else None
        else:  # as the request asks
            channel = new.channel or (self.default_channel if new.dm is None else None)
            dm = new.dm if new.dm is not None else channel is None
        route = routing.route_for(rule, resolve=self.directory.resolve) if rule.auto is None else None
        requester_id = self._person(new.requester)
        stranded = route is not None and routing.is_stranded(
            separation_of_duties=route.separation_of_duties, eligible=eligible,
            requester=new.requester, requester_id=requester_id)
        if stranded and route is not None and not route.escalations:
            raise InvalidInput(
                f"only the requester could approve this, and separation of duties forbids it; policy "
                f"rule {rule.name!r} has no escalation to fall back on",
                fields={"approvers": "name someone other than the requester"})
        first = None if route is None else (now if stranded else next_deadline(
            route, created_at=now, level=0, reminders=0))
        return ApprovalRequest(
            id="req_" + secrets.token_hex(10),
            action=new.action,
            summary=new.summary,
            args=dict(new.args),
            context=dict(new.context) if new.context is not None else None,
            urgency=rule.urgency or new.urgency,
            requester=new.requester,
            requester_id=requester_id,
            approvers=list(new.approvers),
            eligible=eligible,
            channel=channel,
            dm=dm,
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
            rule=rule.name,
            route=route.to_json() if route else None,
            approvals=[],
            next_deadline_at=first,
            created_at=now,
        )

    def _person(self, requester: str | None) -> str | None:
        """The requester as a Slack user id when it names a person (an id, a mention, an email), so
        separation of duties holds however it was spelled; None for a bot or service name."""
        if requester is None or not routing.names_a_person(requester):
            return None
        try:
            found = self.directory.resolve([requester])
        except InvalidInput:
            return None
        return found[0] if len(found) == 1 else None

    def get(self, request_id: str) -> ApprovalRequest:
        """The request, or NotFound."""
        with self.db.read() as s:
            row = repo.get_request(s, request_id)
        if row is None:
            raise NotFound(f"no request with id {request_id!r}")
        return row

    def list(self, *, status: str | None = None, limit: int = 100,
             agent: str | None = None) -> list[ApprovalRequest]:
        """Requests, newest first; only `agent`'s when given."""
        with self.db.read() as s:
            return repo.list_requests(s, status=status, limit=limit, created_by=agent)

    def card_deliveries(self, rows: Sequence[ApprovalRequest]) -> dict[str, CardDelivery]:
        """Where each request's cards stand in Slack (posted, fallen back to DMs, failed)."""
        with self.db.read() as s:
            records = repo.card_records(s, [r.id for r in rows])
        return {r.id: card_delivery(channel=r.channel, posted_channels=records[r.id][0],
                                    failures=records[r.id][1]) for r in rows}

    def waiting_on(self, user: str, *, scan: int = 500) -> Sequence[ApprovalRequest]:
        """Pending requests `user` may decide now and has not voted on, oldest first (App Home)."""
        with self.db.read() as s:
            pending = repo.list_requests(s, status=Status.PENDING.value, limit=scan)
        mine = []
        for row in pending:
            try:
                lifecycle.check_can_decide(repo.state_of(row), actor=user)
            except SignoffError:
                continue
            if user not in row.approvals:
                mine.append(row)
        return sorted(mine, key=lambda r: r.created_at)

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
        return self.transition(request_id, lambda state, now: lifecycle.decide(
            state, actor=actor, verdict=verdict, reason=reason, now=now, index=index, args=args,
            answer=answer))

    def cancel(self, request_id: str, *, agent: str, reason: str) -> ApprovalRequest:
        """Withdraw a pending request; only the agent that created it may (others get NotFound)."""
        if self.get(request_id).created_by != agent:
            raise NotFound(f"no request with id {request_id!r} created by agent {agent!r}")
        return self.transition(request_id, lambda state, now: lifecycle.cancel(
            state, actor=f"agent:{agent}", reason=reason, now=now))

    def transition(
        self, request_id: str, make: Callable[[RequestState, datetime], Transition],
        seen: ApprovalRequest | None = None,
    ) -> ApprovalRequest:
        """Apply a transition exactly once: the UPDATE, its audit event and the callback outbox row
        commit together; the jobs that follow are queued after the commit."""
        # Most late clicks meet a request that has already ended: answer them from a plain read,
        # without queueing for the write lock. The conditional UPDATE stays the guard.
        seen = seen or self.get(request_id)  # a caller that just read the row passes it
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
            self.jobs.request_ended(request_id, delivery_id=delivery_id, resume=ended.run_id is not None,
                                    version=ended.version)
        else:
            self.jobs.request_changed(request_id, ended.version)
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
                    repo.set_resume_state(s, request_id, ResumeState.QUEUED)
        return t, delivery_id

    def _queue_callback(self, s: Session, row: ApprovalRequest, t: Transition) -> str | None:
        if row.callback_url is None:
            return None
        delivery_id = "dlv_" + secrets.token_hex(10)
        body = webhook_rules.payload(
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
