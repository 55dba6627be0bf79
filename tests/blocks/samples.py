"""Fixed cards for the golden and limit tests: same input, same blocks, every run."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from blocks.card import Card, CardItem, Deadline, Failure

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
        **stakes(),
    }


DEADLINE = datetime(2026, 11, 21, 17, 50, tzinfo=UTC)
LEAD = "U0TEAMLEAD1"


def stakes() -> dict[str, Card]:
    """The cards the issue asks for: quorum progress, escalation, deadlines, after-decision failures."""
    full = pending(
        requester=None, agent="billing-bot", rule="refunds-over-100", quorum=2,
        link="https://agents.example.com/runs/run_42", groups=("S0BILLING",),
        args={"order_id": "4312", "amount": 120, "query": "LIKE '%*promo*%' <b>", "note": ":x: _keep_"},
        deadlines=(Deadline(at=DEADLINE, outcome="escalate", to=(LEAD,)),
                   Deadline(at=DEADLINE.replace(hour=21), outcome="reject")),
    )
    two = {APPROVER: CREATED.replace(minute=55), "U0APPROVER2": DECIDED}
    return {
        "pending_agent_deadline": full,
        "quorum_progress": replace(full, approved_by=(APPROVER,), urgency="high"),
        "escalated": replace(full, escalated_to=(LEAD,), approvers=(APPROVER, "U0APPROVER2", LEAD),
                             deadlines=full.deadlines[1:]),
        # Its rule escalates and then waits: no deadline is left once it has escalated.
        "escalated_waiting": replace(full, escalated_to=(LEAD,), approvers=(APPROVER, "U0APPROVER2", LEAD),
                                     deadlines=()),
        # One approval of two, then someone rejected it: only the rejecter rejected it.
        "quorum_rejected": replace(full, status="rejected", approved_by=(APPROVER,),
                                   voted_at={APPROVER: two[APPROVER]}, decided_by="U0APPROVER2",
                                   decided_at=DECIDED, reason="Not this quarter."),
        "pending_quiet": replace(full, mention="none", deadlines=()),
        "quorum_approved": replace(full, status="approved", approved_by=tuple(two), voted_at=two,
                                   decided_by="U0APPROVER2", decided_at=DECIDED,
                                   edited_args={**full.args, "amount": 100}),
        "approved_resume_failed": replace(
            full, status="approved", decided_by=APPROVER, decided_at=DECIDED, quorum=1,
            failure=Failure(what="resume", final=False, error="ConnectionError: checkpointer <down>")),
        "approved_callback_gave_up": replace(
            full, status="approved", decided_by=APPROVER, decided_at=DECIDED, quorum=1,
            failure=Failure(what="callback", final=True, error="HTTP 500 after 8 attempts")),
    }


def items(**decisions: dict[str, Any]) -> tuple[CardItem, CardItem]:
    """A batched tool-call request: an email (approve/edit/reject) and a payment (all four)."""
    email = CardItem(
        action="send_email",
        args={"to": "ops@example.com", "subject": "Refund issued", "cc": ["billing@example.com"]},
        description="Tell ops the refund went out.",
        allowed=("approve", "edit", "reject"),
        decision=decisions.get("email"),
    )
    payment = CardItem(
        action="issue_payment",
        args={"amount": 340, "currency": "USD", "memo": "Order #4312 <damaged>", "expedite": False},
        allowed=("approve", "edit", "respond", "reject"),
        decision=decisions.get("payment"),
    )
    return email, payment


EDITED = {
    "type": "edit",
    "by": APPROVER,
    "at": DECIDED.isoformat(),
    "args": {"amount": 300, "currency": "USD", "memo": "Order #4312 <damaged>", "note": "partial"},
}
REJECTED = {"type": "reject", "by": "U0APPROVER2", "at": DECIDED.isoformat(), "message": "Ops knows already."}


def hitl_cards() -> dict[str, Card]:
    """The two-item card pending, half answered (an edit), and decided."""
    hitl = pending(action="refund_batch", summary="Refund order #4312 and tell ops", args={})
    return {
        "hitl_pending": replace(hitl, items=items()),
        "hitl_one_edited": replace(hitl, items=items(payment=EDITED)),
        "hitl_decided": replace(
            hitl,
            items=items(payment=EDITED, email=REJECTED),
            status="answered",
            decided_by=APPROVER,
            decided_at=DECIDED,
        ),
    }


PAYMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "amount": {"type": "integer", "minimum": 1, "title": "Amount", "description": "In whole dollars"},
        "currency": {"type": "string", "enum": ["USD", "EUR"]},
        "memo": {"type": "string", "maxLength": 140},
        "expedite": {"type": "boolean"},
    },
    "required": ["amount", "currency"],
}
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "decision": {"enum": ["refund", "replace", "escalate"], "title": "What to do instead"},
        "note": {"type": "string", "description": "Shown to the customer"},
        "days": {"type": "integer", "minimum": 0},
        "extra": {"type": "object"},
    },
    "required": ["decision"],
}
