"""A real LangChain agent with HumanInTheLoopMiddleware, a scripted chat model, and InMemorySaver."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import is_invalid_resume
from langgraph.types import Command
from pydantic import ValidationError

from bot.agents.payloads import resume_value, spec_from_interrupt
from bot.core.items import DecisionType
from tests.agents.support import ScriptedModel, decide, pending


class Agent:
    """One agent thread whose tools record the arguments they actually ran with."""

    def __init__(self, mode: str) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

        @tool
        def send_email(to: str, body: str) -> str:
            """Send an email."""
            self.calls.append(("send_email", {"to": to, "body": body}))
            return "sent"

        @tool
        def delete_file(path: str) -> str:
            """Delete a file."""
            self.calls.append(("delete_file", {"path": path}))
            return "deleted"

        model = ScriptedModel(responses=[
            AIMessage(content="", tool_calls=[
                {"name": "send_email", "args": {"to": "ann@example.com", "body": "hi"}, "id": "call-1"},
                {"name": "delete_file", "args": {"path": "/tmp/report.csv"}, "id": "call-2"}]),
            AIMessage(content="done")])
        hitl = HumanInTheLoopMiddleware(interrupt_on={
            "send_email": {"allowed_decisions": ["approve", "edit", "reject"],
                           "description": "Emails leave the company"},
            "delete_file": {"allowed_decisions": ["approve", "reject", "respond"]},
        }, interrupt_mode=mode)  # type: ignore[arg-type]
        self.graph = create_agent(model=model, tools=[send_email, delete_file], middleware=[hitl],
                                  checkpointer=InMemorySaver())
        self.config: dict[str, Any] = {"configurable": {"thread_id": str(uuid.uuid4())}}

    def start(self) -> list[Any]:
        """The raised interrupts; per call, sorted by tool call id: their order is not stable."""
        raised = self.graph.invoke({"messages": [("user", "tidy up")]}, self.config)["__interrupt__"]
        return sorted(raised, key=lambda i: str(i.value.get("tool_call_id", "")))

    def ran(self) -> list[tuple[str, dict[str, Any]]]:
        """The tool calls that ran, in a stable order: the tool node runs them in parallel."""
        return sorted(self.calls, key=lambda call: call[0], reverse=True)

    def resume(self, answers: dict[str, Any]) -> dict[str, Any]:
        return dict(self.graph.invoke(Command(resume=answers), self.config))


def tool_messages(result: dict[str, Any]) -> dict[str, str]:
    return {m.tool_call_id: str(m.content) for m in result["messages"] if isinstance(m, ToolMessage)}


# --- batched: one HITLRequest --------------------------------------------------------------


def test_batched_request_becomes_two_items() -> None:
    (raised,) = Agent("batched").start()
    spec = spec_from_interrupt(raised.value, response_schema=raised.response_schema, graph="assistant")
    assert raised.response_schema is None
    assert spec.kind == "hitl_batched"
    assert spec.summary == "Review 2 tool calls: send_email, delete_file"
    email, delete = spec.items
    assert (email.action, email.args) == ("send_email", {"to": "ann@example.com", "body": "hi"})
    assert email.description == "Emails leave the company"
    assert email.allowed == (DecisionType.APPROVE, DecisionType.EDIT, DecisionType.REJECT)
    assert (delete.action, delete.args) == ("delete_file", {"path": "/tmp/report.csv"})
    assert delete.allowed == (DecisionType.APPROVE, DecisionType.REJECT, DecisionType.RESPOND)


def test_batched_edit_one_approve_the_other() -> None:
    agent = Agent("batched")
    (raised,) = agent.start()
    spec = spec_from_interrupt(raised.value, graph="assistant")
    value = resume_value(spec.kind, spec.items, [
        decide("edit", args={"to": "bob@example.com", "body": "hello"}), decide("approve")])
    assert value == {"decisions": [
        {"type": "edit", "edited_action": {"name": "send_email",
                                           "args": {"to": "bob@example.com", "body": "hello"}}},
        {"type": "approve"}]}
    result = agent.resume({raised.id: value})
    assert agent.ran() == [("send_email", {"to": "bob@example.com", "body": "hello"}),
                           ("delete_file", {"path": "/tmp/report.csv"})]
    assert result["messages"][-1].content == "done"


def test_batched_reject_and_respond_never_run_the_tools() -> None:
    agent = Agent("batched")
    (raised,) = agent.start()
    spec = spec_from_interrupt(raised.value, graph="assistant")
    value = resume_value(spec.kind, spec.items, [
        decide("reject", message="not to customers"), decide("respond", message="keep the report")])
    assert value["decisions"] == [{"type": "reject", "message": "not to customers"},
                                  {"type": "respond", "message": "keep the report"}]
    result = agent.resume({raised.id: value})
    assert agent.calls == []
    answers = tool_messages(result)
    assert "not to customers" in answers["call-1"]
    assert answers["call-2"] == "keep the report"


def test_batched_reject_without_reason_omits_the_message() -> None:
    agent = Agent("batched")
    (raised,) = agent.start()
    spec = spec_from_interrupt(raised.value, graph="assistant")
    value = resume_value(spec.kind, spec.items, [decide("reject"), decide("approve")])
    assert value["decisions"][0] == {"type": "reject"}
    agent.resume({raised.id: value})
    assert agent.calls == [("delete_file", {"path": "/tmp/report.csv"})]


# --- per_call: one ToolApprovalRequest per gated call -------------------------------------


def test_per_call_requests_read_their_response_schema() -> None:
    first, second = Agent("per_call").start()
    email = spec_from_interrupt(first.value, response_schema=first.response_schema, graph="assistant")
    delete = spec_from_interrupt(second.value, response_schema=second.response_schema, graph="assistant")
    assert email.kind == delete.kind == "tool_approval"
    assert email.summary == "Run tool send_email? Emails leave the company"
    assert delete.summary == "Run tool delete_file?"
    (item,) = email.items
    assert item.args == {"to": "ann@example.com", "body": "hi"}
    assert item.allowed == (DecisionType.APPROVE, DecisionType.EDIT, DecisionType.REJECT)
    assert item.args_schema is not None
    assert item.args_schema["properties"].keys() == {"to", "body"}
    assert item.args_schema["required"] == ["to", "body"]
    assert delete.items[0].allowed == (DecisionType.APPROVE, DecisionType.REJECT, DecisionType.RESPOND)
    assert delete.items[0].args_schema is None


def test_per_call_answered_by_id_with_an_edit() -> None:
    agent = Agent("per_call")
    first, second = agent.start()
    email = spec_from_interrupt(first.value, response_schema=first.response_schema, graph="assistant")
    edited = decide("edit", args={"to": "bob@example.com", "body": "x"})
    edit = resume_value(email.kind, email.items, [edited])
    assert edit == {"type": "edit", "edited_action": {"name": "send_email",
                                                      "args": {"to": "bob@example.com", "body": "x"}}}
    agent.resume({first.id: edit})
    assert agent.calls == [("send_email", {"to": "bob@example.com", "body": "x"})]
    assert [i.id for i in pending(agent.graph, agent.config)] == [second.id]

    delete = spec_from_interrupt(second.value, response_schema=second.response_schema, graph="assistant")
    result = agent.resume({second.id: resume_value(delete.kind, delete.items, [decide("reject")])})
    assert agent.calls == [("send_email", {"to": "bob@example.com", "body": "x"})]
    assert "call-2" in tool_messages(result)
    assert result["messages"][-1].content == "done"


def test_per_call_both_answered_at_once() -> None:
    agent = Agent("per_call")
    first, second = agent.start()
    answers = {}
    for raised, decision in [(first, decide("approve")), (second, decide("respond", message="kept"))]:
        spec = spec_from_interrupt(raised.value, response_schema=raised.response_schema, graph="assistant")
        answers[raised.id] = resume_value(spec.kind, spec.items, [decision])
    result = agent.resume(answers)
    assert agent.calls == [("send_email", {"to": "ann@example.com", "body": "hi"})]
    assert tool_messages(result)["call-2"] == "kept"


@pytest.mark.parametrize("bad_args", [{"to": "bob@example.com"}, {"to": ["not", "a", "string"], "body": "x"}])
def test_per_call_edit_that_breaks_the_tool_schema_is_refused(bad_args: dict[str, Any]) -> None:
    agent = Agent("per_call")
    first, _ = agent.start()
    spec = spec_from_interrupt(first.value, response_schema=first.response_schema, graph="assistant")
    value = resume_value(spec.kind, spec.items, [decide("edit", args=bad_args)])
    with pytest.raises(ValidationError) as caught:
        agent.resume({first.id: value})
    assert is_invalid_resume(caught.value)
    assert agent.calls == []
    assert first.id in {i.id for i in pending(agent.graph, agent.config)}
