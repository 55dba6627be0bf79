"""Small builders shared by the agent adapter tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langgraph.types import Interrupt

from bot.core.items import DecisionType, ItemDecision

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def decide(kind: str, *, args: dict[str, Any] | None = None, message: str | None = None,
           answer: Any = None, by: str = "U0ALICE") -> ItemDecision:
    """One person's answer, as the service would store it."""
    return ItemDecision(type=DecisionType(kind), by=by, at=NOW, args=args, message=message, answer=answer)


def pending(graph: Any, config: dict[str, Any]) -> list[Interrupt]:
    """The interrupts still waiting on the thread, as the resume job must check them."""
    return list(graph.get_state(config).interrupts)


class ScriptedModel(FakeMessagesListChatModel):
    """Replies from a list; tools are "bound" by ignoring them (the replies already call them)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedModel:  # type: ignore[override]
        return self
