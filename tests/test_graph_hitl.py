"""LangChain agents with HumanInTheLoopMiddleware, unchanged, decided through Slack; and a form."""

from __future__ import annotations

import json

from blocks import ids
from tests import graph_apps
from tests.conftest import CHANNEL
from tests.graph_fixtures import effects_file, stack_overrides  # noqa: F401 - fixtures
from tests.test_graph_runs import run_of, start

TIDY = {"messages": [{"role": "user", "content": "tidy up"}]}


def click(stack, user, req_id, action, index=None):
    card = stack.card(req_id)
    value = ids.button_value(req_id, index)
    return stack.sandbox.click(user, CHANNEL, card["ts"], action, value=value)


def submit_edit(stack, user, fields):
    [view] = stack.views(user)
    assert view["callback_id"] == ids.VIEW_EDIT
    values = {f"field_{k}": {ids.ACTION_FORM_VALUE: v} for k, v in fields.items()}
    return stack.sandbox.submit_view(user, view["id"], values)


def test_batched_edit_one_call_approve_the_other(stack):
    run = start(stack, "batched", TIDY)
    [req] = run["pending_requests"]
    assert [i["action"] for i in req["items"]] == ["send_email", "delete_file"]
    click(stack, "U0ALICE", req["id"], ids.ACTION_EDIT, 0)
    answer = submit_edit(stack, "U0ALICE", {"to": "ann@example.com", "body": "hello Ann"})
    assert answer.status_code == 200 and not answer.content
    stack.run_jobs()
    assert run_of(stack, run)["status"] == "waiting"  # one item still open
    assert "hello Ann" in json.dumps(stack.card(req["id"])["blocks"])  # the edit diff is shown
    click(stack, "U0BOB", req["id"], ids.ACTION_APPROVE, 1)
    stack.run_jobs()
    assert run_of(stack, run)["status"] == "done"
    assert sorted(graph_apps.effects()) == ["delete_file path=/tmp/report.csv",
                                            "send_email to=ann@example.com body=hello Ann"]


def test_batched_reject_never_runs_the_tool(stack):
    run = start(stack, "batched", TIDY)
    [req] = run["pending_requests"]
    click(stack, "U0ALICE", req["id"], ids.ACTION_REJECT, 0)
    [view] = stack.views("U0ALICE")
    stack.sandbox.submit_view("U0ALICE", view["id"], {ids.BLOCK_REASON: {ids.ACTION_REASON: "no emails"}})
    click(stack, "U0ALICE", req["id"], ids.ACTION_RESPOND, 1)
    [view] = stack.views("U0ALICE")
    stack.sandbox.submit_view("U0ALICE", view["id"],
                              {ids.BLOCK_RESPONSE: {ids.ACTION_RESPONSE: "keep the report"}})
    stack.run_jobs()
    done = run_of(stack, run)
    assert done["status"] == "done" and graph_apps.effects() == []
    assert done["requests"][0]["status"] == "answered"
    assert "keep the report" in json.dumps(done["result"]) and "no emails" in json.dumps(done["result"])
    # The agent's messages as JSON objects (they were Python reprs: "content='tidy up' …").
    first = done["result"]["messages"][0]
    assert (first["type"], first["content"]) == ("human", "tidy up"), first


def test_per_call_requests_are_answered_one_by_one(stack):
    run = start(stack, "per_call", TIDY)
    reqs = {r["action"]: r for r in run["pending_requests"]}
    assert set(reqs) == {"send_email", "delete_file"}
    click(stack, "U0ALICE", reqs["send_email"]["id"], ids.ACTION_EDIT, 0)
    submit_edit(stack, "U0ALICE", {"to": "bob@example.com", "body": "hi"})
    stack.run_jobs()
    # Per call, each tool call goes ahead as soon as it is answered; the other still waits.
    assert graph_apps.effects() == ["send_email to=bob@example.com body=hi"]
    assert run_of(stack, run)["status"] == "waiting"
    click(stack, "U0BOB", reqs["delete_file"]["id"], ids.ACTION_REJECT, 0)
    [view] = stack.views("U0BOB")
    stack.sandbox.submit_view("U0BOB", view["id"], {ids.BLOCK_REASON: {ids.ACTION_REASON: "keep it"}})
    stack.run_jobs()
    assert run_of(stack, run)["status"] == "done"
    assert graph_apps.effects() == ["send_email to=bob@example.com body=hi"]


def test_a_form_answer_is_validated_in_the_modal_before_resuming(stack):
    run = start(stack, "form", {"answer": None})
    [req] = run["pending_requests"]
    assert req["items"][0]["allowed"] == ["respond"]
    click(stack, "U0ALICE", req["id"], ids.ACTION_RESPOND, 0)
    [view] = stack.views("U0ALICE")
    blocks = {b["block_id"]: b for b in view["view"]["blocks"] if b["type"] == "input"}
    assert set(blocks) >= {"field_carrier", "field_days"}
    carrier = blocks["field_carrier"]["element"]["options"][1]["value"]  # "dhl"
    bad = stack.sandbox.submit_view("U0ALICE", view["id"], {
        "field_carrier": {ids.ACTION_FORM_VALUE: carrier}, "field_days": {ids.ACTION_FORM_VALUE: "90"}})
    errors = bad.json()["errors"]
    assert list(errors) == ["field_days"] and "30" in errors["field_days"]
    assert run_of(stack, run)["status"] == "waiting"
    ok = stack.sandbox.submit_view("U0ALICE", view["id"], {
        "field_carrier": {ids.ACTION_FORM_VALUE: carrier}, "field_days": {ids.ACTION_FORM_VALUE: "3"}})
    assert ok.status_code == 200 and not ok.content
    stack.run_jobs()
    done = run_of(stack, run)
    assert done["status"] == "done" and done["result"]["answer"] == {"carrier": "dhl", "days": 3}
