"""The deadline half of the service: reminders, escalations and timeouts, each fired exactly once.

It holds no state of its own: it reads and writes through the decision half it is built with, so
a timeout is the same conditional transition as a click. Deadlines are fired in batches: one
transaction locks the due rows (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so two sweepers take
different rows; SQLite: the single writer's lock), fires each, appends their audit events, and
commits; the jobs that follow are queued after the commit in one Redis round trip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session

from bot.core import lifecycle, routing
from bot.core.deadlines import Due, Route, due
from bot.core.lifecycle import Event, Status, Transition
from bot.observe import lifecycle as observed
from bot.policy.durations import format_duration
from bot.service.ports import Ending
from bot.storage import repo
from bot.storage.tables import ApprovalRequest

if TYPE_CHECKING:
    from bot.service.approvals import ApprovalService

log = logging.getLogger(__name__)

# Requests fired per transaction: SQLite's one writer (and PostgreSQL's audit-chain head) is held
# for the whole batch, so a click waits at most one batch.
BATCH = 100
RETRY_FAILED = timedelta(minutes=1)  # a request whose deadline could not be fired is tried again then


@dataclass(frozen=True)
class _Ended:
    row: ApprovalRequest
    t: Transition
    delivery_id: str | None


@dataclass(frozen=True)
class _Advanced:
    row: ApprovalRequest
    due: Due


@dataclass
class _Batch:
    """What one transaction did: for the jobs and metrics after its commit."""

    now: datetime
    seen: int = 0
    ended: list[_Ended] = field(default_factory=list)
    advanced: list[_Advanced] = field(default_factory=list)
    next_at: dict[str, datetime | None] = field(default_factory=dict)  # per request: when to look next


class DeadlineService:
    """Fires what is due on pending requests, through the approval service's transitions."""

    def __init__(self, approvals: ApprovalService) -> None:
        self.approvals = approvals

    def fire_due(self, *, batch: int = BATCH, most: int = 1000) -> int:
        """Fire every overdue deadline (up to `most`), `batch` requests per transaction; returns
        how many requests were seen due. Two callers at once fire each deadline once."""
        seen = 0
        while seen < most:
            done = self._fire(lambda s, now: repo.lock_due_requests(s, now=now, limit=batch))
            seen += done.seen
            if done.seen < batch:
                break
        return seen

    def fire(self, request_id: str) -> datetime | None:
        """Fire what is due on one request (escalation, reminder, timeout) exactly once; returns
        when to look next (None: it ended, or another caller holds it now)."""
        done = self._fire(lambda s, _now: repo.lock_requests(s, [request_id]))
        return done.next_at.get(request_id)

    def _fire(self, lock: Callable[[Session, datetime], Sequence[ApprovalRequest]]) -> _Batch:
        now = self.approvals.clock()
        done = _Batch(now=now)
        with self.approvals.db.write() as s:
            rows = lock(s, now)
            done.seen = len(rows)
            events: list[Event] = []
            for row in rows:
                try:
                    with s.begin_nested():  # one request that cannot be fired must not stop the rest
                        events += self._fire_one(s, row, done)
                except Exception:  # noqa: BLE001 - logged; the request is looked at again later
                    log.exception("firing the deadline of %s failed; trying again in %s s", row.id,
                                  RETRY_FAILED.total_seconds())
                    done.next_at[row.id] = now + RETRY_FAILED
                    repo.set_next_deadline(s, row.id, now + RETRY_FAILED)  # not first in every batch
            repo.append_events(s, events, at=now)  # the audit head's lock last: see repo.lock_due_requests
        self._after(done)
        return done

    def _fire_one(self, s: Session, row: ApprovalRequest, done: _Batch) -> list[Event]:
        """Fire what is due on a row this transaction holds; the audit events it owes."""
        if row.status != Status.PENDING.value or row.route is None:
            done.next_at[row.id] = None
            return []
        route, now = Route.from_json(row.route), done.now
        stranded = routing.is_stranded(repo.state_of(row))
        next_due = due(route, created_at=row.created_at, level=row.escalation_level,
                       reminders=row.reminders_sent, now=now, stranded=stranded)
        done.next_at[row.id] = next_due.next_at
        if next_due.timeout:
            t = _timeout(row, route, now=now)
            # Cannot fail on a row this transaction holds; the guard stays.
            if not repo.apply_transition(s, t, resume_state=repo.resume_state_after(row, t)):
                return []
            delivery_id = self.approvals._queue_callback(s, row, t)
            done.ended.append(_Ended(row, t, delivery_id))
            done.next_at[row.id] = None
            return [t.event]
        if not next_due.changes(level=row.escalation_level, reminders=row.reminders_sent):
            if next_due.next_at != row.next_deadline_at:  # e.g. stranded with no level left
                repo.set_next_deadline(s, row.id, next_due.next_at)
            return []
        events = _advance(s, row, route, next_due)
        if events:
            done.advanced.append(_Advanced(row, next_due))
        return events

    def _after(self, done: _Batch) -> None:
        """Metrics and jobs for what the batch committed."""
        jobs, now = self.approvals.jobs, done.now
        for e in done.ended:
            row, t = e.row, e.t
            observed.deadline_fired(kind="timeout", request_id=row.id, agent=row.created_by,
                                    rule=row.rule, due_at=row.next_deadline_at, now=now)
            observed.ended(request_id=row.id, agent=row.created_by, rule=row.rule, outcome=t.status.value,
                           created_at=row.created_at, decided_at=t.decided_at, by=t.decided_by)
        if done.ended:
            jobs.requests_ended([Ending(request_id=e.row.id, delivery_id=e.delivery_id,
                                        resume=e.row.run_id is not None, version=e.t.from_version + 1)
                                 for e in done.ended])
        for a in done.advanced:
            row, next_due = a.row, a.due
            escalated = next_due.level != row.escalation_level
            observed.deadline_fired(kind="escalated" if escalated else "reminded", request_id=row.id,
                                    agent=row.created_by, rule=row.rule, due_at=row.next_deadline_at,
                                    now=now, level=next_due.level)
            if escalated:
                jobs.escalated(row.id, from_level=row.escalation_level, to_level=next_due.level)
            elif next_due.reminders != row.reminders_sent:
                jobs.reminded(row.id, reminder=next_due.reminders)
            jobs.request_changed(row.id, row.version + 1)

    def due_request_ids(self, *, limit: int = 1000) -> Sequence[str]:
        """Pending requests whose next deadline has passed: what the sweeper's next batch takes."""
        with self.approvals.db.read() as s:
            return repo.due_request_ids(s, now=self.approvals.clock(), limit=limit)


def _timeout(row: ApprovalRequest, route: Route, *, now: datetime) -> Transition:
    """The policy's outcome for a request nobody decided in time."""
    waited = format_duration(route.timeout) if route.timeout else "its timeout"
    status = Status.APPROVED if route.on_timeout == "approve" else Status.EXPIRED
    outcome = "approved" if status is Status.APPROVED else "rejected"
    reason = f"nobody decided within {waited}, so policy rule {route.rule!r} {outcome} it"
    return lifecycle.system_decision(repo.state_of(row), status=status, reason=reason, now=now,
                                     kind="expired", rule=route.rule)


def _advance(s: Session, row: ApprovalRequest, route: Route, next_due: Due) -> list[Event]:
    """Move a held row to the due escalation level / reminder count; the events it owes."""
    steps = route.escalations[row.escalation_level:next_due.level]
    added = [u for step in steps for u in step.to if u not in row.eligible]
    routes = None
    if row.item_routes is not None:  # each step's people join the items of its own rule
        state = repo.state_of(row)
        routes = routing.escalated([state.route_of(i) for i in range(len(state.items))], steps)
    # An escalation's notice, under every card, stands for a reminder that came due with it.
    reminded_with_it = next_due.level != row.escalation_level and next_due.reminders != row.reminders_sent
    won = repo.advance_deadlines(
        s, request_id=row.id, from_version=row.version, level=next_due.level,
        reminders=next_due.reminders, eligible=[*row.eligible, *dict.fromkeys(added)],
        next_deadline_at=next_due.next_at, item_routes=routes,
        reminders_told=next_due.reminders if reminded_with_it else None)
    if not won:
        return []
    events = [Event(kind="escalated", actor="system", request_id=row.id,
                    data={"rule": route.rule, "level": n, "to": list(step.to),
                          "after_s": step.after.total_seconds()})
              for n, step in enumerate(steps, start=row.escalation_level + 1)]
    if next_due.reminders != row.reminders_sent:
        events.append(Event(kind="reminded", actor="system", request_id=row.id,
                            data={"rule": route.rule, "reminder": next_due.reminders}))
    return events
