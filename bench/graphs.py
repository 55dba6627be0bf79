"""The graph the resume benchmark registers with Signoff: the LangGraph approval tutorial's refund
graph, here so the benchmark does not depend on tests/. The approval node only asks; the execute
node acts (here: it marks the state, it calls nothing)."""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import interrupt


class RefundState(TypedDict, total=False):
    action: str
    approved: bool
    executed: bool


def approval_node(state: RefundState) -> dict[str, Any]:
    """Ask a human; the answer is whatever the resume carries (True to approve)."""
    decision = interrupt(f"Agent wants to: {state['action']}. Approve? (True/False)")
    return {"approved": decision}


def execute_node(state: RefundState) -> dict[str, Any]:
    """Act only when approved."""
    return {"executed": bool(state.get("approved"))}


def build_refund(checkpointer: Any = None) -> CompiledStateGraph:
    """approval -> execute, compiled on `checkpointer` (Signoff attaches its own to `refund_graph`)."""
    builder = StateGraph(RefundState)
    builder.add_node("approval", approval_node)
    builder.add_node("execute", execute_node)
    builder.add_edge(START, "approval")
    builder.add_edge("approval", "execute")
    builder.add_edge("execute", END)
    return builder.compile(checkpointer=checkpointer)


refund_graph = build_refund()
