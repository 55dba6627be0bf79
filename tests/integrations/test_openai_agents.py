"""The OpenAI Agents SDK on a scripted model: needs_approval tool calls decided in Slack, across a restart."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from blocks import ids
from signoff_client import AsyncSignoffClient
from signoff_client.integrations.gate import Gate
from signoff_client.integrations.openai_agents import StateStore, resume_with_signoff, run_with_signoff
from tests.conftest import API_TOKEN
from tests.integrations import agents_app
from tests.integrations.conftest import audit_kinds, click, pending_card, reject

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def effects(tmp_path, monkeypatch):
    path = tmp_path / "effects.txt"
    monkeypatch.setenv("EFFECTS_FILE", str(path))  # the tool's own output, read by the assertions
    return path


def done(effects):
    return effects.read_text().splitlines() if effects.exists() else []


def run(stack, store, run_key="run-1"):
    async def go():
        async with AsyncSignoffClient(base_url=stack.url, token=API_TOKEN) as client:
            return await run_with_signoff(agents_app.agent(), "refund order 1234", run_key=run_key,
                                          client=client, gate=Gate(timeout=30), store=store, **agents_app.RUN)
    return asyncio.run(go())


def test_an_approved_tool_call_runs_once_and_the_run_finishes(stack, effects, tmp_path):
    store = StateStore(tmp_path / "states")
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(run, stack, store)
        request, card = pending_card(stack)
        assert (request["action"], request["args"], request["rule"]) == (
            "issue_refund", agents_app.REFUND, "refunds")
        assert store.pending() == ["run-1"]  # saved before anyone decided
        click(stack, "U0ALICE", card, ids.ACTION_APPROVE, request["id"])
        result = running.result(timeout=60)
    assert result.final_output == "tool said: refunded 340 on 1234"
    assert done(effects) == ["refunded 340 on 1234"] and store.pending() == []
    assert audit_kinds(stack, request["id"]).count("decided") == 1


def test_a_rejected_tool_call_never_runs_and_the_model_reads_the_reason(stack, effects, tmp_path):
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(run, stack, StateStore(tmp_path / "states"))
        request, _ = pending_card(stack)
        reject(stack, "U0BOB", request["id"], "duplicate refund")
        result = running.result(timeout=60)
    assert "duplicate refund" in result.final_output
    assert done(effects) == []


def test_a_run_survives_its_process_dying_while_it_waits(stack, effects, tmp_path):
    store = StateStore(tmp_path / "states")
    env = os.environ | {"SIGNOFF_URL": stack.url, "SIGNOFF_TOKEN": API_TOKEN}
    command = [sys.executable, "-m", "tests.integrations.agents_app", "run-9", str(store.directory)]
    first = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        request, card = pending_card(stack, timeout=30)
        deadline = time.monotonic() + 10
        while store.pending() != ["run-9"] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        first.kill()
        first.wait()
    click(stack, "U0ALICE", card, ids.ACTION_APPROVE, request["id"])  # decided while no process waits

    async def resume():
        async with AsyncSignoffClient(base_url=stack.url, token=API_TOKEN) as client:
            return await resume_with_signoff(agents_app.agent(), run_key="run-9", client=client,
                                             gate=Gate(timeout=30), store=store, **agents_app.RUN)

    result = asyncio.run(resume())
    assert result.final_output == "tool said: refunded 340 on 1234"
    assert done(effects) == ["refunded 340 on 1234"]
    assert len(stack.api.get("/v1/requests").json()["requests"]) == 1  # the resume asked nothing twice
