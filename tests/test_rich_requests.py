"""API requests that allow edits and answers, as graphs' do; the decorator runs with the edits."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from blocks import ids
from bot.core.lifecycle import Verdict
from bot.errors import AlreadyDecided
from signoff_client import SignoffClient, WaitTimedOut, requires_approval
from tests.conftest import API_TOKEN, CHANNEL, OTHER_TOKEN
from tests.test_client_e2e import card_of_next_request

REFUND_SCHEMA = {"type": "object", "required": ["order", "amount"],
                 "properties": {"order": {"type": "integer"}, "amount": {"type": "integer", "maximum": 500}}}


@pytest.fixture
def stack_overrides():
    return {"api_scopes": {OTHER_TOKEN: frozenset({"decide"})}}


def request_id_of(card):
    for block in card["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == ids.ACTION_EDIT:
                return element["value"].split("#")[0]
    raise AssertionError("the card has no Edit button")


def test_the_decorator_runs_with_the_arguments_edited_in_slack(stack):
    client = SignoffClient(base_url=stack.url, token=API_TOKEN)
    ran = []

    @requires_approval(action="issue_refund", approvers=["U0ALICE"], channel=CHANNEL, client=client,
                       timeout=30, args_schema=REFUND_SCHEMA)
    def issue_refund(order: int, amount: int) -> int:
        ran.append((order, amount))
        return amount

    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(issue_refund, 1234, 340)
        card = card_of_next_request(stack)
        req_id = request_id_of(card)
        stack.sandbox.click("U0ALICE", CHANNEL, card["ts"], ids.ACTION_EDIT,
                            value=ids.button_value(req_id, 0))
        [view] = stack.views("U0ALICE")
        assert view["callback_id"] == ids.VIEW_EDIT
        too_much = {"field_order": {ids.ACTION_FORM_VALUE: "1234"},
                    "field_amount": {ids.ACTION_FORM_VALUE: "900"}}
        refused = stack.sandbox.submit_view("U0ALICE", view["id"], too_much)
        assert "500" in json.dumps(refused.json())  # the schema's maximum, next to the field
        fine = {**too_much, "field_amount": {ids.ACTION_FORM_VALUE: "300"}}
        assert stack.sandbox.submit_view("U0ALICE", view["id"], fine).status_code == 200
        assert running.result(timeout=30) == 300
    assert ran == [(1234, 300)]


def test_a_decorator_that_stops_waiting_cancels_so_a_late_approval_does_nothing(stack):
    client = SignoffClient(base_url=stack.url, token=API_TOKEN)
    ran = []

    @requires_approval(action="drop_table", approvers=["U0ALICE"], channel=CHANNEL, client=client, timeout=1)
    def drop_table(name: str) -> None:
        ran.append(name)

    with pytest.raises(WaitTimedOut) as caught:
        drop_table("users")
    req = stack.api.get(f"/v1/requests/{caught.value.request.id}").json()
    assert req["status"] == "cancelled" and "stopped waiting" in req["reason"]
    card = card_of_next_request(stack)
    assert "Cancelled" in json.dumps(card["blocks"]) and ids.ACTION_APPROVE not in json.dumps(card["blocks"])
    with pytest.raises(AlreadyDecided):
        stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "cancelled" and ran == []


def test_an_api_request_may_ask_for_a_form_answer_and_the_decision_api_checks_it(stack):
    schema = {"type": "object", "required": ["tier"], "properties": {"tier": {"enum": ["gold", "silver"]}}}
    req = stack.create(action="pick_tier", approvers=["U0ALICE"], allowed_decisions=["respond", "reject"],
                       response_schema=schema, context="The customer asked twice; be kind.")
    assert [i["allowed"] for i in req["items"]] == [["respond", "reject"]]
    card = card_of_next_request(stack)
    assert "The customer asked twice; be kind." in json.dumps(card["blocks"])
    ui = stack.api.__class__(base_url=stack.url, headers={"Authorization": f"Bearer {OTHER_TOKEN}"})
    body = {"decision": "respond", "by": "U0ALICE", "expected_version": 0, "idempotency_key": "a1"}
    wrong = ui.post(f"/v1/requests/{req['id']}/decision", json={**body, "answer": {"tier": "platinum"}})
    assert wrong.status_code == 422 and set(wrong.json()["fields"]) == {"answer"}
    approve = ui.post(f"/v1/requests/{req['id']}/decision", json={**body, "decision": "approve"})
    assert approve.status_code == 422 and "not allowed" in approve.json()["detail"]
    ok = ui.post(f"/v1/requests/{req['id']}/decision", json={**body, "answer": {"tier": "gold"}})
    assert ok.status_code == 200 and ok.json()["status"] == "answered"
    assert ok.json()["item_decisions"][0]["answer"] == {"tier": "gold"}


@pytest.mark.parametrize("extra,field", [
    ({"args": {"order": 1, "amount": 900}, "args_schema": REFUND_SCHEMA}, "args"),
    ({"response_schema": {"type": "object"}}, "response_schema"),
    ({"args_schema": {"type": "string"}, "allowed_decisions": ["approve", "edit"]}, "args_schema"),
    ({"allowed_decisions": []}, "allowed_decisions"),
    ({"allowed_decisions": ["approve", "ignore"]}, "allowed_decisions[1]"),
])
def test_a_request_whose_forms_do_not_fit_is_refused_and_nothing_is_stored(stack, extra, field):
    r = stack.api.post("/v1/requests", json={"action": "issue_refund", "summary": "s",
                                             "approvers": ["U0ALICE"], **extra})
    assert r.status_code == 422 and field in r.json()["fields"], r.text
    assert stack.api.get("/v1/requests").json()["requests"] == []


def approve_click(stack, req):
    card = card_of_next_request(stack)
    stack.sandbox.click("U0ALICE", CHANNEL, card["ts"], ids.ACTION_APPROVE,
                        value=ids.button_value(req["id"], 0))
    [view] = stack.views("U0ALICE")
    assert view["callback_id"] == ids.VIEW_APPROVE
    return view


def comment(text):
    return {ids.BLOCK_COMMENT: {ids.ACTION_COMMENT: text}}


def test_a_request_may_require_a_comment_with_approve_on_every_path(stack):
    req = stack.create(approvers=["U0ALICE", "U0BOB"], approve_comment="required")
    view = approve_click(stack, req)
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "pending"  # not yet
    blank = stack.sandbox.submit_view("U0ALICE", view["id"], comment("   "))  # Slack refuses "" itself
    assert "comment" in json.dumps(blank.json())
    ui = stack.api.__class__(base_url=stack.url, headers={"Authorization": f"Bearer {OTHER_TOKEN}"})
    bare = ui.post(f"/v1/requests/{req['id']}/decision", json={
        "decision": "approve", "by": "U0BOB", "expected_version": 0, "idempotency_key": "c1"})
    assert bare.status_code == 422 and set(bare.json()["fields"]) == {"reason"}
    assert stack.sandbox.submit_view("U0ALICE", view["id"], comment("checked the ledger")).status_code == 200
    got = stack.api.get(f"/v1/requests/{req['id']}").json()
    assert (got["status"], got["decided_by"], got["reason"]) == ("approved", "U0ALICE", "checked the ledger")


def test_an_optional_comment_may_be_left_out(stack):
    req = stack.create(approvers=["U0ALICE"], approve_comment="optional")
    view = approve_click(stack, req)
    assert stack.sandbox.submit_view("U0ALICE", view["id"], comment("")).status_code == 200
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "approved"
