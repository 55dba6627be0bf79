"""The Python client against the real service: a decorated function runs only once approved."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from blocks import ids
from signoff_client import Cancelled, Rejected, SignoffClient, requires_approval
from tests.conftest import API_TOKEN, CHANNEL


def decorated(stack, calls):
    client = SignoffClient(base_url=stack.url, token=API_TOKEN)

    @requires_approval(action="issue_refund", approvers=["@finance"], channel=CHANNEL, client=client,
                       summary="Refund ${amount} to order #{order}", timeout=30)
    def issue_refund(order: int, amount: int) -> str:
        calls.append((order, amount))
        return f"refunded {amount}"

    return issue_refund


def card_of_next_request(stack):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        stack.run_jobs()
        if messages := stack.sandbox.messages(CHANNEL):
            return messages[-1]
        time.sleep(0.05)
    raise AssertionError("no card was posted")


def test_approved_runs_once_and_rejected_raises_with_the_reason(stack):
    calls: list[tuple[int, int]] = []
    refund = decorated(stack, calls)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(refund, 1234, 340)
        card = card_of_next_request(stack)
        assert "Refund $340 to order #1234" in str(card["blocks"])
        stack.sandbox.click("U0ALICE", CHANNEL, card["ts"], ids.ACTION_APPROVE)
        assert running.result(timeout=30) == "refunded 340"
    assert calls == [(1234, 340)]

    stack.sandbox.reset()
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(refund, 99, 5000)
        card = card_of_next_request(stack)
        stack.sandbox.click("U0BOB", CHANNEL, card["ts"], ids.ACTION_REJECT)
        [view] = stack.views("U0BOB")
        stack.sandbox.submit_view("U0BOB", view["id"], {ids.BLOCK_REASON: {ids.ACTION_REASON: "too much"}})
        with pytest.raises(Rejected) as rejected:
            running.result(timeout=30)
    assert (rejected.value.reason, rejected.value.decided_by) == ("too much", "U0BOB")
    assert calls == [(1234, 340)]


def test_a_cancelled_request_raises_cancelled(stack):
    calls: list[tuple[int, int]] = []
    refund = decorated(stack, calls)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(refund, 7, 1)
        card_of_next_request(stack)
        [pending] = stack.api.get("/v1/requests", params={"status": "pending"}).json()["requests"]
        stack.api.post(f"/v1/requests/{pending['id']}/cancel", json={"reason": "order closed"})
        with pytest.raises(Cancelled):
            running.result(timeout=30)
    assert calls == []
