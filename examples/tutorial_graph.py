"""The refund graph of the LangGraph approval tutorial, unchanged but for its checkpointer.

    SIGNOFF_GRAPHS="tutorial=examples.tutorial_graph:graph" scripts/dev

The approval node only asks; the execute node acts. Signoff's workers attach their checkpointer,
post a card for the interrupt and resume the graph with the click (True / False).
"""

from __future__ import annotations

from typing import TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from bot.agents.decisions import SignoffDecisions


class State(TypedDict, total=False):
    action: str
    approved: bool
    signoff_decisions: SignoffDecisions  # who decided what, recorded in the checkpoint


def approval_node(state: State) -> dict[str, bool]:
    decision = interrupt(f"Agent wants to: {state['action']}. Approve? (True/False)")
    return {"approved": decision}


def execute_node(state: State) -> State:
    print(f"Executing: {state['action']}" if state["approved"] else "Action denied.")
    return state


builder = StateGraph(State)
builder.add_node("approval", approval_node)
builder.add_node("execute", execute_node)
builder.add_edge(START, "approval")
builder.add_edge("approval", "execute")
builder.add_edge("execute", END)
graph = builder.compile()  # no checkpointer here: Signoff attaches its shared one
