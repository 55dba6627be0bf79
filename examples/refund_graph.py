"""The README's graph: a node that asks with `request_approval` and acts on the typed decision.

    SIGNOFF_POLICY_FILE=examples/policy.yaml SIGNOFF_GRAPHS="refund=examples.refund_graph:graph" signoff dev
    signoff run refund --input '{"order": 1234}'

Under examples/policy.yaml the `refunds` rule asks @finance in #approvals; `payments` stands in
for a payment provider's client.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from bot.agents import request_approval


class State(TypedDict, total=False):
    order: int
    status: str


class payments:  # noqa: N801 - reads as the module it stands in for
    refunded: list[dict[str, Any]] = []

    @staticmethod
    def refund(**args: Any) -> None:
        payments.refunded.append(args)
        print(f"Refunded {args}")


def refund(state):
    decision = request_approval(action="issue_refund", args={"order": state["order"], "amount": 340},
                                summary="Refund $340 to order #1234", urgency="high",
                                allowed_decisions=["approve", "edit", "reject"])
    if not decision.approved:
        return {"status": f"not refunded: {decision.message}"}
    payments.refund(**decision.args)        # the edited arguments if the approver changed them
    return {"status": f"refunded, approved by {decision.by}"}


builder = StateGraph(State)
builder.add_node("refund", refund)
builder.add_edge(START, "refund")
builder.add_edge("refund", END)
graph = builder.compile()
