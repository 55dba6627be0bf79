"""Real StateGraphs on InMemorySaver: Signoff's helper, Agent Inbox, generic values, breakpoints."""

from __future__ import annotations

import uuid
import warnings
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import is_invalid_resume
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from pydantic import ValidationError
from typing_extensions import TypedDict

from bot.agents import Decision, request_approval
from bot.agents.payloads import breakpoint_spec, resume_value, spec_from_interrupt
from bot.core.items import DecisionType
from bot.errors import InvalidInput
from tests.agents.support import NOW, decide, pending


class State(TypedDict, total=False):
    out: Any
    ran: list[str]


def one_node_graph(node: Any, **compile_kwargs: Any) -> Any:
    builder = StateGraph(State)
    builder.add_node("ask", node)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder.compile(checkpointer=InMemorySaver(), **compile_kwargs)


def thread() -> dict[str, Any]:
    return {"configurable": {"thread_id": str(uuid.uuid4())}}


# --- Signoff's own helper ------------------------------------------------------------------


def refund_node(state: State) -> State:
    decision = request_approval(action="refund", args={"order": "A-17", "eur": 40},
                                summary="Refund order A-17?", context={"customer": "ACME"},
                                urgency="high", approvers=["U0BOB", "U0CAROL"], channel="C0REFUNDS",
                                allow=("approve", "edit", "reject"))
    return {"out": decision}


def start_refund() -> tuple[Any, dict[str, Any], Any]:
    graph, config = one_node_graph(refund_node), thread()
    result = graph.invoke({}, config)
    (raised,) = result["__interrupt__"]
    return graph, config, raised


def test_helper_payload_is_recognised_as_signoff() -> None:
    _, _, raised = start_refund()
    spec = spec_from_interrupt(raised.value, response_schema=raised.response_schema, graph="billing")
    assert spec.kind == "signoff"
    assert spec.summary == "Refund order A-17?"
    assert spec.urgency == "high"
    assert spec.approvers == ("U0BOB", "U0CAROL")
    assert spec.channel == "C0REFUNDS"
    assert spec.context == {"customer": "ACME"}
    (item,) = spec.items
    assert item.action == "refund"
    assert item.args == {"order": "A-17", "eur": 40}
    assert item.allowed == (DecisionType.APPROVE, DecisionType.EDIT, DecisionType.REJECT)


@pytest.mark.parametrize(("decision", "expected"), [
    (decide("approve"), Decision(type="approve", args={"order": "A-17", "eur": 40}, message=None,
                                 by="U0ALICE", at=NOW)),
    (decide("edit", args={"order": "A-17", "eur": 25}),
     Decision(type="edit", args={"order": "A-17", "eur": 25}, message=None, by="U0ALICE", at=NOW)),
    (decide("reject", message="duplicate", by="U0BOB"),
     Decision(type="reject", args={"order": "A-17", "eur": 40}, message="duplicate", by="U0BOB", at=NOW)),
])
def test_helper_round_trip(decision: Any, expected: Decision) -> None:
    graph, config, raised = start_refund()
    spec = spec_from_interrupt(raised.value, response_schema=raised.response_schema, graph="billing")
    value = resume_value(spec.kind, spec.items, [decision])
    result = graph.invoke(Command(resume={raised.id: value}), config)
    assert result["out"] == expected
    assert result["out"].approved is (expected.type in ("approve", "edit"))
    assert pending(graph, config) == []


def test_helper_answer_of_the_wrong_shape_is_refused_and_can_be_answered_again() -> None:
    graph, config, raised = start_refund()
    with pytest.raises(ValidationError) as caught:  # respond is not in allow=...
        graph.invoke(Command(resume={raised.id: {"type": "respond", "args": {}, "message": "x"}}), config)
    assert is_invalid_resume(caught.value)
    assert [i.id for i in pending(graph, config)] == [raised.id]
    result = graph.invoke(Command(resume={raised.id: {"type": "approve", "args": {"order": "A-17"}}}), config)
    assert result["out"].type == "approve" and result["out"].by is None


def test_helper_refuses_what_it_cannot_send() -> None:
    def bad(kwargs: dict[str, Any]) -> Any:
        graph = one_node_graph(lambda state: {"out": request_approval(action="x", **kwargs)})
        return graph.invoke({}, thread())

    with pytest.raises(ValueError, match="urgency"):
        bad({"urgency": "urgent"})
    with pytest.raises(ValueError, match="allow"):
        bad({"allow": ("approve", "maybe")})
    with pytest.raises(ValueError, match="JSON"):
        bad({"args": {"when": object()}})
    # What the worker would refuse is refused here first, by the same check.
    for wrong in (True, 0.5, 366 * 86400 + 1, float("nan")):
        with pytest.raises(ValueError, match=r"timeout must be seconds, from 1 to 31622400 \(366d\)"):
            bad({"timeout": wrong})
    with pytest.raises(ValueError, match="approvers must be a list of Slack user ids"):
        bad({"approvers": ["U0BOB", ""]})


def test_code_before_the_call_runs_again_on_resume() -> None:
    calls: list[str] = []

    def node(state: State) -> State:
        calls.append("before")
        decision = request_approval(action="deploy")
        calls.append(f"after:{decision.type}")
        return {}

    graph, config = one_node_graph(node), thread()
    (raised,) = graph.invoke({}, config)["__interrupt__"]
    spec = spec_from_interrupt(raised.value, graph="deployer")
    value = resume_value(spec.kind, spec.items, [decide("approve")])
    graph.invoke(Command(resume={raised.id: value}), config)
    assert calls == ["before", "before", "after:approve"]


# --- Agent Inbox HumanInterrupt ------------------------------------------------------------


def inbox_request(**config: bool) -> dict[str, Any]:
    flags = {"allow_accept": True, "allow_edit": True, "allow_respond": True, "allow_ignore": True} | config
    return {"action_request": {"action": "run_command", "args": {"command": "ls", "args": ["-l"]}},
            "config": flags, "description": "Please review the command before execution"}


def inbox_graph(*, wrapped: bool) -> Any:
    def node(state: State) -> State:
        request = inbox_request()
        response = interrupt([request])[0] if wrapped else interrupt(request)
        return {"out": response}

    return one_node_graph(node)


@pytest.mark.parametrize("wrapped", [True, False])
@pytest.mark.parametrize(("decision", "expected"), [
    (decide("approve"), {"type": "accept", "args": None}),
    (decide("edit", args={"command": "ls", "args": ["-la"]}),
     {"type": "edit", "args": {"action": "run_command", "args": {"command": "ls", "args": ["-la"]}}}),
    (decide("respond", message="use find instead"), {"type": "response", "args": "use find instead"}),
    (decide("reject", message="no"), {"type": "ignore", "args": "no"}),
])
def test_agent_inbox_round_trip(wrapped: bool, decision: Any, expected: dict[str, Any]) -> None:
    graph, config = inbox_graph(wrapped=wrapped), thread()
    (raised,) = graph.invoke({}, config)["__interrupt__"]
    spec = spec_from_interrupt(raised.value, graph="ops")
    assert spec.kind == ("agent_inbox" if wrapped else "agent_inbox_single")
    assert spec.summary == "Please review the command before execution"
    (item,) = spec.items
    assert item.action == "run_command" and item.args == {"command": "ls", "args": ["-l"]}
    assert item.allowed == tuple(DecisionType)
    value = resume_value(spec.kind, spec.items, [decision])
    assert graph.invoke(Command(resume={raised.id: value}), config)["out"] == expected


def test_agent_inbox_typed_dicts_from_langgraph_prebuilt() -> None:
    with warnings.catch_warnings():  # deprecated in langgraph 1.x, still what Agent Inbox graphs send
        warnings.simplefilter("ignore")
        from langgraph.prebuilt.interrupt import ActionRequest, HumanInterrupt, HumanInterruptConfig

        request = HumanInterrupt(action_request=ActionRequest(action="rm", args={"path": "/tmp/x"}),
                                 config=HumanInterruptConfig(allow_ignore=True, allow_respond=False,
                                                             allow_edit=False, allow_accept=True),
                                 description=None)
    spec = spec_from_interrupt([request], graph="ops")
    assert spec.kind == "agent_inbox"
    assert spec.summary == "Run rm?"
    assert spec.items[0].allowed == (DecisionType.APPROVE, DecisionType.REJECT)


# --- generic values ------------------------------------------------------------------------


def test_generic_string_question_round_trip() -> None:
    graph = one_node_graph(lambda state: {"out": interrupt("Deploy to prod?")})
    for decision, expected in [(decide("approve"), True), (decide("reject", message="freeze"), False)]:
        config = thread()
        (raised,) = graph.invoke({}, config)["__interrupt__"]
        spec = spec_from_interrupt(raised.value, response_schema=raised.response_schema, graph="deployer")
        assert spec.kind == "generic" and spec.summary == "Deploy to prod?"
        assert spec.items[0].allowed == (DecisionType.APPROVE, DecisionType.REJECT)
        result = graph.invoke(Command(resume={raised.id: resume_value(spec.kind, spec.items, [decision])}),
                              config)
        assert result["out"] == expected


FORM = {"type": "object", "properties": {"replicas": {"type": "integer"}}, "required": ["replicas"]}


class Replicas(TypedDict):
    replicas: int


def test_generic_json_schema_form_is_not_validated_by_langgraph() -> None:
    def node(state: State) -> State:
        return {"out": interrupt({"q": "How many replicas?"}, response_schema=FORM)}

    graph = one_node_graph(node)
    config = thread()
    (raised,) = graph.invoke({}, config)["__interrupt__"]
    assert raised.response_schema == FORM  # carried on the Interrupt as given
    spec = spec_from_interrupt(raised.value, response_schema=raised.response_schema, graph="scaler")
    (item,) = spec.items
    assert spec.kind == "generic" and spec.summary == "How many replicas?"
    assert item.allowed == (DecisionType.RESPOND,) and item.answer_schema == FORM
    # A dict schema is only shown to clients: langgraph resumes with whatever it gets, so
    # Signoff must validate the form itself before resuming.
    value = resume_value(spec.kind, spec.items, [decide("respond", answer={"replicas": "many"})])
    assert graph.invoke(Command(resume={raised.id: value}), config)["out"] == {"replicas": "many"}


def test_generic_typed_schema_form_is_validated_by_langgraph() -> None:
    graph = one_node_graph(lambda state: {"out": interrupt({"q": 1}, response_schema=Replicas)})
    config = thread()
    (raised,) = graph.invoke({}, config)["__interrupt__"]
    assert raised.response_schema["properties"] == {"replicas": {"title": "Replicas", "type": "integer"}}
    spec = spec_from_interrupt(raised.value, response_schema=raised.response_schema, graph="scaler")
    assert spec.items[0].answer_schema == raised.response_schema
    bad = resume_value(spec.kind, spec.items, [decide("respond", answer={"replicas": "many"})])
    with pytest.raises(ValidationError) as caught:
        graph.invoke(Command(resume={raised.id: bad}), config)
    assert is_invalid_resume(caught.value)
    assert [i.id for i in pending(graph, config)] == [raised.id]  # nothing saved: answer again
    good = resume_value(spec.kind, spec.items, [decide("respond", answer={"replicas": 3})])
    assert graph.invoke(Command(resume={raised.id: good}), config)["out"] == {"replicas": 3}


# --- static breakpoints --------------------------------------------------------------------


def test_breakpoint_approve_continues_and_reject_is_not_resumed() -> None:
    builder = StateGraph(State)
    builder.add_node("plan", lambda state: {"ran": ["plan"]})
    builder.add_node("act", lambda state: {"ran": [*state.get("ran", []), "act"]})
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "act")
    builder.add_edge("act", END)
    graph = builder.compile(checkpointer=InMemorySaver(), interrupt_before=["act"])
    config = thread()
    graph.invoke({}, config)
    state = graph.get_state(config)
    assert state.next == ("act",) and state.interrupts == ()
    spec = breakpoint_spec(graph="planner", next_nodes=state.next, values=state.values)
    assert spec.kind == "breakpoint" and spec.summary == "Continue planner to act?"
    assert spec.items[0].action == "continue to act"
    assert spec.context == {"state": {"ran": ["plan"]}}
    with pytest.raises(InvalidInput):
        resume_value(spec.kind, spec.items, [decide("reject")])
    assert resume_value(spec.kind, spec.items, [decide("approve")]) is None
    assert graph.invoke(None, config)["ran"] == ["plan", "act"]
