"""LangGraph graphs pause for a Slack decision and resume exactly once."""

from __future__ import annotations

import json

from rq import Queue
from sqlmodel import select

from blocks import ids
from bot.core.lifecycle import Verdict
from bot.storage.tables import AuditEvent
from tests import graph_apps
from tests.conftest import CHANNEL
from tests.graph_fixtures import effects_file, failing_resume, stack_overrides  # noqa: F401 - fixtures
from workers import graphs as graph_jobs
from workers import queues


def start(stack, graph, graph_input, **extra):
    r = stack.api.post("/v1/runs", json={"graph": graph, "input": graph_input, **extra})
    assert r.status_code == 202, r.text
    stack.run_jobs()
    return stack.api.get(f"/v1/runs/{r.json()['id']}").json()


def run_of(stack, run):
    return stack.api.get(f"/v1/runs/{run['id']}").json()


def events(stack, kind):
    with stack.w.db.read() as s:
        return [e.data for e in s.exec(select(AuditEvent).where(AuditEvent.kind == kind)
                                       .order_by(AuditEvent.seq))]


def test_the_tutorial_refund_graph_runs_to_the_end_after_approve(stack):
    run = start(stack, "refund", {"action": "send refund of $340 to customer 8821", "approved": False})
    assert run["status"] == "waiting"
    [req] = run["pending_requests"]
    assert "send refund of $340" in req["summary"]
    assert req["delivery"] == {"state": "posted", "detail": None} and run["requests"] == [req]
    card = stack.card(req["id"])
    stack.sandbox.click("U0ALICE", CHANNEL, card["ts"], ids.ACTION_APPROVE)
    stack.run_jobs()
    run = run_of(stack, run)
    assert run["status"] == "done" and run["result"]["approved"] is True
    assert graph_apps.effects() == ["executed send refund of $340 to customer 8821"]
    [resumed] = events(stack, "resumed")
    assert resumed["applied"] and resumed["checkpoint_before"] != resumed["checkpoint_after"]


def test_after_a_reject_the_execute_node_never_acts(stack):
    run = start(stack, "refund", {"action": "delete the customers table", "approved": False})
    [req] = run["pending_requests"]
    stack.sandbox.click("U0BOB", CHANNEL, stack.card(req["id"])["ts"], ids.ACTION_REJECT)
    [view] = stack.views("U0BOB")
    stack.sandbox.submit_view("U0BOB", view["id"], {ids.BLOCK_REASON: {ids.ACTION_REASON: "never"}})
    stack.run_jobs()
    assert run_of(stack, run)["status"] == "done"
    assert graph_apps.effects() == []


def test_the_same_decision_delivered_twice_is_applied_once(stack):
    run = start(stack, "slow", {"amount": 40, "done": False})
    [req] = run["pending_requests"]
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    graphs = stack.w.jobs.graphs
    for _ in range(2):  # a duplicated job, then a retry of it
        graphs.enqueue(graph_jobs.resume, req["id"])
    stack.run_jobs()
    assert graph_apps.effects() == ["refunded 40"]
    assert [e["applied"] for e in events(stack, "resumed")] == [True]
    assert run_of(stack, run)["status"] == "done"


def test_two_parallel_interrupts_are_answered_by_id_in_either_order(stack):
    run = start(stack, "pair", {"answers": []})
    assert run["status"] == "waiting"
    reqs = {r["action"]: r for r in run["pending_requests"]}
    assert set(reqs) == {"deploy_eu", "deploy_us"}
    stack.w.service.decide(reqs["deploy_us"]["id"], actor="U0BOB", verdict=Verdict.REJECT, reason="freeze")
    stack.run_jobs()
    assert run_of(stack, run)["status"] == "waiting"  # eu still open
    stack.w.service.decide(reqs["deploy_eu"]["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    stack.run_jobs()
    done = run_of(stack, run)
    assert done["status"] == "done"
    assert sorted(done["result"]["answers"]) == ["eu:approve", "us:reject"]


def test_a_static_breakpoint_continues_or_stops(stack):
    run = start(stack, "breakpoint", {"action": "rotate keys", "approved": False})
    [req] = run["pending_requests"]
    assert "execute" in json.dumps(req)
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    stack.run_jobs()
    assert run_of(stack, run)["status"] == "done" and graph_apps.effects() == ["executed rotate keys"]

    stopped = start(stack, "breakpoint", {"action": "rotate more keys", "approved": False})
    [req] = stopped["pending_requests"]
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.REJECT, reason="not today")
    stack.run_jobs()
    stopped = run_of(stack, stopped)
    assert stopped["status"] == "stopped" and "not today" in stopped["error"]
    assert graph_apps.effects() == ["executed rotate keys"]


def test_unknown_graphs_and_reused_threads_are_refused(stack):
    r = stack.api.post("/v1/runs", json={"graph": "nope", "input": {}})
    assert r.status_code == 422 and "refund" in r.json()["detail"]
    first = stack.api.post("/v1/runs", json={"graph": "refund", "input": {"action": "a", "approved": False},
                                             "thread_id": "t-1"})
    again = stack.api.post("/v1/runs", json={"graph": "refund", "input": {"action": "a", "approved": False},
                                             "thread_id": "t-1"})
    assert first.status_code == 202 and again.status_code == 422 and "thread_id" in again.json()["fields"]
    assert stack.api.get("/v1/runs/run_nope").status_code == 404


def test_a_run_naming_a_channel_the_bot_cannot_post_in_is_refused_at_start(stack):
    # Its first interrupt would have failed the run; the agent learns now, and nothing is stored.
    body = {"graph": "refund", "input": {"action": "a", "approved": False}}
    stack.sandbox.add_channel("C0NOBOT", name="nobot", is_member=False)
    for channel, says in (("C0NOSUCH", "no such channel"), ("C0NOBOT", "not in this channel")):
        r = stack.api.post("/v1/runs", json={**body, "channel": channel})
        assert r.status_code == 422 and says in r.json()["fields"]["channel"], r.text
    stack.sandbox.fail_next("conversations.info", error="internal_error")
    r = stack.api.post("/v1/runs", json={**body, "channel": "C0OTHER"})
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert events(stack, "run_started") == []
    r = stack.api.post("/v1/runs", json={**body, "channel": CHANNEL})
    assert r.status_code == 202, r.text


def test_a_run_that_recovers_from_a_failed_step_no_longer_shows_the_error(stack, tmp_path, monkeypatch):
    flag = tmp_path / "fail"
    flag.touch()
    monkeypatch.setenv("SIGNOFF_TEST_FAIL_FLAG", str(flag))
    body = {"graph": "flaky_start", "input": {"action": "ship", "approved": False}}
    r = stack.api.post("/v1/runs", json=body)
    assert r.status_code == 202, r.text
    stack.run_jobs()
    retrying = stack.api.get(f"/v1/runs/{r.json()['id']}").json()
    assert retrying["status"] == "running" and "inventory service unavailable" in retrying["error"]
    flag.unlink()
    assert stack.run_scheduled() == 1
    waiting = stack.api.get(f"/v1/runs/{r.json()['id']}").json()
    assert waiting["status"] == "waiting" and waiting["error"] is None, waiting


def test_a_step_that_keeps_failing_fails_the_run_once_its_retries_are_spent(stack, tmp_path, monkeypatch):
    run, req, _ = failing_resume(stack, tmp_path, monkeypatch, "refund order 11")
    while stack.run_scheduled():  # every retry, each failing
        assert run_of(stack, run)["status"] in ("running", "failed")
    failed = run_of(stack, run)
    assert failed["status"] == "failed" and failed["error"] == "RuntimeError: payment provider unavailable"
    assert [e["final"] for e in events(stack, "resume_failed")] == [False] * 5 + [True]
    assert graph_apps.effects() == []


def test_a_resume_job_for_a_request_still_pending_does_nothing(stack):
    run = start(stack, "refund", {"action": "x", "approved": False})
    [req] = run["pending_requests"]
    stack.w.jobs.graphs.enqueue(graph_jobs.resume, req["id"])
    stack.run_jobs()
    assert run_of(stack, run)["status"] == "waiting" and events(stack, "resumed") == []
    assert queues.GRAPHS in queues.ALL


def test_a_resume_that_succeeds_in_another_job_takes_the_failure_off_the_card(stack, tmp_path, monkeypatch):
    # RQ's retry met another worker's lock on the thread and queued a job of its own (as
    # resume_later does), with every retry left: it must still clear the failure line.
    run, req, flag = failing_resume(stack, tmp_path, monkeypatch, "refund order 10")
    assert "could not be resumed" in stack.card(req["id"])["text"]
    flag.unlink()
    graphs = Queue(queues.GRAPHS, connection=stack.w.redis)
    for job_id in graphs.scheduled_job_registry.get_job_ids():
        graphs.scheduled_job_registry.remove(job_id)
    stack.w.jobs.resume_later(req["id"], delay=1)
    assert stack.run_scheduled() == 1
    stack.run_jobs()
    assert run_of(stack, run)["status"] == "done"
    assert "could not be resumed" not in stack.card(req["id"])["text"]


def test_a_failing_resume_is_retried_audited_shown_and_applied_once(stack, tmp_path, monkeypatch):
    run, req, flag = failing_resume(stack, tmp_path, monkeypatch, "refund order 9")
    [failed] = events(stack, "resume_failed")
    assert "payment provider unavailable" in failed["error"] and not failed["final"]
    # Not `failed` while the step is retried: an agent would take that as final, and the run
    # then came back to life (from an agent developer's walk through the README).
    retrying = run_of(stack, run)
    assert retrying["status"] == "running" and "payment provider unavailable" in retrying["error"]
    assert "retrying" in retrying["error"]
    card = stack.card(req["id"])
    [failure] = [b for b in card["blocks"] if b["block_id"] == "signoff_failure"]
    assert failure["text"]["text"].startswith("⚠️ *Approved, but the agent could not be resumed* (")
    assert "payment provider unavailable" in failure["text"]["text"]
    assert "retries it with backoff" in failure["text"]["text"]
    assert "could not be resumed" in card["text"]
    assert graph_apps.effects() == []

    flag.unlink()
    assert stack.run_scheduled() == 1  # RQ's retry, with backoff
    stack.run_jobs()  # the card update the recovery queued
    done = run_of(stack, run)
    assert done["status"] == "done" and done["error"] is None
    assert graph_apps.effects() == ["executed refund order 9"]
    recovered = stack.card(req["id"])  # the card drops the failure line once it recovered
    assert not [b for b in recovered["blocks"] if b["block_id"] == "signoff_failure"]
    # The failed attempt had already saved the answer; the retry only carried the run on.
    assert [e["applied"] for e in events(stack, "resumed")] == [False]
