"""The App Home tab: the requests waiting on the person who opens it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from blocks import ids, kit, limits
from blocks.card import asks_to_confirm, confirm_dialog
from blocks.kit import Block
from blocks.model import Card, uses_items
from blocks.text import clip_escaped, clip_mrkdwn, one_line, person, slack_date
from bot.core.vocabulary import Urgency

MAX_SHOWN = 30  # three blocks each, inside the Home tab's 100 (with the header and a notice)
_URGENT: dict[str, str] = {Urgency.HIGH: "🔴 ", Urgency.NORMAL: "", Urgency.LOW: ""}


def home_view(waiting: Sequence[Card], *, notice: str | None = None) -> dict[str, Any]:
    """The Home tab listing `waiting`, oldest first, each with its buttons when it has plain ones;
    `notice` (mrkdwn, escaped) says what became of the last click, when it did nothing."""
    blocks: list[Block] = [kit.header("home_header", f"Waiting on you ({len(waiting)})")]
    if notice:
        text, _ = clip_mrkdwn(f"ℹ️ {notice}", limits.SECTION_TEXT)
        blocks.append(kit.section("home_notice", text))
    if not waiting:
        blocks.append(kit.section("home_empty", "Nothing is waiting on you. 🎉"))
    for n, card in enumerate(waiting[:MAX_SHOWN]):
        blocks.extend(_entry(n, card))
    if len(waiting) > MAX_SHOWN:
        blocks.append(kit.context("home_more", [f"+{len(waiting) - MAX_SHOWN} more: see the cards in Slack"]))
    return {"type": "home", "blocks": blocks}


def _entry(n: int, card: Card) -> list[Block]:
    action, _ = clip_escaped(one_line(card.action), 80)
    summary, _ = clip_escaped(one_line(card.summary) or one_line(card.action), 500)
    if card.requester and card.requester.strip():
        who = person(card.requester, limit=60)
    elif card.agent:
        who = clip_escaped(one_line(card.agent), 60)[0] + " (agent)"
    else:
        who = "an agent"
    asked = f"`{action.replace('`', 'ˋ')}` · asked by {who}, {slack_date(card.created_at)}"
    text = f"{_URGENT.get(card.urgency, '')}*{summary}*\n{asked}"
    blocks = [kit.divider(f"home_{n}_divider"), kit.section(f"home_{n}", text)]
    if uses_items(card) or card.quorum > 1:
        # Several items, edits or a quorum: decide on the card, where the whole picture is.
        blocks.append(kit.context(f"home_{n}_note", ["Decide on the card in its channel or DM."]))
    else:
        approve = kit.button(text="Approve", action_id=ids.ACTION_APPROVE, value=card.request_id,
                             style="primary")
        if asks_to_confirm(card):  # the same question as on the card
            approve["confirm"] = confirm_dialog(card)
        blocks.append({"type": "actions", "block_id": f"home_{n}_actions", "elements": [
            approve,
            kit.button(text="Reject", action_id=ids.ACTION_REJECT, value=card.request_id, style="danger"),
            kit.button(text="Details", action_id=ids.ACTION_DETAILS, value=card.request_id),
        ]})
    return blocks
