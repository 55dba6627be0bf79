"""The decision half of the service: creates requests and decides them, owning the transactions.

Every state change and its audit event commit together; the jobs that follow are asked for after
the commit. The deadline half (reminders, escalations, timeouts) is `bot.service.deadlines`.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.core import lifecycle, routing
from bot.core import webhooks as webhook_rules
from bot.core.cards import CardDelivery
from bot.core.deadlines import next_deadline
from bot.core.identity import is_person, normalise
from bot.core.items import DecisionType, Item, ItemDecision, ItemRoute
from bot.core.lifecycle import Event, RequestState, Status, Transition, Verdict
from bot.core.values import check_finite
from bot.core.vocabulary import Urgency
from bot.errors import (
    AlreadyDecided,
    CommentWanted,
    IdempotencyConflict,
    InvalidInput,
    NotAuthorized,
    NotFound,
    SignoffError,
    StaleDecision,
)
from bot.observe import lifecycle as observed
from bot.policy.explain import describe, match
from bot.policy.model import Policy, Rule
from bot.service.deadlines import DeadlineService
from bot.service.ports import Clock, Directory, Jobs, utcnow
from bot.service.requests import NewRequest
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.tables import ApprovalRequest, CallbackDelivery


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """A request checked and routed but not stored (ApprovalService.prepare), or the one stored
    earlier for the same idempotency key or interrupt (`seen`)."""

    new: NewRequest
    agent: str
    row: ApprovalRequest | None = None
    verdicts: Sequence[tuple[str, str] | None] = ()
    seen: ApprovalRequest | None = None


class ApprovalService:
    """Creates and decides requests; every state change and its audit event commit together."""

    def __init__(
        self, db: Database, *, jobs: Jobs, directory: Directory, clock: Clock = utcnow,
        default_channel: str | None = None,
        check_callback_url: Callable[[str, str], None] = lambda url, agent: None,
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
        self._ended = _EndedStates()  # what a late click is checked against, without a read

    def create(self, new: NewRequest, *, agent: str) -> tuple[ApprovalRequest, bool]:
        """Store a request and queue its cards; (request, False) when the idempotency key was seen."""
        return self.store(self.prepare(new, agent=agent))

    def prepare(self, new: NewRequest, *, agent: str) -> Prepared:
        """Everything `create` checks, stores nothing: routed by the policy, approvers and channel
        looked up, the callback checked (raising what create would). `store` stores it."""
        if (seen := self.replay(new, agent=agent)) is not None:
            return Prepared(new=new, agent=agent, seen=seen)
        if new.run_id is not None and (seen := self._for_interrupt(new.run_id, new.interrupt_id)):
            return Prepared(new=new, agent=agent, seen=seen)  # the node ran again: its request exists
        if new.callback_url is not None:
            self.check_callback_url(new.callback_url, agent)  # the agent must have a signing secret
        row, verdicts = self._new_row(new, agent=agent)
        if row.channel is not None and not all(verdicts):  # a channel the bot cannot post in
            self.directory.check_channel(row.channel)     # would strand the request
        return Prepared(new=new, agent=agent, row=row, verdicts=verdicts)

    def store(self, prepared: Prepared) -> tuple[ApprovalRequest, bool]:
        """Store a prepared request and queue its cards (create's second half)."""
        if prepared.seen is not None:
            return prepared.seen, False
        new, agent, row, verdicts = prepared.new, prepared.agent, prepared.row, prepared.verdicts
        assert row is not None
        delivery_id, final = None, False
        try:
            with self.db.write() as s:
                s.add(row)
                s.flush()
                data: dict[str, Any] = {"action": row.action, "eligible": row.eligible,
                                        "urgency": row.urgency, "rule": row.rule, "agent": agent}
                if row.item_routes and len(row.items) > 1:
                    data["items"] = [{"action": i["action"], "rule": r["rule"], "eligible": r["eligible"]}
                                     for i, r in zip(row.items, row.item_routes, strict=True)]
                repo.append_event(
                    s, Event(kind="requested", actor=f"agent:{agent}", request_id=row.id, data=data),
                    at=row.created_at,
                )
                if any(verdicts):  # items the policy decides, in the same transaction
                    delivery_id, final = self._auto_decide(s, row, verdicts)
        except IntegrityError:
            # A concurrent create with the same key won the unique constraint: answer with it.
            if (seen := self.replay(new, agent=agent)) is not None:
                return seen, False
            if new.run_id is not None and (seen := self._for_interrupt(new.run_id, new.interrupt_id)):
                return seen, False
            raise
        observed.created(request_id=row.id, agent=agent, rule=row.rule)
        if final:
            decided = self.get(row.id)
            _observe_end(decided)
            self.jobs.request_ended(row.id, delivery_id=delivery_id, resume=row.run_id is not None,
                                    version=decided.version)
            return decided, True
        self.jobs.post_cards(row.id)  # its deadlines are found by the sweeper on next_deadline_at
        return self.get(row.id) if any(verdicts) else row, True

    def _auto_decide(
        self, s: Session, row: ApprovalRequest, verdicts: Sequence[tuple[str, str] | None]
    ) -> tuple[str | None, bool]:
        """Record the policy's decisions of the items whose own rule auto-decides them."""
        t = lifecycle.auto_decide(repo.state_of(row), verdicts=verdicts, now=row.created_at)
        if not repo.apply_transition(s, t, resume_state=repo.resume_state_after(row, t)):
            raise SignoffError(f"request {row.id} changed while it was being auto-decided")
        repo.append_event(s, t.event, at=row.created_at)
        if not t.final:
            return None, False
        return self._queue_callback(s, row, t), True

    def _named_approvers(self, new: NewRequest, rule: Rule) -> list[str]:
        """Who decides besides the rule's approvers: the request's own where the rule allows them
        (SIGNOFF_DEFAULT_APPROVERS when it names nobody and the rule nobody either)."""
        named = list(new.approvers)
        if named and not rule.allow_request_approvers:
            # A run's approvers come from its start or from the interrupt: name both places.
            where = " (named by the graph's request_approval() or when the run started)" if new.run_id else ""
            raise InvalidInput(
                f"policy rule {rule.name!r} decides who approves {new.action}; this "
                f"{'run' if new.run_id else 'request'} may not name its own approvers "
                f"({', '.join(named)}){where}: leave them out, or set allow_request_approvers on the rule",
                fields={"approvers": f"not allowed by rule {rule.name!r}"})
        if not named and not rule.approvers and rule.allow_request_approvers:
            named = list(new.fallback_approvers)
        if not named and not rule.approvers:
            raise InvalidInput(
                f"nobody to ask: the request names no approvers and policy rule {rule.name!r} names none",
                fields={"approvers": "name at least one approver (or route the action in the policy)"})
        return named

    def _eligible(self, new: NewRequest, rule: Rule) -> tuple[str, ...]:
        """The Slack users who decide under `rule`: its approvers and the request's; an entry
        Slack does not know is named where it was written (the request's `approvers[n]`, or the
        rule's)."""
        named = self._named_approvers(new, rule)
        found: list[str] = []
        unknown: dict[str, str] = {}
        lists = ((rule.approvers, f"policy rule {rule.name!r} approvers"),
                 (named, "approvers" if new.approvers else "SIGNOFF_DEFAULT_APPROVERS"))
        for entries, field in lists:
            try:
                found += self.directory.resolve(entries, field=field)
            except InvalidInput as e:  # every unknown one is named, the rule's and the request's
                unknown |= e.fields
        if unknown:
            raise InvalidInput("some approvers could not be found in Slack", fields=unknown)
        return tuple(dict.fromkeys(found))

    def check_run_start(self, approvers: Sequence[str], requester: str | None, channel: str | None) -> None:
        """At a run's start: its own approvers must exist and some rule must let a run name them;
        a person-like requester must be a Slack user; a channel it names, one the bot can post in,
        even if a policy rule routes some of its requests elsewhere (InvalidInput, or Unavailable
        if Slack is down). Found out at an interrupt, each failed the run."""
        if approvers:
            allowing = [r for r in self.policy.every_rule if r.allow_request_approvers]
            if not allowing:
                raise InvalidInput(
                    "no policy rule lets a run name its own approvers (allow_request_approvers); leave "
                    "them out and the policy decides who approves",
                    fields={"approvers": "not allowed by the policy"})
            self.directory.resolve(approvers)
        self._requester(requester)
        if channel:  # blank: the default channel, as for a request
            self.directory.check_channel(channel)

    def _for_interrupt(self, run_id: str, interrupt_id: str | None) -> ApprovalRequest | None:
        with self.db.read() as s:
            return repo.find_by_interrupt(s, run_id=run_id, interrupt_id=interrupt_id)

    def replay(self, new: NewRequest, *, agent: str) -> ApprovalRequest | None:
        """The request `agent` already created with `new`'s idempotency key (None: none, or no key);
        IdempotencyConflict when that key came with another body."""
        if new.idempotency_key is None:
            return None
        with self.db.read() as s:
            seen = repo.find_by_idempotency_key(s, created_by=agent, key=new.idempotency_key)
        if seen is not None and seen.body_hash != new.body_hash():
            raise IdempotencyConflict(
                f"idempotency_key {new.idempotency_key!r} was used for request {seen.id} with a "
                "different body; use a new key for a new request"
            )
        return seen

    def _rule_of(self, item: Item, *, requester: str | None, urgency: str | None, agent: str) -> Rule:
        """The rule an item's own action and arguments match (InvalidInput when a condition cannot
        tell, never a fall-through to a later rule)."""
        return match(self.policy, action=item.action, args=item.args, requester=requester,
                     urgency=urgency, agent=agent).rule

    def _new_row(
        self, new: NewRequest, *, agent: str
    ) -> tuple[ApprovalRequest, list[tuple[str, str] | None]]:
        """The pending row, every item routed by its own rule; and the verdicts of auto rules."""
        items = list(new.items or [Item(action=new.action, args=new.args)])
        check_finite(new.args, where="args")
        check_finite(new.context, where="context")
        for n, item in enumerate(items):
            check_finite(item.args, where=f"items[{n}].args")
        requester, requester_id = self._requester(new.requester)
        rules = [self._rule_of(i, requester=requester, urgency=new.urgency, agent=agent) for i in items]
        verdicts = [(r.auto, r.name) if r.auto else None for r in rules]
        asking = [r for r in rules if r.auto is None]
        eligible_by_rule = {r.name: self._eligible(new, r) for r in asking}
        item_routes = [ItemRoute(rule=r.name, eligible=eligible_by_rule.get(r.name, ()), quorum=r.quorum,
                                 separation_of_duties=r.separation_of_duties, urgency=new.urgency)
                       for r in rules]
        eligible = list(dict.fromkeys(u for r in asking for u in eligible_by_rule[r.name]))
        now = self.clock()
        lead = asking[0] if asking else rules[0]  # where the card goes: the first rule that asks
        channel, dm = self._where(new, lead)
        route = routing.combined_route(asking, resolve=self.directory.resolve) if asking else None
        if route is not None:
            limits = [r.max_timeout for r in asking if r.max_timeout is not None]
            route = routing.with_request_deadline(route, timeout=new.timeout, on_timeout=new.on_timeout,
                                                  max_timeout=min(limits, default=None))
        row = ApprovalRequest(
            id="req_" + secrets.token_hex(10),
            action=new.action,
            summary=new.summary,
            args=dict(new.args),
            context=dict(new.context) if isinstance(new.context, Mapping) else new.context,
            urgency=_most_urgent([r.urgency for r in asking]) or new.urgency,
            requester=requester,
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
            item_routes=[r.to_json() for r in item_routes],
            item_approvals=[[] for _ in items],
            kind=new.kind,
            run_id=new.run_id,
            interrupt_id=new.interrupt_id,
            rule=" + ".join(dict.fromkeys(r.name for r in (asking or rules))),
            route=route.to_json() if route else None,
            approvals=[],
            next_deadline_at=None,
            created_at=now,
        )
        if route is not None:
            # Items the policy decides are no one's to strand.
            pre = tuple(ItemDecision(type=DecisionType(v[0]), by="system", at=now) if v else None
                        for v in verdicts)
            stranded = routing.is_stranded(replace(repo.state_of(row), item_decisions=pre))
            if stranded and not route.escalations:
                raise InvalidInput(
                    f"only the requester could approve this, and separation of duties forbids it; policy "
                    f"rule {route.rule!r} has no escalation to fall back on",
                    fields={"approvers": "name someone other than the requester"})
            row.next_deadline_at = now if stranded else next_deadline(
                route, created_at=now, level=0, reminders=0)
        return row, verdicts

    def _where(self, new: NewRequest, rule: Rule) -> tuple[str | None, bool]:
        """(channel, DM the approvers?) for the card: the policy's routing, else the request's."""
        if rule.approvers or rule.channel or rule.notify:  # the policy routes it
            if rule.channel is None and rule.notify is None:
                # The rule's approvers are DMed, so each one hears of it whatever channel the
                # agent names; a channel the request names gets the card too (it was dropped).
                return new.channel, True
            channel = rule.channel or new.channel or self.default_channel
            # A request may add DMs to the rule's channel (it was silently dropped), never
            # remove the ones the rule sends: more people told, never fewer.
            dm = rule.notify_mode in ("dm", "both") or channel is None or new.dm is True
            return (channel if rule.notify_mode in ("channel", "both") else None), dm
        channel = new.channel or (self.default_channel if new.dm is None else None)
        return channel, new.dm if new.dm is not None else channel is None

    def _requester(self, requester: str | None) -> tuple[str | None, str | None]:
        """(the requester in one spelling, its Slack user id when it names a person).

        A person-like requester that Slack does not know is refused (422), and a Slack error while
        asking is Unavailable (503): separation of duties is never switched off by a lookup.
        """
        if requester is None:
            return None, None
        name = normalise(requester)
        if not name:
            raise InvalidInput("requester is blank; leave it out, or name who asks",
                               fields={"requester": "blank"})
        if not is_person(name):
            return name, None  # a program's name: it never clicks, nobody to keep from approving
        try:
            [user] = self.directory.resolve([name])
        except InvalidInput:
            raise InvalidInput(
                f"requester {requester!r} looks like a person but is not a user of this Slack "
                "workspace; name them by Slack user id or email, or use the agent's own name",
                fields={"requester": "not a Slack user of this workspace"}) from None
        return name, user

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
            return repo.card_deliveries(s, rows)

    def get_shown(self, request_id: str) -> tuple[ApprovalRequest, CardDelivery]:
        """The request and where its cards stand, read together (NotFound when there is none)."""
        with self.db.read() as s:
            row = repo.get_request(s, request_id)
            if row is None:
                raise NotFound(f"no request with id {request_id!r}")
            return row, repo.card_deliveries(s, [row])[row.id]

    def waiting_on(self, user: str, *, scan: int = 500) -> Sequence[ApprovalRequest]:
        """Pending requests with an item `user` may decide now and has not voted on, oldest first."""
        with self.db.read() as s:
            pending = repo.list_requests(s, status=Status.PENDING.value, limit=scan)
        mine = [row for row in pending if lifecycle.waits_on(repo.state_of(row), user)]
        return sorted(mine, key=lambda r: r.created_at)

    def check_can_decide(self, request_id: str, *, actor: str, index: int | None = None) -> ApprovalRequest:
        """The request if `actor` may decide it (item `index`) now; a refusal is audited, then raised."""
        row = self.get(request_id)
        try:
            lifecycle.check_can_decide(repo.state_of(row), actor=actor, index=index)
        except NotAuthorized as refused:
            self.audit_refusal(repo.state_of(row), refused)
            raise
        return row

    def decide(
        self, request_id: str, *, actor: str, verdict: Verdict, reason: str | None = None,
        index: int | None = None, args: Mapping[str, Any] | None = None, answer: Any = None,
        expected_version: int | None = None, note: Mapping[str, Any] | None = None,
        comment_first: bool = False,
    ) -> ApprovalRequest:
        """Answer an item (the only one when `index` is None) exactly once; losers get AlreadyDecided.

        `expected_version`: refuse (StaleDecision) unless the request is still at that version;
        `note`: added to the audit event's data (e.g. which UI the decision came through);
        `comment_first`: an Approve button: raise CommentWanted, deciding nothing, when the item
        asks for a comment with Approve (the caller then opens a form for it).
        """
        if verdict is Verdict.EDIT and args is not None:
            self._check_edit(request_id, actor=actor, index=index, args=args)

        def make(state: RequestState, now: datetime) -> Transition:
            if comment_first and state.status is Status.PENDING and (
                    state.items[lifecycle.item_index(state, index)].approve_comment != "none"):
                raise CommentWanted(f"request {state.id} asks for a comment with Approve")
            t = lifecycle.decide(state, actor=actor, verdict=verdict, reason=reason, now=now,
                                 index=index, args=args, answer=answer)
            # Checked after the rules, so a refused person learns that rather than the version;
            # inside the write transaction as well, so it holds against a concurrent decision.
            if expected_version is not None and state.version != expected_version:
                raise StaleDecision(f"request {state.id} is at version {state.version}, not "
                                    f"{expected_version}: reload it and decide again", request_id=state.id)
            return replace(t, event=replace(t.event, data={**t.event.data, **note})) if note else t

        return self.transition(request_id, make)

    def _check_edit(self, request_id: str, *, actor: str, index: int | None,
                    args: Mapping[str, Any]) -> None:
        """An edit is a decision only under the rule the item was routed by: edited arguments are
        matched again, and an edit that lands under another rule is refused, naming that rule."""
        row = self.check_can_decide(request_id, actor=actor, index=index)
        state = repo.state_of(row)
        i = lifecycle.item_index(state, index)
        check_finite(args, where="args")
        item, route = state.items[i], state.route_of(i)
        routed = route.rule
        rule = self._rule_of(Item(action=item.action, args=args), requester=row.requester,
                             urgency=route.urgency or row.urgency, agent=row.created_by)
        if rule.name != routed:
            raise InvalidInput(
                f"this edit puts {item.action} under policy rule {rule.name!r} ({describe(rule)}), not "
                f"{routed!r}, which routed this request; approve or reject it as asked, or have the "
                "agent ask again with these arguments",
                fields={"args": f"moves it under policy rule {rule.name!r}"})

    def cancel(self, request_id: str, *, agent: str, reason: str) -> ApprovalRequest:
        """Withdraw a pending request; only the agent that created it may (others get NotFound).

        Cancelling again with the same reason answers with the cancelled request, changing and
        auditing nothing: an agent retrying a cancel whose answer it lost must not read a refusal.
        """
        if self.get(request_id).created_by != agent:
            raise NotFound(f"no request with id {request_id!r} created by agent {agent!r}")
        actor = f"agent:{agent}"
        try:
            return self.transition(request_id, lambda state, now: lifecycle.cancel(
                state, actor=actor, reason=reason, now=now))
        except AlreadyDecided:
            row = self.get(request_id)
            if (row.status, row.decided_by, row.reason) == (Status.CANCELLED.value, actor, reason):
                return row
            raise

    def transition(
        self, request_id: str, make: Callable[[RequestState, datetime], Transition],
    ) -> ApprovalRequest:
        """Apply a transition exactly once: the UPDATE, its audit event and the callback outbox row
        commit together; the jobs that follow are queued after the commit. A refused actor's
        attempt is audited (NotAuthorized is raised after)."""
        # Most late clicks meet a request that has already ended: one this process remembers is
        # answered without a read or the write lock. The conditional UPDATE stays the guard.
        if (known := self._ended.get(request_id)) is not None:
            try:
                make(known, self.clock())  # raises for an ended request or a refused actor
            except NotAuthorized as refused:
                self.audit_refusal(known, refused)
                raise
        for _ in range(5):
            applied = self._apply(request_id, make)
            if applied is not None:
                break
        else:
            raise SignoffError(f"request {request_id} keeps changing under us; try again")
        t, delivery_id, ended = applied
        if t.final:
            _observe_end(ended)
            self.jobs.request_ended(request_id, delivery_id=delivery_id, resume=ended.run_id is not None,
                                    version=ended.version)
        else:
            self.jobs.request_changed(request_id, ended.version)
        return ended

    def _apply(
        self, request_id: str, make: Callable[[RequestState, datetime], Transition]
    ) -> tuple[Transition, str | None, ApprovalRequest] | None:
        """One attempt: (the transition, its callback delivery, the request after it); None when
        someone changed the request between our read and our UPDATE (PostgreSQL read committed;
        SQLite holds its write lock from the read on). A refusal is audited in the same
        transaction, which then commits only that."""
        now = self.clock()
        refused: NotAuthorized | None = None
        with self.db.write() as s:
            row = repo.get_request(s, request_id)
            if row is None:
                raise NotFound(f"no request with id {request_id!r}")
            # An ended request is remembered, whoever ended it: this process's next late click
            # on it is answered without the write lock.
            state = self._ended.remember(repo.state_of(row))
            try:
                t = make(state, now)  # AlreadyDecided here names whoever won
            except NotAuthorized as e:
                refused = e
                repo.append_event(s, lifecycle.refused_click(state, actor=e.actor, why=str(e)), at=now)
            else:
                if not repo.apply_transition(s, t, row=row, resume_state=repo.resume_state_after(row, t)):
                    return None
                repo.append_event(s, t.event, at=now)
                delivery_id = self._queue_callback(s, row, t) if t.final else None
        if refused is not None:
            raise refused
        if t.final:
            self._ended.remember(repo.state_of(row))
        return t, delivery_id, row

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

    def audit_refusal(self, state: RequestState, refused: NotAuthorized) -> None:
        """Record a refused click in its own transaction (the refused one changed nothing)."""
        event = lifecycle.refused_click(state, actor=refused.actor, why=str(refused))
        with self.db.write() as s:
            repo.append_event(s, event, at=self.clock())


class _EndedStates:
    """The decision states of requests that have ended, newest kept: safe to share between
    threads and to keep however long, because an ended request's decision never changes."""

    SIZE = 10_000

    def __init__(self) -> None:
        self._states: dict[str, RequestState] = {}
        self._lock = threading.Lock()

    def get(self, request_id: str) -> RequestState | None:
        return self._states.get(request_id)

    def remember(self, state: RequestState) -> RequestState:
        """Keep `state` if its request has ended; returns it either way."""
        if state.status is not Status.PENDING:
            with self._lock:
                self._states[state.id] = state
                if len(self._states) > self.SIZE:
                    del self._states[next(iter(self._states))]
        return state


def _most_urgent(urgencies: Sequence[str | None]) -> str | None:
    """The highest of the rules' urgencies (None when no rule sets one)."""
    order = list(Urgency)
    named = [Urgency(u) for u in urgencies if u]
    return max(named, key=order.index).value if named else None


def _observe_end(row: ApprovalRequest) -> None:
    observed.ended(request_id=row.id, agent=row.created_by, rule=row.rule, outcome=row.status,
                   created_at=row.created_at, decided_at=row.decided_at, by=row.decided_by)
