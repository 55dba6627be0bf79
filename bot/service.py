"""The approval service: owns transactions, applies the pure lifecycle, and asks for jobs."""

from __future__ import annotations

import contextlib
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
from bot.core import deadlines, lifecycle
from bot.core.items import Item
from bot.core.lifecycle import Event, RequestState, Status, Transition, Verdict
from bot.errors import (
    AlreadyDecided,
    IdempotencyConflict,
    InvalidInput,
    NotAuthorized,
    NotFound,
    SignoffError,
)
from bot.policy.durations import format_duration
from bot.policy.explain import match
from bot.policy.model import Policy, Rule
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

    def schedule_deadline(self, request_id: str, at: datetime) -> None:
        """Fire the request's next reminder, escalation or timeout at `at`."""
        ...

    def escalated(self, request_id: str, *, from_level: int, to_level: int) -> None:
        """Tell the people added by these escalation levels, and everyone on the card."""
        ...

    def reminded(self, request_id: str) -> None:
        """Remind the approvers (a thread reply or a DM, never a new card)."""
        ...

    def request_changed(self, request_id: str, version: int) -> None:
        """Update every card to show `version` (an item answered, a vote, an escalation)."""
        ...

    def request_ended(self, request_id: str, *, delivery_id: str | None, resume: bool, version: int) -> None:
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
        policy: Policy | None = None,
    ) -> None:
        self.db = db
        self.jobs = jobs
        self.directory = directory
        self.clock = clock
        self.default_channel = default_channel
        self.check_callback_url = check_callback_url
        self.policy = policy or Policy.permissive()

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
            repo.set_resume_state(s, row.id, "queued")
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
        route = self._route(rule) if rule.auto is None else None
        requester_id = self._person(new.requester)
        stranded = bool(route and route.separation_of_duties
                        and not set(eligible) - {requester_id or new.requester})
        if stranded and route is not None and not route.escalations:
            raise InvalidInput(
                f"only the requester could approve this, and separation of duties forbids it; policy "
                f"rule {rule.name!r} has no escalation to fall back on",
                fields={"approvers": "name someone other than the requester"})
        first = None if route is None else (now if stranded else deadlines.next_deadline(
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
        if not requester or not (requester.lstrip("<@").startswith(("U", "W")) or "@" in requester):
            return None
        try:
            found = self.directory.resolve([requester])
        except InvalidInput:
            return None
        return found[0] if len(found) == 1 else None

    def _route(self, rule: Rule) -> deadlines.Route:
        """The rule's timing, with escalation targets resolved to Slack users now (fail early)."""
        steps = tuple(deadlines.Step(after=e.after, to=tuple(self.directory.resolve(e.to)), notify=e.notify)
                      for e in rule.escalations)
        return deadlines.Route(rule=rule.name, quorum=rule.quorum,
                               separation_of_duties=rule.separation_of_duties,
                               remind_every=rule.remind_every, escalations=steps, timeout=rule.timeout,
                               on_timeout=rule.on_timeout)

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

    def fire_deadlines(self, request_id: str) -> datetime | None:
        """Fire what is due (escalation, reminder, timeout) exactly once; returns when to look next.

        Woken early (RQ's scheduler can be a second early), it fires nothing and says when.
        """
        for _ in range(5):
            row = self.get(request_id)
            if row.status != Status.PENDING.value or row.route is None:
                return None
            route, now = deadlines.Route.from_json(row.route), self.clock()
            stranded = route.separation_of_duties and not set(row.eligible) - {row.requester}
            due = deadlines.due(route, created_at=row.created_at, level=row.escalation_level,
                                reminders=row.reminders_sent, now=now, stranded=stranded)
            if due.timeout:
                self._time_out(row, route)
                return None
            if not due.changes(level=row.escalation_level, reminders=row.reminders_sent):
                if due.next_at != row.next_deadline_at:  # e.g. stranded with no level left
                    with self.db.write() as s:
                        repo.set_next_deadline(s, row.id, due.next_at)
                return due.next_at
            if self._advance(row, route, due, now=now):
                if due.level != row.escalation_level:
                    self.jobs.escalated(request_id, from_level=row.escalation_level, to_level=due.level)
                if due.reminders != row.reminders_sent and due.level == row.escalation_level:
                    self.jobs.reminded(request_id)
                self.jobs.request_changed(request_id, row.version + 1)
                return due.next_at
        return self.get(request_id).next_deadline_at

    def _time_out(self, row: ApprovalRequest, route: deadlines.Route) -> None:
        waited = format_duration(route.timeout) if route.timeout else "its timeout"
        status = Status.APPROVED if route.on_timeout == "approve" else Status.EXPIRED
        reason = f"no decision within {waited} (policy rule {route.rule!r}: on timeout {route.on_timeout})"
        with contextlib.suppress(AlreadyDecided):  # a click got there first: it stands
            self._end(row.id, lambda state, now: lifecycle.system_decision(
                state, status=status, reason=reason, now=now, kind="expired", rule=route.rule), seen=row)

    def _advance(self, row: ApprovalRequest, route: deadlines.Route, due: deadlines.Due, *,
                 now: datetime) -> bool:
        """Move to the due escalation level / reminder count, iff nobody changed the request."""
        steps = route.escalations[row.escalation_level:due.level]
        added = [u for step in steps for u in step.to if u not in row.eligible]
        with self.db.write() as s:
            won = repo.advance_deadlines(
                s, request_id=row.id, from_version=row.version, level=due.level,
                reminders=due.reminders, eligible=[*row.eligible, *dict.fromkeys(added)],
                next_deadline_at=due.next_at)
            if not won:
                return False
            events = [Event(kind="escalated", actor="system", request_id=row.id,
                            data={"rule": route.rule, "level": n, "to": list(step.to),
                                  "after_s": step.after.total_seconds()})
                      for n, step in enumerate(steps, start=row.escalation_level + 1)]
            if due.reminders != row.reminders_sent:
                events.append(Event(kind="reminded", actor="system", request_id=row.id,
                                    data={"rule": route.rule, "reminder": due.reminders}))
            for event in events:
                repo.append_event(s, event, at=now)
        return True

    def due_request_ids(self, *, limit: int = 1000) -> Sequence[str]:
        """Pending requests whose next deadline has passed (what the sweeper fires)."""
        with self.db.read() as s:
            return repo.due_request_ids(s, now=self.clock(), limit=limit)

    def _audit_refusal(self, row: ApprovalRequest, refused: NotAuthorized) -> None:
        """Record a refused click in its own transaction (the refused one changed nothing)."""
        event = lifecycle.refused_click(repo.state_of(row), actor=refused.actor, why=str(refused))
        with self.db.write() as s:
            repo.append_event(s, event, at=self.clock())
