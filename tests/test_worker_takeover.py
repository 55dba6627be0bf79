"""Workers SIGKILLed under load: their work is taken over in seconds, not after leases or RQ's
ten-minute cleanup, and a restarted worker serves new cards at once."""

from __future__ import annotations

import json
import signal
import time

from rq.job import Job
from sqlmodel import select

from bot.core.lifecycle import Verdict
from bot.storage import repo
from bot.storage.tables import AuditEvent
from tests import graph_apps
from tests.conftest import CHANNEL
from tests.test_graph_crash import stack_overrides, wait_for, worker  # noqa: F401 - fixture
from workers.queues import resume_job_id


def slow_run(stack, amount: int, *, approve: bool = True) -> tuple[dict, dict]:
    """A run of the slow graph waiting on its request; approved (its resume queued) with `approve`."""
    body = {"graph": "slow", "input": {"amount": amount, "done": False}}
    run = stack.api.post("/v1/runs", json=body).json()
    stack.run_jobs()
    [req] = stack.api.get(f"/v1/runs/{run['id']}").json()["pending_requests"]
    if approve:
        stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    return run, req


def thread_lock(run) -> str:
    return f"signoff:thread:{run['thread_id']}"


def status(stack, run) -> str:
    return stack.api.get(f"/v1/runs/{run['id']}").json()["status"]


def rq_workers(stack) -> set[bytes]:
    return set(stack.w.redis.smembers("rq:workers"))


def kill_the_resumes_worker(stack, workers, run, req, *, last_attempt: bool = False) -> None:
    """Approve `req` once both `workers` take jobs, and SIGKILL whichever starts its resume
    (`last_attempt`: with no retries left for it)."""
    wait_for(lambda: len(rq_workers(stack)) == len(workers), 60, "the workers to take jobs")
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    wait_for(lambda: stack.w.redis.exists(thread_lock(run)), 60, "the resume to start")
    job = Job.fetch(resume_job_id(req["id"]), connection=stack.w.redis)
    if last_attempt:
        stack.w.redis.hset(job.key, "retries_left", 0)
    pid = int(stack.w.redis.hget(f"rq:worker:{job.worker_name}", "pid") or 0)
    [dead] = [w for w in workers if w.pid == pid]
    dead.send_signal(signal.SIGKILL)
    dead.wait(10)


def stop(*procs) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(15)
        except Exception:  # noqa: BLE001 - a worker that will not stop is killed
            p.kill()


def test_a_restarted_worker_serves_new_cards_while_a_dead_worker_still_holds_the_lease(
        stack, tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNOFF_TEST_EFFECTS", str(tmp_path / "effects.log"))
    run, _ = slow_run(stack, 40)
    # A long lease on purpose: a worker that waited on the dead one's lock would wait 20-30 s.
    first = worker(stack, tmp_path, slow="60", lease="30")  # killed inside its step
    try:
        wait_for(lambda: stack.w.redis.exists(thread_lock(run)), 60, "the resume to start")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        stop(first)
    assert graph_apps.effects() == []

    before = rq_workers(stack)
    second = worker(stack, tmp_path, slow="0", lease="30")  # re-queues the unfinished resume at start
    try:
        wait_for(lambda: rq_workers(stack) - before, 60, "the restarted worker to take jobs")
        asked = time.monotonic()
        new = stack.create()
        wait_for(lambda: new["id"] in str(stack.sandbox.messages(CHANNEL)), 10,
                 "the new card (the worker must not wait on the dead worker's lock)")
        assert time.monotonic() - asked < 10
        # The resume comes back every few seconds and goes ahead once the dead worker's lease lapses.
        wait_for(lambda: status(stack, run) == "done", 90, "the run to finish")
        time.sleep(1)
    finally:
        stop(second)
    assert graph_apps.effects() == ["refunded 40"]


def test_a_surviving_worker_takes_over_a_killed_workers_resume_within_30_s(stack, tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNOFF_TEST_EFFECTS", str(tmp_path / "effects.log"))
    run, req = slow_run(stack, 60, approve=False)
    # The default lease (15 s) and sweep (5 s): what an operator runs. Both workers run before the
    # decision, so the survivor's start-up does not re-queue the resume: only a takeover can.
    hold = tmp_path / "hold"  # the step waits while this exists: the killed one never refunds
    hold.touch()
    workers = [worker(stack, tmp_path, slow="0", lease="15", SIGNOFF_TEST_HOLD=str(hold)) for _ in range(2)]
    try:
        kill_the_resumes_worker(stack, workers, run, req)
        killed = time.monotonic()
        hold.unlink()
        assert graph_apps.effects() == [] and status(stack, run) != "done"
        # RQ still calls the job started (until its ten-minute cleanup); the survivor does not wait.
        wait_for(lambda: status(stack, run) == "done", 30 + 10, "the survivor to finish the run")
        took = time.monotonic() - killed
        time.sleep(1)
    finally:
        stop(*workers)
    assert graph_apps.effects() == ["refunded 60"]
    assert took < 30 + 10  # taken over within 30 s; the rest is the 1 s step and a loaded machine


def test_a_resume_killed_on_its_last_attempt_fails_its_run_instead_of_leaving_it_running(
        stack, tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNOFF_TEST_EFFECTS", str(tmp_path / "effects.log"))
    run, req = slow_run(stack, 70, approve=False)
    hold = tmp_path / "hold"
    hold.touch()
    workers = [worker(stack, tmp_path, slow="0", lease="15", SIGNOFF_TEST_HOLD=str(hold)) for _ in range(2)]
    try:
        kill_the_resumes_worker(stack, workers, run, req, last_attempt=True)
        hold.unlink()
        # The survivor's sweeper finds the job abandoned with no attempt left: it fails for good,
        # and so does its run, saying why (it used to stay "running", the resume "queued").
        wait_for(lambda: status(stack, run) == "failed", 30 + 10, "the run to fail")
        wait_for(lambda: "could not" in json.dumps(stack.card(req["id"])), 20, "the card to say so")
    finally:
        stop(*workers)
    got = stack.api.get(f"/v1/runs/{run['id']}").json()
    assert "died" in got["error"] and "no attempts left" in got["error"], got
    with stack.w.db.read() as s:
        assert repo.get_request(s, req["id"]).resume_state == "failed"
        [event] = s.exec(select(AuditEvent).where(AuditEvent.request_id == req["id"],
                                                 AuditEvent.kind == "resume_failed")).all()
    assert event.data["final"] is True
    assert graph_apps.effects() == []
