"""Hardened edges on the Slack side: late clicks, unknown channels, interactions from elsewhere."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from rq import Queue
from slack_bolt import BoltRequest
from slack_sdk import WebClient

from blocks import ids
from bot import wiring
from bot.core.lifecycle import Verdict
from bot.slack import delivery
from bot.storage import recovery, repo
from tests.conftest import CHANNEL
from tests.graph_fixtures import effects_file, stack_overrides  # noqa: F401 - fixtures
from tests.test_graph_hitl import TIDY, click
from tests.test_graph_runs import start
from tests.test_slack_verification import click_body, sign
from workers import cards, queues, runtime


def test_a_click_on_an_item_already_answered_tells_the_clicker_who_answered(stack):
    run = start(stack, "batched", TIDY)
    [req] = run["pending_requests"]
    assert click(stack, "U0BOB", req["id"], ids.ACTION_APPROVE, 1).status_code == 200
    late = click(stack, "U0ALICE", req["id"], ids.ACTION_APPROVE, 1)
    assert late.status_code == 200
    [told] = stack.ephemerals("U0ALICE")
    assert "Already answered" in told["text"] and "<@U0BOB>" in told["text"]


def stored_ids(stack) -> list[str]:
    from sqlmodel import select

    from bot.storage.tables import ApprovalRequest
    with stack.w.db.read() as s:
        return [r.id for r in s.exec(select(ApprovalRequest))]


def new_request(stack, channel):
    return stack.api.post("/v1/requests", json={"action": "a", "summary": "s", "approvers": ["U0ALICE"],
                                                "channel": channel})


def test_an_unknown_channel_is_422_naming_it_and_nothing_is_stored(stack):
    r = new_request(stack, "C0NOSUCH")
    assert r.status_code == 422 and "C0NOSUCH" in r.json()["fields"]["channel"]
    stack.sandbox.add_channel("C0NOBOT", name="nobot", is_member=False)
    r = new_request(stack, "C0NOBOT")
    assert r.status_code == 422 and "not in this channel" in r.json()["fields"]["channel"]
    stack.sandbox.add_channel("C0OLD", name="old", is_archived=True)
    r = new_request(stack, "C0OLD")
    assert r.status_code == 422 and "archived" in r.json()["fields"]["channel"]
    assert stored_ids(stack) == []


def test_slack_down_while_checking_the_channel_is_503_and_nothing_is_stored(stack):
    stack.sandbox.fail_next("conversations.info", error="internal_error")
    r = new_request(stack, "C0OTHER")
    assert r.status_code == 503 and r.headers["Retry-After"] and stored_ids(stack) == []


@pytest.mark.parametrize(("method", "body"), [
    ("conversations.info", {"channel": "C0OTHER"}),
    ("users.lookupByEmail", {"approvers": ["new.person@example.com"]}),
])
def test_slack_rate_limiting_a_lookup_is_503_with_its_retry_after_not_a_wait(stack, method, body):
    # Waiting out Slack's Retry-After (up to five times) held the agent's request, and a web
    # thread, for minutes: the agent is told to come back instead.
    stack.sandbox.fail_next(method, retry_after=45, times=10)
    r = stack.api.post("/v1/requests", json={"action": "a", "summary": "s", "approvers": ["U0ALICE"], **body},
                       timeout=10)
    assert r.status_code == 503 and r.headers["Retry-After"] == "45", r.text
    assert "ratelimited" in r.json()["detail"] and stored_ids(stack) == []


def events_of(stack, request_id, kind):
    from sqlmodel import select

    from bot.storage.tables import AuditEvent
    with stack.w.db.read() as s:
        query = select(AuditEvent).where(AuditEvent.request_id == request_id, AuditEvent.kind == kind)
        if request_id is None:
            query = select(AuditEvent).where(AuditEvent.request_id.is_(None), AuditEvent.kind == kind)
        return [e.data for e in s.exec(query)]


def test_a_posted_card_shows_posted(stack):
    req = stack.create()
    assert req["delivery"]["state"] == "pending"
    stack.run_jobs()
    got = stack.api.get(f"/v1/requests/{req['id']}").json()
    assert got["delivery"] == {"state": "posted", "detail": None}


@pytest.mark.parametrize(("flags", "error"), [({"is_member": False}, "not_in_channel"),
                                              ({"is_archived": True}, "is_archived")])
def test_a_channel_that_refuses_the_card_falls_back_to_dms_and_says_so(stack, flags, error):
    req = stack.create()  # the channel was fine when the request was made
    stack.sandbox.change_channel(CHANNEL, **flags)
    stack.run_jobs()
    for user in ("U0ALICE", "U0BOB"):
        [dm] = stack.sandbox.messages(stack.sandbox.dm_channel(user))
        assert req["id"] in str(dm["blocks"])
    [failed] = events_of(stack, req["id"], "delivery_failed")
    assert failed["error"] == error and failed["channel"] == CHANNEL
    delivery = stack.api.get(f"/v1/requests/{req['id']}").json()["delivery"]
    assert delivery["state"] == "fallback_dm" and error in delivery["detail"]
    listed = stack.api.get("/v1/requests").json()["requests"]
    assert listed[0]["delivery"]["state"] == "fallback_dm"
    runtime.install(stack.context)
    cards.post_cards(req["id"])  # running the card job again neither retries the channel nor records it twice
    assert len(events_of(stack, req["id"], "delivery_failed")) == 1
    assert len(stack.sandbox.messages(stack.sandbox.dm_channel("U0ALICE"))) == 1
    # The DM copies work like any card.
    dm = stack.sandbox.messages(stack.sandbox.dm_channel("U0ALICE"))[0]
    stack.sandbox.click("U0ALICE", dm["channel"], dm["ts"], ids.ACTION_APPROVE, value=req["id"])
    stack.run_jobs()
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "approved"


def signed_post(stack, payload: dict, *, form: bool = True) -> httpx.Response:
    body = (httpx.QueryParams({"payload": json.dumps(payload)}).__str__() if form else json.dumps(payload))
    headers = sign(body, int(time.time()))
    if not form:
        headers["Content-Type"] = "application/json"
    return httpx.post(f"{stack.url}/slack/events", content=body.encode(), headers=headers)


@pytest.mark.parametrize(("change", "why"), [
    ({"team": {"id": "T0ELSEWHERE"}}, "team 'T0ELSEWHERE'"),
    ({"api_app_id": "A0OTHERAPP"}, "api_app_id 'A0OTHERAPP'"),
    ({"team": None}, "team None"),
])
def test_a_click_from_another_workspace_or_app_is_refused_and_audited(stack, change, why):
    req = stack.create()
    stack.run_jobs()
    ours = json.loads(httpx.QueryParams(click_body(req["id"]))["payload"])
    r = signed_post(stack, {**ours, **change})
    assert r.status_code == 403 and why in r.json()["detail"]
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "pending"
    [refused] = events_of(stack, None, "refused_interaction")
    assert why in refused["why"] and refused["type"] == "block_actions"
    # The same click from our own workspace still decides.
    assert signed_post(stack, ours).status_code == 200
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "approved"


def test_an_event_from_another_workspace_gets_200_and_nothing_is_done(stack):
    event = {"type": "event_callback", "team_id": "T0ELSEWHERE", "api_app_id": "A0SIGNOFF",
             "event_id": "Ev1", "event_time": int(time.time()),
             "event": {"type": "app_home_opened", "user": "U0ALICE", "tab": "home"}}
    r = signed_post(stack, event, form=False)
    assert r.status_code == 200
    time.sleep(0.3)  # the Home tab would be published after the ack
    assert stack.sandbox.calls("views.publish") == []
    assert len(events_of(stack, None, "refused_interaction")) == 1
    ours = signed_post(stack, {**event, "team_id": "T0SANDBOX", "event_id": "Ev2"}, form=False)
    assert ours.status_code == 200 and stack.views("U0ALICE")


def test_a_graph_asking_with_args_nested_too_deep_fails_visibly_and_stores_nothing(stack):
    run = start(stack, "deep", {"amount": 1})
    assert run["status"] == "failed" and "items[0].args" in run["error"] and "limit is 32" in run["error"]
    assert stored_ids(stack) == []


@pytest.mark.parametrize(("payload", "why"), [
    ({"timeout": 10**14}, "timeout must be seconds, from 1 to 31622400 (366d)"),
    ({"timeout": 367 * 86400}, "timeout must be seconds"),
    ({"timeout": True}, "timeout must be seconds"),  # a bool is an int to Python: it read as 1 s
    ({"timeout": "30m"}, "timeout must be seconds"),
    ({"timeout": 0}, "timeout must be seconds"),
    ({"timeout": 60, "on_timeout": "rejct"}, "on_timeout must be one of reject, approve, wait"),
    ({"urgency": "asap"}, "urgency must be one of"),
    ({"approvers": "U0ALICE"}, "approvers must be a list of Slack user ids"),
    ({"approvers": ["U0ALICE", ""]}, "approvers must be a list of Slack user ids"),
    ({"allowed": ["approve", "shrug"]}, "allowed must name some of"),
    ({"allowed": [["approve"]]}, "allowed must name some of"),  # unhashable: was read as generic
    ({"action": ""}, "action must be a non-empty string"),
    ({"channel": 42}, "channel must be a Slack channel id"),
])
def test_a_handwritten_payload_with_a_wrong_field_fails_the_run_visibly(stack, payload, why):
    run = start(stack, "handwritten", {"payload": payload})
    assert run["status"] == "failed" and why in run["error"], run
    assert "signoff_approval payload" in run["error"]
    assert stored_ids(stack) == []
    # Failed for good at once: another attempt would read the same payload.
    graphs = Queue(queues.GRAPHS, connection=stack.w.redis)
    assert graphs.scheduled_job_registry.count == 0 and graphs.failed_job_registry.count == 1


@pytest.mark.parametrize(("payload", "why"), [
    ({"urgency": "urgent"}, "urgency must be one of low, normal, high, not 'urgent'"),  # says what it got
    ({"approvers": ["U0NOBODY"]}, "could not be found in Slack"),  # routed and looked up first too
    ({"channel": "C0NOPE"}, "C0NOPE"),
])
def test_one_interrupt_that_cannot_be_asked_among_parallel_ones_fails_the_run_with_none_asked(
    stack, payload, why,
):
    run = start(stack, "parallel_handwritten", {"payload": payload})
    assert run["status"] == "failed" and why in run["error"], run
    assert stored_ids(stack) == []
    assert stack.sandbox.calls("chat.postMessage") == []


def test_a_decision_the_graph_took_before_its_next_question_failed_is_audited_as_resumed(stack):
    run = start(stack, "then_handwritten", {"payload": {"urgency": "urgent"}})
    [req] = run["pending_requests"]
    assert click(stack, "U0ALICE", req["id"], ids.ACTION_APPROVE).status_code == 200
    stack.run_jobs([queues.CARDS])  # the decided card first, as a worker does while the graph runs
    stack.run_jobs()
    after = stack.api.get(f"/v1/runs/{run['id']}").json()
    assert after["status"] == "failed" and "urgency must be one of" in after["error"], after
    assert "the agent's run failed" in stack.card(req["id"])["text"]  # updated again
    # The approval reached the graph; what failed is what it asked next. An auditor reads that,
    # not "the approval could not be delivered", and nobody is told to retry it.
    assert events_of(stack, req["id"], "resume_failed") == []
    [resumed] = events_of(stack, req["id"], "resumed")
    assert resumed["applied"] is True and "urgency must be one of" in resumed["run_failed"]
    with stack.w.db.read() as s:
        assert repo.get_request(s, req["id"]).resume_state == "done"
    assert "could not be resumed" not in stack.card(req["id"])["text"]
    graphs = Queue(queues.GRAPHS, connection=stack.w.redis)
    assert graphs.scheduled_job_registry.count == 0 and graphs.failed_job_registry.count == 1


def test_parallel_interrupts_that_can_all_be_asked_are(stack):
    # The same graph with a good payload asks both.
    run = start(stack, "parallel_handwritten", {"payload": {"urgency": "high"}})
    assert run["status"] == "waiting" and len(stored_ids(stack)) == 2, run


def test_a_handwritten_payload_is_asked_with_every_field_it_gives(stack):
    run = start(stack, "handwritten", {"payload": {
        "timeout": 90.5, "on_timeout": "reject", "urgency": "high", "channel": "", "approvers": ["U0BOB"],
        "args": {"n": 1}, "summary": "By hand", "context": {"why": "test"}}})
    assert run["status"] == "waiting", run
    [request_id] = stored_ids(stack)
    req = stack.api.get(f"/v1/requests/{request_id}").json()
    assert (req["urgency"], req["approvers"], req["args"], req["summary"]) == ("high", ["U0BOB"], {"n": 1},
                                                                                 "By hand")
    waits = datetime.fromisoformat(req["expires_at"]) - datetime.fromisoformat(req["created_at"])
    assert waits == timedelta(seconds=90)  # whole seconds, as request_approval sends


def test_a_posted_card_is_recorded_as_showing_its_version(stack):
    stack.create()
    stack.run_jobs()
    with stack.w.db.read() as s:
        assert recovery.stale_cards(s, before=stack.w.clock() + timedelta(hours=1)) == []


class _DecidedWhilePosting(WebClient):
    """Slack answers chat.postMessage, and the approver clicks before the worker records the copy."""

    def __init__(self, stack: Any, request_id: str) -> None:
        super().__init__(token=stack.w.slack.token, base_url=stack.w.slack.base_url)
        self._stack, self._request_id = stack, request_id

    def chat_postMessage(self, **kwargs: Any) -> Any:  # noqa: N802 - slack_sdk's name
        sent = super().chat_postMessage(**kwargs)
        self._stack.w.service.decide(self._request_id, actor="U0ALICE", verdict=Verdict.APPROVE)
        return sent


def test_a_decision_while_the_card_is_posted_leaves_the_card_final(stack):
    req = stack.create()
    client = _DecidedWhilePosting(stack, req["id"])
    delivery.post_cards(stack.w.db, client, req["id"], clock=stack.w.clock, policy=stack.w.service.policy)
    [card] = stack.sandbox.messages(CHANNEL)
    assert ids.ACTION_APPROVE not in json.dumps(card["blocks"])  # the buttons are gone
    with stack.w.db.read() as s:
        row = repo.get_request(s, req["id"])
        assert row is not None and row.status == "approved" and row.cards_version == row.version


@pytest.mark.parametrize(("change", "why"), [
    ({"team": {"id": "T0ELSEWHERE"}}, "team 'T0ELSEWHERE'"),
    ({"api_app_id": "A0OTHERAPP"}, "api_app_id 'A0OTHERAPP'"),
])
def test_in_socket_mode_a_click_for_another_workspace_or_app_is_refused_and_audited(
        stack, clock, change, why):
    """Socket Mode deliveries come over Slack's websocket, not through the HTTP endpoint's check:
    Bolt itself must refuse them."""
    socket_mode = wiring.build(replace(stack.w.settings, slack_app_token="xapp-1-A0SIGNOFF-1-socket"),
                               clock=clock)
    bolt = socket_mode.bolt_app()
    req = stack.create()
    stack.run_jobs()
    ours = json.loads(httpx.QueryParams(click_body(req["id"]))["payload"])
    r = bolt.dispatch(BoltRequest(body={**ours, **change}, mode="socket_mode"))
    assert r.status == 403 and why in json.loads(r.body)["detail"]
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "pending"
    [refused] = events_of(stack, None, "refused_interaction")
    assert why in refused["why"]
    assert bolt.dispatch(BoltRequest(body=ours, mode="socket_mode")).status == 200
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "approved"
    socket_mode.db.engine.dispose()
