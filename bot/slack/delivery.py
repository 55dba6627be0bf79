"""Putting cards in Slack and keeping every copy in step with the request."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from blocks.card import Card, CardItem, approval_card, card_text
from bot.core.cards import CHANNEL_GONE
from bot.core.deadlines import Route
from bot.core.lifecycle import Event, Status
from bot.errors import DeliveryFailed, NotFound
from bot.policy.durations import format_duration
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.tables import ApprovalRequest

log = logging.getLogger(__name__)


def card_for(row: ApprovalRequest) -> Card:
    """The card data for a stored request."""
    items = [
        CardItem(action=i["action"], args=i.get("args") or {}, description=i.get("description"),
                 allowed=tuple(i.get("allowed") or ("approve", "reject")), decision=d)
        for i, d in zip(row.items, row.item_decisions, strict=True)
    ]
    route = Route.from_json(row.route)
    escalated = [u for step in route.escalations[:row.escalation_level] for u in step.to]
    return Card(
        items=items,
        quorum=route.quorum,
        approved_by=tuple(row.approvals),
        escalated_to=tuple(dict.fromkeys(escalated)),
        request_id=row.id,
        action=row.action,
        summary=row.summary,
        args=row.args,
        context=row.context,
        urgency=row.urgency,
        requester=row.requester,
        approvers=tuple(row.eligible),
        status=row.status,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        reason=row.reason,
        created_at=row.created_at,
    )


class ChannelGone(DeliveryFailed):
    """The channel refused the card for good (archived, the bot removed, deleted)."""

    def __init__(self, detail: str, *, error: str) -> None:
        super().__init__(detail)
        self.error = error


def post_cards(db: Database, client: WebClient, request_id: str, *, clock: Callable[[], datetime]) -> None:
    """Post each missing copy of the card (channel, DMs); safe to run again after a failure.

    A channel that refuses the card for good gets a `delivery_failed` audit event once, and the
    approvers get the card by DM instead: a request nobody sees would only wait for its deadline.
    """
    row, posted = _load(db, request_id)
    done = {m.channel for m in posted} | {m.recipient for m in posted if m.recipient}
    gone = _channel_failed(db, request_id)
    targets: list[tuple[str | None, str]] = []  # (recipient, channel or user id)
    if row.channel and row.channel not in done and not gone:
        targets.append((None, row.channel))
    if row.dm or gone:
        targets.extend((u, u) for u in row.eligible if u not in done)
    for recipient, where in targets:
        try:
            _post_one(db, client, row, recipient=recipient, where=where, clock=clock)
        except ChannelGone as e:
            _record_failure(db, row, error=e.error, clock=clock)
            targets.extend((u, u) for u in row.eligible if u not in done and (u, u) not in targets)
    now, _ = _load(db, request_id)
    if now.version == row.version:
        with db.write() as s:
            repo.mark_cards(s, request_id, version=row.version)  # what every copy shows
    else:
        # Something changed while we were posting (a decision, a vote): bring the copies in step.
        update_cards(db, client, request_id)


def _post_one(
    db: Database, client: WebClient, row: ApprovalRequest, *, recipient: str | None, where: str,
    clock: Callable[[], datetime],
) -> None:
    card = card_for(row)
    try:
        channel = client.conversations_open(users=where)["channel"]["id"] if recipient else where
        sent = client.chat_postMessage(channel=channel, text=card_text(card), blocks=approval_card(card))
    except SlackApiError as e:
        error = str(e.response.get("error"))
        if recipient is None and error in CHANNEL_GONE:
            raise ChannelGone(f"channel {where} refused request {row.id}: {error}", error=error) from e
        raise DeliveryFailed(f"posting request {row.id} to {where} failed: {error}") from e
    with db.write() as s:
        repo.add_message(s, request_id=row.id, channel=sent["channel"], ts=sent["ts"],
                         recipient=recipient, at=clock())
        data = {"channel": sent["channel"], "ts": sent["ts"], "recipient": recipient}
        repo.append_event(s, Event(kind="posted", actor="system", request_id=row.id, data=data),
                          at=clock())


def _channel_failed(db: Database, request_id: str) -> bool:
    with db.read() as s:
        return bool(repo.card_records(s, [request_id])[request_id][1])


def _record_failure(db: Database, row: ApprovalRequest, *, error: str, clock: Callable[[], datetime]) -> None:
    log.warning("request %s: channel %s refused the card (%s); DMing the approvers",
                row.id, row.channel, error)
    data = {"channel": row.channel, "error": error, "fallback": "dm"}
    with db.write() as s:
        repo.append_event(s, Event(kind="delivery_failed", actor="system", request_id=row.id, data=data),
                          at=clock())


def update_cards(db: Database, client: WebClient, request_id: str) -> None:
    """Rewrite every copy of the card to the request's current state."""
    row, posted = _load(db, request_id)
    card = card_for(row)
    failures = []
    for m in posted:
        try:
            client.chat_update(channel=m.channel, ts=m.ts, text=card_text(card), blocks=approval_card(card))
        except SlackApiError as e:
            failures.append(f"{m.channel}/{m.ts}: {e.response.get('error')}")
    if failures:
        # Raising makes RQ retry the whole job; chat.update of an up-to-date copy is harmless.
        raise DeliveryFailed(f"updating request {request_id} failed for " + ", ".join(failures))
    with db.write() as s:
        repo.mark_cards(s, request_id, version=row.version)


def escalate(db: Database, client: WebClient, request_id: str, *, from_level: int, to_level: int,
             clock: Callable[[], datetime]) -> None:
    """Say under every card why it escalated, then DM the card to each person added."""
    row, posted = _load(db, request_id)
    route = Route.from_json(row.route)
    steps = route.escalations[from_level:to_level]
    people = list(dict.fromkeys(u for step in steps for u in step.to))
    if not people:
        with db.write() as s:
            repo.mark_notified(s, request_id, level=to_level)
        return
    waited = format_duration(steps[-1].after)
    who = ", ".join(f"<@{u}>" for u in people)
    reply_in_threads(db, client, request_id,
                     f":arrow_heading_up: Escalated to {who}: no decision after {waited} "
                     f"(policy rule `{route.rule}`). They can decide now.")
    have = {m.recipient for m in posted if m.recipient}
    for step in steps:
        for user in step.to:
            if step.notify in ("dm", "both") and user not in have:
                _post_one(db, client, row, recipient=user, where=user, clock=clock)
                have.add(user)
    with db.write() as s:
        repo.mark_notified(s, request_id, level=to_level)
    # Decided while we were posting? Those new copies must not keep their buttons.
    if _load(db, request_id)[0].status != Status.PENDING.value:
        update_cards(db, client, request_id)


def remind(db: Database, client: WebClient, request_id: str, *, clock: Callable[[], datetime]) -> None:
    """A reminder under every copy of the card: never a new card, never more than one per interval."""
    row, _ = _load(db, request_id)
    waited = format_duration(clock() - row.created_at)
    who = ", ".join(f"<@{u}>" for u in row.eligible[:20])
    reply_in_threads(db, client, request_id,
                     f":alarm_clock: Reminder: this has waited {waited} for a decision. Approvers: {who}")


def reply_in_threads(db: Database, client: WebClient, request_id: str, text: str) -> None:
    """Say something under every copy of the card (best effort: it informs, it decides nothing)."""
    for m in _load(db, request_id)[1]:
        try:
            client.chat_postMessage(channel=m.channel, thread_ts=m.ts, text=text)
        except SlackApiError as e:
            log.warning("thread reply on %s/%s failed: %s", m.channel, m.ts, e.response.get("error"))


def _load(db: Database, request_id: str) -> tuple[ApprovalRequest, list]:
    with db.read() as s:
        row = repo.get_request(s, request_id)
        if row is None:
            raise NotFound(f"no request with id {request_id!r}")
        return row, repo.messages_for(s, request_id)
