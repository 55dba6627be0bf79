"""The approval card: its blocks in every state, its notification text and click replies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

from blocks import ids, kit, limits
from blocks.items import UNNAMED, item_blocks
from blocks.kit import Block
from blocks.modals import details_modal, edit_modal, reject_modal, respond_modal
from blocks.model import DECISIONS, STATUSES, URGENCIES, Card, CardItem, uses_items
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
_UNNAMED = UNNAMED
_APPROVERS_LISTED = 20
_TEXT_ACTION = 80
_TEXT_WHO = 60


def approval_card(card: Card) -> list[Block]:
    """The blocks for a card in its current state: pending with buttons, decided with outcome."""
    if uses_items(card):
        return _item_card(card)
    header, header_cut = _header(card)
    summary, summary_cut = _summary(card.summary)
    fields, fields_cut = _fields(card)
    arguments, arguments_cut = _arguments(card.args, pending=card.status == "pending")
    context, context_cut = _context(card.context)
    blocks = [header, summary, fields, kit.divider(ids.BLOCK_DIVIDER), *arguments, *context,
              *_progress(card)]
    if card.status == "pending":
        cut = header_cut or summary_cut or fields_cut or arguments_cut or context_cut
        blocks.append(_actions(card.request_id, details=cut))
    else:
        blocks.append(_outcome(card))
    return blocks


def _item_card(card: Card) -> list[Block]:
    """A card whose items are decided one by one, each with its own buttons or answer."""
    header, header_cut = _header(card)
    summary, summary_cut = _summary(card.summary)
    fields, fields_cut = _fields(card)
    items, items_cut = item_blocks(card)
    context, context_cut = _context(card.context)
    blocks = [header, summary, fields, kit.divider(ids.BLOCK_DIVIDER), *items, *context, *_progress(card)]
    if card.status != "pending":
        blocks.append(_outcome(card))
    elif header_cut or summary_cut or fields_cut or items_cut or context_cut:
        blocks.append(_details_only(card.request_id))
    return blocks


def _progress(card: Card) -> list[Block]:
    """Quorum progress and escalation, as small print above the buttons."""
    lines = []
    if card.quorum > 1 and card.status == "pending":
        who = ", ".join(person(u, limit=_TEXT_WHO, declared_id=True) for u in card.approved_by[:10])
        lines.append(f"🗳 *{len(card.approved_by)} of {card.quorum} approvals*" + (f": {who}" if who else ""))
    if card.escalated_to:
        who = ", ".join(person(u, limit=_TEXT_WHO, declared_id=True) for u in card.escalated_to[:10])
        lines.append(f"⤴️ Escalated to {who}")
    return [kit.context(ids.BLOCK_PROGRESS, lines)] if lines else []


def card_text(card: Card) -> str:
    """Notification/fallback text (shown in push notifications; keep < 300 chars)."""
    action, _ = clip_escaped(one_line(card.action) or _UNNAMED, _TEXT_ACTION)
    if card.status == "pending":
        urgent = " (high urgency)" if card.urgency == "high" else ""
        lead = f"Approval needed{urgent}"
    else:
        lead = _OUTCOME[card.status][1] + _by(card.decided_by, limit=_TEXT_WHO)
    head = f"{lead}: {action}"
    summary, _ = clip_escaped(one_line(card.summary), limits.NOTIFICATION_TEXT - length(head) - 3)
    return f"{head} — {summary}" if summary else head


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
    """The header: urgency (pending) or outcome (decided), then the action name."""
    if card.status == "pending":
        emoji = _URGENCY[card.urgency][0]
        urgent = " (high urgency)" if card.urgency == "high" else ""
        lead = f"{emoji} Approval needed{urgent}: "
    else:
        emoji, word = _OUTCOME[card.status]
        lead = f"{emoji} {word}: "
    action, cut = clip(one_line(card.action) or _UNNAMED, limits.HEADER_TEXT - length(lead))
    return kit.header(ids.BLOCK_HEADER, lead + action), cut


def _summary(summary: str) -> tuple[Block, bool]:
    """The summary section; Slack rejects an empty one, so say there is none."""
    if not summary.strip():
        return kit.section(ids.BLOCK_SUMMARY, "_No summary given._"), False
    text, cut = clip_escaped(summary, limits.SECTION_TEXT)
    return kit.section(ids.BLOCK_SUMMARY, text), cut


def _fields(card: Card) -> tuple[Block, bool]:
    """Who asked, how urgent, when, and the request id, as a two-column grid."""
    requester, cut = "_unknown_", False
    if card.requester and card.requester.strip():
        requester, cut = _requester(card.requester)
    emoji, word = _URGENCY[card.urgency]
    texts = [
        f"*Requested by*\n{requester}",
        f"*Urgency*\n{emoji} {word}",
        f"*Requested*\n{slack_date(card.created_at)}",
        f"*Request id*\n`{escape(card.request_id)}`",
    ]
    fields = [kit.mrkdwn(text) for text in texts]
    return {"type": "section", "block_id": ids.BLOCK_FIELDS, "fields": fields}, cut


def _requester(requester: str) -> tuple[str, bool]:
    """A mention when the requester looks like a user id, else its escaped text; says if cut."""
    if is_user_id(requester):
        return f"<@{requester}>", False
    return clip_escaped(one_line(requester), limits.WHO)


def _arguments(args: Mapping[str, Any], *, pending: bool) -> tuple[list[Block], bool]:
    """A section per argument, the first few only; says whether anything was left out."""
    blocks: list[Block] = []
    cut = False
    for index, (key, value) in enumerate(islice(args.items(), limits.ARGS_SHOWN)):
        text, value_cut = _argument(str(key), value)
        blocks.append(kit.section(ids.arg_block_id(index), text))
        cut = cut or value_cut
    hidden = len(args) - len(blocks)
    if hidden:
        where = " — see *View details*" if pending else " not shown"
        blocks.append(kit.context(ids.BLOCK_ARGS_MORE, [f"+{hidden} more arguments{where}"]))
    return blocks, cut or hidden > 0


def _argument(key: str, value: Any) -> tuple[str, bool]:
    """One argument: key in bold; strings as text, anything else as compact JSON."""
    name, key_cut = clip_escaped(one_line(key), limits.ARG_KEY)
    label = f"*{name}*" if name else "_(empty key)_"
    if isinstance(value, str):
        body, value_cut = clip_escaped(value, limits.ARG_VALUE) if value else ("_(empty)_", False)
    else:
        body, value_cut = clip_escaped(to_json(value), limits.ARG_VALUE - 2)
        body = f"`{body}`"
    return f"{label}\n{body}", key_cut or value_cut


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


def _actions(request_id: str, *, details: bool) -> Block:
    """Approve, Reject, and View details when the card could not show everything."""
    buttons = [
        kit.button(text="Approve", action_id=ids.ACTION_APPROVE, value=request_id, style="primary"),
        kit.button(text="Reject", action_id=ids.ACTION_REJECT, value=request_id, style="danger"),
    ]
    if details:
        details_button = kit.button(
            text="View details", action_id=ids.ACTION_DETAILS, value=request_id
        )
        buttons.append(details_button)
    return {"type": "actions", "block_id": ids.BLOCK_ACTIONS, "elements": buttons}


def _details_only(request_id: str) -> Block:
    """The one card-wide button of an items card: the details modal lists everything."""
    button = kit.button(text="View details", action_id=ids.ACTION_DETAILS, value=request_id)
    return {"type": "actions", "block_id": ids.BLOCK_ACTIONS, "elements": [button]}


def _outcome(card: Card) -> Block:
    """The line replacing the buttons once decided: what, who, when, and why."""
    emoji, word = _OUTCOME[card.status]
    line = f"{emoji} *{word}*{_by(card.decided_by, limit=limits.WHO)}{_at(card.decided_at)}"
    if card.reason and card.reason.strip():
        # Escape first, then quote: the ">" markers are ours and must stay raw.
        escaped = escape(card.reason[: limits.SECTION_TEXT + 1])
        quoted = "\n".join(f"> {part}" for part in escaped.splitlines())
        reason, _ = clip_mrkdwn(quoted, limits.SECTION_TEXT - length(line) - 1)
        line = f"{line}\n{reason}"
    return kit.section(ids.BLOCK_OUTCOME, line)


def _by(decided_by: str | None, *, limit: int) -> str:
    """' by <who>', or nothing when the system decided (expiry) or nobody is known."""
    return by_whom(decided_by, limit=limit)


def _at(decided_at: datetime | None) -> str:
    """', <date>' in each viewer's time zone, or nothing."""
    # A comma, not "at": the token already reads "today at 2:02 PM".
    return f", {slack_date(decided_at)}" if decided_at else ""
