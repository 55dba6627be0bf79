"""Invariant 8 at Slack's door: bad signature, old timestamp, tampered or malformed body → nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest
from slack_sdk.signature import Clock, SignatureVerifier

from blocks import ids
from tests.conftest import CHANNEL, SIGNING_SECRET

# Slack's published example ("Verifying requests from Slack").
VECTOR_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
VECTOR_TS = "1531420618"
VECTOR_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibI"
    "GlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
VECTOR_SIG = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


class Frozen(Clock):
    def now(self) -> float:
        return float(VECTOR_TS)


def test_slacks_published_signing_vector_verifies():
    verifier = SignatureVerifier(VECTOR_SECRET, clock=Frozen())
    assert verifier.is_valid(body=VECTOR_BODY, timestamp=VECTOR_TS, signature=VECTOR_SIG)
    assert not SignatureVerifier("0" * 32, clock=Frozen()).is_valid(
        body=VECTOR_BODY, timestamp=VECTOR_TS, signature=VECTOR_SIG)


def sign(body: str, ts: int, secret: str = SIGNING_SECRET) -> dict[str, str]:
    mac = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={mac}",
            "Content-Type": "application/x-www-form-urlencoded"}


def click_body(request_id: str, user: str = "U0ALICE", ts: str = "1.0") -> str:
    payload = {"type": "block_actions", "user": {"id": user}, "trigger_id": "t",
               "channel": {"id": CHANNEL}, "container": {"type": "message", "channel_id": CHANNEL,
                                                          "message_ts": ts},
               "actions": [{"action_id": ids.ACTION_APPROVE, "block_id": ids.BLOCK_ACTIONS,
                            "value": request_id, "type": "button"}],
               "team": {"id": "T0SANDBOX"}, "api_app_id": "A0SIGNOFF"}
    return httpx.QueryParams({"payload": json.dumps(payload)}).__str__()


@pytest.fixture
def pending(stack):
    req = stack.create()
    stack.run_jobs()
    return req


def post(stack, body: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{stack.url}/slack/events", content=body, headers=headers)


def assert_unchanged(stack, req):
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "pending"
    assert stack.sandbox.ephemerals() == []


def test_a_correctly_signed_click_is_accepted(stack, pending):
    body = click_body(pending["id"])
    assert post(stack, body, sign(body, int(time.time()))).status_code == 200
    assert stack.api.get(f"/v1/requests/{pending['id']}").json()["status"] == "approved"


@pytest.mark.parametrize("case", ["wrong secret", "301 s old", "310 s ahead", "tampered", "unsigned"])
def test_forged_stale_or_tampered_clicks_get_401_and_change_nothing(stack, pending, case):
    body, now = click_body(pending["id"]), int(time.time())
    headers = {
        "wrong secret": sign(body, now, secret="not-the-signing-secret-at-all!!"),
        "301 s old": sign(body, now - 301),
        # Ahead, the gap shrinks while the test runs: keep it clearly past Slack's 300 s window.
        "310 s ahead": sign(body, now + 310),
        "tampered": sign(body, now),
        "unsigned": {"Content-Type": "application/x-www-form-urlencoded"},
    }[case]
    if case == "tampered":
        body = click_body(pending["id"], user="U0BOB")
    r = post(stack, body, headers)
    assert r.status_code == 401 and r.json()["error"] == "invalid request"
    assert_unchanged(stack, pending)


@pytest.mark.parametrize("body,problem", [
    ("payload=%7Bnot-json", "not a Slack payload"),
    ("payload=" + httpx.QueryParams({"x": json.dumps([1, 2])})["x"], "JSON object"),
    ("payload=" + json.dumps({"type": "block_actions", "actions": []}), "user.id"),
    ("payload=" + json.dumps({"type": "block_actions", "user": {"id": "U0ALICE"}}), "actions"),
    ("payload=" + json.dumps({"type": "view_submission", "user": {"id": "U0ALICE"}}), "view"),
])
def test_malformed_signed_payloads_get_400_naming_the_problem(stack, pending, body, problem):
    r = post(stack, body, sign(body, int(time.time())))
    assert r.status_code == 400 and problem in r.json()["detail"]
    assert_unchanged(stack, pending)


def test_a_click_on_an_unknown_request_is_explained(stack, pending):
    body = click_body("req_doesnotexist")
    assert post(stack, body, sign(body, int(time.time()))).status_code == 200
    [told] = stack.ephemerals("U0ALICE")
    assert "no longer exists" in told["text"]
    assert stack.api.get(f"/v1/requests/{pending['id']}").json()["status"] == "pending"
