"""`signoff mcp-gateway`: a real upstream MCP server behind the gateway; the policy decides each call."""

from __future__ import annotations

import asyncio
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from blocks import ids
from signoff_client import AsyncSignoffClient
from signoff_client.integrations.gate import Gate
from signoff_client.integrations.mcp_gateway import build_gateway
from tests.conftest import API_TOKEN, CHANNEL
from tests.integrations.conftest import audit_kinds, click, pending_card, reject

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM = [sys.executable, "-m", "tests.integrations.upstream_tools"]


@pytest.fixture
def effects(tmp_path):
    return tmp_path / "effects.txt"


def upstream(effects):
    return StdioServerParameters(command=UPSTREAM[0], args=UPSTREAM[1:], cwd=str(ROOT),
                                 env=os.environ | {"EFFECTS_FILE": str(effects)})


def through_gateway(stack, effects, tool, arguments):
    """List the tools and call one through an in-process gateway in front of the real upstream."""
    signoff = lambda: AsyncSignoffClient(base_url=stack.url, token=API_TOKEN)  # noqa: E731
    gateway = build_gateway(upstream(effects), signoff, Gate(timeout=30))

    async def go():
        async with Client(gateway) as client:
            tools = (await client.list_tools()).tools
            return tools, await client.call_tool(tool, arguments)

    return asyncio.run(go())


def done(effects):
    return effects.read_text().splitlines() if effects.exists() else []


def test_the_upstream_tools_are_listed_unchanged_and_a_big_refund_waits_for_finance(stack, effects):
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(through_gateway, stack, effects, "issue_refund", {"order": 1234, "amount": 340})
        request, card = pending_card(stack)
        assert (request["action"], request["args"], request["rule"]) == (
            "issue_refund", {"order": 1234, "amount": 340}, "refunds")
        assert done(effects) == []  # held until someone decides
        click(stack, "U0BOB", card, ids.ACTION_APPROVE, request["id"])
        tools, result = running.result(timeout=60)
    assert [t.name for t in tools] == ["issue_refund", "lookup_order"]
    assert tools[0].input_schema["required"] == ["order", "amount"]
    assert not result.is_error and "refunded 340 on 1234" in str(result.content)
    assert done(effects) == ["refunded 340 on 1234"]
    assert audit_kinds(stack, request["id"]).count("decided") == 1


def test_a_small_refund_is_auto_approved_by_the_policy_and_forwarded_at_once(stack, effects):
    _, result = through_gateway(stack, effects, "issue_refund", {"order": 7, "amount": 20})
    assert not result.is_error and done(effects) == ["refunded 20 on 7"]
    assert stack.sandbox.messages(CHANNEL) == []
    [request] = stack.api.get("/v1/requests").json()["requests"]
    assert (request["status"], request["decided_by"]) == ("approved", "system")


def test_a_rejection_is_a_tool_error_with_the_reason_and_nothing_runs(stack, effects):
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(through_gateway, stack, effects, "lookup_order", {"order": 99})
        request, card = pending_card(stack)
        assert request["eligible_approvers"] == ["U0CAROL"]  # the default rule
        reject(stack, "U0CAROL", request["id"], "that order is under legal hold")
        _, result = running.result(timeout=60)
    assert result.is_error and "that order is under legal hold" in str(result.content)
    assert done(effects) == []


def test_signoff_mcp_gateway_runs_as_a_command_over_stdio(stack, effects):
    env = os.environ | {"SIGNOFF_URL": stack.url, "SIGNOFF_TOKEN": API_TOKEN, "EFFECTS_FILE": str(effects)}
    gateway = StdioServerParameters(
        command=sys.executable, cwd=str(ROOT), env=env,
        args=["-m", "bot.cli", "mcp-gateway", "--upstream", " ".join(UPSTREAM), "--timeout", "30"])

    async def go():
        async with Client(gateway) as client:
            return await client.call_tool("issue_refund", {"order": 8, "amount": 10})

    result = asyncio.run(go())
    assert not result.is_error and done(effects) == ["refunded 10 on 8"]
