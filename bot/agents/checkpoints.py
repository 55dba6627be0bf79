"""Where a run's thread stands now: its checkpoint id, which UIs name to decide on what they saw."""

from __future__ import annotations

from collections.abc import Callable

from bot.agents.registry import GraphRegistry
from bot.errors import InvalidInput, Unavailable
from bot.storage.db import Database
from bot.storage.tables import ApprovalRequest, Run


def checkpoint_reader(
    db: Database, registry: Callable[[], GraphRegistry]
) -> Callable[[ApprovalRequest], str | None]:
    """A function giving a request's thread's current checkpoint id (None for a plain API request)."""

    def current(row: ApprovalRequest) -> str | None:
        if row.run_id is None:
            return None
        with db.read() as s:
            run = s.get(Run, row.run_id)
        if run is None:
            return None
        try:
            graph = registry().get(run.graph)
        except InvalidInput as e:
            # Fail closed: without the checkpoint no stale decision can be told from a fresh one.
            raise Unavailable(f"graph {run.graph!r} is not registered in this process") from e
        state = graph.get_state({"configurable": {"thread_id": run.thread_id}})
        return str((state.config or {}).get("configurable", {}).get("checkpoint_id") or "") or None

    return current
