"""Repository functions over a session the caller owns; none of them commits."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Update, bindparam, insert, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from bot.core import audit
from bot.core.cards import CardDelivery, card_delivery
from bot.core.deadlines import Route
from bot.core.items import Item, ItemDecision, ItemRoute
from bot.core.lifecycle import Event, RequestState, Status, Transition
from bot.core.routing import requester_identity
from bot.core.vocabulary import ResumeState
from bot.errors import SignoffError
from bot.storage.tables import ApprovalRequest, AuditEvent, AuditHead, SlackMessage


def get_request(s: Session, request_id: str) -> ApprovalRequest | None:
    """The request with this id, or None."""
    return s.get(ApprovalRequest, request_id)


def find_by_idempotency_key(s: Session, *, created_by: str, key: str) -> ApprovalRequest | None:
    """The request an agent created earlier with this idempotency key, or None."""
    query = select(ApprovalRequest).where(
        ApprovalRequest.created_by == created_by, ApprovalRequest.idempotency_key == key
    )
    return s.exec(query).first()


def find_by_interrupt(s: Session, *, run_id: str, interrupt_id: str | None) -> ApprovalRequest | None:
    """The request raised for this interrupt of this run, or None."""
    query = select(ApprovalRequest).where(
        ApprovalRequest.run_id == run_id, ApprovalRequest.interrupt_id == interrupt_id
    )
    return s.exec(query).first()


def advance_deadlines(
    s: Session, *, request_id: str, from_version: int, level: int, reminders: int, eligible: list[str],
    next_deadline_at: datetime | None, item_routes: list[ItemRoute] | None = None,
    reminders_told: int | None = None,
) -> bool:
    """Record an escalation or reminder iff the request is still pending at `from_version`
    (`reminders_told`: a reminder that needs no sending of its own)."""
    values: dict[str, Any] = {"reminders_told": reminders_told} if reminders_told is not None else {}
    if item_routes is not None:
        values["item_routes"] = [r.to_json() for r in item_routes]
    result = s.execute(
        update(ApprovalRequest)
        .where(col(ApprovalRequest.id) == request_id,
               col(ApprovalRequest.status) == Status.PENDING.value,
               col(ApprovalRequest.version) == from_version)
        .values(escalation_level=level, reminders_sent=reminders, eligible=eligible,
                next_deadline_at=next_deadline_at, version=from_version + 1, **values)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined]


def _due_first(*columns: Any, now: datetime, limit: int) -> Any:
    """Up to `limit` requests whose next deadline is at or before `now`, oldest deadline first."""
    # Only on next_deadline_at (cleared when a request ends), so the planner walks that index:
    # filtering on status too made SQLite scan every pending request (measured: 48 ms at 100k).
    return (select(*columns)
            .where(col(ApprovalRequest.next_deadline_at) <= now)
            .order_by(col(ApprovalRequest.next_deadline_at), col(ApprovalRequest.id)).limit(limit))


def due_request_ids(s: Session, *, now: datetime, limit: int) -> list[str]:
    """The ids `lock_due_requests` would take now, without locking (what bench.deadlines times)."""
    return list(s.exec(_due_first(ApprovalRequest.id, now=now, limit=limit)))


def lock_due_requests(s: Session, *, now: datetime, limit: int) -> list[ApprovalRequest]:
    """Lock and load up to `limit` requests whose next deadline is at or before `now`, oldest first.

    PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent sweepers take disjoint rows and never wait
    on each other's rows; the caller appends the audit events (the chain head's lock) after every
    row is held, so a batch and a click (row, then head) cannot deadlock. SQLite ignores the
    clause: its write transaction already holds the one writer's lock.
    """
    return list(s.exec(_due_first(ApprovalRequest, now=now, limit=limit).with_for_update(skip_locked=True)))


def lock_requests(s: Session, request_ids: Sequence[str]) -> list[ApprovalRequest]:
    """Lock and load these requests (waiting for another transaction that holds one)."""
    query = (select(ApprovalRequest).where(col(ApprovalRequest.id).in_(request_ids))
             .order_by(col(ApprovalRequest.id)).with_for_update())
    return list(s.exec(query))


def resume_state_after(row: ApprovalRequest, t: Transition) -> ResumeState | None:
    """What `t` makes of resuming the request's graph (apply_transition's `resume_state`):
    queued once a run's request ends, unchanged otherwise."""
    return ResumeState.QUEUED if t.final and row.run_id is not None else None


def set_resume_state(s: Session, request_id: str, state: ResumeState) -> None:
    """Record where resuming the graph with this request's decision stands."""
    s.execute(update(ApprovalRequest).where(col(ApprovalRequest.id) == request_id)
              .values(resume_state=state).execution_options(synchronize_session=False))


def list_requests(
    s: Session, *, status: str | None, limit: int, created_by: str | None = None
) -> list[ApprovalRequest]:
    """Requests, newest first, optionally only those with `status` / of one agent."""
    query = select(ApprovalRequest).order_by(col(ApprovalRequest.created_at).desc()).limit(limit)
    if status is not None:
        query = query.where(ApprovalRequest.status == status)
    if created_by is not None:
        query = query.where(ApprovalRequest.created_by == created_by)
    return list(s.exec(query))


def state_of(row: ApprovalRequest) -> RequestState:
    """The lifecycle's view of a stored request."""
    route = Route.from_json(row.route)
    return RequestState(
        id=row.id,
        status=Status(row.status),
        version=row.version,
        eligible=tuple(row.eligible),
        items=tuple(Item.from_json(i) for i in row.items),
        item_decisions=tuple(ItemDecision.from_json(d) if d else None for d in row.item_decisions),
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        requester=requester_identity(row.requester, row.requester_id),
        quorum=route.quorum,
        separation_of_duties=route.separation_of_duties and row.route is not None,
        approvals=tuple(row.approvals),
        rule=row.rule,
        item_routes=tuple(ItemRoute.from_json(r) for r in row.item_routes) if row.item_routes else None,
        item_approvals=tuple(tuple(v) for v in row.item_approvals) if row.item_approvals else None,
    )


def apply_transition(s: Session, t: Transition, *, row: ApprovalRequest | None = None,
                     resume_state: ResumeState | None = None) -> bool:
    """Apply `t` iff nobody changed the request first: one conditional UPDATE on status and version.

    `row`, the request as read in this transaction, is brought to what was written (without
    another read); `resume_state` is written in the same UPDATE."""
    values: dict[str, object] = {"status": t.status.value, "version": t.from_version + 1}
    if t.item_decisions is not None:
        values["item_decisions"] = [d.to_json() if d else None for d in t.item_decisions]
    if t.approvals is not None:
        values["approvals"] = list(t.approvals)
    if t.item_approvals is not None:
        values["item_approvals"] = [list(v) for v in t.item_approvals]
    if t.final:
        values |= {"next_deadline_at": None, "decision": t.decision, "decided_by": t.decided_by,
                   "decided_at": t.decided_at, "reason": t.reason,
                   "edited_args": dict(t.edited_args) if t.edited_args else None}
    if resume_state is not None:
        values["resume_state"] = resume_state.value
    result = s.connection().execute(_transition_update(tuple(values)), {
        "request_id": t.request_id, "from_version": t.from_version,
        **{f"new_{key}": value for key, value in values.items()}})
    if result.rowcount != 1:
        return False
    if row is not None:  # as committed: no history, so the session writes nothing more
        for key, value in values.items():
            set_committed_value(row, key, value)
    return True


@functools.cache
def _transition_update(columns: tuple[str, ...]) -> Update:
    """The conditional UPDATE setting `columns`, built once: a decision is the hot path, and
    building and caching a statement cost more than running it."""
    return (update(_REQUESTS)
            .where(_REQUESTS.c.id == bindparam("request_id"),
                   _REQUESTS.c.status == Status.PENDING.value,
                   _REQUESTS.c.version == bindparam("from_version"))
            .values({key: bindparam(f"new_{key}") for key in columns}))


def append_event(s: Session, event: Event, *, at: datetime) -> None:
    """Chain `event` after the current head, inside the caller's transaction (a Database.write()
    session, which carries SIGNOFF_AUDIT_KEY)."""
    append_events(s, [event], at=at)


def append_events(s: Session, events: Sequence[Event], *, at: datetime) -> None:
    """Chain `events` in order after the current head, moving the head once (a batch of timeouts).

    Three statements however many events, every decision and request pays them: bump the head
    and read it back, insert the events, point the head at the last one."""
    if not events:
        return
    conn = s.connection()
    last, prev, keyed_from = conn.execute(_BUMP_HEAD, {"count": len(events)}).one()
    key = s.info.get("audit_key")
    if keyed_from is None or (key is None and last >= keyed_from):
        # Fail closed: an event we cannot MAC is not written, and neither is what it records.
        raise SignoffError("the audit chain is keyed and this process has no SIGNOFF_AUDIT_KEY")
    rows = []
    for seq, event in enumerate(events, start=last - len(events) + 1):
        fields = dict(seq=seq, at=at.isoformat(timespec="microseconds"), request_id=event.request_id,
                      kind=event.kind, actor=event.actor, data=dict(event.data))
        record = audit.Record(**fields, prev_hash=prev, hash="")  # type: ignore[arg-type]
        digest = audit.link(record, keyed_from=keyed_from, key=key.encode() if key else None)
        assert digest is not None
        rows.append({**fields, "prev_hash": prev, "hash": digest})
        prev = digest
    conn.execute(_INSERT_EVENTS, rows)
    conn.execute(_MOVE_HEAD, {"last_hash": prev})


# The audit append's statements, built once (every decision and request runs them). Bumping the
# head first takes its row lock (PostgreSQL) before we read the previous hash, so concurrent
# writers append one after another instead of forking the chain; RETURNING reads the head as
# this statement left it (never a copy cached earlier in the session).
_HEAD = AuditHead.__table__  # type: ignore[attr-defined]
_BUMP_HEAD = (update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq + bindparam("count"))
              .returning(_HEAD.c.seq, _HEAD.c.hash, _HEAD.c.keyed_from))
_INSERT_EVENTS = insert(AuditEvent.__table__)  # type: ignore[attr-defined]
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(hash=bindparam("last_hash"))
_REQUESTS = ApprovalRequest.__table__  # type: ignore[attr-defined]
_MARK_CARDS = (update(_REQUESTS).where(_REQUESTS.c.id == bindparam("request_id"),
                                        _REQUESTS.c.cards_version < bindparam("shown"))
               .values(cards_version=bindparam("shown")))
_VERSION_OF = _REQUESTS.select().with_only_columns(_REQUESTS.c.version).where(
    _REQUESTS.c.id == bindparam("request_id"))
_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
_ALL_EVENTS = _EVENTS.select().order_by(_EVENTS.c.seq)
_EVENTS_OF = _ALL_EVENTS.where(_EVENTS.c.request_id == bindparam("request_id"))


def add_message(
    s: Session, *, request_id: str, channel: str, ts: str, recipient: str | None, at: datetime
) -> SlackMessage:
    """Remember one posted copy of a card."""
    msg = SlackMessage(request_id=request_id, channel=channel, ts=ts, recipient=recipient, posted_at=at)
    s.add(msg)
    s.flush()
    return msg


def messages_for(s: Session, request_id: str) -> list[SlackMessage]:
    """Every copy of a request's card."""
    query = select(SlackMessage).where(SlackMessage.request_id == request_id)
    return list(s.exec(query.order_by(col(SlackMessage.id))))


def card_deliveries(s: Session, rows: Sequence[ApprovalRequest]) -> dict[str, CardDelivery]:
    """Where each request's cards stand in Slack (posted, fallen back to DMs, failed), by id."""
    records = _card_records(s, [r.id for r in rows])
    return {r.id: card_delivery(channel=r.channel, posted_channels=records[r.id][0],
                                failures=records[r.id][1]) for r in rows}


def _card_records(s: Session, request_ids: Sequence[str]) -> dict[str, tuple[list[str | None], list[dict]]]:
    """Per request: the recipients of its posted copies (None: the channel's) and its
    `delivery_failed` events' data."""
    found: dict[str, tuple[list[str | None], list[dict]]] = {i: ([], []) for i in request_ids}
    if not request_ids:
        return found
    for rid, recipient in s.exec(select(SlackMessage.request_id, SlackMessage.recipient)
                                 .where(col(SlackMessage.request_id).in_(request_ids))):
        found[rid][0].append(recipient)
    for event_of, data in s.exec(select(AuditEvent.request_id, AuditEvent.data)
                                 .where(col(AuditEvent.request_id).in_(request_ids),
                                        AuditEvent.kind == "delivery_failed")
                                 .order_by(col(AuditEvent.seq))):
        if event_of is not None:
            found[event_of][1].append(dict(data))
    return found


def audit_records(s: Session, *, request_id: str | None = None) -> Iterator[audit.Record]:
    """Audit events in chain order, streamed (plain rows: every card job reads its request's, and
    loading them as ORM objects had cost more than the query)."""
    if request_id is None:
        rows = s.connection().execution_options(yield_per=500).execute(_ALL_EVENTS)
    else:
        rows = s.connection().execute(_EVENTS_OF, {"request_id": request_id})
    for e in rows:
        yield audit.Record(
            seq=e.seq, at=e.at, request_id=e.request_id, kind=e.kind, actor=e.actor,
            data=e.data, prev_hash=e.prev_hash, hash=e.hash,
        )


def has_event(s: Session, request_id: str, *, kind: str) -> bool:
    """Whether `request_id` has an audit event of `kind`."""
    query = select(AuditEvent.seq).where(AuditEvent.request_id == request_id, AuditEvent.kind == kind)
    return s.exec(query.limit(1)).first() is not None


def audit_head(s: Session) -> AuditHead:
    """The chain's head row."""
    return s.exec(select(AuditHead).where(AuditHead.id == 1)).one()


def mark_cards(s: Session, request_id: str, *, version: int) -> None:
    """Every card copy now shows `version` (never moves back)."""
    s.connection().execute(_MARK_CARDS, {"request_id": request_id, "shown": version})


def version_of(s: Session, request_id: str) -> int | None:
    """The request's version as stored now (None when there is no such request)."""
    return s.connection().execute(_VERSION_OF, {"request_id": request_id}).scalar()


def mark_reminded(s: Session, request_id: str, *, reminder: int) -> None:
    """The approvers were sent reminder number `reminder` (never moves back)."""
    _raise_to(s, request_id, "reminders_told", reminder)


def mark_notified(s: Session, request_id: str, *, level: int) -> None:
    """The people of escalation levels up to `level` were told (never moves back)."""
    _raise_to(s, request_id, "notified_level", level)


def _raise_to(s: Session, request_id: str, column: str, value: int) -> None:
    """Set a counter of what was told to `value`, unless it is there or past it already."""
    counter = getattr(ApprovalRequest, column)
    s.execute(update(ApprovalRequest).where(col(ApprovalRequest.id) == request_id, col(counter) < value)
              .values({column: value}).execution_options(synchronize_session=False))


def set_next_deadline(s: Session, request_id: str, at: datetime | None) -> None:
    """When the sweeper should next look at a pending request."""
    s.execute(update(ApprovalRequest).where(col(ApprovalRequest.id) == request_id,
                                            col(ApprovalRequest.status) == Status.PENDING.value)
              .values(next_deadline_at=at).execution_options(synchronize_session=False))
