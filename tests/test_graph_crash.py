"""A worker SIGKILLed in the middle of a resume: after restart the graph is resumed exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from bot.core.lifecycle import Verdict
from tests import graph_apps
from tests.conftest import CHANNEL, process_env
from workers import graphs as graph_jobs


@pytest.fixture
def stack_overrides(tmp_path):
    return {"graphs": graph_apps.GRAPHS, "checkpoint_url": f"sqlite:///{tmp_path / 'checkpoints.db'}",
            "default_approvers": ("U0ALICE",), "default_channel": CHANNEL}


def worker(stack, tmp_path, slow: str = "3", lease: str = "2", **extra: str) -> subprocess.Popen[bytes]:
    """A real `signoff worker` process on the test stack's database, Redis and Slack sandbox."""
    s = stack.w.settings
    env = {**os.environ, "DATABASE_URL": s.database_url, "REDIS_URL": s.redis_url or "",
           **process_env(s.slack_api_url),
           "SIGNOFF_GRAPHS": ",".join(f"{k}={v}" for k, v in graph_apps.GRAPHS.items()),
           "SIGNOFF_CHECKPOINT_URL": s.checkpoint_url or "", "SIGNOFF_DEFAULT_APPROVERS": "U0ALICE",
           "SIGNOFF_DATA_DIR": str(tmp_path), "SIGNOFF_RESUME_LEASE": lease, "SIGNOFF_TEST_SLOW": slow,
           "SIGNOFF_TEST_EFFECTS": str(tmp_path / "effects.log"), **extra}
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], env=env, cwd=os.getcwd(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_killed_resume_is_applied_once_after_restart(stack, tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNOFF_TEST_EFFECTS", str(tmp_path / "effects.log"))
    run = stack.api.post("/v1/runs", json={"graph": "slow", "input": {"amount": 40, "done": False}}).json()
    stack.run_jobs()
    [req] = stack.api.get(f"/v1/runs/{run['id']}").json()["pending_requests"]
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)  # queues the resume

    first = worker(stack, tmp_path)
    try:
        lock = f"signoff:thread:{run['thread_id']}"
        wait_for(lambda: stack.w.redis.exists(lock), 60, "the resume to start")
        time.sleep(0.5)  # inside the node's slow part, before its side effect
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    assert graph_apps.effects() == []
    assert stack.api.get(f"/v1/runs/{run['id']}").json()["status"] != "done"

    second = worker(stack, tmp_path)  # re-queues the unfinished resume at start
    try:
        wait_for(lambda: stack.api.get(f"/v1/runs/{run['id']}").json()["status"] == "done", 90,
                 "the run to finish")
        time.sleep(1)  # anything applied twice would show by now
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(15)
    assert graph_apps.effects() == ["refunded 40"]
    assert stack.api.get(f"/v1/runs/{run['id']}").json()["result"]["done"] is True


def test_a_step_longer_than_the_lease_is_not_applied_twice(stack, tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNOFF_TEST_EFFECTS", str(tmp_path / "effects.log"))
    run = stack.api.post("/v1/runs", json={"graph": "slow", "input": {"amount": 50, "done": False}}).json()
    stack.run_jobs()
    [req] = stack.api.get(f"/v1/runs/{run['id']}").json()["pending_requests"]
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    workers = [worker(stack, tmp_path, slow="6") for _ in range(2)]  # the step outlives the 2 s lease
    try:
        lock = f"signoff:thread:{run['thread_id']}"
        wait_for(lambda: stack.w.redis.exists(lock), 60, "the resume to start")
        stack.w.jobs.graphs.enqueue(graph_jobs.resume, req["id"])  # a duplicate for the other worker
        wait_for(lambda: stack.api.get(f"/v1/runs/{run['id']}").json()["status"] == "done", 90,
                 "the run to finish")
        time.sleep(8)  # the duplicate, had it gone ahead, would have refunded again by now
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(15)
    assert graph_apps.effects() == ["refunded 50"]
