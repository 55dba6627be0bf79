"""The deadline half of the service: reminders, escalations and timeouts, each fired exactly once.

It holds no state of its own: it reads and writes through the decision half it is built with, so
a timeout is the same conditional transition as a click.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core import lifecycle, routing
from bot.core.deadlines import Due, Route, due
from bot.core.lifecycle import Event, Status
from bot.errors import AlreadyDecided
from bot.observe import lifecycle as observed
from bot.policy.durations import format_duration
from bot.storage import repo
from bot.storage.tables import ApprovalRequest

if TYPE_CHECKING:
    from bot.service.approvals import ApprovalService


class DeadlineService:
    """Fires what is due on pending requests, through the approval service's transitions."""

    def __init__(self, approvals: ApprovalService) -> None:
        self.approvals = approvals

    def fire(self, request_id: str) -> datetime | None:
        """Fire what is due (escalation, reminder, timeout) exactly once; returns when to look next.

        Woken early (RQ's scheduler can be a second early), it fires nothing and says when.
        """
        jobs = self.approvals.jobs
        for _ in range(5):
            row = self.approvals.get(request_id)
            if row.status != Status.PENDING.value or row.route is None:
                return None
            route, now = Route.from_json(row.route), self.approvals.clock()
            stranded = routing.is_stranded(repo.state_of(row))
            next_due = due(route, created_at=row.created_at, level=row.escalation_level,
                           reminders=row.reminders_sent, now=now, stranded=stranded)
            if next_due.timeout:
                observed.deadline_fired(kind="timeout", request_id=row.id, agent=row.created_by,
                                        rule=row.rule, due_at=row.next_deadline_at, now=now)
                self._time_out(row, route)
                return None
            if not next_due.changes(level=row.escalation_level, reminders=row.reminders_sent):
                if next_due.next_at != row.next_deadline_at:  # e.g. stranded with no level left
                    with self.approvals.db.write() as s:
                        repo.set_next_deadline(s, row.id, next_due.next_at)
                return next_due.next_at
            if self._advance(row, route, next_due, now=now):
                kind = "escalated" if next_due.level != row.escalation_level else "reminded"
                observed.deadline_fired(kind=kind, request_id=row.id, agent=row.created_by, rule=row.rule,
                                        due_at=row.next_deadline_at, now=now, level=next_due.level)
                if next_due.level != row.escalation_level:
                    jobs.escalated(request_id, from_level=row.escalation_level, to_level=next_due.level)
                if next_due.reminders != row.reminders_sent and next_due.level == row.escalation_level:
                    jobs.reminded(request_id)
                jobs.request_changed(request_id, row.version + 1)
                return next_due.next_at
        return self.approvals.get(request_id).next_deadline_at

    def _time_out(self, row: ApprovalRequest, route: Route) -> None:
        waited = format_duration(route.timeout) if route.timeout else "its timeout"
        status = Status.APPROVED if route.on_timeout == "approve" else Status.EXPIRED
        reason = f"no decision within {waited} (policy rule {route.rule!r}: on timeout {route.on_timeout})"
        with contextlib.suppress(AlreadyDecided):  # a click got there first: it stands
            self.approvals.transition(row.id, lambda state, now: lifecycle.system_decision(
                state, status=status, reason=reason, now=now, kind="expired", rule=route.rule),
                known=repo.state_of(row))

    def _advance(self, row: ApprovalRequest, route: Route, next_due: Due, *, now: datetime) -> bool:
        """Move to the due escalation level / reminder count, iff nobody changed the request."""
        steps = route.escalations[row.escalation_level:next_due.level]
        added = [u for step in steps for u in step.to if u not in row.eligible]
        routes = None
        if row.item_routes is not None:  # each step's people join the items of its own rule
            state = repo.state_of(row)
            routes = routing.escalated([state.route_of(i) for i in range(len(state.items))], steps)
        with self.approvals.db.write() as s:
            won = repo.advance_deadlines(
                s, request_id=row.id, from_version=row.version, level=next_due.level,
                reminders=next_due.reminders, eligible=[*row.eligible, *dict.fromkeys(added)],
                next_deadline_at=next_due.next_at, item_routes=routes)
            if not won:
                return False
            events = [Event(kind="escalated", actor="system", request_id=row.id,
                            data={"rule": route.rule, "level": n, "to": list(step.to),
                                  "after_s": step.after.total_seconds()})
                      for n, step in enumerate(steps, start=row.escalation_level + 1)]
            if next_due.reminders != row.reminders_sent:
                events.append(Event(kind="reminded", actor="system", request_id=row.id,
                                    data={"rule": route.rule, "reminder": next_due.reminders}))
            for event in events:
                repo.append_event(s, event, at=now)
        return True

    def due_request_ids(self, *, limit: int = 1000) -> Sequence[str]:
        """Pending requests whose next deadline has passed (what the sweeper fires)."""
        with self.approvals.db.read() as s:
            return repo.due_request_ids(s, now=self.approvals.clock(), limit=limit)
