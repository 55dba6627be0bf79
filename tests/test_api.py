"""The agent API's contract: auth, validation errors that name fields, 404s; nothing changes on error."""

from __future__ import annotations

import httpx
import pytest

from bot.core.lifecycle import Verdict
from tests.conftest import CHANNEL


def count(stack) -> int:
    return len(stack.api.get("/v1/requests").json()["requests"])


@pytest.mark.parametrize("auth", [None, "Bearer wrong-token-0123456789", "Basic dXNlcjpwYXNz", "Bearer"])
def test_missing_or_wrong_tokens_get_401(stack, auth):
    headers = {"Authorization": auth} if auth else {}
    for method, path in (("GET", "/v1/requests"), ("POST", "/v1/requests"), ("GET", "/v1/requests/x")):
        r = httpx.request(method, stack.url + path, headers=headers, json={})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized", (method, path)
    assert count(stack) == 0


@pytest.mark.parametrize("body,fields", [
    ({}, {"action", "summary"}),
    ({"action": "a", "summary": "s", "approvers": []}, {"approvers"}),
    ({"action": "a", "summary": "s", "approvers": ["U0ALICE"], "urgency": "now"}, {"urgency"}),
    ({"action": "a", "summary": "s", "approvers": ["U0ALICE"], "args": [1]}, {"args"}),
    ({"action": "a", "summary": "s", "approvers": ["U0ALICE"], "colour": "red"}, {"colour"}),
    # An unknown field is named as sent, even when it looks like one of pydantic's union tags.
    ({"action": "a", "summary": "s", "approvers": ["U0ALICE"], "time-out": 60}, {"time-out"}),
    ({"action": "", "summary": "s", "approvers": [" "]}, {"action", "approvers[0]"}),
])
def test_invalid_bodies_get_422_naming_each_bad_field(stack, body, fields):
    r = stack.api.post("/v1/requests", json=body)
    assert r.status_code == 422 and r.json()["error"] == "invalid_body"
    assert set(r.json()["fields"]) == fields
    assert count(stack) == 0


def test_a_body_that_is_not_json_gets_422(stack):
    r = stack.api.post("/v1/requests", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_body"
    fields = r.json()["fields"]
    assert list(fields) == ["body"] and "not valid JSON at character" in fields["body"]


def test_a_json_body_sent_without_its_content_type_is_told_to_send_it(stack):
    r = stack.api.post("/v1/requests", content=b'{"action": "a", "summary": "s"}')
    assert r.status_code == 422 and "Content-Type: application/json" in r.json()["fields"]["body"], r.text


def test_a_timeout_that_is_neither_seconds_nor_a_duration_is_one_field_in_words(stack):
    r = stack.api.post("/v1/requests", json={"action": "a", "summary": "s", "approvers": ["U0ALICE"],
                                             "timeout": "5 minutes"})
    assert r.status_code == 422 and list(r.json()["fields"]) == ["timeout"], r.text
    said = r.json()["fields"]["timeout"]
    assert "a valid integer" in said and "a duration like 30m" in said and "^" not in said, said


def test_unknown_approvers_are_422_not_a_silent_drop(stack):
    r = stack.api.post("/v1/requests", json={"action": "a", "summary": "s", "channel": CHANNEL,
                                             "approvers": ["U0ALICE", "nobody@example.com", "@ghosts",
                                                           "U0NOSUCH"]})
    assert r.status_code == 422
    assert set(r.json()["fields"]) == {"approvers[1]", "approvers[2]", "approvers[3]"}
    assert count(stack) == 0
    stack.run_jobs()
    assert stack.sandbox.messages(CHANNEL) == []


def test_unknown_ids_are_404(stack):
    r = stack.api.get("/v1/requests/req_nope")
    assert r.status_code == 404 and "req_nope" in r.json()["detail"]


def test_list_filters_by_status(stack):
    a, b = stack.create(), stack.create(summary="other")
    stack.w.service.decide(a["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    pending = stack.api.get("/v1/requests", params={"status": "pending"}).json()["requests"]
    assert [r["id"] for r in pending] == [b["id"]]
    assert stack.api.get("/v1/requests", params={"status": "maybe"}).status_code == 422


def test_healthz_reports_database_and_redis(stack):
    r = httpx.get(stack.url + "/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok", "redis": "ok"}
