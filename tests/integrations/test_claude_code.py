"""Claude Code's PreToolUse hook (the real command, the documented JSON) and the Agent SDK's can_use_tool."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from claude_agent_sdk import PermissionResultAllow, PermissionResultDeny, ToolPermissionContext

from blocks import ids
from signoff_client import AsyncSignoffClient, SignoffClient
from signoff_client.integrations.claude import can_use_tool, pre_tool_use
from signoff_client.integrations.gate import Gate
from tests.conftest import API_TOKEN
from tests.integrations.conftest import audit_kinds, click, pending_card, reject

BASH = {"session_id": "abc123", "transcript_path": "/tmp/t.jsonl", "cwd": "/srv/app",
        "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
        "tool_input": {"command": "psql -c 'DROP TABLE users'", "description": "Drop the users table"},
        "tool_use_id": "toolu_01ABC123"}


def hook_command(stack, hook_input, *flags):
    """Run `signoff hook claude-code` as Claude Code does: JSON on stdin, JSON on stdout."""
    env = os.environ | {"SIGNOFF_URL": stack.url, "SIGNOFF_TOKEN": API_TOKEN}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "hook", "claude-code", *flags],
                          input=hook_input if isinstance(hook_input, str) else json.dumps(hook_input),
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["hookSpecificOutput"]


def test_a_bash_command_waits_for_its_approver_and_is_allowed_once(stack):
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(hook_command, stack, BASH)
        request, card = pending_card(stack)
        assert (request["action"], request["rule"]) == ("Bash", "shell")
        assert "DROP TABLE users" in json.dumps(card["blocks"])
        click(stack, "U0BOB", card, ids.ACTION_APPROVE, request["id"])  # not the rule's approver
        stack.run_jobs()
        assert stack.api.get(f"/v1/requests/{request['id']}").json()["status"] == "pending"
        click(stack, "U0ALICE", card, ids.ACTION_APPROVE, request["id"])
        answer = running.result(timeout=30)
    assert answer["hookEventName"] == "PreToolUse"
    assert answer["permissionDecision"] == "allow" and "U0ALICE" in answer["permissionDecisionReason"]
    assert "updatedInput" not in answer
    # Claude Code retrying the same tool use asks nothing twice: the same request, already approved.
    again = hook_command(stack, BASH)
    assert again["permissionDecision"] == "allow"
    assert len(stack.api.get("/v1/requests").json()["requests"]) == 1
    kinds = audit_kinds(stack, request["id"])
    assert kinds.count("decided") == 1 and "refused_click" in kinds


def test_a_rejection_denies_with_the_reason_claude_is_shown(stack):
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(hook_command, stack, BASH)
        request, _ = pending_card(stack)
        reject(stack, "U0ALICE", request["id"], "not on production")
        answer = running.result(timeout=30)
    assert answer["permissionDecision"] == "deny"
    assert "not on production" in answer["permissionDecisionReason"]


def test_a_policy_auto_approval_allows_at_once_without_a_card(stack):
    read = BASH | {"tool_name": "Read", "tool_input": {"file_path": "/srv/app/README.md"},
                   "tool_use_id": "toolu_read"}
    assert hook_command(stack, read)["permissionDecision"] == "allow"
    assert stack.sandbox.messages("C0APPROVALS") == []


def test_a_timeout_denies_and_withdraws_the_request(stack):
    answer = hook_command(stack, BASH, "--timeout", "1")
    assert answer["permissionDecision"] == "deny"
    assert "no decision in Signoff within 1 s" in answer["permissionDecisionReason"]
    [request] = stack.api.get("/v1/requests").json()["requests"]
    assert request["status"] == "cancelled"  # a late click can no longer approve what never ran


def test_malformed_hook_input_denies_and_asks_nothing(stack):
    assert hook_command(stack, "not json")["permissionDecision"] == "deny"
    assert hook_command(stack, BASH | {"tool_input": "rm -rf /"})["permissionDecision"] == "deny"
    assert hook_command(stack, BASH | {"hook_event_name": "PostToolUse"})["permissionDecision"] == "deny"
    assert stack.api.get("/v1/requests").json()["requests"] == []


def test_signoff_unreachable_denies(stack):
    with SignoffClient(base_url="http://127.0.0.1:9", token=API_TOKEN) as nowhere:
        answer = pre_tool_use(nowhere, BASH, Gate(timeout=5))["hookSpecificOutput"]
    assert answer["permissionDecision"] == "deny"
    assert "could not be asked" in answer["permissionDecisionReason"]


def test_the_agent_sdk_callback_allows_after_approval_and_denies_after_rejection(stack):
    async def ask(tool_use_id):
        async with AsyncSignoffClient(base_url=stack.url, token=API_TOKEN) as client:
            decide = can_use_tool(client, Gate(timeout=30))
            context = ToolPermissionContext(tool_use_id=tool_use_id)
            return await decide("Bash", {"command": "make deploy"}, context)

    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(asyncio.run, ask("toolu_sdk_1"))
        request, card = pending_card(stack)
        click(stack, "U0ALICE", card, ids.ACTION_APPROVE, request["id"])
        assert isinstance(running.result(timeout=30), PermissionResultAllow)

    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(asyncio.run, ask("toolu_sdk_2"))
        request, _ = pending_card(stack)
        reject(stack, "U0ALICE", request["id"], "no deploys on Friday")
        denied = running.result(timeout=30)
    assert isinstance(denied, PermissionResultDeny) and "no deploys on Friday" in denied.message


def test_the_http_hook_answers_like_the_command_and_denies_what_it_cannot_read(stack):
    import threading

    import httpx

    from signoff_client.integrations.hook_server import PATH, hook_server

    with SignoffClient(base_url=stack.url, token=API_TOKEN) as client:
        server = hook_server(client, Gate(timeout=30), port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}"
        try:
            with ThreadPoolExecutor(1) as pool:
                running = pool.submit(httpx.post, url + PATH, json=BASH, timeout=60)
                request, card = pending_card(stack)
                click(stack, "U0ALICE", card, ids.ACTION_APPROVE, request["id"])
                answered = running.result(timeout=60)
            assert answered.status_code == 200
            assert answered.json()["hookSpecificOutput"]["permissionDecision"] == "allow"
            # Claude Code carries on without a hook that answers non-2xx: refusals are 200 + deny.
            for path, body in [(PATH, b"{nope"), ("/elsewhere", json.dumps(BASH).encode())]:
                refused = httpx.post(url + path, content=body, timeout=10)
                assert refused.status_code == 200
                assert refused.json()["hookSpecificOutput"]["permissionDecision"] == "deny"
        finally:
            server.shutdown()
            server.server_close()
    assert len(stack.api.get("/v1/requests").json()["requests"]) == 1
