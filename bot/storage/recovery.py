"""Recovery queries: what SQL says is owed (cards, card updates, escalation notices, reminders,
resumes, callbacks), for the sweeper to queue again when Redis lost the job. None of them commits."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from bot.core.vocabulary import DeliveryState, ResumeState, Status
from bot.storage.tables import ApprovalRequest, CallbackDelivery, SlackMessage

LIMIT = 500  # per pass; the next pass takes the rest


def resumes_queued(s: Session, *, before: datetime | None = None) -> list[str]:
    """Decided requests whose graph has not been resumed yet (decided before `before`)."""
    query = select(ApprovalRequest.id).where(ApprovalRequest.resume_state == ResumeState.QUEUED)
    if before is not None:
        query = query.where(col(ApprovalRequest.decided_at) <= before)
    return list(s.exec(query.limit(LIMIT)))


def lost_cards(s: Session, *, before: datetime) -> list[str]:
    """Pending requests created before `before` of which no card copy was ever recorded."""
    posted = select(SlackMessage.request_id).where(SlackMessage.request_id == ApprovalRequest.id)
    query = (select(ApprovalRequest.id)
             .where(ApprovalRequest.status == Status.PENDING, col(ApprovalRequest.created_at) <= before,
                    col(ApprovalRequest.created_at) > before - timedelta(days=1), ~posted.exists())
             .limit(LIMIT))
    return list(s.exec(query))


def stale_cards(s: Session, *, before: datetime) -> list[tuple[str, int]]:
    """(request id, version) of requests whose posted cards do not show their latest state."""
    posted = select(SlackMessage.request_id).where(SlackMessage.request_id == ApprovalRequest.id)
    query = (select(ApprovalRequest.id, ApprovalRequest.version)
             .where(col(ApprovalRequest.cards_version) < col(ApprovalRequest.version),
                    col(ApprovalRequest.created_at) <= before, posted.exists())
             .limit(LIMIT))
    return [(i, v) for i, v in s.exec(query)]


def unnotified(s: Session) -> list[tuple[str, int, int]]:
    """(request id, told up to, escalated to) where the people escalated to were not told yet."""
    r = ApprovalRequest
    query = (select(r.id, r.notified_level, r.escalation_level)
             .where(col(r.escalation_level) > col(r.notified_level), r.status == Status.PENDING)
             .limit(LIMIT))
    return [(i, n, e) for i, n, e in s.exec(query)]


def unreminded(s: Session) -> list[tuple[str, int]]:
    """(request id, reminder) of pending requests whose latest reminder was not sent yet."""
    r = ApprovalRequest
    query = (select(r.id, r.reminders_sent)
             .where(col(r.reminders_sent) > col(r.reminders_told), r.status == Status.PENDING)
             .limit(LIMIT))
    return [(i, n) for i, n in s.exec(query)]


def lost_callbacks(s: Session, *, before: datetime) -> list[tuple[str, int]]:
    """Callbacks still owed whose next attempt was due before `before`: (id, attempts so far)."""
    query = (select(CallbackDelivery.id, CallbackDelivery.attempts)
             .where(CallbackDelivery.state == DeliveryState.PENDING,
                    col(CallbackDelivery.next_attempt_at) <= before).limit(LIMIT))
    return [(d, a) for d, a in s.exec(query)]
