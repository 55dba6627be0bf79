"""Adversarial input: whatever an agent sends, every message and modal stays within limits."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from blocks import ids
from blocks.card import Card, approval_card, card_text, details_modal, reject_modal
from tests.blocks import samples
from tests.blocks.checks import check_message, check_view, units

MEGABYTE = "x" * 1_000_000
NASTY = "<!channel> & <@U1> 🎉 <https://evil.example|click> &amp; >>>"


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"down": [value]}
    return value


def _nasty_args() -> dict[str, Any]:
    args: dict[str, Any] = {
        "huge": MEGABYTE,
        "entities": "&" * 5000,
        "emoji": "🎉" * 5000,
        NASTY * 100: NASTY * 1000,
        "nested": {"a": [NASTY] * 1000, "b": {"c": {"d": list(range(10_000))}}},
        "too_deep": _deep(5000),
        "empty": "",
        "": "empty key",
        "blank": " \n\t ",
    }
    args.update({f"key_{n}_{NASTY}": NASTY * n for n in range(500)})
    return args


def _nasty(**changes: Any) -> Card:
    card = samples.pending(
        action=("refund<>&🎉 " * 100)[:1000],
        summary=(NASTY * 30)[:1000],
        args=_nasty_args(),
        context={f"ctx_{n}_{NASTY}": MEGABYTE if n == 0 else NASTY * 50 for n in range(50)},
        requester=NASTY * 300,
    )
    return replace(card, **changes)


DECIDED = {
    "approved": {"decided_by": "U0APPROVER1"},
    "rejected": {"decided_by": "W0APPROVER", "reason": (NASTY + "\n") * 100_000},
    "cancelled": {"decided_by": "agent:" + NASTY * 1000, "reason": MEGABYTE},
    "expired": {"decided_by": "system"},
}


def _actions(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [block for block in blocks if block["type"] == "actions"]


@pytest.mark.parametrize("urgency", ["low", "normal", "high"])
def test_nasty_pending_card_keeps_every_limit_and_its_buttons(urgency: str) -> None:
    card = _nasty(urgency=urgency)
    blocks = approval_card(card)
    check_message(blocks)
    [actions] = _actions(blocks)
    assert actions is blocks[-1]
    buttons = {element["action_id"]: element for element in actions["elements"]}
    assert list(buttons) == [ids.ACTION_APPROVE, ids.ACTION_REJECT, ids.ACTION_DETAILS]
    assert buttons[ids.ACTION_APPROVE]["style"] == "primary"
    assert buttons[ids.ACTION_REJECT]["style"] == "danger"
    assert {button["value"] for button in buttons.values()} == {card.request_id}
    assert units(card_text(card)) < 300


@pytest.mark.parametrize("status", sorted(DECIDED))
def test_nasty_decided_card_keeps_every_limit_without_buttons(status: str) -> None:
    card = _nasty(status=status, decided_at=samples.DECIDED, **DECIDED[status])
    blocks = approval_card(card)
    check_message(blocks)
    assert _actions(blocks) == []
    assert blocks[1]["block_id"] == ids.BLOCK_OUTCOME  # the outcome comes right under the header
    assert units(card_text(card)) < 300


def test_nasty_details_modal_is_cut_at_100_blocks_with_a_note() -> None:
    card = _nasty()
    view = details_modal(card)
    check_view(view)
    assert len(view["blocks"]) == 100
    assert view["blocks"][-1]["type"] == "context"
    assert "Cut short" in view["blocks"][-1]["elements"][0]["text"]
    assert view["private_metadata"] == card.request_id


def test_details_modal_splits_a_long_value_over_sections_losing_nothing() -> None:
    value = "line & <tag> 🎉\n" * 1000  # ~16k chars raw, more escaped: several sections
    view = details_modal(samples.pending(args={"log": value}, context=None))
    check_view(view)
    sections = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    pieces = [text.removeprefix("*log*\n") for text in sections if "```" in text]
    assert len(pieces) > 5
    joined = "".join(piece.strip("`") for piece in pieces)
    escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert joined == escaped


def test_a_value_that_is_not_json_is_shown_not_raised() -> None:
    loop: list[Any] = []
    loop.append(loop)
    card = samples.pending(args={"loop": loop, "deep": _deep(5000), "when": samples.CREATED})
    blocks = approval_card(card)
    check_message(blocks)
    check_view(details_modal(card))
    texts = json.dumps(blocks, ensure_ascii=False)
    assert "2026-11-21 13:50:00+00:00" in texts
    assert "cannot be shown as JSON" in texts


def test_empty_and_blank_text_never_makes_an_empty_block() -> None:
    card = samples.pending(action=" \n ", summary="  ", args={}, context={}, requester=" ")
    blocks = approval_card(card)
    check_message(blocks)
    check_view(details_modal(card))
    assert blocks[0]["text"]["text"] == "🟡 (unnamed action)"
    assert [b["block_id"] for b in blocks if b["type"] == "context"] == [ids.BLOCK_FIELDS]


def test_nasty_reject_modal_keeps_every_limit() -> None:
    view = reject_modal(request_id="r" * 255, summary=MEGABYTE + NASTY)
    check_view(view)
    [reason] = [block for block in view["blocks"] if block["type"] == "input"]
    assert reason["block_id"] == ids.BLOCK_REASON
    assert reason["optional"] is False
    element = reason["element"]
    assert element["action_id"] == ids.ACTION_REASON
    assert element["multiline"] is True
    assert element["max_length"] == 3000
    assert view["callback_id"] == ids.VIEW_REJECT
    assert view["private_metadata"] == "r" * 255


def test_header_is_cut_to_150_and_says_so_with_view_details() -> None:
    blocks = approval_card(samples.pending(summary="a" * 1000))
    header = blocks[0]["text"]["text"]
    assert units(header) == 150
    assert header.endswith("a…")
    assert _actions(blocks)[0]["elements"][-1]["action_id"] == ids.ACTION_DETAILS


def test_nothing_cut_means_no_view_details_button() -> None:
    [actions] = _actions(approval_card(samples.pending()))
    assert [e["action_id"] for e in actions["elements"]] == [
        ids.ACTION_APPROVE,
        ids.ACTION_REJECT,
    ]


def test_exactly_eight_arguments_fit_in_two_grids_and_nine_do_not() -> None:
    eight = approval_card(samples.pending(args={f"k{n}": n for n in range(8)}))
    grids = [b for b in eight if b["block_id"].startswith("arg")]
    assert [b["block_id"] for b in grids] == ["arg_0", "arg_1"]
    assert [len(b["fields"]) for b in grids] == [10, 6]  # key | value per argument
    assert len(_actions(eight)[0]["elements"]) == 2
    more = approval_card(samples.pending(args={f"k{n}": n for n in range(9)}))
    [note] = [b for b in more if b["block_id"] == ids.BLOCK_ARGS_MORE]
    assert note["elements"][0]["text"].startswith("+1 more arguments")
    assert len(_actions(more)[0]["elements"]) == 3


def test_ids_fit_slack_limits() -> None:
    names = [getattr(ids, name) for name in dir(ids) if name.isupper()]
    assert names and all(isinstance(n, str) and 1 <= len(n) <= 255 for n in names)
    assert len(ids.details_block_id(99)) <= 255
