"""Fixtures shared by the graph tests: the registered test graphs and a side-effect log."""

from __future__ import annotations

import pytest

from tests import graph_apps
from tests.conftest import CHANNEL


@pytest.fixture
def stack_overrides(tmp_path):
    return {"graphs": graph_apps.GRAPHS, "checkpoint_url": f"sqlite:///{tmp_path / 'checkpoints.db'}",
            "default_approvers": ("U0ALICE", "U0BOB"), "default_channel": CHANNEL}


@pytest.fixture(autouse=True)
def effects_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNOFF_TEST_EFFECTS", str(tmp_path / "effects.log"))


def failing_resume(stack, tmp_path, monkeypatch, action: str):
    """A "flaky" run approved while its act fails; the first resume has failed. Returns
    (run, request, flag): delete the flag and the act works."""
    from bot.core.lifecycle import Verdict

    flag = tmp_path / "fail"
    flag.touch()
    monkeypatch.setenv("SIGNOFF_TEST_FAIL_FLAG", str(flag))
    r = stack.api.post("/v1/runs", json={"graph": "flaky", "input": {"action": action, "approved": False}})
    stack.run_jobs()
    run = stack.api.get(f"/v1/runs/{r.json()['id']}").json()
    [req] = run["pending_requests"]
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    stack.run_jobs()
    return run, req, flag
