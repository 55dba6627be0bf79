"""The decision in the graph's own state: a state that declares `signoff_decisions` gets each one.

    from typing import TypedDict
    from bot.agents.decisions import SignoffDecisions

    class State(TypedDict):
        draft: dict
        signoff_decisions: SignoffDecisions   # appended to, never replaced

Each decision is appended as {request_id, interrupt_id, status, decision, by, reason, at, items}
with the resume (`Command(update=..., resume=...)`), and before a breakpoint continues or ends,
so the checkpoint itself records who decided what.
"""

from __future__ import annotations

from typing import Annotated, Any

DECISIONS_KEY = "signoff_decisions"


def append_new(recorded: list[dict[str, Any]], update: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reducer: append each decision whose request is not recorded yet. Without a reducer each
    update would replace the list (the seeds' P18); with `operator.add`, a node that returns the
    whole state (as the LangGraph tutorial's execute node does) wrote the list back onto itself
    and every decision was recorded twice."""
    if not isinstance(update, list):  # a dict's keys would be appended, one by one
        raise TypeError(f"{DECISIONS_KEY} takes a list of decisions, not a {type(update).__name__}")
    if recorded and update[:len(recorded)] == recorded:  # the whole list written back, maybe with more
        update = update[len(recorded):]
    seen = {d.get("request_id") for d in recorded if isinstance(d, dict)}
    added = []
    for d in update:
        key = d.get("request_id") if isinstance(d, dict) else None
        if key is None or key not in seen:
            added.append(d)
            seen.add(key)
    return [*recorded, *added]


SignoffDecisions = Annotated[list[dict[str, Any]], append_new]


def declares_decisions(channels: Any) -> bool:
    """Whether a graph's state has the decisions key (pass `graph.channels`)."""
    return DECISIONS_KEY in channels


def decision_record(*, request_id: str, interrupt_id: str | None, status: str, decision: str | None,
                    by: str | None, reason: str | None, at: str | None,
                    items: list[dict[str, Any] | None]) -> dict[str, Any]:
    """The entry appended to the state's decisions list for one ended request."""
    return {"request_id": request_id, "interrupt_id": interrupt_id, "status": status,
            "decision": decision, "by": by, "reason": reason, "at": at, "items": items}
