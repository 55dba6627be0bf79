"""SignoffClient and AsyncSignoffClient over real HTTP against the agent API stand-in."""

from __future__ import annotations

import asyncio
import time

import pytest

from signoff_client import APIError, AsyncSignoffClient, SignoffClient
from tests.client.conftest import TOKEN

ASK = {"action": "issue_refund", "summary": "Refund $340 to order #1234", "approvers": ["@finance"],
       "args": {"order": 1234, "amount": 340}}


@pytest.fixture
def client(url):
    with SignoffClient(base_url=url, token=TOKEN) as c:
        yield c


def test_request_sends_the_documented_body_and_parses_the_answer(client, standin):
    r = client.request(**ASK, context={"ticket": "T-9"}, urgency="high", channel="C0APPROVALS", dm=True,
                       requester="billing-bot", idempotency_key="order-1234", callback_url="https://a.example/cb")
    assert standin.bodies == [{**ASK, "context": {"ticket": "T-9"}, "urgency": "high",
                               "channel": "C0APPROVALS", "dm": True, "requester": "billing-bot",
                               "idempotency_key": "order-1234", "callback_url": "https://a.example/cb"}]
    assert r.is_pending and r.id.startswith("req_") and r.args == ASK["args"]
    assert r.eligible_approvers == ("U0ALICE", "U0BOB") and r.created_at.tzinfo is not None
    assert client.get(r.id) == r


def test_an_idempotent_replay_returns_the_same_request(client, standin):
    first = client.request(**ASK, idempotency_key="k")
    assert client.request(**ASK, idempotency_key="k").id == first.id
    assert len(standin.requests) == 1
    with pytest.raises(APIError) as caught:
        client.request(**{**ASK, "summary": "other"}, idempotency_key="k")
    assert (caught.value.status, caught.value.error) == (409, "idempotency_conflict")


def test_wait_returns_as_soon_as_someone_decides(client, approver):
    approver(status="approved", delay=0.3)
    asked = client.request(**ASK)
    started = time.monotonic()
    decided = client.wait(asked.id, timeout=30)
    assert time.monotonic() - started < 5
    assert decided.approved and decided.decided_by == "U0ALICE" and decided.decision == "approve"
    assert decided.decided_at is not None


def test_wait_returns_the_pending_request_when_the_timeout_passes(client, standin):
    asked = client.request(**ASK)
    started = time.monotonic()
    still = client.wait(asked.id, timeout=1.5)
    assert still.is_pending and time.monotonic() - started >= 1.5
    assert standin.polls == [1, 1]  # whole seconds, at least one, shorter near the deadline


def test_wait_loops_long_polls_that_come_back_pending(client, standin, approver):
    standin.poll_cap = 0.2  # every long-poll answers `pending` after 0.2 s, as through a short proxy
    approver(status="rejected", reason="duplicate refund", delay=1.0)
    asked = client.request(**ASK)
    decided = client.wait(asked.id)
    assert decided.status == "rejected" and decided.reason == "duplicate refund"
    assert len(standin.polls) >= 3 and set(standin.polls) == {60}


def test_cancel_withdraws_and_a_decided_request_answers_409(client, standin):
    asked = client.request(**ASK)
    cancelled = client.cancel(asked.id, reason="customer withdrew")
    assert cancelled.status == "cancelled" and cancelled.reason == "customer withdrew"
    other = client.request(**{**ASK, "summary": "another"})
    standin.decide(other.id, status="approved")
    with pytest.raises(APIError) as caught:
        client.cancel(other.id, reason="too late")
    assert (caught.value.status, caught.value.error) == (409, "already_decided")


def test_errors_carry_the_servers_error_detail_and_fields(client, url):
    with pytest.raises(APIError) as caught:
        client.request(**{**ASK, "approvers": ["U0ALICE", "@ghosts"]}, urgency="now")
    e = caught.value
    assert (e.status, e.error) == (422, "invalid_body")
    assert e.fields == {"approvers[1]": "unknown approver '@ghosts'", "urgency": "one of low, normal, high"}
    with pytest.raises(APIError) as caught:
        client.get("req_nope")
    assert (caught.value.status, caught.value.error) == (404, "not_found")
    assert "req_nope" in caught.value.detail
    stranger = SignoffClient(base_url=url, token="wrong-token-0123456789")
    with stranger, pytest.raises(APIError) as caught:
        stranger.get("req_nope")
    assert caught.value.status == 401 and caught.value.error == "unauthorized"


def test_the_async_client_does_the_same(url, standin, approver):
    async def scenario():
        async with AsyncSignoffClient(base_url=url, token=TOKEN) as client:
            asked = await client.request(**ASK, idempotency_key="async-1")
            assert (await client.get(asked.id)).is_pending
            assert (await client.wait(asked.id, timeout=1)).is_pending
            approver(request_id=asked.id, status="approved", edited_args={"order": 1234, "amount": 300})
            decided = await client.wait(asked.id, timeout=30)
            assert decided.approved and decided.effective_args == {"order": 1234, "amount": 300}
            withdrawn = await client.cancel((await client.request(**ASK)).id, reason="no longer needed")
            assert withdrawn.status == "cancelled"
            with pytest.raises(APIError) as caught:
                await client.cancel(asked.id, reason="too late")
            assert caught.value.error == "already_decided"
            with pytest.raises(APIError) as caught:
                await client.request(**{**ASK, "approvers": []})
            assert caught.value.fields == {"approvers": "at least one approver"}

    asyncio.run(scenario())
    assert standin.polls[0] == 1


def test_async_waits_do_not_block_the_event_loop(url, standin, approver):
    standin.poll_cap = 0.3

    async def scenario():
        async with AsyncSignoffClient(base_url=url, token=TOKEN) as client:
            asked = [await client.request(**{**ASK, "summary": f"#{i}"}) for i in range(3)]
            standin.decide(asked[0].id, status="approved")
            started = time.monotonic()
            results = await asyncio.gather(*(client.wait(r.id, timeout=1) for r in asked))
            return [r.status for r in results], time.monotonic() - started

    statuses, elapsed = asyncio.run(scenario())
    assert statuses == ["approved", "pending", "pending"]
    assert elapsed < 1.8  # one after another would take 2 s


def test_the_async_client_has_every_method_of_the_sync_one_with_the_same_parameters():
    import inspect

    def public(cls):
        return {name: getattr(cls, name) for name in vars(cls) if not name.startswith("_")}

    sync, async_ = public(SignoffClient), public(AsyncSignoffClient)
    assert set(sync) == set(async_) and {"start_run", "get_run", "request", "wait", "from_env"} <= set(sync)
    for name, method in sync.items():
        if name == "from_env":  # builds the client; not a call to the server
            continue
        assert inspect.iscoroutinefunction(async_[name]), name
        assert inspect.signature(async_[name]).parameters == inspect.signature(method).parameters, name
