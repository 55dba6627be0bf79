"""The decision API on a graph's request: the checkpoint the UI saw must still be the thread's."""

from __future__ import annotations

import httpx
import pytest

from tests import graph_apps
from tests.conftest import OTHER_TOKEN
from tests.graph_fixtures import effects_file  # noqa: F401 - fixture


@pytest.fixture
def stack_overrides(tmp_path):
    from tests.conftest import CHANNEL

    return {"graphs": graph_apps.GRAPHS, "checkpoint_url": f"sqlite:///{tmp_path / 'checkpoints.db'}",
            "default_approvers": ("U0ALICE", "U0BOB"), "default_channel": CHANNEL,
            "api_scopes": {OTHER_TOKEN: frozenset({"decide"})}}


def test_a_graph_request_needs_the_current_checkpoint(stack):
    r = stack.api.post("/v1/runs", json={"graph": "refund", "input": {"action": "refund $340",
                                                                       "approved": False}})
    stack.run_jobs()
    ui = httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {OTHER_TOKEN}"})
    [shown] = ui.get("/v1/approvals/pending", params={"approver": "U0BOB"}).json()["requests"]
    assert shown["run_id"] == r.json()["id"] and shown["checkpoint_id"]
    body = {"decision": "approve", "by": "U0BOB", "expected_version": shown["version"],
            "idempotency_key": "g-1"}
    missing = ui.post(f"/v1/requests/{shown['id']}/decision", json=body)
    assert missing.status_code == 422 and set(missing.json()["fields"]) == {"expected_checkpoint_id"}
    stale = ui.post(f"/v1/requests/{shown['id']}/decision",
                    json={**body, "expected_checkpoint_id": "1f0-old"})
    assert stale.status_code == 409 and stale.json()["request"]["checkpoint_id"] == shown["checkpoint_id"]
    ok = ui.post(f"/v1/requests/{shown['id']}/decision",
                 json={**body, "expected_checkpoint_id": shown["checkpoint_id"]})
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    stack.run_jobs()
    assert stack.api.get(f"/v1/runs/{r.json()['id']}").json()["status"] == "done"
    assert graph_apps.effects() == ["executed refund $340"]
