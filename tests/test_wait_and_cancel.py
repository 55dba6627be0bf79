"""Long-poll wakes on the decision (pushed, not re-read); cancel is one more exactly-once ending."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlmodel import select

from blocks import ids
from bot.core.lifecycle import Verdict
from bot.storage.tables import AuditEvent
from tests.conftest import API_TOKEN, CHANNEL, OTHER_TOKEN


def test_wait_answers_pending_at_its_timeout(stack):
    req = stack.create()
    started = time.monotonic()
    r = stack.api.get(f"/v1/requests/{req['id']}/wait", params={"timeout": 1})
    assert r.status_code == 200 and r.json()["status"] == "pending"
    assert time.monotonic() - started >= 1.0


def test_wait_returns_as_soon_as_someone_clicks(stack):
    req = stack.create()
    stack.run_jobs()
    ts = stack.card(req["id"])["ts"]
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(stack.api.get, f"/v1/requests/{req['id']}/wait", params={"timeout": 60})
        time.sleep(0.3)
        assert not waiting.done()
        clicked = time.monotonic()
        stack.sandbox.click("U0BOB", CHANNEL, ts, ids.ACTION_APPROVE)
        answer = waiting.result(timeout=30)
        woke_after = time.monotonic() - clicked
    assert answer.json()["status"] == "approved" and answer.json()["decided_by"] == "U0BOB"
    assert woke_after < 10  # pushed: far inside the 60 s the agent was prepared to wait


def test_wait_on_a_decided_or_unknown_request_answers_at_once(stack):
    req = stack.create()
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    assert stack.api.get(f"/v1/requests/{req['id']}/wait").json()["status"] == "approved"
    assert stack.api.get("/v1/requests/req_nope/wait").status_code == 404
    assert stack.api.get(f"/v1/requests/{req['id']}/wait", params={"timeout": 61}).status_code == 422


def test_five_hundred_concurrent_waiters_all_get_their_answer(stack):
    reqs = [stack.create(summary=f"r{n}") for n in range(50)]

    async def wait_all() -> list[dict]:
        limits = httpx.Limits(max_connections=600)
        async with httpx.AsyncClient(base_url=stack.url, limits=limits, timeout=90,
                                     headers={"Authorization": f"Bearer {API_TOKEN}"}) as client:
            async def one(n: int) -> dict:
                r = await client.get(f"/v1/requests/{reqs[n % 50]['id']}/wait", params={"timeout": 60})
                return r.json()

            waiting = [asyncio.create_task(one(n)) for n in range(500)]
            await asyncio.sleep(1.0)  # let every waiter subscribe
            assert not any(t.done() for t in waiting)
            loop = asyncio.get_running_loop()
            for n, req in enumerate(reqs):
                verdict, reason = (Verdict.APPROVE, None) if n % 2 else (Verdict.REJECT, "no")
                await loop.run_in_executor(None, lambda r=req, v=verdict, why=reason: stack.w.service.decide(
                    r["id"], actor="U0ALICE", verdict=v, reason=why))
            return await asyncio.gather(*waiting)

    answers = asyncio.run(wait_all())
    assert len(answers) == 500
    for n, answer in enumerate(answers):
        assert answer["id"] == reqs[n % 50]["id"]
        assert answer["status"] == ("approved" if (n % 50) % 2 else "rejected")


def test_cancel_updates_every_card_and_a_later_click_is_told(stack):
    req = stack.create(dm=True)
    stack.run_jobs()
    r = stack.api.post(f"/v1/requests/{req['id']}/cancel", json={"reason": "customer withdrew"})
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["decided_by"]) == ("cancelled", "agent:test-agent")
    assert r.json()["delivery"]["state"] == "posted"
    # A copy not yet updated still has buttons: its click is told the request was cancelled.
    stack.sandbox.click("U0ALICE", CHANNEL, stack.card(req["id"])["ts"], ids.ACTION_APPROVE)
    [told] = stack.ephemerals("U0ALICE")
    assert "cancelled" in told["text"].lower()
    stack.run_jobs()
    for channel in (CHANNEL, stack.sandbox.dm_channel("U0ALICE")):
        card = stack.card(req["id"], channel)
        text = json.dumps(card["blocks"])
        assert "customer withdrew" in text and ids.ACTION_APPROVE not in text


def test_cancelling_again_with_the_same_reason_answers_the_same_and_changes_nothing(stack):
    req = stack.create()
    url = f"/v1/requests/{req['id']}/cancel"
    first = stack.api.post(url, json={"reason": "customer withdrew"})
    again = stack.api.post(url, json={"reason": "customer withdrew"})  # a retry whose answer was lost
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    other = stack.api.post(url, json={"reason": "changed my mind"})  # another cancel, not a retry
    assert other.status_code == 409 and other.json()["error"] == "already_decided"
    respelled = stack.api.post(url, json={"reason": "customer withdrew "})  # not the same reason
    assert respelled.status_code == 409
    # Another agent's "retry" of it is still told the request is not its own.
    stranger = httpx.post(f"{stack.url}{url}", json={"reason": "customer withdrew"},
                          headers={"Authorization": f"Bearer {OTHER_TOKEN}"})
    assert stranger.status_code == 404
    with stack.w.db.read() as s:
        ended = s.exec(select(AuditEvent).where(AuditEvent.request_id == req["id"],
                                                AuditEvent.kind == "cancelled")).all()
    assert len(ended) == 1


def test_cancel_is_refused_when_decided_or_not_yours(stack):
    req = stack.create()
    other = httpx.post(f"{stack.url}/v1/requests/{req['id']}/cancel", json={"reason": "mine now"},
                       headers={"Authorization": f"Bearer {OTHER_TOKEN}"})
    assert other.status_code == 404
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    late = stack.api.post(f"/v1/requests/{req['id']}/cancel", json={"reason": "too late"})
    assert late.status_code == 409 and late.json()["error"] == "already_decided"
    assert "U0ALICE" in late.json()["detail"]
    assert stack.api.post(f"/v1/requests/{req['id']}/cancel", json={}).status_code == 422


def test_cancel_racing_a_click_has_exactly_one_outcome(stack):
    reqs = [stack.create(summary=f"race {n}") for n in range(10)]
    stack.run_jobs()
    cards = {r["id"]: stack.card(r["id"])["ts"] for r in reqs}

    def cancel(req):
        return stack.api.post(f"/v1/requests/{req['id']}/cancel", json={"reason": "race"}).status_code

    def click(req):
        return stack.sandbox.click("U0ALICE", CHANNEL, cards[req["id"]], ids.ACTION_APPROVE).status_code

    with ThreadPoolExecutor(20) as pool:
        cancels = [pool.submit(cancel, r) for r in reqs]
        clicks = [pool.submit(click, r) for r in reqs]
        results = [(c.result(), k.result()) for c, k in zip(cancels, clicks, strict=True)]
    with stack.w.db.read() as s:
        endings = list(s.exec(select(AuditEvent).where(AuditEvent.kind.in_(["decided", "cancelled"]))))
    for req, (cancel_status, click_status) in zip(reqs, results, strict=True):
        assert click_status == 200 and cancel_status in (200, 409)
        final = stack.api.get(f"/v1/requests/{req['id']}").json()["status"]
        assert final == ("cancelled" if cancel_status == 200 else "approved")
        assert sum(e.request_id == req["id"] for e in endings) == 1
