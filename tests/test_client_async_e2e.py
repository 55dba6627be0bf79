"""AsyncSignoffClient against the real service: runs started, read and resumed as with the sync client."""

from __future__ import annotations

import asyncio

import pytest

from blocks import ids
from signoff_client import APIError, AsyncSignoffClient
from tests import graph_apps
from tests.conftest import API_TOKEN, CHANNEL


@pytest.fixture
def stack_overrides():
    return {"graphs": graph_apps.GRAPHS, "default_approvers": ("U0ALICE",), "default_channel": CHANNEL}


@pytest.fixture(autouse=True)
def effects_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNOFF_TEST_EFFECTS", str(tmp_path / "effects.log"))


def test_a_run_started_from_async_python_waits_for_the_click_then_finishes(stack):
    async def scenario() -> tuple[dict, dict, dict]:
        async with AsyncSignoffClient(base_url=stack.url, token=API_TOKEN) as client:
            run = await client.start_run("refund", {"action": "refund $5 to 42", "approved": False},
                                         requester="U0BOB")
            stack.run_jobs()  # the loop has nothing else to do while the worker runs the graph
            waiting = await client.get_run(run["id"])
            [req] = waiting["pending_requests"]
            stack.sandbox.click("U0ALICE", CHANNEL, stack.card(req["id"])["ts"], ids.ACTION_APPROVE)
            stack.run_jobs()
            decided = await client.wait(req["id"], timeout=10)
            return run, waiting, {"run": await client.get_run(run["id"]), "request": decided}

    run, waiting, done = asyncio.run(scenario())
    assert run["id"] and waiting["status"] == "waiting"
    assert done["request"].approved and done["request"].decided_by == "U0ALICE"
    assert done["run"]["status"] == "done" and done["run"]["requester"] == "U0BOB"
    assert graph_apps.effects() == ["executed refund $5 to 42"]


def test_the_async_client_reports_an_unknown_graph_and_run_as_the_sync_one_does(stack):
    async def scenario() -> list[APIError]:
        errors = []
        async with AsyncSignoffClient(base_url=stack.url, token=API_TOKEN) as client:
            for call in (client.start_run("no_such_graph", {}), client.get_run("run_missing")):
                with pytest.raises(APIError) as caught:
                    await call
                errors.append(caught.value)
        return errors

    unknown_graph, unknown_run = asyncio.run(scenario())
    assert (unknown_graph.status, unknown_graph.error) == (422, "invalid_body")
    assert "no_such_graph" in str(unknown_graph)
    assert unknown_run.status == 404
    assert graph_apps.effects() == []
