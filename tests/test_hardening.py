"""Defects found in review, each pinned by the test that first reproduced it."""

from __future__ import annotations

import time

import httpx
from rq.job import Job
from sqlmodel import select

from blocks import ids
from bot.core.lifecycle import Verdict
from bot.storage.tables import AuditEvent
from tests import graph_apps
from tests.conftest import CHANNEL, OTHER_TOKEN
from tests.graph_fixtures import effects_file, failing_resume, stack_overrides  # noqa: F401 - fixtures
from tests.test_graph_runs import run_of
from tests.test_slack_verification import click_body, sign
from workers.queues import resume_job_id
from workers.retries import GRAPH_RETRY


def kinds(stack, request_id, kind):
    with stack.w.db.read() as s:
        return [e.data for e in s.exec(select(AuditEvent).where(AuditEvent.request_id == request_id,
                                                                AuditEvent.kind == kind))]


def test_a_resume_failing_twice_is_not_left_stuck(stack, tmp_path, monkeypatch):
    run, req, flag = failing_resume(stack, tmp_path, monkeypatch, "refund 7")
    assert stack.run_scheduled() == 1  # the first retry fails too
    flag.unlink()
    assert stack.run_scheduled() == 1
    assert run_of(stack, run)["status"] == "done" and graph_apps.effects() == ["executed refund 7"]


def test_the_sweeper_leaves_a_resume_in_backoff_alone(stack, tmp_path, monkeypatch, clock):
    run, req, flag = failing_resume(stack, tmp_path, monkeypatch, "refund 8")
    clock.advance(minutes=5)
    for _ in range(3):
        stack.sweep()
    # Re-queueing would have replaced the job with a fresh one (retries reset) and failed again
    # at once; RQ's own retry, if its 2 s passed on a slow machine, may have run once more.
    job = Job.fetch(resume_job_id(req["id"]), connection=stack.w.redis)
    assert job.retries_left is not None and job.retries_left < GRAPH_RETRY.max
    assert len(kinds(stack, req["id"], "resume_failed")) == GRAPH_RETRY.max - job.retries_left


def test_cards_left_stale_by_a_lost_update_are_brought_up_to_date(stack, clock):
    req = stack.create()
    stack.run_jobs()
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    stack.w.redis.flushall()  # the update_cards job is gone
    clock.advance(minutes=1)
    stack.sweep()
    assert "signoff_approve" not in str(stack.card(req["id"])["blocks"])


def test_inputs_that_used_to_crash_get_clear_errors(stack):
    for url in ("http://example.com:99999/cb", "http://[::1/cb", f"http://{'a' * 64}.example.com/"):
        r = stack.api.post("/v1/requests", json={"action": "a", "summary": "s", "approvers": ["U0ALICE"],
                                                 "callback_url": url})
        assert r.status_code == 422 and "callback_url" in r.json()["fields"], url
    body = click_body("req_x")
    headers = {**sign(body, int(time.time())), "X-Slack-Request-Timestamp": "²".encode("latin-1")}
    assert httpx.post(f"{stack.url}/slack/events", content=body.encode(), headers=headers).status_code == 401


def test_an_agent_sees_only_its_own_requests_and_runs(stack):
    mine = stack.create()
    other = httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {OTHER_TOKEN}"})
    assert other.get(f"/v1/requests/{mine['id']}").status_code == 404
    assert other.get(f"/v1/requests/{mine['id']}/wait", params={"timeout": 1}).status_code == 404
    assert other.get("/v1/requests").json()["requests"] == []
    run = stack.api.post("/v1/runs", json={"graph": "refund", "input": {"action": "a", "approved": False}})
    assert other.get(f"/v1/runs/{run.json()['id']}").status_code == 404
    assert stack.api.get(f"/v1/requests/{mine['id']}").status_code == 200


def test_separation_of_duties_holds_however_the_requester_is_spelled(stack):
    req = stack.create(requester="alice@example.com", approvers=["U0ALICE", "U0BOB"])
    stack.run_jobs()
    stack.sandbox.click("U0ALICE", CHANNEL, stack.card(req["id"])["ts"], ids.ACTION_APPROVE)
    [told] = stack.ephemerals("U0ALICE")
    assert "separation of duties" in told["text"]
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "pending"
    alone = stack.api.post("/v1/requests", json={"action": "a", "summary": "s", "approvers": ["U0ALICE"],
                                                 "requester": "U0ALICE"})
    assert alone.status_code == 422 and "approvers" in alone.json()["fields"]


def test_run_approvers_are_checked_when_the_run_starts(stack):
    r = stack.api.post("/v1/runs", json={"graph": "refund", "input": {"action": "a", "approved": False},
                                         "approvers": ["nobody@example.com"]})
    assert r.status_code == 422 and "approvers[0]" in r.json()["fields"]

