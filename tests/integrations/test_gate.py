"""The pure half of every integration: a request's outcome as allow/deny and as Claude Code's answer."""

from __future__ import annotations

import pytest

from signoff_client.integrations.claude import call_of, hook_output
from signoff_client.integrations.gate import Gate, ToolCall, summary_of, verdict_of
from signoff_client.models import ApprovalRequest

ASKED = {"id": "req_1", "action": "Bash", "summary": "Bash: ls", "args": {"command": "rm -rf build"}}


def request(**fields):
    return ApprovalRequest.from_json(ASKED | fields)


def test_an_edit_allows_the_edited_input_and_says_so_to_claude_code():
    edited = request(status="approved", decided_by="U0ALICE", edited_args={"command": "rm -rf build/tmp"})
    verdict = verdict_of(edited, timeout=60)
    assert verdict.allow and verdict.edited and verdict.args == {"command": "rm -rf build/tmp"}
    answer = hook_output(verdict)["hookSpecificOutput"]
    assert answer["permissionDecision"] == "allow"
    assert answer["updatedInput"] == {"command": "rm -rf build/tmp"}


@pytest.mark.parametrize("status", ["rejected", "expired", "cancelled", "answered", "pending", "surprising"])
def test_everything_but_an_approval_denies_and_never_carries_an_input(status):
    verdict = verdict_of(request(status=status, reason="because"), timeout=60)
    answer = hook_output(verdict)["hookSpecificOutput"]
    assert not verdict.allow and answer["permissionDecision"] == "deny" and "updatedInput" not in answer


def test_a_summary_names_the_tool_and_its_telling_argument_within_the_limit():
    assert summary_of(ToolCall(name="Bash", args={"command": "make deploy"})) == "Bash: make deploy"
    assert len(summary_of(ToolCall(name="Write", args={"content": "x" * 5000}))) == 300


def test_hook_inputs_that_cannot_become_a_request_are_refused():
    with pytest.raises(ValueError, match="tool_name"):
        call_of({"hook_event_name": "PreToolUse", "tool_input": {}})
    with pytest.raises(ValueError, match="PreToolUse"):
        call_of({"hook_event_name": "Stop", "tool_name": "Bash", "tool_input": {}})
    with pytest.raises(ValueError):
        Gate(timeout=0)
