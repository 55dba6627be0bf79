"""Claude Code's PreToolUse hook and the Claude Agent SDK's `can_use_tool`, decided in Signoff.

The hook reads Claude Code's JSON on stdin and prints
`{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow"|"deny",
"permissionDecisionReason": ..., "updatedInput": ...}}`. Only an approval allows; a rejection,
an expiry, a timeout or a malformed input denies.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from signoff_client.client import AsyncSignoffClient, SignoffClient
from signoff_client.integrations.gate import Gate, ToolCall, Verdict, ask, ask_async

EVENT = "PreToolUse"


def call_of(hook_input: Any) -> ToolCall:
    """The tool call in a PreToolUse hook input; ValueError naming what is wrong."""
    if not isinstance(hook_input, Mapping):
        raise ValueError("the hook input must be a JSON object")
    event = hook_input.get("hook_event_name", EVENT)
    if event != EVENT:
        raise ValueError(f"this hook answers {EVENT}, not {event!r}")
    name, tool_input = hook_input.get("tool_name"), hook_input.get("tool_input")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("tool_name is missing")
    if not isinstance(tool_input, dict):
        raise ValueError("tool_input must be a JSON object")
    session, use = hook_input.get("session_id"), hook_input.get("tool_use_id")
    # A retried hook for the same tool use asks nothing twice; without an id each call is its own.
    known = isinstance(use, str) and use and isinstance(session, str)
    key = f"claude-code:{session}:{use}" if known else None
    context = {k: hook_input[k] for k in ("session_id", "cwd", "permission_mode", "agent_type")
               if isinstance(hook_input.get(k), str)}
    return ToolCall(name=name, args=tool_input, key=key, context={"source": "claude-code", **context})


def hook_output(verdict: Verdict) -> dict[str, Any]:
    """The hook's answer for a verdict; the edited input goes along only on an approval."""
    specific: dict[str, Any] = {"hookEventName": EVENT,
                                "permissionDecision": "allow" if verdict.allow else "deny",
                                "permissionDecisionReason": verdict.reason}
    if verdict.allow and verdict.edited:
        specific["updatedInput"] = verdict.args
    return {"hookSpecificOutput": specific}


def deny_output(reason: str) -> dict[str, Any]:
    """A deny answer for a hook that could not ask (bad input, Signoff unreachable)."""
    return hook_output(Verdict(allow=False, args={}, reason=reason))


def pre_tool_use(client: SignoffClient, hook_input: Any, gate: Gate) -> dict[str, Any]:
    """Answer one PreToolUse hook input; any failure to get an approval denies."""
    try:
        call = call_of(hook_input)
    except ValueError as e:
        return deny_output(f"Signoff could not read the hook input: {e}")
    try:
        return hook_output(ask(client, call, gate))
    except Exception as e:  # noqa: BLE001 - whatever broke, the tool must not run unapproved
        return deny_output(f"Signoff could not be asked ({type(e).__name__}: {e}); denied")


def run_hook(client: SignoffClient, stdin_text: str, gate: Gate) -> str:
    """The command hook: stdin JSON in, one line of JSON out."""
    try:
        hook_input = json.loads(stdin_text)
    except ValueError as e:
        return json.dumps(deny_output(f"Signoff could not read the hook input: not JSON ({e})"))
    return json.dumps(pre_tool_use(client, hook_input, gate))


CanUseTool = Callable[[str, dict[str, Any], Any], Awaitable[Any]]


def can_use_tool(client: AsyncSignoffClient, gate: Gate) -> CanUseTool:
    """A `can_use_tool` callback for `ClaudeAgentOptions` that asks Signoff for every tool use."""
    from claude_agent_sdk import PermissionResultAllow, PermissionResultDeny

    async def decide(tool_name: str, tool_input: dict[str, Any], context: Any) -> Any:
        use = getattr(context, "tool_use_id", None)
        call = ToolCall(name=tool_name, args=tool_input, key=f"claude-agent:{use}" if use else None,
                        context={"source": "claude-agent-sdk"})
        try:
            verdict = await ask_async(client, call, gate)
        except Exception as e:  # noqa: BLE001 - fail closed
            return PermissionResultDeny(message=f"Signoff could not be asked ({type(e).__name__}: {e})")
        if verdict.allow:
            return PermissionResultAllow(updated_input=verdict.args if verdict.edited else None)
        return PermissionResultDeny(message=verdict.reason)

    return decide
