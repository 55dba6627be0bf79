"""Graphs the tests register with Signoff (by import path, as users do)."""

from __future__ import annotations

import operator
import os
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from bot.agents import request_approval
from bot.agents.decisions import SignoffDecisions


def record(event: str) -> None:
    """A side effect the tests count, visible across processes (a line in a file)."""
    path = os.environ.get("SIGNOFF_TEST_EFFECTS")
    if path:
        with Path(path).open("a") as f:
            f.write(event + "\n")


def effects() -> list[str]:
    """The side effects recorded so far."""
    path = Path(os.environ["SIGNOFF_TEST_EFFECTS"])
    return path.read_text().splitlines() if path.exists() else []


# The refund graph of the LangGraph approval tutorial: the approval node only asks, the
# execute node acts.
class RefundState(TypedDict):
    action: str
    approved: bool


def approval_node(state: RefundState) -> dict[str, Any]:
    decision = interrupt(f"Agent wants to: {state['action']}. Approve? (True/False)")
    return {"approved": decision}


def execute_node(state: RefundState) -> RefundState:
    if state["approved"]:
        record(f"executed {state['action']}")
    return state


def chain(state: type, **nodes: Any) -> StateGraph:
    """A graph of `nodes`, one after the other in the order given, from START to END."""
    builder = StateGraph(state)
    previous = START
    for name, node in nodes.items():
        builder.add_node(name, node)
        builder.add_edge(previous, name)
        previous = name
    builder.add_edge(previous, END)
    return builder


def one_step(state: type, name: str, node: Any) -> StateGraph:
    """A graph of one node, `name`, from START to END."""
    return chain(state, **{name: node})


def _refund_builder() -> StateGraph:
    return chain(RefundState, approval=approval_node, execute=execute_node)


refund_graph = _refund_builder().compile()  # Signoff attaches its checkpointer


def breakpoint_graph(checkpointer: Any) -> Any:
    """A factory taking the checkpointer, with a static breakpoint before acting."""
    builder = StateGraph(RefundState)
    builder.add_node("prepare", lambda s: {"approved": True})
    builder.add_node("execute", execute_node)
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "execute")
    builder.add_edge("execute", END)
    return builder.compile(checkpointer=checkpointer, interrupt_before=["execute"])


# Two branches that each ask, in parallel: two interrupts pending on one thread.
class PairState(TypedDict):
    answers: Annotated[list[str], operator.add]


def _ask(name: str) -> Any:
    def node(state: PairState) -> dict[str, Any]:
        decision = request_approval(action=f"deploy_{name}", args={"region": name}, summary=f"Deploy {name}?")
        return {"answers": [f"{name}:{decision.type}"]}
    return node


def _pair_builder() -> StateGraph:
    builder = StateGraph(PairState)
    builder.add_node("eu", _ask("eu"))
    builder.add_node("us", _ask("us"))
    builder.add_edge(START, "eu")
    builder.add_edge(START, "us")
    builder.add_edge("eu", END)
    builder.add_edge("us", END)
    return builder


pair_graph = _pair_builder().compile()


# Signoff's own helper, then a slow act: killing the worker during the sleep must not make the
# act happen twice once the resume is retried.
class SlowState(TypedDict):
    amount: int
    done: bool


def slow_approval(state: SlowState) -> dict[str, Any]:
    decision = request_approval(action="issue_refund", args={"amount": state["amount"]},
                                summary=f"Refund ${state['amount']}", urgency="high")
    if not decision.approved:
        return {"done": False}
    time.sleep(float(os.environ.get("SIGNOFF_TEST_SLOW", "0")))
    hold = os.environ.get("SIGNOFF_TEST_HOLD")  # a file: the step waits while it exists (60 s at most)
    for _ in range(600):
        if not hold or not os.path.exists(hold):
            break
        time.sleep(0.1)
    record(f"refunded {decision.args['amount']}")
    return {"done": True}


slow_graph = one_step(SlowState, "approve_and_refund", slow_approval).compile()


# A question with a form for the answer (dict response_schema: Signoff validates it).
class FormState(TypedDict):
    answer: Any


SHIP_SCHEMA = {"type": "object", "required": ["carrier", "days"],
               "properties": {"carrier": {"type": "string", "enum": ["ups", "dhl"]},
                              "days": {"type": "integer", "minimum": 1, "maximum": 30}}}


def form_node(state: FormState) -> dict[str, Any]:
    return {"answer": interrupt({"question": "How should we ship order 77?"}, response_schema=SHIP_SCHEMA)}


form_graph = one_step(FormState, "ask", form_node).compile()

GRAPHS = {
    "refund": "tests.graph_apps:refund_graph",
    "breakpoint": "tests.graph_apps:breakpoint_graph",
    "pair": "tests.graph_apps:pair_graph",
    "slow": "tests.graph_apps:slow_graph",
    "form": "tests.graph_apps:form_graph",
    "tutorial": "examples.tutorial_graph:graph",  # the README's
}


def _hitl_agent(checkpointer: Any, mode: str) -> Any:
    """A LangChain agent with HumanInTheLoopMiddleware, unchanged, on a scripted model."""
    from langchain.agents import create_agent
    from langchain.agents.middleware import HumanInTheLoopMiddleware
    from langchain_core.messages import AIMessage
    from langchain_core.tools import tool

    from tests.agents.support import ScriptedModel

    @tool
    def send_email(to: str, body: str) -> str:
        """Send an email."""
        record(f"send_email to={to} body={body}")
        return "sent"

    @tool
    def delete_file(path: str) -> str:
        """Delete a file."""
        record(f"delete_file path={path}")
        return "deleted"

    model = ScriptedModel(responses=[
        AIMessage(content="", tool_calls=[
            {"name": "send_email", "args": {"to": "ann@example.com", "body": "hi"}, "id": "call-1"},
            {"name": "delete_file", "args": {"path": "/tmp/report.csv"}, "id": "call-2"}]),
        AIMessage(content="done")])
    hitl = HumanInTheLoopMiddleware(interrupt_on={
        "send_email": {"allowed_decisions": ["approve", "edit", "reject"]},
        "delete_file": {"allowed_decisions": ["approve", "reject", "respond"]},
    }, interrupt_mode=mode)  # type: ignore[arg-type]
    return create_agent(model=model, tools=[send_email, delete_file], middleware=[hitl],
                        checkpointer=checkpointer)


def batched_agent(checkpointer: Any) -> Any:
    """Both tool calls in one HITLRequest."""
    return _hitl_agent(checkpointer, "batched")


def per_call_agent(checkpointer: Any) -> Any:
    """One ToolApprovalRequest per tool call."""
    return _hitl_agent(checkpointer, "per_call")


GRAPHS |= {"batched": "tests.graph_apps:batched_agent", "per_call": "tests.graph_apps:per_call_agent"}


# Acting fails while a flag file exists: the resume is retried, and applied once it works.
def flaky_execute(state: RefundState) -> RefundState:
    flag = os.environ.get("SIGNOFF_TEST_FAIL_FLAG")
    if flag and Path(flag).exists():
        raise RuntimeError("payment provider unavailable")
    return execute_node(state)


def _flaky_builder() -> StateGraph:
    builder = StateGraph(RefundState)
    builder.add_node("approval", approval_node)
    builder.add_node("execute", flaky_execute)
    builder.add_edge(START, "approval")
    builder.add_edge("approval", "execute")
    builder.add_edge("execute", END)
    return builder


flaky_graph = _flaky_builder().compile()
GRAPHS["flaky"] = "tests.graph_apps:flaky_graph"


# Preparing fails while the flag file exists, before the graph asks anything.
def flaky_prepare(state: RefundState) -> dict[str, Any]:
    flag = os.environ.get("SIGNOFF_TEST_FAIL_FLAG")
    if flag and Path(flag).exists():
        raise RuntimeError("inventory service unavailable")
    return {}


_flaky_start = StateGraph(RefundState)
_flaky_start.add_node("prepare", flaky_prepare)
_flaky_start.add_node("approval", approval_node)
_flaky_start.add_node("execute", execute_node)
_flaky_start.add_edge(START, "prepare")
_flaky_start.add_edge("prepare", "approval")
_flaky_start.add_edge("approval", "execute")
_flaky_start.add_edge("execute", END)
flaky_start_graph = _flaky_start.compile()
GRAPHS["flaky_start"] = "tests.graph_apps:flaky_start_graph"


# A tool call a model nested too deep: the run fails visibly and no request is stored. (Past
# ~250 levels LangGraph itself cannot checkpoint the interrupt.)
def deep_node(state: SlowState) -> dict[str, Any]:
    args: dict[str, Any] = {"leaf": state["amount"]}
    for _ in range(40):
        args = {"a": args}
    request_approval(action="deep_call", args=args, summary="nested too deep")
    return {"done": True}


# A graph that writes Signoff's payload by hand, as `payload` says: a field it gets wrong fails
# the run visibly (a deadline far enough off overflowed, and the run was retried until stranded;
# a misspelt on_timeout was dropped).
class HandwrittenState(TypedDict, total=False):
    payload: dict[str, Any]
    done: bool


def handwritten_node(state: HandwrittenState) -> dict[str, Any]:
    interrupt({"type": "signoff_approval", "action": "by_hand", "allowed": ["approve", "reject"],
               **state["payload"]})
    return {"done": True}


# A state that declares Signoff's decisions key gets each decision appended to it.
class RecordedState(TypedDict, total=False):
    action: str
    approved: bool
    api_token: str  # redacted on breakpoint cards by its name
    signoff_decisions: SignoffDecisions


def recorded_breakpoint_graph(checkpointer: Any) -> Any:
    """A breakpoint before acting, on a state that records Signoff's decisions."""
    builder = StateGraph(RecordedState)
    builder.add_node("prepare", lambda s: {"approved": True})
    builder.add_node("execute", execute_node)  # type: ignore[arg-type]
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "execute")
    builder.add_edge("execute", END)
    return builder.compile(checkpointer=checkpointer, interrupt_before=["execute"])


def _decision_node(state: RecordedState) -> dict[str, Any]:
    # A plain interrupt that asks for the whole decision rather than a bare bool.
    answer = interrupt({"question": f"May I {state['action']}?", "answer_as": "decision"})
    record(f"answer approved={answer['approved']} reason={answer['reason']} by={answer['by']}")
    return {"approved": answer["approved"]}


deep_graph = one_step(SlowState, "ask", deep_node).compile()
GRAPHS["deep"] = "tests.graph_apps:deep_graph"
handwritten_graph = one_step(HandwrittenState, "ask", handwritten_node).compile()
GRAPHS["handwritten"] = "tests.graph_apps:handwritten_graph"


# A good request_approval and, in parallel, a payload written by hand: a wrong one fails the run
# before the good one is asked.
def _good_node(state: HandwrittenState) -> dict[str, Any]:
    request_approval(action="good_call", summary="a good one")
    return {"done": True}


def _parallel_handwritten_builder() -> StateGraph:
    builder = StateGraph(HandwrittenState)
    builder.add_node("good", _good_node)
    builder.add_node("by_hand", handwritten_node)
    for node in ("good", "by_hand"):
        builder.add_edge(START, node)
        builder.add_edge(node, END)
    return builder


parallel_handwritten_graph = _parallel_handwritten_builder().compile()
GRAPHS["parallel_handwritten"] = "tests.graph_apps:parallel_handwritten_graph"


# The same two, one after the other: the first is answered, and the second cannot be asked.
then_handwritten_graph = chain(HandwrittenState, good=_good_node, by_hand=handwritten_node).compile()
GRAPHS["then_handwritten"] = "tests.graph_apps:then_handwritten_graph"
decision_graph = one_step(RecordedState, "ask", _decision_node).compile()
GRAPHS |= {"recorded_breakpoint": "tests.graph_apps:recorded_breakpoint_graph",
           "shown_breakpoint": "tests.graph_apps:recorded_breakpoint_graph?show=action",
           "decision": "tests.graph_apps:decision_graph"}


class _Unsaveable:
    """An object the checkpointer's msgpack serializer refuses."""


# Samples for `signoff graphs check`: one fine (dates and sets round-trip), one not.
GOOD_SAMPLE = {"action": "refund", "when": __import__("datetime").date(2026, 12, 1), "tags": {"a"}}
BAD_SAMPLE = {"action": "refund", "draft": {"to": "a@example.com", "client": _Unsaveable()},
              "scores": [1.0, float("nan")]}
