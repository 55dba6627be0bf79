"""The requests benchmarks create and the cards they look for."""

from __future__ import annotations

from typing import Any

from bench.harness.stack import CHANNEL, Stack
from blocks import ids


def request_body(stack: Stack, n: int, *, approvers: int | None = None) -> dict[str, Any]:
    """A realistic request: the seeded users may approve, the card goes to the bench channel."""
    return {
        "action": "issue_refund",
        "summary": f"Refund $340 to order #{1000 + n}",
        "args": {"order": 1000 + n, "amount": 340, "currency": "USD"},
        "approvers": list(stack.users[:approvers]),
        "channel": CHANNEL,
        "urgency": "normal",
        "requester": "bench-agent",
    }


def card_request_id(message: dict[str, Any]) -> str | None:
    """The request a posted card belongs to: the value of its Approve button."""
    for block in message.get("blocks") or []:
        if block.get("block_id") != ids.BLOCK_ACTIONS:
            continue
        for element in block.get("elements") or []:
            if element.get("action_id") == ids.ACTION_APPROVE:
                return str(element.get("value"))
    return None
