"""The modals: a rejection reason, an edit form, a response, and the full request."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import islice
from typing import Any

from blocks import ids, kit, limits
from blocks.forms import edit_schema, form_blocks, prefill_problem
from blocks.ids import button_value
from blocks.items import UNNAMED, answer_text
from blocks.kit import Block
from blocks.model import Card, CardItem, check_request_id, uses_items
from blocks.text import (
    as_text,
    chunk_escaped,
    clip_escaped,
    clip_mrkdwn,
    escape,
    json_head,
    length,
    one_line,
    person,
)

_FENCE = "```"
_FIXED_DETAILS = 10  # details modal blocks that are not items (action, summary, headers, ...)
_ITEM_SECTIONS = 20  # most sections one item's arguments get in the details modal
_ITEM_CUT = "\n_Cut short: the rest does not fit in a Slack modal._"


def reject_modal(*, request_id: str, summary: str, index: int | None = None) -> dict[str, Any]:
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
        "private_metadata": button_value(request_id, index),
        "title": kit.plain("Reject request"),
        "submit": kit.plain("Reject"),
        "close": kit.plain("Cancel"),
        "blocks": [kit.section(ids.BLOCK_REJECT_SUMMARY, lead + (text or "_No summary._")), reason],
    }


def approve_modal(*, request_id: str, summary: str, required: bool, index: int | None = None
                  ) -> dict[str, Any]:
    """The modal asking for a comment with Approve (required or optional, as the request says)."""
    check_request_id(request_id)
    lead = "*You are approving*\n"
    text, _ = clip_escaped(summary, limits.SECTION_TEXT - length(lead))
    comment = {
        "type": "input",
        "block_id": ids.BLOCK_COMMENT,
        "optional": not required,
        "label": kit.plain("Comment"),
        "hint": kit.plain(f"{'Required' if required else 'Optional'}. The requester and the agent see it."),
        "element": {"type": "plain_text_input", "action_id": ids.ACTION_COMMENT, "multiline": True,
                    "max_length": limits.INPUT_MAX_LENGTH},
    }
    return {
        "type": "modal",
        "callback_id": ids.VIEW_APPROVE,
        "private_metadata": button_value(request_id, index),
        "title": kit.plain("Approve request"),
        "submit": kit.plain("Approve"),
        "close": kit.plain("Cancel"),
        "blocks": [kit.section(ids.BLOCK_APPROVE_SUMMARY, lead + (text or "_No summary._")), comment],
    }


def edit_modal(
    *,
    request_id: str,
    index: int | None,
    action: str,
    args: Mapping[str, Any],
    args_schema: Mapping[str, Any] | None,
    summary: str,
) -> dict[str, Any]:
    """The modal to change an item's arguments: one input each when flat, else a JSON textarea;
    under the request's summary, so that the approver sees which request it is."""
    check_request_id(request_id)
    name, _ = clip_escaped(one_line(action) or UNNAMED, limits.ITEM_ACTION)
    about, _ = clip_escaped(one_line(summary), limits.ITEM_DESCRIPTION)
    lead = (f"*Request:* {about}\n" if about else "") + (
        f"*Edit the arguments of* {name}\nSubmitting approves it with your changes.")
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": ids.VIEW_EDIT,
        "private_metadata": button_value(request_id, index),
        "title": kit.plain("Edit arguments"),
    }
    schema = edit_schema(args_schema, args)
    problem = prefill_problem(schema, args)
    if problem is not None:
        # Prefilling a cut value would make "submit unchanged" change it: offer no form at all.
        note = f"⚠️ {escape(problem)}\nApprove, reject or respond to it instead."
        blocks = [kit.section(ids.BLOCK_EDIT_SUMMARY, lead), kit.section(ids.BLOCK_EDIT_PROBLEM, note)]
        return {**view, "close": kit.plain("Close"), "blocks": blocks}
    form = form_blocks(schema, args, json_label="Arguments (JSON)")
    return {
        **view,
        "submit": kit.plain("Approve edits"),
        "close": kit.plain("Cancel"),
        "blocks": [kit.section(ids.BLOCK_EDIT_SUMMARY, lead), *form],
    }


def respond_modal(
    *, request_id: str, index: int | None, prompt: str, answer_schema: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The modal to answer an item instead of running it: free text, or a form from the schema."""
    check_request_id(request_id)
    text, _ = clip_escaped(prompt, limits.SECTION_TEXT)
    question = kit.section(ids.BLOCK_RESPOND_PROMPT, text if text.strip() else "_No question given._")
    if answer_schema is None:
        inputs = [_free_text_response()]
    else:
        inputs = form_blocks(answer_schema, None, json_label="Answer (JSON)")
    return {
        "type": "modal",
        "callback_id": ids.VIEW_RESPOND,
        "private_metadata": button_value(request_id, index),
        "title": kit.plain("Respond"),
        "submit": kit.plain("Send"),
        "close": kit.plain("Cancel"),
        "blocks": [question, *inputs],
    }


def _free_text_response() -> Block:
    """The required multiline answer of a respond modal without a schema."""
    return {
        "type": "input",
        "block_id": ids.BLOCK_RESPONSE,
        "optional": False,
        "label": kit.plain("Your answer"),
        "hint": kit.plain("The agent gets this text instead of running the action."),
        "element": {
            "type": "plain_text_input",
            "action_id": ids.ACTION_RESPONSE,
            "multiline": True,
            "max_length": limits.INPUT_MAX_LENGTH,
        },
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
    if uses_items(card):
        yield from _items(card)
    else:
        yield kit.header("", "Arguments")
        if not card.args:
            yield kit.section("", "_No arguments._")
    for key, value in card.args.items():
        yield from _item(str(key), as_text(value, pretty=True), code=True)
    if isinstance(card.context, str) and card.context:
        yield from _item("Context", card.context, code=True)
    elif card.context:
        yield kit.header("", "Context")
        for key, value in card.context.items():
            yield from _item(str(key), as_text(value, pretty=True), code=True)


def _items(card: Card) -> Iterator[Block]:
    """Every item, each given a fair share of the modal so a huge one cannot crowd out the rest."""
    yield kit.header("", f"Items ({len(card.items)})")
    share = max(1, min(_ITEM_SECTIONS, (limits.VIEW_BLOCKS - _FIXED_DETAILS) // len(card.items)))
    for index, item in enumerate(card.items):
        yield from _item_details(index, item, sections=share)
    if card.args:
        yield kit.header("", "Request arguments")


def _item_details(index: int, item: CardItem, *, sections: int) -> Iterator[Block]:
    """One item: name, description and answer, then its arguments as JSON over a few sections."""
    name, _ = clip_escaped(one_line(item.action) or UNNAMED, limits.ITEM_ACTION)
    parts = [f"*{index + 1}. {name}*"]
    if item.description and item.description.strip():
        parts.append(clip_escaped(item.description, limits.DETAILS_ITEM_LEAD)[0])
    if item.decision is not None:
        parts.append(answer_text(item, message_limit=limits.DETAILS_ITEM_LEAD)[0])
    lead, _ = clip_mrkdwn("\n".join(parts), limits.SECTION_TEXT // 2)
    if not item.args:
        yield kit.section("", lead)
        return
    size = limits.SECTION_TEXT - length(lead) - 1 - 2 * len(_FENCE) - length(_ITEM_CUT)
    raw = json_head(dict(item.args), limit=size * sections, pretty=True)
    pieces, complete = chunk_escaped(raw, size=size, max_chunks=sections)
    for number, piece in enumerate(pieces):
        text = (f"{lead}\n" if number == 0 else "") + _FENCE + piece + _FENCE
        if number == len(pieces) - 1 and not complete:
            text += _ITEM_CUT
        yield kit.section("", text)


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
