"""A LangChain agent with HumanInTheLoopMiddleware, unchanged: each tool call becomes a card.

    SIGNOFF_GRAPHS="agent=examples.hitl_agent:agent" scripts/dev

The model here is scripted (no API key needed): it asks to send one email and then says it is
done. Swap in `init_chat_model("openai:gpt-4.1")` or any chat model for a real agent.
"""

from __future__ import annotations

from itertools import cycle
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool


@tool
def send_email(to: str, body: str) -> str:
    """Send an email."""
    return f"sent to {to}"


class ScriptedModel(GenericFakeChatModel):
    """Answers from a fixed list of messages and accepts tools (the fake model does not bind them)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedModel:  # type: ignore[override]
        return self


def agent(checkpointer: Any) -> Any:
    """A factory taking Signoff's checkpointer, as SIGNOFF_GRAPHS allows."""
    email = {"to": "ann@example.com", "body": "Your refund is on its way."}
    # Each run: one tool call, then "Done." (cycled, so every run gets the same script).
    script = cycle([AIMessage(content="", tool_calls=[{"name": "send_email", "id": "call_1", "args": email}]),
                    AIMessage(content="Done.")])
    return create_agent(
        model=ScriptedModel(messages=script), tools=[send_email], checkpointer=checkpointer,
        middleware=[HumanInTheLoopMiddleware(interrupt_on={
            "send_email": {"allowed_decisions": ["approve", "edit", "reject"]}})])
