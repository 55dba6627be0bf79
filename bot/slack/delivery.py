"""Putting cards in Slack and keeping every copy in step with the request."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from blocks.card import Card, CardItem, Deadline, Failure, approval_card, card_text
from blocks.text import clip_escaped, escape, one_line
from bot.core import audit
from bot.core.cards import CHANNEL_GONE
from bot.core.deadlines import Route
from bot.core.lifecycle import Event, Status
from bot.errors import DeliveryFailed, NotFound
from bot.observe import lifecycle as observed
from bot.policy.durations import format_duration
from bot.policy.model import Policy, Rule
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.tables import ApprovalRequest, Run, SlackMessage

log = logging.getLogger(__name__)

_GROUP = re.compile(r"^<?!subteam\^(S[A-Z0-9]{2,})(?:\|[^>]*)?>?$|^(S[A-Z0-9]{2,})$")
_URL = re.compile(r"^https?://[^\s|<>]+$")
_LINK_KEYS = ("run_url", "url", "link", "agent_url")
_REMINDED = 20


def card_for(row: ApprovalRequest, *, history: Sequence[audit.Record] = (), run: Run | None = None,
             rule: Rule | None = None, handles: Mapping[str, str] | None = None) -> Card:
    """The card data for a stored request; `history` (its audit events) and `run` add vote times
    and anything that failed after the decision; `rule` whom it mentions and whether to confirm."""
    state = repo.state_of(row)
    items = [
        CardItem(action=i["action"], args=i.get("args") or {}, description=i.get("description"),
                 allowed=tuple(i.get("allowed") or ("approve", "reject")), decision=d,
                 quorum=state.route_of(n).quorum, approvals=state.votes_of(n))
        for n, (i, d) in enumerate(zip(row.items, row.item_decisions, strict=True))
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
        groups=tuple(dict.fromkeys(g for g in (_group_id(a, handles or {}) for a in _named(row, rule)) if g)),
        agent=row.created_by,
        rule=row.rule or route.rule,
        link=_link(row.context),
        deadlines=_deadlines(row, route) if row.status == Status.PENDING.value else (),
        voted_at=_vote_times(history),
        edited_args=row.edited_args if row.decision == "edit" or row.edited_args is not None else None,
        failure=failure_after_decision(history, run=run) if row.status != Status.PENDING.value else None,
        mention=rule.mention if rule is not None else "approvers",
        confirm=rule.confirm if rule is not None else None,
    )


class ChannelGone(DeliveryFailed):
    """The channel refused the card for good (archived, the bot removed, deleted)."""

    def __init__(self, detail: str, *, error: str) -> None:
        super().__init__(detail)
        self.error = error


def failure_after_decision(history: Sequence[audit.Record], *, run: Run | None) -> Failure | None:
    """What failed after the decision and is not yet recovered: resume, then run, then callback."""
    resume: Failure | None = None
    callback: Failure | None = None
    for record in history:
        error = str(record.data.get("error") or "")
        final = bool(record.data.get("final"))
        if record.kind == "resume_failed":
            resume = Failure(what="resume", final=final, error=error)
        elif record.kind == "resumed":
            resume = None
        elif record.kind == "callback_failed":
            callback = Failure(what="callback", final=final, error=error)
        elif record.kind == "callback_delivered":
            callback = None
    if resume is not None:
        return resume
    resumed = any(r.kind == "resumed" for r in history)
    if run is not None and run.status == "failed" and resumed:
        return Failure(what="run", final=True, error=run.error or "")
    return callback


def load_card(db: Database, request_id: str, *, policy: Policy | None = None,
              client: WebClient | None = None) -> Card:
    """The card for a request as every copy should show it now (`client` names its groups)."""
    return _card_of(_snapshot(db, request_id), policy=policy, client=client)


@dataclass(frozen=True, kw_only=True)
class _Snapshot:
    """What a card job needs of one request, read in one session."""

    row: ApprovalRequest
    posted: list[SlackMessage]
    history: list[audit.Record]
    run: Run | None

    @property
    def channel_failed(self) -> bool:
        """Whether the channel refused the card for good (the approvers get DMs instead)."""
        return any(r.kind == "delivery_failed" for r in self.history)


def _snapshot(db: Database, request_id: str) -> _Snapshot:
    # One read session for the row, its copies, its events and its run: each job used to open
    # three to five, and the sessions, not the queries, were most of a card job's CPU.
    with db.read() as s:
        row = repo.get_request(s, request_id)
        if row is None:
            raise NotFound(f"no request with id {request_id!r}")
        return _Snapshot(row=row, posted=repo.messages_for(s, request_id),
                         history=list(repo.audit_records(s, request_id=request_id)),
                         run=s.get(Run, row.run_id) if row.run_id else None)


def _card_of(snap: _Snapshot, *, policy: Policy | None, client: WebClient | None) -> Card:
    row = snap.row
    rule = _rule_named(policy, row.rule)
    pending = row.status == Status.PENDING.value
    handles = _handles(client, row, rule) if client is not None and pending else {}
    return card_for(row, history=snap.history, run=snap.run, rule=rule, handles=handles)


def _rule_named(policy: Policy | None, name: str | None) -> Rule | None:
    """The policy's rule of that name (how its card looks), or None when it is gone."""
    if policy is None or name is None:
        return None
    return next((r for r in policy.every_rule if r.name == name), None)


def _deadlines(row: ApprovalRequest, route: Route) -> tuple[Deadline, ...]:
    """The next escalation and the timeout, earliest first: what happens if nobody answers."""
    found = []
    if row.escalation_level < len(route.escalations):
        step = route.escalations[row.escalation_level]
        found.append(Deadline(at=row.created_at + step.after, outcome="escalate", to=tuple(step.to)))
    if route.timeout is not None and route.on_timeout in ("reject", "approve"):
        found.append(Deadline(at=row.created_at + route.timeout, outcome=route.on_timeout))
    return tuple(sorted(found, key=lambda d: d.at))


def _vote_times(history: Sequence[audit.Record]) -> dict[str, datetime]:
    """When each person voted (a quorum's votes, and the deciding one)."""
    return {r.actor: datetime.fromisoformat(r.at) for r in history if r.kind in ("vote", "decided")}


def _group_id(entry: str, handles: Mapping[str, str]) -> str | None:
    """The user group id an approver entry names (`S…`, `<!subteam^S…>` or a known `@handle`)."""
    match = _GROUP.match(entry.strip())
    if match:
        return match.group(1) or match.group(2)
    return handles.get(entry.strip().removeprefix("@")) if entry.strip().startswith("@") else None


def _named(row: ApprovalRequest, rule: Rule | None) -> list[str]:
    """The approvers as the request and its rule name them (ids, emails, group handles)."""
    return [*row.approvers, *(rule.approvers if rule is not None else ())]


def _handles(client: WebClient, row: ApprovalRequest, rule: Rule | None) -> dict[str, str]:
    """User group handle -> id, for the handles the request names; empty when Slack will not say
    (the card then mentions the group's members, who are the eligible approvers anyway)."""
    if not any(a.strip().startswith("@") for a in _named(row, rule)):
        return {}
    try:
        groups = client.usergroups_list()["usergroups"]
    except SlackApiError as e:
        log.warning("user groups for request %s: %s", row.id, e.response.get("error"))
        return {}
    return {str(g.get("handle")): str(g.get("id")) for g in groups if g.get("handle") and g.get("id")}


def _link(context: Mapping[str, Any] | str | None) -> str | None:
    """The run or agent URL the request gave in its context, when it is a clean http(s) URL."""
    if not isinstance(context, Mapping):
        return None  # a context given as text has no link to pick
    for key in _LINK_KEYS:
        value = (context or {}).get(key)
        if isinstance(value, str) and _URL.match(value):
            return value
    return None


def post_cards(db: Database, client: WebClient, request_id: str, *, clock: Callable[[], datetime],
               policy: Policy | None = None) -> None:
    """Post each missing copy of the card (channel, DMs); safe to run again after a failure.

    A channel that refuses the card for good gets a `delivery_failed` audit event once, and the
    approvers get the card by DM instead: a request nobody sees would only wait for its deadline.
    """
    snap = _snapshot(db, request_id)
    row, posted = snap.row, snap.posted
    done = {m.channel for m in posted} | {m.recipient for m in posted if m.recipient}
    gone = snap.channel_failed
    targets: list[tuple[str | None, str]] = []  # (recipient, channel or user id)
    if row.channel and row.channel not in done and not gone:
        targets.append((None, row.channel))
    if row.dm or gone:
        targets.extend((u, u) for u in row.eligible if u not in done)
    # Every copy shows the state read above; a change since is caught below and updated.
    card = _card_of(snap, policy=policy, client=client)
    message = _message(card)
    marked: bool | None = None  # whether the copies showed the current version when last recorded
    for n, (recipient, where) in enumerate(targets):
        try:
            last = n == len(targets) - 1
            marked = _post_one(db, client, row, recipient=recipient, where=where, clock=clock, policy=policy,
                               message=message, mark=last)
        except ChannelGone as e:
            _record_failure(db, row, error=e.error, clock=clock)
            targets.extend((u, u) for u in row.eligible if u not in done and (u, u) not in targets)
    if targets:
        observed.posted(request_id=row.id, agent=row.created_by, rule=row.rule, created_at=row.created_at,
                        now=clock(), copies=len(targets))
    if marked is None:  # nothing posted now (all there already, or the last one refused)
        with db.write() as s:
            marked = _mark_if_current(s, row)
    if not marked:
        # Something changed while we were posting (a decision, a vote): bring the copies in step.
        update_cards(db, client, request_id, policy=policy)


def _mark_if_current(s: Session, row: ApprovalRequest) -> bool:
    """Record that every copy shows `row.version`, if that is still the request's version."""
    if repo.version_of(s, row.id) != row.version:
        return False
    repo.mark_cards(s, row.id, version=row.version)  # what every copy shows
    return True


def _message(card: Card) -> dict[str, Any]:
    """chat.postMessage / chat.update arguments showing `card` (the same for every copy)."""
    return {"text": card_text(card), "blocks": approval_card(card)}


def _post_one(
    db: Database, client: WebClient, row: ApprovalRequest, *, recipient: str | None, where: str,
    clock: Callable[[], datetime], policy: Policy | None = None, message: dict[str, Any] | None = None,
    mark: bool = False,
) -> bool | None:
    """Post one copy (`message`, else the card as it is now); with `mark`, in the same transaction,
    record that the copies show `row.version` if it is still current (returned; None without)."""
    if message is None:
        message = _message(load_card(db, row.id, policy=policy, client=client))
    try:
        channel = client.conversations_open(users=where)["channel"]["id"] if recipient else where
        sent = client.chat_postMessage(channel=channel, **message)
    except SlackApiError as e:
        error = str(e.response.get("error"))
        if recipient is None and error in CHANNEL_GONE:
            raise ChannelGone(f"channel {where} refused request {row.id}: {error}", error=error) from e
        raise DeliveryFailed(f"posting request {row.id} to {where} failed: {error}") from e
    with db.write() as s:
        repo.add_message(s, request_id=row.id, channel=sent["channel"], ts=sent["ts"],
                         recipient=recipient, at=clock())
        # The request's row before the audit head, in the order a decision takes them: the other
        # order deadlocked with a click on PostgreSQL (each holding what the other waited for).
        current = _mark_if_current(s, row) if mark else None
        data = {"channel": sent["channel"], "ts": sent["ts"], "recipient": recipient}
        repo.append_event(s, Event(kind="posted", actor="system", request_id=row.id, data=data),
                          at=clock())
        return current


def _record_failure(db: Database, row: ApprovalRequest, *, error: str, clock: Callable[[], datetime]) -> None:
    log.warning("request %s: channel %s refused the card (%s); DMing the approvers",
                row.id, row.channel, error)
    data = {"channel": row.channel, "error": error, "fallback": "dm"}
    with db.write() as s:
        repo.append_event(s, Event(kind="delivery_failed", actor="system", request_id=row.id, data=data),
                          at=clock())


def update_cards(db: Database, client: WebClient, request_id: str, *, policy: Policy | None = None) -> None:
    """Rewrite every copy of the card to the request's current state."""
    snap = _snapshot(db, request_id)
    row = snap.row
    message = _message(_card_of(snap, policy=policy, client=client))
    failures = []
    for m in snap.posted:
        try:
            client.chat_update(channel=m.channel, ts=m.ts, **message)
        except SlackApiError as e:
            failures.append(f"{m.channel}/{m.ts}: {e.response.get('error')}")
    if failures:
        # Raising makes RQ retry the whole job; chat.update of an up-to-date copy is harmless.
        raise DeliveryFailed(f"updating request {request_id} failed for " + ", ".join(failures))
    with db.write() as s:
        repo.mark_cards(s, request_id, version=row.version)


def escalate(db: Database, client: WebClient, request_id: str, *, from_level: int, to_level: int,
             clock: Callable[[], datetime], policy: Policy | None = None) -> None:
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
                _post_one(db, client, row, recipient=user, where=user, clock=clock, policy=policy)
                have.add(user)
    with db.write() as s:
        repo.mark_notified(s, request_id, level=to_level)
    # Decided while we were posting? Those new copies must not keep their buttons.
    if _load(db, request_id)[0].status != Status.PENDING.value:
        update_cards(db, client, request_id, policy=policy)


def remind(db: Database, client: WebClient, request_id: str, *, reminder: int | None,
           clock: Callable[[], datetime]) -> None:
    """Reminder number `reminder`: a DM to each approver who has not acted yet, and a note under
    each channel card; never a new card, never more than one per interval. Nothing for a request
    decided since, a reminder already sent (its job queued twice), or one a later reminder
    replaces. None: a job an older version queued, sent as the latest reminder."""
    row, posted = _load(db, request_id)
    if row.status != Status.PENDING.value:
        return
    if reminder is not None and (reminder <= row.reminders_told or reminder < row.reminders_sent):
        return
    reminder = row.reminders_sent if reminder is None else reminder
    waited = format_duration(clock() - row.created_at)
    left = [u for u in row.eligible if u not in set(row.approvals)][:_REMINDED]
    summary, _ = clip_escaped(one_line(row.summary) or row.action, 200)
    where = next((m for m in posted if m.recipient is None), None)
    link = _permalink(client, where.channel, where.ts) if where else None
    see = f" <{link}|Open the card>" if link else ""
    for user in left:
        try:
            channel = client.conversations_open(users=user)["channel"]["id"]
            what = f"*{summary}* (`{escape(row.action)}`)"
            text = f":alarm_clock: Reminder: {what} has waited {waited} for your decision.{see}"
            client.chat_postMessage(channel=channel, text=text)
        except SlackApiError as e:
            log.warning("reminder DM to %s failed: %s", user, e.response.get("error"))
    who = ", ".join(f"<@{u}>" for u in left) or "nobody"
    for m in posted:
        if m.recipient is None:
            text = f":alarm_clock: Reminder: this has waited {waited} for a decision. Still waiting on {who}."
            _reply(client, m.channel, m.ts, text)
    with db.write() as s:
        repo.mark_reminded(s, request_id, reminder=reminder)


def _permalink(client: WebClient, channel: str, ts: str) -> str | None:
    """A link to a message, or None when Slack will not give one (a link is a convenience)."""
    try:
        link = client.chat_getPermalink(channel=channel, message_ts=ts).get("permalink")
    except SlackApiError:
        return None
    return link if isinstance(link, str) and _URL.match(link) else None


def _reply(client: WebClient, channel: str, ts: str, text: str) -> None:
    try:
        client.chat_postMessage(channel=channel, thread_ts=ts, text=text)
    except SlackApiError as e:
        log.warning("thread reply on %s/%s failed: %s", channel, ts, e.response.get("error"))


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
