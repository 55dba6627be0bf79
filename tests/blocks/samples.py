"""Fixed cards for the golden and limit tests: same input, same blocks, every run."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from blocks.card import Card

CREATED = datetime(2026, 11, 21, 13, 50, tzinfo=UTC)
DECIDED = datetime(2026, 11, 21, 14, 2, tzinfo=UTC)
APPROVER = "U0APPROVER1"


def pending(**changes: Any) -> Card:
    """A typical pending refund request, with any field changed."""
    card = Card(
        request_id="req_01JD3W4K8Z",
        action="issue_refund",
        summary="Refund $120 to order #4312 (arrived damaged)",
        args={
            "order_id": "4312",
            "amount": {"value": 120, "currency": "USD"},
            "notify_customer": True,
        },
        context={"ticket": "ZD-88213", "customer_tier": "gold"},
        requester="U0REQUESTER",
        approvers=(APPROVER, "U0APPROVER2"),
        created_at=CREATED,
    )
    return replace(card, **changes)


def truncated() -> Card:
    """A pending card whose arguments cannot all be shown: long values, too many keys."""
    args: dict[str, Any] = {
        "sql": "UPDATE orders SET status = 'refunded' WHERE id IN ("
        + ", ".join(str(n) for n in range(400))
        + ");",
        "note": "Line one & <two>\nline three",
        "matrix": [[row * col for col in range(5)] for row in range(3)],
    }
    args.update({f"flag_{n:02d}": n % 2 == 0 for n in range(22)})
    return pending(args=args, urgency="high", summary="Mark 400 orders refunded")


def cards() -> dict[str, Card]:
    """Every card state the golden tests pin down, by name."""
    return {
        "pending_normal": pending(),
        "pending_high": pending(urgency="high"),
        "pending_low": pending(urgency="low", requester="billing-agent <nightly>", context=None),
        "pending_truncated": truncated(),
        "approved": pending(status="approved", decided_by=APPROVER, decided_at=DECIDED),
        "rejected": pending(
            status="rejected",
            decided_by=APPROVER,
            decided_at=DECIDED,
            reason="Customer was already refunded.\nSee ZD-88213 & <the notes>.",
        ),
        "cancelled": pending(
            status="cancelled", decided_by="agent:billing-bot", decided_at=DECIDED
        ),
        "expired": pending(status="expired", decided_by="system", decided_at=DECIDED),
    }
