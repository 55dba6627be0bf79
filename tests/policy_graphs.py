"""Scripted LangChain agents whose batches cross policy rules (the graphs the policy tests run)."""

from __future__ import annotations

from typing import Any

from tests.graph_apps import record


def _agent(checkpointer: Any, calls: list[dict[str, Any]], interrupt_on: dict[str, Any]) -> Any:
    from langchain.agents import create_agent
    from langchain.agents.middleware import HumanInTheLoopMiddleware
    from langchain_core.messages import AIMessage
    from langchain_core.tools import tool

    from tests.agents.support import ScriptedModel

    @tool
    def send_note(text: str) -> str:
        """Post a note."""
        record(f"send_note text={text}")
        return "posted"

    @tool
    def delete_account(account: int) -> str:
        """Delete an account."""
        record(f"delete_account account={account}")
        return "deleted"

    @tool
    def send_email(to: str, body: str) -> str:
        """Send an email."""
        record(f"send_email to={to} body={body}")
        return "sent"

    model = ScriptedModel(responses=[AIMessage(content="", tool_calls=calls), AIMessage(content="done")])
    hitl = HumanInTheLoopMiddleware(interrupt_on=interrupt_on, interrupt_mode="batched")
    return create_agent(model=model, tools=[send_note, delete_account, send_email], middleware=[hitl],
                        checkpointer=checkpointer)


def note_then_delete(checkpointer: Any) -> Any:
    """A harmless note first, a deletion second: the order a prompt-injected model would pick."""
    return _agent(checkpointer, [
        {"name": "send_note", "args": {"text": "cleaning up"}, "id": "call-1"},
        {"name": "delete_account", "args": {"account": 42}, "id": "call-2"},
    ], {"send_note": {"allowed_decisions": ["approve", "reject"]},
        "delete_account": {"allowed_decisions": ["approve", "reject"]}})


def two_deletions(checkpointer: Any) -> Any:
    """Two deletions in one batch, each under a quorum."""
    return _agent(checkpointer, [
        {"name": "delete_account", "args": {"account": 1}, "id": "call-1"},
        {"name": "delete_account", "args": {"account": 2}, "id": "call-2"},
    ], {"delete_account": {"allowed_decisions": ["approve", "reject"]}})


def mail(checkpointer: Any) -> Any:
    """One email to a colleague; approvers may edit it."""
    return _agent(checkpointer, [
        {"name": "send_email", "args": {"to": "ann@example.com", "body": "hi"}, "id": "call-1"},
    ], {"send_email": {"allowed_decisions": ["approve", "edit", "reject"]}})


GRAPHS = {name: f"tests.policy_graphs:{name}" for name in ("note_then_delete", "two_deletions", "mail")}
