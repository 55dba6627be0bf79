"""Constructors for the few Block Kit objects Signoff uses, as plain JSON-able dicts."""

from __future__ import annotations

from typing import Any

Block = dict[str, Any]


def plain(text: str, *, emoji: bool = True) -> dict[str, Any]:
    """A plain_text object (never parsed for formatting or mentions, so never escaped)."""
    # emoji=False for agent text: ":x:" in an argument must stay two colons and an x.
    return {"type": "plain_text", "text": text, "emoji": emoji}


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object whose text is already escaped."""
    # verbatim: Slack otherwise pre-parses the text and may turn a bare "@channel" in user
    # content into a real ping; tokens we build ourselves (<@U1>, <!date…>) still work.
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def section(block_id: str, text: str) -> Block:
    """A section block with escaped mrkdwn text."""
    return {"type": "section", "block_id": block_id, "text": mrkdwn(text)}


def header(block_id: str, text: str) -> Block:
    """A header block with plain text."""
    return {"type": "header", "block_id": block_id, "text": plain(text)}


def context(block_id: str, texts: list[str]) -> Block:
    """A context block of escaped mrkdwn texts."""
    return {"type": "context", "block_id": block_id, "elements": [mrkdwn(t) for t in texts]}


def divider(block_id: str) -> Block:
    """A divider block."""
    return {"type": "divider", "block_id": block_id}


def button(*, text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    """A button element; style is "primary", "danger" or None for the default look."""
    element: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": plain(text),
        "value": value,
    }
    if style is not None:
        element["style"] = style
    return element
