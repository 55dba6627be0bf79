"""The OpenAI Agents SDK: every `needs_approval` tool call is decided in Signoff (extra `[openai-agents]`).

`run_with_signoff` runs an agent; at each interruption it saves the serialised `RunState` under
the run's key, asks Signoff about every pending tool call (one request each, keyed by run and
call id, so asking again finds the same request), waits, approves or rejects in the state and
resumes. `resume_with_signoff` picks a saved run up in another process after a restart.

The SDK cannot run a tool with changed arguments, so an approver's edit is not applied silently:
the call is rejected with a message giving the approved arguments, and the model may call again.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents import Agent, Runner, RunState

from signoff_client.client import AsyncSignoffClient
from signoff_client.integrations.gate import Gate, ToolCall, Verdict, open_async, settle_async

_KEY = re.compile(r"[A-Za-z0-9_.-]{1,100}")


@dataclass(frozen=True)
class StateStore:
    """Saved run states, one file per run key in a directory only this user can read."""

    directory: Path

    def _path(self, run_key: str) -> Path:
        if not _KEY.fullmatch(run_key):
            raise ValueError(f"run key must be 1-100 letters, digits, '.', '_' or '-': {run_key!r}")
        return self.directory / f"{run_key}.json"

    def save(self, run_key: str, state: str) -> None:
        """Write atomically: a crash leaves the old state or the new one, never half of one."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(run_key)
        partial = path.with_suffix(".tmp")
        partial.write_text(state)
        os.replace(partial, path)

    def load(self, run_key: str) -> str | None:
        """The saved state, or None when the run has none (finished or never interrupted)."""
        path = self._path(run_key)
        return path.read_text() if path.exists() else None

    def forget(self, run_key: str) -> None:
        """Drop a finished run's state."""
        self._path(run_key).unlink(missing_ok=True)

    def pending(self) -> list[str]:
        """Run keys with a saved state: what a worker resumes after a restart."""
        return sorted(p.stem for p in self.directory.glob("*.json")) if self.directory.exists() else []


def call_of(item: Any, run_key: str) -> ToolCall:
    """The Signoff tool call for one approval item of the run state."""
    try:
        args = json.loads(item.arguments or "{}")
    except ValueError as e:
        raise ValueError(f"tool {item.name!r} has arguments that are not JSON: {e}") from e
    if not isinstance(args, dict):
        args = {"input": args}
    return ToolCall(name=str(item.name), args=args, key=f"openai-agents:{run_key}:{item.call_id}",
                    context={"source": "openai-agents", "run": run_key})


def apply(state: RunState[Any], item: Any, verdict: Verdict) -> None:
    """Approve or reject one item in the state; an edit is a rejection naming the approved arguments."""
    if verdict.allow and not verdict.edited:
        state.approve(item)
        return
    message = verdict.reason
    if verdict.allow:
        message = ("The approver changed the arguments; not run as asked. Approved arguments: "
                   f"{json.dumps(verdict.args, sort_keys=True)}. Call the tool again with them if needed.")
    state.reject(item, rejection_message=message)


async def _decide(state: RunState[Any], *, run_key: str, client: AsyncSignoffClient, gate: Gate) -> None:
    items = state.get_interruptions()
    asked = [(item, await open_async(client, call_of(item, run_key), gate)) for item in items]
    for item, request in asked:
        apply(state, item, await settle_async(client, request.id, gate))


async def _drive(agent: Agent[Any], start: Any, *, run_key: str, client: AsyncSignoffClient, gate: Gate,
                 store: StateStore, **run_options: Any) -> Any:
    result = await Runner.run(agent, start, **run_options)
    while result.interruptions:
        state = result.to_state()
        store.save(run_key, state.to_string())  # before asking: a restart resumes from here
        await _decide(state, run_key=run_key, client=client, gate=gate)
        result = await Runner.run(agent, state, **run_options)
    store.forget(run_key)
    return result


async def run_with_signoff(agent: Agent[Any], input: Any, *, run_key: str, client: AsyncSignoffClient,
                           gate: Gate, store: StateStore, **run_options: Any) -> Any:
    """Run `agent` on `input` to the end, every approval decided in Signoff; returns the RunResult."""
    store._path(run_key)  # refuse a bad key before running anything
    return await _drive(agent, input, run_key=run_key, client=client, gate=gate, store=store, **run_options)


async def resume_with_signoff(agent: Agent[Any], *, run_key: str, client: AsyncSignoffClient, gate: Gate,
                              store: StateStore, **run_options: Any) -> Any:
    """Resume a run saved at an interruption (e.g. by a process that stopped while waiting)."""
    saved = store.load(run_key)
    if saved is None:
        raise LookupError(f"no saved run state for {run_key!r}")
    state = await RunState.from_string(agent, saved)
    await _decide(state, run_key=run_key, client=client, gate=gate)
    return await _drive(agent, state, run_key=run_key, client=client, gate=gate, store=store, **run_options)
