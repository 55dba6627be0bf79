"""ApprovalRequest parsing and the wire helpers: pure, no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from signoff_client import APIError, ApprovalRequest, SignoffClient
from signoff_client.protocol import create, error, poll_seconds, read

FULL = {
    "id": "req_1", "status": "approved", "action": "issue_refund", "summary": "Refund $340",
    "args": {"order": 1234, "amount": 340}, "context": {"ticket": "T-9"}, "urgency": "high",
    "requester": "billing-bot", "approvers": ["@finance"], "eligible_approvers": ["U0ALICE", "U0BOB"],
    "channel": "C0APPROVALS", "dm": False, "created_at": "2025-10-09T08:50:00Z", "decided_by": "U0ALICE",
    "decided_at": "2025-10-09T10:53:20+02:00", "reason": "ok", "idempotency_key": "k1", "decision": "edit",
    "edited_args": {"order": 1234, "amount": 300}, "callback_url": "https://agent.example/cb",
}


def test_every_field_is_parsed_with_aware_datetimes():
    r = ApprovalRequest.from_json(FULL)
    assert (r.id, r.status, r.decision, r.urgency, r.dm) == ("req_1", "approved", "edit", "high", False)
    assert r.approvers == ("@finance",) and r.eligible_approvers == ("U0ALICE", "U0BOB")
    assert r.created_at == datetime(2025, 10, 9, 8, 50, tzinfo=UTC)
    assert r.decided_at == datetime(2025, 10, 9, 10, 53, 20, tzinfo=timezone(timedelta(hours=2)))
    assert r.callback_url == "https://agent.example/cb" and r.context == {"ticket": "T-9"}
    assert r.approved and not r.is_pending
    assert r.effective_args == {"order": 1234, "amount": 300}


def test_unknown_fields_are_ignored_and_missing_optional_ones_are_none():
    r = ApprovalRequest.from_json({"id": "req_2", "status": "pending", "action": "a", "summary": "s",
                                   "shiny_new_field": [1, 2]})
    assert r.is_pending and not r.approved
    assert r.args == {} and r.effective_args == {}
    assert None is r.decision is r.edited_args is r.callback_url is r.decided_at is r.created_at is r.dm
    assert r.approvers == ()


def test_a_naive_timestamp_is_read_as_utc():
    r = ApprovalRequest.from_json({**FULL, "created_at": "2025-10-09T08:50:00"})
    assert r.created_at == datetime(2025, 10, 9, 8, 50, tzinfo=UTC)


def test_effective_args_are_the_args_when_nothing_was_edited():
    assert ApprovalRequest.from_json({**FULL, "edited_args": None}).effective_args == FULL["args"]


@pytest.mark.parametrize("data,named", [
    ({k: v for k, v in FULL.items() if k != "status"}, "status"),
    ({**FULL, "args": [1]}, "args"),
    ({**FULL, "decided_at": "yesterday"}, "decided_at"),
    ({**FULL, "approvers": "@finance"}, "approvers"),
])
def test_malformed_objects_name_the_field(data, named):
    with pytest.raises(ValueError, match=named):
        ApprovalRequest.from_json(data)


def test_requests_are_frozen_and_keyword_only():
    r = ApprovalRequest.from_json(FULL)
    with pytest.raises(AttributeError):
        r.status = "rejected"  # type: ignore[misc]
    with pytest.raises(TypeError):
        ApprovalRequest("req_1", "pending", "a", "s")  # type: ignore[misc]


@pytest.mark.parametrize("remaining,seconds", [(None, 60), (600, 60), (60.9, 60), (59.5, 59), (2.5, 2),
                                               (1.0, 1), (0.2, 1)])
def test_long_polls_are_60_s_and_shorter_near_the_deadline(remaining, seconds):
    assert poll_seconds(remaining) == seconds


def test_create_omits_unset_fields_so_server_defaults_apply():
    call = create(action="a", summary="s", approvers=("U1",), args=None, context=None, urgency="normal",
                  channel=None, dm=None, requester=None, idempotency_key=None, callback_url=None)
    assert call.json == {"action": "a", "summary": "s", "approvers": ["U1"], "urgency": "normal"}
    with pytest.raises(TypeError, match="list"):
        create(action="a", summary="s", approvers="@finance", args=None, context=None, urgency="normal",
               channel=None, dm=None, requester=None, idempotency_key=None, callback_url=None)


def answer(status: int, **kwargs) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", "http://s/v1/requests/req_1"), **kwargs)


def test_signoff_errors_keep_error_detail_and_fields():
    e = error(answer(422, json={"error": "invalid_body", "detail": "bad", "fields": {"urgency": "nope"}}))
    assert (e.status, e.error, e.detail, e.fields) == (422, "invalid_body", "bad", {"urgency": "nope"})
    assert "urgency: nope" in str(e)


def test_a_proxy_page_is_still_an_api_error():
    e = error(answer(502, text="<html>Bad Gateway</html>"))
    assert (e.status, e.error) == (502, "http_502") and "Bad Gateway" in e.detail


def test_a_2xx_that_is_not_a_request_is_an_api_error():
    with pytest.raises(APIError) as caught:
        read(answer(200, json={"id": "req_1"}))
    assert caught.value.error == "invalid_response" and "status" in caught.value.detail


def test_wait_plans_its_polls_from_an_injected_clock():
    """Through the transport seam: the server always says pending, the clock jumps by each poll."""
    clock = [1000.0]
    polls: list[int] = []

    def server(request: httpx.Request) -> httpx.Response:
        seconds = int(request.url.params["timeout"])
        polls.append(seconds)
        clock[0] += seconds
        return httpx.Response(200, json={**FULL, "status": "pending"})

    with SignoffClient(base_url="http://signoff.test", token="t" * 20, transport=httpx.MockTransport(server),
                       clock=lambda: clock[0]) as client:
        assert client.wait("req_1", timeout=125.5).is_pending
    assert polls == [60, 60, 5, 1]


@pytest.mark.parametrize("base_url", ["http://signoff.test", "http://signoff.test/", "http://signoff.test/v1",
                                      "http://signoff.test/v1/"])
def test_the_base_url_may_be_given_with_or_without_v1(base_url):
    seen: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        assert request.headers["authorization"] == "Bearer " + "t" * 20
        return httpx.Response(200, json=FULL)

    with SignoffClient(base_url=base_url, token="t" * 20, transport=httpx.MockTransport(server)) as client:
        client.get("req/../1")
    assert seen == ["http://signoff.test/v1/requests/req%2F..%2F1"]


def test_from_env_names_what_is_missing():
    from signoff_client import SignoffError
    with pytest.raises(SignoffError, match="SIGNOFF_TOKEN"):
        SignoffClient.from_env({"SIGNOFF_URL": "http://signoff.test"})
    with SignoffClient.from_env({"SIGNOFF_URL": "http://signoff.test", "SIGNOFF_TOKEN": "t" * 20}) as c:
        assert c.base_url == "http://signoff.test"


@pytest.mark.parametrize("kwargs", [{"base_url": "", "token": "t"}, {"base_url": "http://s", "token": " "},
                                    {"base_url": "http://s", "token": "t", "timeout": 0}])
def test_a_client_without_url_or_token_refuses_to_start(kwargs):
    with pytest.raises(ValueError):
        SignoffClient(**kwargs)


def test_the_client_knows_every_status_the_service_ends_in():
    """One vocabulary: the service's Status is the source, the client's Literal follows it."""
    from typing import get_args

    from bot.core.lifecycle import Status as ServiceStatus
    from signoff_client.models import Status

    assert set(get_args(Status)) == {s.value for s in ServiceStatus}
