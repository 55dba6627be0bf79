"""Offline checks that blocks and views stay inside Slack's limits and escape user text."""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

# Our own tokens are the only things allowed inside <…> in mrkdwn.
_TOKEN = re.compile(
    r"<@[UW][A-Z0-9]+>|<!date\^\d+\^[^|<>]*\|[^<>]*>|<!subteam\^S[A-Z0-9]+>|<!here>"
    r"|<https?://[^|<>\s]+\|[^<>]*>"
)
_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def units(text: str) -> int:
    """UTF-16 length: the strictest way Slack might count."""
    return len(text.encode("utf-16-le")) // 2


def check_message(blocks: list[dict[str, Any]]) -> None:
    """Fail unless blocks form a valid message within every Block Kit limit."""
    assert 1 <= len(blocks) <= 50
    _check_with_slack_sdk(blocks)
    _check_blocks(blocks)


def check_view(view: dict[str, Any]) -> None:
    """Fail unless view is a valid modal within every Block Kit limit."""
    View(**view).validate_json()
    assert view["type"] == "modal"
    assert 1 <= len(view["blocks"]) <= 100
    assert 1 <= units(view["title"]["text"]) <= 24
    for button in ("submit", "close"):
        if button in view:
            assert 1 <= units(view[button]["text"]) <= 24
    assert 1 <= units(view["private_metadata"]) <= 3000
    assert 1 <= units(view["callback_id"]) <= 255
    _check_with_slack_sdk(view["blocks"])
    _check_blocks(view["blocks"])


def mrkdwn_texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every mrkdwn string in the blocks."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


def check_escaped(text: str) -> None:
    """Fail if mrkdwn text holds an unescaped &, < or > other than our tokens and quotes."""
    bare = _TOKEN.sub("", text)
    assert "<" not in bare, text[:200]
    assert not _ENTITY.search(bare), text[:200]
    for line in bare.split("\n"):
        # A quote marker at the start of a line is ours; any other ">" is user text.
        assert ">" not in line.removeprefix("> "), line[:200]


def _check_with_slack_sdk(blocks: list[dict[str, Any]]) -> None:
    """slack_sdk's models raise on over-length fields; round-trip to catch dropped keys."""
    for raw, parsed in zip(blocks, Block.parse_all(blocks), strict=True):
        assert parsed is not None, raw
        parsed.validate_json()
        assert parsed.to_dict() == raw


def _check_blocks(blocks: list[dict[str, Any]]) -> None:
    """Our own reading of the limits, counted in UTF-16 units."""
    block_ids = [block["block_id"] for block in blocks]
    assert len(set(block_ids)) == len(block_ids), block_ids
    for block in blocks:
        assert 1 <= units(block["block_id"]) <= 255
        _CHECKS.get(block["type"], lambda _: None)(block)
    for text in mrkdwn_texts(blocks):
        check_escaped(text)


def _check_section(block: dict[str, Any]) -> None:
    if "text" in block:
        assert 1 <= units(block["text"]["text"]) <= 3000
        assert block["text"]["text"].strip()
    fields = block.get("fields", [])
    assert len(fields) <= 10
    for field in fields:
        assert 1 <= units(field["text"]) <= 2000


def _check_header(block: dict[str, Any]) -> None:
    assert block["text"]["type"] == "plain_text"
    assert 1 <= units(block["text"]["text"]) <= 150


def _check_context(block: dict[str, Any]) -> None:
    assert 1 <= len(block["elements"]) <= 10
    for element in block["elements"]:
        assert 1 <= units(element["text"]) <= 3000


def _check_actions(block: dict[str, Any]) -> None:
    elements = block["elements"]
    assert 1 <= len(elements) <= 25
    action_ids = [element["action_id"] for element in elements]
    assert len(set(action_ids)) == len(action_ids)
    for element in elements:
        assert 1 <= units(element["action_id"]) <= 255
        assert 1 <= units(element["text"]["text"]) <= 75
        assert 1 <= units(element["value"]) <= 2000


def _check_input(block: dict[str, Any]) -> None:
    assert 1 <= units(block["label"]["text"]) <= 2000
    element = block["element"]
    assert 1 <= units(element["action_id"]) <= 255
    assert units(element.get("placeholder", {}).get("text", "")) <= 150
    assert element.get("max_length", 0) <= 3000


_CHECKS = {
    "section": _check_section,
    "header": _check_header,
    "context": _check_context,
    "actions": _check_actions,
    "input": _check_input,
}


def submitted(
    blocks: list[dict[str, Any]], typed: dict[str, str | None] | None = None
) -> dict[str, Any]:
    """view.state.values as Slack sends them for blocks: prefilled values, or what was typed.

    typed maps a block_id to the text typed into it, or for a select the option value chosen
    (None: left empty).
    """
    typed = typed or {}
    values: dict[str, Any] = {}
    for block in blocks:
        if block["type"] != "input":
            continue
        element = block["element"]
        block_id = block["block_id"]
        if element["type"] == "static_select":
            option = element.get("initial_option")
            if block_id in typed:
                chosen = typed[block_id]
                option = next((o for o in element["options"] if o["value"] == chosen), None)
                if chosen is not None and option is None:
                    option = {"text": {"type": "plain_text", "text": "?"}, "value": chosen}
            state = {"type": "static_select", "selected_option": option}
        else:
            text = typed[block_id] if block_id in typed else element.get("initial_value")
            state = {"type": "plain_text_input", "value": text or None}
        values[block_id] = {element["action_id"]: state}
    return values
