"""The approval card: its blocks in every state, its notification text and click replies."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

from blocks import ids, kit, limits
from blocks.items import UNNAMED, diff_lines, item_blocks
from blocks.kit import Block
from blocks.modals import details_modal, edit_modal, reject_modal, respond_modal
from blocks.model import DECISIONS, STATUSES, URGENCIES, Card, CardItem, Deadline, Failure, uses_items
from blocks.text import (
    as_text,
    by_whom,
    clip,
    clip_escaped,
    clip_mrkdwn,
    escape,
    is_user_id,
    length,
    one_line,
    person,
    slack_date,
    to_json,
)
from bot.core.vocabulary import Status, Urgency

__all__ = [
    "DECISIONS",
    "STATUSES",
    "URGENCIES",
    "Card",
    "CardItem",
    "Deadline",
    "Failure",
    "already_decided_text",
    "approval_card",
    "card_text",
    "details_modal",
    "edit_modal",
    "not_an_approver_text",
    "reject_modal",
    "respond_modal",
    "slack_date",
]

# The word is always there too: an emoji alone is lost on screen readers and in notifications.
_URGENCY: dict[str, tuple[str, str]] = {
    Urgency.HIGH: ("🔴", "High"), Urgency.NORMAL: ("🟡", "Normal"), Urgency.LOW: ("⚪", "Low"),
}
_OUTCOME: dict[str, tuple[str, str]] = {  # keyed by Status
    Status.APPROVED: ("✅", "Approved"),
    Status.REJECTED: ("❌", "Rejected"),
    Status.CANCELLED: ("🚫", "Cancelled"),
    Status.EXPIRED: ("⌛", "Expired"),
    Status.ANSWERED: ("☑️", "Answered"),  # every item answered, some of them not approved
}
_FAILED = {
    "resume": "the agent could not be resumed",
    "run": "the agent's run failed after it",
    "callback": "the agent's callback could not be delivered",
}
_UNNAMED = UNNAMED
_APPROVERS_LISTED = 20
_MENTIONED = 10
_PINGED = 6  # in the notification text; the card lists more
_TEXT_ACTION = 40
_MIN_SUMMARY = 40
_TEXT_WHO = 60
_ACTION_SHOWN = 150
_RULE_SHOWN = 100
_ERROR_SHOWN = 300
_ARGS_SHOWN = 8
_ARG_KEY_SHOWN = 100
_ARG_VALUE_SHOWN = 200
_TAME_KEY = re.compile(r"^[A-Za-z0-9_.\- ]+$")
_GROUP = re.compile(r"^S[A-Z0-9]{2,}$")


def approval_card(card: Card) -> list[Block]:
    """The blocks for a card in its current state: pending with buttons, decided with outcome."""
    if uses_items(card):
        return _item_card(card)
    header, header_cut = _header(card)
    status, status_cut = _status(card)
    # Once edited, the arguments shown are the ones decided on; the outcome says what changed.
    shown_args = card.args if card.edited_args is None else card.edited_args
    arguments, arguments_cut = _arguments(shown_args, pending=card.status == "pending")
    context, context_cut = _context(card.context)
    blocks = [header, *_decided(card), status, *arguments, *context, *_progress(card), _meta(card)]
    if card.status == "pending":
        cut = header_cut or status_cut or arguments_cut or context_cut
        blocks.append(_actions(card, details=cut))
    return blocks


def _item_card(card: Card) -> list[Block]:
    """A card whose items are decided one by one, each with its own buttons or answer."""
    header, header_cut = _header(card)
    status, status_cut = _status(card)
    items, items_cut = item_blocks(card, confirm=confirm_dialog(card) if asks_to_confirm(card) else None)
    context, context_cut = _context(card.context)
    # The context (the agent's "why") before the items, whose buttons an approver reaches last.
    blocks = [header, *_decided(card), status, *context, kit.divider(ids.BLOCK_DIVIDER), *items,
              *_progress(card), _meta(card)]
    if card.status == "pending" and (header_cut or status_cut or items_cut or context_cut):
        blocks.append(_details_only(card.request_id))
    return blocks


def _decided(card: Card) -> list[Block]:
    """Once decided, the outcome comes first, then anything that failed after it."""
    if card.status == "pending":
        return []
    blocks = [_outcome(card)]
    if card.failure is not None:
        blocks.append(kit.section(ids.BLOCK_FAILURE, failure_text(card)))
    return blocks


def _progress(card: Card) -> list[Block]:
    """Escalation history, as small print."""
    if not card.escalated_to:
        return []
    who = ", ".join(person(u, limit=_TEXT_WHO, declared_id=True) for u in card.escalated_to[:10])
    # Pending with no deadline left (its rule escalates, then waits): nothing more happens by itself.
    then = " · no deadline now: it waits until someone decides" if (
        card.status == "pending" and not card.deadlines) else ""
    return [kit.context(ids.BLOCK_PROGRESS, [f"⤴️ Escalated to {who}{then}"])]


def card_text(card: Card) -> str:
    """Notification/fallback text: who must act, what, the stakes, the ask (mentions ping)."""
    action, _ = clip_escaped(one_line(card.action) or _UNNAMED, _TEXT_ACTION)
    if card.status == "pending":
        urgent = " (high urgency)" if card.urgency == "high" else ""
        ask = "approve or reject" if not uses_items(card) else "decide each item"
        votes = f", {len(card.approved_by)} of {card.quorum} approvals" if card.quorum > 1 else ""
        pings = mentions(card)
        lead = f"{pings} Approval needed{urgent}: " if pings else f"Approval needed{urgent}: "
        tail = f" (`{action}`) — please {ask}{votes}."
    else:
        lead = _OUTCOME[card.status][1] + _by(card.decided_by, limit=_TEXT_WHO) + ": "
        tail = f" (`{action}`)" + (f" — but {_FAILED[card.failure.what]}" if card.failure else "")
    room = max(limits.NOTIFICATION_TEXT - length(lead) - length(tail), _MIN_SUMMARY)
    summary, _ = clip_escaped(one_line(card.summary) or one_line(card.action) or _UNNAMED, room)
    return lead + summary + tail


def mentions(card: Card) -> str:
    """The mentions that make Slack notify a pending card's approvers (or nobody, or `here`)."""
    if card.mention == "none":
        return ""
    if card.mention == "here":
        return "<!here>"
    groups = [f"<!subteam^{g}>" for g in card.groups if _GROUP.match(g)]
    left = [u for u in card.approvers if u not in set(card.approved_by)]  # who still has to act
    users = [person(u, limit=_TEXT_WHO, declared_id=True) for u in left[:_PINGED]]
    return " ".join(groups + [u for u in users if u.startswith("<@")])


def failure_text(card: Card) -> str:
    """The one line saying what failed after the decision, and whether Signoff still retries."""
    failure = card.failure
    if failure is None:
        return ""
    word = _OUTCOME[card.status][1]
    error, _ = clip_escaped(one_line(failure.error), _ERROR_SHOWN)
    said = f" ({error})" if error else ""
    then = "Signoff gave up; check the agent." if failure.final else "Signoff retries it with backoff."
    return f"⚠️ *{word}, but {_FAILED[failure.what]}*{said}. {then}"


def already_decided_text(*, status: str, decided_by: str, decided_at: datetime) -> str:
    """Ephemeral text for a click on a decided request, e.g. 'Already approved by <@U1>, <date>.'"""
    if status not in _OUTCOME:
        raise ValueError(f"{status!r} is not a decided status")
    word = _OUTCOME[status][1].lower()
    return f"Already {word}{_by(decided_by, limit=limits.WHO)}{_at(decided_at)}."


def not_an_approver_text(*, approvers: Sequence[str]) -> str:
    """Ephemeral text for a click by someone who may not decide; lists who can."""
    if not approvers:
        return "You can't decide this request: it has no approvers."
    shown = approvers[:_APPROVERS_LISTED]
    names = [person(a, limit=limits.WHO, declared_id=True) for a in shown]
    more = len(approvers) - len(names)
    listed = ", ".join(names) + (f" and {more} more" if more else "")
    return f"Only this request's approvers can decide it: {listed}."


def _header(card: Card) -> tuple[Block, bool]:
    """The header: urgency (pending) or outcome (decided), then the human summary."""
    emoji = _URGENCY[card.urgency][0] if card.status == "pending" else _OUTCOME[card.status][0]
    lead = f"{emoji} "
    title = one_line(card.summary) or one_line(card.action) or _UNNAMED
    text, cut = clip(title, limits.HEADER_TEXT - length(lead))
    return kit.header(ids.BLOCK_HEADER, lead + text), cut


def _status(card: Card) -> tuple[Block, bool]:
    """What (the action as code), who asked, who must act, and by when and what then."""
    action, cut = clip_escaped(one_line(card.action) or _UNNAMED, _ACTION_SHOWN)
    action = action.replace("`", "ˋ")  # a backtick would end the code span early
    emoji, word = _URGENCY[card.urgency]
    lines = [f"`{action}` · {emoji} {word} urgency"]
    requester, requester_cut = _requester(card)
    lines.append(f"*Requested by* {requester} · {slack_date(card.created_at)}")
    if card.status == "pending":
        lines.append(_waiting(card))
        lines.extend(_deadline(d) for d in card.deadlines[:2])
    text, clipped = clip_mrkdwn("\n".join(lines), limits.SECTION_TEXT)
    return kit.section(ids.BLOCK_SUMMARY, text), cut or requester_cut or clipped


def _waiting(card: Card) -> str:
    """'👥 Waiting on <@A>, <@B> · 1 of 2 approvals: <@C>'; counts only, no names, when mention is off."""
    votes = f" · {len(card.approved_by)} of {card.quorum} approvals" if card.quorum > 1 else ""
    if card.mention != "approvers":
        count = len(card.approvers)
        who = f"{count} approver{'' if count == 1 else 's'}" if count else "no approvers"
        here = " · <!here>" if card.mention == "here" else ""
        return f"👥 *Waiting on* {who}{here}{votes}"
    left = [u for u in card.approvers if u not in set(card.approved_by)]
    groups = [f"<!subteam^{g}>" for g in card.groups if _GROUP.match(g)]
    who = _people(left, _MENTIONED, first=groups) if groups or left else "no approvers"
    if votes and card.approved_by and not uses_items(card):  # who so far, as each item of a batch says
        votes += ": " + _people(card.approved_by, 10)
    return f"👥 *Waiting on* {who}{votes}"


def _people(users: Sequence[str], shown: int, *, first: Sequence[str] = ()) -> str:
    """'<@A>, <@B> and 3 more': `first` (already written), then up to `shown` of `users`."""
    names = [*first, *(person(u, limit=_TEXT_WHO, declared_id=True) for u in users[:shown])]
    more = len(users) - min(len(users), shown)
    return ", ".join(names) + (f" and {more} more" if more else "")


def _deadline(deadline: Deadline) -> str:
    """'⏰ Decide by <date> — then it auto-rejects', or '⏰ Escalates <date> to <@U…> if nobody has
    decided' (not a deadline to decide by: the request stays open after it)."""
    if deadline.outcome == "escalate":
        who = ", ".join(person(u, limit=_TEXT_WHO, declared_id=True) for u in deadline.to[:5])
        return f"⏰ *Escalates* {slack_date(deadline.at)}{f' to {who}' if who else ''} if nobody has decided"
    return f"⏰ *Decide by* {slack_date(deadline.at)} — then it auto-{deadline.outcome}s"


def _requester(card: Card) -> tuple[str, bool]:
    """A mention for a user id, the agent's token name, or the escaped free text; says if cut."""
    requester = (card.requester or "").strip()
    if requester and is_user_id(requester):
        return f"<@{requester}>", False
    if requester:
        return clip_escaped(one_line(requester), limits.WHO)
    if card.agent and card.agent.strip():
        name, cut = clip_escaped(one_line(card.agent), limits.WHO)
        return f"{name} (agent)", cut
    return "_an unnamed agent_", False


def _meta(card: Card) -> Block:
    """Small print: the rule that routed it, the link back to the run, the request id."""
    items = []
    if card.rule:
        rule, _ = clip_escaped(one_line(card.rule), _RULE_SHOWN)
        items.append(f"Rule `{rule.replace('`', 'ˋ')}`")
    if card.link:
        items.append(f"<{card.link}|Open the run>")
    items.append(f"Request `{escape(card.request_id)}`")
    return kit.context(ids.BLOCK_FIELDS, [" · ".join(items)])


def _arguments(args: Mapping[str, Any], *, pending: bool) -> tuple[list[Block], bool]:
    """The first arguments as a key | value grid of plain text; the rest behind View details."""
    pairs = list(islice(args.items(), _ARGS_SHOWN))
    blocks: list[Block] = []
    cut = False
    per_section = limits.SECTION_FIELDS // 2
    for start in range(0, len(pairs), per_section):
        fields: list[dict[str, Any]] = []
        for key, value in pairs[start:start + per_section]:
            key_cell, value_cell, value_cut = _argument(str(key), value)
            fields += [key_cell, value_cell]
            cut = cut or value_cut
        blocks.append({"type": "section", "block_id": ids.arg_block_id(start // per_section),
                       "fields": fields})
    hidden = len(args) - len(pairs)
    if hidden:
        where = " — see *View details*" if pending else " not shown"
        blocks.append(kit.context(ids.BLOCK_ARGS_MORE, [f"+{hidden} more arguments{where}"]))
    return blocks, cut or hidden > 0


def _argument(key: str, value: Any) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """One argument as two grid cells; agent text is plain_text, so it never formats."""
    name = one_line(key) or "(empty key)"
    name, key_cut = clip(name, _ARG_KEY_SHOWN)
    shown = value if isinstance(value, str) else to_json(value)
    body, value_cut = clip(shown, _ARG_VALUE_SHOWN) if shown else ("(empty)", False)
    if _TAME_KEY.match(name):
        key_cell = kit.mrkdwn(f"*{name}*")
    else:
        key_cell = kit.plain(name, emoji=False)
    return key_cell, kit.plain(body, emoji=False), key_cut or value_cut


def _context(context: Mapping[str, Any] | str | None) -> tuple[list[Block], bool]:
    """The extra context as one small-print block of `key: value` items, or as the agent's text."""
    if not context:
        return [], False
    if isinstance(context, str):  # plain_text: an agent's words are never parsed as mrkdwn
        text, cut = clip(context, limits.SECTION_TEXT)
        return [{"type": "context", "block_id": ids.BLOCK_CONTEXT, "elements": [kit.plain(text)]}], cut
    room = limits.CONTEXT_ELEMENTS
    if len(context) > room:
        room -= 1  # keep one element for "+N more"
    texts: list[str] = []
    cut = False
    for key, value in islice(context.items(), room):
        name, key_cut = clip_escaped(one_line(str(key)), limits.ARG_KEY)
        text, value_cut = clip_escaped(one_line(as_text(value)), limits.CONTEXT_ITEM)
        texts.append(f"*{name or '(empty)'}:* {text}")
        cut = cut or key_cut or value_cut
    hidden = len(context) - len(texts)
    if hidden:
        texts.append(f"+{hidden} more")
    return [kit.context(ids.BLOCK_CONTEXT, texts)], cut or hidden > 0


def _actions(card: Card, *, details: bool) -> Block:
    """Approve (asking first when the stakes are high), Reject, and View details when cut."""
    approve = kit.button(text="Approve", action_id=ids.ACTION_APPROVE, value=card.request_id,
                         style="primary")
    if asks_to_confirm(card):
        approve["confirm"] = confirm_dialog(card)
    buttons = [
        approve,
        kit.button(text="Reject", action_id=ids.ACTION_REJECT, value=card.request_id, style="danger"),
    ]
    if details:
        buttons.append(kit.button(text="View details", action_id=ids.ACTION_DETAILS, value=card.request_id))
    return {"type": "actions", "block_id": ids.BLOCK_ACTIONS, "elements": buttons}


def asks_to_confirm(card: Card) -> bool:
    """Whether Approve asks first: the rule says so, or by default at high urgency."""
    return bool(card.confirm) or (card.confirm is None and card.urgency == "high")


def confirm_dialog(card: Card) -> dict[str, Any]:
    """Slack's "are you sure?" dialog, naming the action and what it does."""
    action, _ = clip(one_line(card.action) or _UNNAMED, 60)
    summary, _ = clip(one_line(card.summary), 200)
    text = f"{action}: {summary}" if summary else action
    return {"title": kit.plain("Approve this?"), "text": kit.plain(text, emoji=False),
            "confirm": kit.plain("Approve"), "deny": kit.plain("Cancel"), "style": "primary"}


def _details_only(request_id: str) -> Block:
    """The one card-wide button of an items card: the details modal lists everything."""
    button = kit.button(text="View details", action_id=ids.ACTION_DETAILS, value=request_id)
    return {"type": "actions", "block_id": ids.BLOCK_ACTIONS, "elements": [button]}


def _outcome(card: Card) -> Block:
    """The decided state: what, every approver with their time, why, and what was edited."""
    emoji, word = _OUTCOME[card.status]
    voters = [u for u in card.approved_by if u != card.decided_by] if card.quorum > 1 else []
    who = [f"{person(u, limit=_TEXT_WHO, declared_id=True)}{_at(card.voted_at.get(u))}"
           for u in voters[:10]]
    if len(voters) > len(who):
        who.append(f"{len(voters) - len(who)} more")
    last = f"{_by(card.decided_by, limit=limits.WHO)}{_at(card.decided_at)}"
    if who and card.status == "approved":  # every approval made it so
        last = " by " + ", ".join(who) + (f" and{last.removeprefix(' by')}" if last.strip() else "")
    elif who:  # rejected, cancelled or expired after some approved: they did not do that
        last += " · approved before by " + ", ".join(who)
    line = f"{emoji} *{word}*{last}"
    if card.reason and card.reason.strip():
        # Escape first, then quote: the ">" markers are ours and must stay raw.
        escaped = escape(card.reason[: limits.SECTION_TEXT + 1])
        quoted = "\n".join(f"> {part}" for part in escaped.splitlines())
        line = f"{line}\n{quoted}"
    if card.edited_args is not None:
        changes, _ = diff_lines(card.args, card.edited_args)
        line += "\n✏️ *Edited:* " + ("; ".join(changes) if changes else "_no changes_")
    text, _ = clip_mrkdwn(line, limits.SECTION_TEXT)
    return kit.section(ids.BLOCK_OUTCOME, text)


def _by(decided_by: str | None, *, limit: int) -> str:
    """' by <who>', or nothing when the system decided (expiry) or nobody is known."""
    return by_whom(decided_by, limit=limit)


def _at(decided_at: datetime | None) -> str:
    """', <date>' in each viewer's time zone, or nothing."""
    # A comma, not "at": the token already reads "today at 2:02 PM".
    return f", {slack_date(decided_at)}" if decided_at else ""
