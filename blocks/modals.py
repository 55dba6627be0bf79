"""The modals: a required rejection reason, and the full request behind a truncated card."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

from blocks import ids, kit, limits
from blocks.kit import Block
from blocks.model import Card, check_request_id
from blocks.text import as_text, chunk_escaped, clip_escaped, escape, length, one_line, person

_FENCE = "```"


def reject_modal(*, request_id: str, summary: str) -> dict[str, Any]:
    """The modal asking for a required rejection reason (multiline, at most 3000 characters)."""
    check_request_id(request_id)
    lead = "*You are rejecting*\n"
    text, _ = clip_escaped(summary, limits.SECTION_TEXT - length(lead))
    reason = {
        "type": "input",
        "block_id": ids.BLOCK_REASON,
        "optional": False,
        "label": kit.plain("Reason"),
        "hint": kit.plain("Required. The requester and the agent will see it."),
        "element": {
            "type": "plain_text_input",
            "action_id": ids.ACTION_REASON,
            "multiline": True,
            "max_length": limits.INPUT_MAX_LENGTH,
            "placeholder": kit.plain("Why should this not go ahead?"),
        },
    }
    return {
        "type": "modal",
        "callback_id": ids.VIEW_REJECT,
        "private_metadata": request_id,
        "title": kit.plain("Reject request"),
        "submit": kit.plain("Reject"),
        "close": kit.plain("Cancel"),
        "blocks": [kit.section(ids.BLOCK_REJECT_SUMMARY, lead + (text or "_No summary._")), reason],
    }


def details_modal(card: Card) -> dict[str, Any]:
    """A modal with the full arguments and context, cut short with a note past 100 blocks."""
    # One block past the limit tells us whether anything had to be left out.
    blocks = list(islice(_details(card), limits.VIEW_BLOCKS + 1))
    if len(blocks) > limits.VIEW_BLOCKS:
        blocks = [*blocks[: limits.VIEW_BLOCKS - 1], _cut_note(card.request_id)]
    return {
        "type": "modal",
        "callback_id": ids.VIEW_DETAILS,
        "private_metadata": card.request_id,
        "title": kit.plain("Request details"),
        "close": kit.plain("Close"),
        "blocks": [{**b, "block_id": ids.details_block_id(i)} for i, b in enumerate(blocks)],
    }


def _details(card: Card) -> Iterator[Block]:
    """Every block of the details modal, lazily, so huge requests are never rendered in full."""
    # block_ids stay blank here; details_modal numbers the blocks it keeps.
    yield from _item("Action", one_line(card.action), code=False)
    yield from _item("Summary", card.summary, code=False)
    if card.requester:
        yield kit.section("", f"*Requested by*\n{person(card.requester, limit=limits.WHO)}")
    yield kit.header("", "Arguments")
    if not card.args:
        yield kit.section("", "_No arguments._")
    for key, value in card.args.items():
        yield from _item(str(key), as_text(value, pretty=True), code=True)
    if card.context:
        yield kit.header("", "Context")
        for key, value in card.context.items():
            yield from _item(str(key), as_text(value, pretty=True), code=True)


def _item(label: str, raw: str, *, code: bool) -> Iterator[Block]:
    """One labelled value, split over as many sections as it needs."""
    name, _ = clip_escaped(one_line(label), limits.ARG_KEY)
    lead = f"*{name}*\n" if name else "_(empty)_\n"
    if not raw:
        yield kit.section("", lead + "_(empty)_")
        return
    fence = _FENCE if code else ""
    size = limits.SECTION_TEXT - length(lead) - 2 * len(fence)
    pieces, _ = chunk_escaped(raw, size=size, max_chunks=limits.VIEW_BLOCKS)
    for index, piece in enumerate(pieces):
        if not code and not piece.strip():
            piece = "_(blank)_"  # a section of only whitespace is rejected by Slack
        yield kit.section("", (lead if index == 0 else "") + fence + piece + fence)


def _cut_note(request_id: str) -> Block:
    """The last block when the request does not fit in one modal."""
    note = (
        f"⚠️ Cut short: a Slack modal holds at most {limits.VIEW_BLOCKS} blocks. "
        f"The full request is in Signoff under id `{escape(request_id)}`."
    )
    return kit.context("", [note])
