"""`signoff mcp`: the real MCP SDK's client calls Signoff's tools; a person decides in the sandbox."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from mcp import Client

from blocks import ids
from signoff_client import AsyncSignoffClient
from signoff_client.integrations.mcp_server import build_server
from tests.conftest import API_TOKEN, CHANNEL
from tests.integrations.conftest import click, pending_card, reject


def call(stack, tool, arguments):
    """One MCP tool call over an in-process MCP session; returns the structured result."""
    server = build_server(lambda: AsyncSignoffClient(base_url=stack.url, token=API_TOKEN))

    async def go():
        async with Client(server) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"request_approval", "get_request", "list_pending"} <= names
            result = await client.call_tool(tool, arguments)
            return result

    return asyncio.run(go())


REFUND = {"action": "issue_refund", "summary": "Refund $340 to order #1234",
          "args": {"order": 1234, "amount": 340}, "timeout": 30}


def test_request_approval_waits_for_the_finance_group_and_returns_the_decision(stack):
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(call, stack, "request_approval", REFUND)
        request, card = pending_card(stack)
        assert request["rule"] == "refunds"  # the policy names the approvers; the model named none
        click(stack, "U0BOB", card, ids.ACTION_APPROVE, request["id"])
        result = running.result(timeout=30)
    assert not result.is_error
    decided = result.structured_content
    assert decided["approved"] is True and decided["decided_by"] == "U0BOB"
    assert decided["args"] == {"order": 1234, "amount": 340}


def test_without_waiting_the_model_gets_an_id_then_reads_the_rejection(stack):
    asked = call(stack, "request_approval", REFUND | {"wait": False}).structured_content
    assert asked["status"] == "pending"
    listed = call(stack, "list_pending", {}).structured_content["requests"]
    assert [r["id"] for r in listed] == [asked["id"]]
    request, _ = pending_card(stack)
    reject(stack, "U0ALICE", request["id"], "order already refunded")
    got = call(stack, "get_request", {"request_id": asked["id"], "wait_seconds": 10}).structured_content
    assert (got["status"], got["approved"], got["reason"]) == ("rejected", False, "order already refunded")
    assert call(stack, "list_pending", {}).structured_content["requests"] == []


def test_a_policy_auto_approval_comes_back_at_once(stack):
    small = REFUND | {"args": {"order": 7, "amount": 20}}
    decided = call(stack, "request_approval", small).structured_content
    assert decided["approved"] is True and decided["decided_by"] == "system"
    assert stack.sandbox.messages(CHANNEL) == []


def test_bad_arguments_are_a_tool_error_and_ask_nothing(stack):
    result = call(stack, "request_approval", REFUND | {"urgency": "asap"})
    assert result.is_error and "urgency" in str(result.content)
    result = call(stack, "get_request", {"request_id": "req_nope"})
    assert result.is_error and "404" in str(result.content)
    assert stack.api.get("/v1/requests").json()["requests"] == []


def test_signoff_mcp_serves_the_tools_over_stdio(stack):
    """The command an MCP host runs: `signoff mcp`, speaking MCP on its stdin and stdout."""
    import os
    import sys

    from mcp import StdioServerParameters

    stack.create(summary="asked before", approvers=[])
    env = os.environ | {"SIGNOFF_URL": stack.url, "SIGNOFF_TOKEN": API_TOKEN}
    command = StdioServerParameters(command=sys.executable, args=["-m", "bot.cli", "mcp"], env=env)

    async def go():
        async with Client(command) as client:
            return (await client.call_tool("list_pending", {})).structured_content

    listed = asyncio.run(go())
    assert [r["summary"] for r in listed["requests"]] == ["asked before"]


def test_signoff_mcp_serves_the_tools_over_streamable_http(stack):
    import os
    import subprocess
    import sys
    import time

    from bot.embedded_redis import free_port

    stack.create(summary="asked over http", approvers=[])
    port = free_port()
    env = os.environ | {"SIGNOFF_URL": stack.url, "SIGNOFF_TOKEN": API_TOKEN}
    server = subprocess.Popen([sys.executable, "-m", "bot.cli", "mcp", "--transport", "streamable-http",
                               "--port", str(port)], env=env, stderr=subprocess.DEVNULL)

    async def go():
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            return (await client.call_tool("list_pending", {})).structured_content

    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                listed = asyncio.run(go())
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert [r["summary"] for r in listed["requests"]] == ["asked over http"]
