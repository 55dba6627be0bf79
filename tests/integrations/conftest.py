"""One policy file governs every runtime's tool calls; helpers to decide them in the sandbox."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from blocks import ids
from tests.conftest import CHANNEL

POLICY = Path(__file__).with_name("policy.yaml")


@pytest.fixture
def stack_overrides() -> dict[str, Any]:
    return {"policy_file": POLICY}


def pending_card(stack: Any, timeout: float = 15.0) -> tuple[dict[str, Any], dict[str, Any]]:
    """The one pending request and its card, once the card is posted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.run_jobs()
        pending = stack.api.get("/v1/requests", params={"status": "pending"}).json()["requests"]
        mine = pending[0]["id"] if pending else None
        cards = [m for m in stack.sandbox.messages(CHANNEL) if mine and mine in str(m["blocks"])]
        if cards:
            [request] = pending
            return request, cards[0]
        time.sleep(0.05)
    raise AssertionError("no pending request with a card")


def click(stack: Any, user: str, card: dict[str, Any], action: str, request_id: str) -> Any:
    """Press a button of the card as `user`."""
    return stack.sandbox.click(user, CHANNEL, card["ts"], action, value=ids.button_value(request_id, 0))


def reject(stack: Any, user: str, request_id: str, reason: str) -> None:
    """Reject through the modal, with a reason."""
    click(stack, user, stack.card(request_id), ids.ACTION_REJECT, request_id)
    [view] = stack.views(user)
    stack.sandbox.submit_view(user, view["id"], {ids.BLOCK_REASON: {ids.ACTION_REASON: reason}})


def audit_kinds(stack: Any, request_id: str) -> list[str]:
    """The audit events of one request, in order."""
    from sqlmodel import select

    from bot.storage.tables import AuditEvent

    with stack.w.db.read() as s:
        rows = s.exec(select(AuditEvent).where(AuditEvent.request_id == request_id)
                      .order_by(AuditEvent.seq)).all()
    return [r.kind for r in rows]
