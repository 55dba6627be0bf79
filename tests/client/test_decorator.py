"""@requires_approval end to end against the stand-in: the function runs once, and only when approved."""

from __future__ import annotations

import asyncio

import pytest

from signoff_client import (
    AsyncSignoffClient,
    Cancelled,
    Expired,
    Rejected,
    SignoffClient,
    SignoffError,
    WaitTimedOut,
    requires_approval,
)
from tests.client.conftest import TOKEN


@pytest.fixture
def client(url):
    with SignoffClient(base_url=url, token=TOKEN) as c:
        yield c


@pytest.fixture
def refunds(client):
    """A guarded refund function and the calls that actually reached it."""
    ran: list[tuple] = []

    @requires_approval(action="issue_refund", approvers=["@finance"], client=client, timeout=30,
                       summary="Refund ${amount} to order #{order}", urgency="high", channel="C0APPROVALS",
                       context={"ticket": "T-9"}, requester="billing-bot",
                       idempotency_key=lambda a: f"refund-{a['order']}")
    def issue_refund(order: int, amount: int, currency: str = "USD", *, note: str = "") -> str:
        """Refund an order."""
        ran.append((order, amount, currency, note))
        return f"refunded {amount} {currency}"

    return issue_refund, ran


def test_approved_runs_once_with_the_original_arguments(refunds, standin, approver):
    issue_refund, ran = refunds
    approver(status="approved")
    assert issue_refund(1234, amount=340) == "refunded 340 USD"
    assert ran == [(1234, 340, "USD", "")]
    assert standin.bodies == [{
        "action": "issue_refund", "summary": "Refund $340 to order #1234", "approvers": ["@finance"],
        "args": {"order": 1234, "amount": 340, "currency": "USD", "note": ""}, "urgency": "high",
        "channel": "C0APPROVALS", "context": {"ticket": "T-9"}, "requester": "billing-bot",
        "idempotency_key": "refund-1234", "allowed_decisions": ["approve", "edit", "reject"]}]
    assert issue_refund.__name__ == "issue_refund" and issue_refund.__doc__ == "Refund an order."


def test_approved_with_edits_runs_with_the_edited_arguments(refunds, approver):
    issue_refund, ran = refunds
    edited = {"order": 1234, "amount": 300, "currency": "USD", "note": "partial"}
    approver(status="approved", edited_args=edited)
    assert issue_refund(1234, 340) == "refunded 300 USD"
    assert ran == [(1234, 300, "USD", "partial")]


def test_rejected_raises_with_reason_and_decider_and_never_runs(refunds, approver):
    issue_refund, ran = refunds
    approver(status="rejected", decided_by="U0BOB", reason="already refunded")
    with pytest.raises(Rejected) as caught:
        issue_refund(1234, 340)
    assert caught.value.reason == "already refunded" and caught.value.decided_by == "U0BOB"
    assert caught.value.request.status == "rejected" and "already refunded" in str(caught.value)
    assert ran == []


@pytest.mark.parametrize("status,error", [("expired", Expired), ("cancelled", Cancelled)])
def test_expired_and_cancelled_raise_and_never_run(refunds, approver, status, error):
    issue_refund, ran = refunds
    approver(status=status)
    with pytest.raises(error) as caught:
        issue_refund(1234, 340)
    assert caught.value.request.status == status and ran == []


def test_still_pending_at_the_timeout_raises_wait_timed_out(client, standin):
    ran = []

    @requires_approval(action="drop_table", approvers=["U0ALICE"], client=client, timeout=1)
    def drop_table(name: str) -> None:
        ran.append(name)

    with pytest.raises(WaitTimedOut) as caught:
        drop_table("users")
    assert isinstance(caught.value, TimeoutError) and isinstance(caught.value, SignoffError)
    # Withdrawn, so an approval arriving after the agent gave up cannot act on anything.
    assert caught.value.request.status == "cancelled" and ran == []
    assert standin.bodies[0]["summary"] == 'drop_table(name="users")'


def test_an_edit_the_function_cannot_take_fails_closed(refunds, approver):
    issue_refund, ran = refunds
    approver(status="approved", edited_args={"order": 1234, "amount": 340, "destination": "elsewhere"})
    with pytest.raises(SignoffError, match="'destination'"):
        issue_refund(1234, 340)
    assert ran == []


def test_the_default_client_comes_from_the_environment_on_first_call(url, monkeypatch, approver):
    monkeypatch.delenv("SIGNOFF_URL", raising=False)
    monkeypatch.delenv("SIGNOFF_TOKEN", raising=False)

    @requires_approval(action="ping", approvers=["U0ALICE"], timeout=30)
    def ping() -> str:
        return "pong"

    monkeypatch.setenv("SIGNOFF_URL", url)
    monkeypatch.setenv("SIGNOFF_TOKEN", TOKEN)
    approver(status="approved")
    assert ping() == "pong"


def test_async_functions_are_guarded_too(url, standin, approver):
    ran: list[tuple] = []

    async def scenario():
        async with AsyncSignoffClient(base_url=url, token=TOKEN) as client:
            @requires_approval(action="send_email", approvers=["U0ALICE"], client=client, timeout=30,
                               summary=lambda a: f"Email {a['to']}")
            async def send_email(to: str, body: str) -> str:
                ran.append((to, body))
                return "sent"

            approver(status="approved", edited_args={"to": "a@example.com", "body": "Hi (edited)"})
            assert await send_email("a@example.com", "Hi") == "sent"
            approver(status="rejected", reason="tone")
            with pytest.raises(Rejected):
                await send_email("b@example.com", "Yo")

    asyncio.run(scenario())
    assert ran == [("a@example.com", "Hi (edited)")]
    assert [b["summary"] for b in standin.bodies] == ["Email a@example.com", "Email b@example.com"]


def test_a_client_of_the_wrong_kind_is_refused_at_decoration(client):
    with pytest.raises(TypeError, match="AsyncSignoffClient"):
        @requires_approval(action="a", approvers=["U1"], client=client)
        async def f() -> None: ...


def test_async_functions_without_a_client_use_the_environment(url, monkeypatch, approver):
    monkeypatch.setenv("SIGNOFF_URL", url + "/v1")
    monkeypatch.setenv("SIGNOFF_TOKEN", TOKEN)

    @requires_approval(action="ping", approvers=["U0ALICE"], timeout=30)
    async def ping() -> str:
        return "pong"

    for _ in range(2):  # each asyncio.run is a new event loop; the client must not outlive its loop
        approver(status="approved")
        assert asyncio.run(ping()) == "pong"
