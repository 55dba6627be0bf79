"""A request's own deadline: shorter or stricter than its rule's, never longer or laxer."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from bot.agents.helper import approval_payload
from bot.agents.payloads import spec_from_interrupt
from signoff_client import SignoffClient
from tests.conftest import API_TOKEN
from tests.test_policy_paths import POLICY


@pytest.fixture
def stack_overrides():
    return {"policy_file": POLICY}


def ask(stack, action, **extra):
    return stack.api.post("/v1/requests", json={"action": action, "summary": "s", **extra})


def at(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_request_may_shorten_its_deadline_and_it_fires(stack, clock):
    r = ask(stack, "timed_restart", timeout="10m")
    assert r.status_code == 201, r.text
    req = r.json()
    assert at(req["expires_at"]) - at(req["created_at"]) == timedelta(minutes=10)
    stack.run_jobs()
    clock.advance(minutes=11)
    stack.sweep()
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "expired"


def test_without_its_own_deadline_a_request_keeps_its_rules(stack):
    timed, open_ended = ask(stack, "timed_restart").json(), ask(stack, "open_restart").json()
    assert at(timed["expires_at"]) - at(timed["created_at"]) == timedelta(hours=1)
    assert open_ended["expires_at"] is None  # people decide, however long it takes


@pytest.mark.parametrize(("action", "extra", "field"), [
    ("timed_restart", {"timeout": 7200}, "timeout"),          # longer than the rule's 1h
    ("open_restart", {"timeout": "3h"}, "timeout"),           # longer than max_timeout 2h
    ("timed_restart", {"on_timeout": "approve"}, "on_timeout"),  # laxer than reject
    ("open_restart", {"timeout": "30m", "on_timeout": "approve"}, "on_timeout"),  # the rule waits
    ("open_restart", {"on_timeout": "reject"}, "on_timeout"),  # no deadline to act at
    ("open_restart", {"timeout": "11326237176358357h"}, "timeout"),  # past any calendar: was a 500
])
def test_a_longer_or_laxer_deadline_is_refused_and_nothing_is_stored(stack, action, extra, field):
    r = ask(stack, action, **extra)
    assert r.status_code == 422, r.text
    assert field in r.json()["fields"]
    assert stack.api.get("/v1/requests").json()["requests"] == []


def test_an_on_timeout_without_any_deadline_names_the_rule(stack):
    r = ask(stack, "open_restart", on_timeout="reject")
    assert r.status_code == 422
    assert r.json()["detail"] == "on_timeout needs a timeout: policy rule 'open-ended' sets none", r.text


def test_a_stricter_deadline_is_accepted(stack):
    r = ask(stack, "open_restart", timeout=1800, on_timeout="wait")
    assert r.status_code == 201 and r.json()["expires_at"] is None, r.text
    r = ask(stack, "open_restart", timeout=1800)  # rejects at its deadline by default
    assert at(r.json()["expires_at"]) - at(r.json()["created_at"]) == timedelta(minutes=30)


def test_the_python_client_sends_the_deadline(stack):
    with SignoffClient(base_url=stack.url, token=API_TOKEN) as client:
        req = client.request(action="timed_restart", summary="s", approvers=[], timeout=600)
    got = stack.api.get(f"/v1/requests/{req.id}").json()
    assert at(got["expires_at"]) - at(got["created_at"]) == timedelta(minutes=10)


def test_request_approval_carries_its_deadline_to_the_request():
    payload = approval_payload(action="timed_restart", args={}, summary=None, context=None, urgency="normal",
                               approvers=(), channel=None, allow=("approve", "reject"), timeout=600,
                               on_timeout="reject")
    spec = spec_from_interrupt(payload, graph="g")
    assert (spec.timeout_seconds, spec.on_timeout) == (600, "reject")
    for seconds, whole in ((Decimal("60.5"), 60), (Fraction(90), 90), (90.9, 90)):  # any real number
        payload = approval_payload(action="a", args={}, summary=None, context=None, urgency="normal",
                                   approvers=(), channel=None, allow=("approve",), timeout=seconds)
        assert payload["timeout"] == whole
        assert spec_from_interrupt(payload, graph="g").timeout_seconds == whole
    with pytest.raises(ValueError, match="on_timeout needs a timeout"):
        approval_payload(action="a", args={}, summary=None, context=None, urgency="normal", approvers=(),
                         channel=None, allow=("approve",), on_timeout="reject")
