"""Block Kit validation: each of Slack's limits, reported with the path to the offending field."""

from __future__ import annotations

from typing import Any

import pytest

from slack_sandbox.limits import validate_blocks, validate_message, validate_view
from tests.sandbox.conftest import card, reason_modal


def plain(text: str) -> dict[str, str]:
    """A plain_text object."""
    return {"type": "plain_text", "text": text}


def button(**fields: Any) -> dict[str, Any]:
    """A button with sensible defaults."""
    return {"type": "button", "action_id": "a", "text": plain("Go"), **fields}


def section(text: str) -> dict[str, Any]:
    """A mrkdwn section."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_a_good_card_and_modal_are_valid() -> None:
    assert validate_message("Refund?", card()) == []
    assert validate_view(reason_modal()) == []


@pytest.mark.parametrize(
    ("blocks", "error"),
    [
        ([{"type": "divider"}] * 51, "blocks: must have at most 50 items (got 51)"),
        ([section("a" * 3001)], "blocks[0].text.text: must be at most 3000 characters (got 3001)"),
        ([section("")], "blocks[0].text.text: must be at least 1 character"),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x"}] * 11}],
            "blocks[0].fields: must have at most 10 items (got 11)",
        ),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}],
            "blocks[0].fields[0].text: must be at most 2000 characters (got 2001)",
        ),
        (
            [{"type": "header", "text": plain("h" * 151)}],
            "blocks[0].text.text: must be at most 150 characters (got 151)",
        ),
        (
            [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}],
            "blocks[0].text: must be a plain_text text object",
        ),
        (
            [{"type": "actions", "elements": [button(text=plain("b" * 76))]}],
            "blocks[0].elements[0].text.text: must be at most 75 characters (got 76)",
        ),
        (
            [{"type": "actions", "elements": [button(value="v" * 2001)]}],
            "blocks[0].elements[0].value: must be at most 2000 characters (got 2001)",
        ),
        (
            [{"type": "actions", "elements": [button(url="https://x/" + "u" * 2991)]}],
            "blocks[0].elements[0].url: must be at most 3000 characters (got 3001)",
        ),
        (
            [{"type": "actions", "elements": [button(style="secondary")]}],
            "blocks[0].elements[0].style: must be 'primary' or 'danger' (got 'secondary')",
        ),
        (
            [{"type": "actions", "elements": [button(action_id="a" * 256)]}],
            "blocks[0].elements[0].action_id: must be at most 255 characters (got 256)",
        ),
        (
            [{"type": "actions", "elements": [button(action_id=str(i)) for i in range(26)]}],
            "blocks[0].elements: must have at most 25 items (got 26)",
        ),
        (
            [{"type": "actions", "elements": [button(), button()]}],
            "blocks[0].elements[1].action_id: duplicate action_id 'a' in this block",
        ),
        (
            [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
            "blocks[0].elements: must have at most 10 items (got 11)",
        ),
        (
            [{"type": "divider", "block_id": "x"}, {"type": "divider", "block_id": "x"}],
            "blocks[1].block_id: duplicate block_id 'x'",
        ),
        (
            [{"type": "divider", "block_id": "b" * 256}],
            "blocks[0].block_id: must be at most 255 characters (got 256)",
        ),
        (
            [{"type": "input", "element": {"type": "plain_text_input", "action_id": "t"}}],
            "blocks[0].label: must be a plain_text text object",
        ),
        ([{"type": "input", "label": plain("Why?")}], "blocks[0].element: is required"),
        (
            [
                {
                    "type": "input",
                    "label": plain("Why?"),
                    "element": {"type": "plain_text_input", "max_length": 3001},
                }
            ],
            "blocks[0].element.max_length: must be at most 3000 (got 3001)",
        ),
        ([{"type": "carousel"}], "blocks[0].type: unknown block type 'carousel'"),
    ],
)
def test_each_limit(blocks: list[dict[str, Any]], error: str) -> None:
    assert error in validate_blocks(blocks, max_blocks=50, path="blocks")


def test_message_errors_name_the_block_index() -> None:
    blocks = [section("ok"), section("ok"), section("ok"), section("x" * 3100)]
    assert validate_message("t", blocks) == [
        "blocks[3].text.text: must be at most 3000 characters (got 3100)"
    ]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"title": plain("t" * 25)}, "view.title.text: must be at most 24 characters (got 25)"),
        (
            {"private_metadata": "m" * 3001},
            "view.private_metadata: must be at most 3000 characters (got 3001)",
        ),
        ({"callback_id": "c" * 256}, "view.callback_id: must be at most 255 characters (got 256)"),
        ({"blocks": [{"type": "divider"}] * 101}, "view.blocks: must have at most 100 items (got 101)"),
        ({"submit": None}, "view.submit: must be a plain_text text object"),
    ],
)
def test_view_limits(change: dict[str, Any], error: str) -> None:
    assert error in validate_view({**reason_modal(), **change})


def test_a_modal_with_inputs_needs_a_submit_button() -> None:
    modal = reason_modal()
    del modal["submit"]
    assert validate_view(modal) == ["view.submit: is required when the view has input blocks"]


def test_home_tab_allows_a_hundred_blocks() -> None:
    assert validate_view({"type": "home", "blocks": [{"type": "divider"}] * 100}) == []
