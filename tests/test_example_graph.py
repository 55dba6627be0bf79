"""The README's graph example (examples/refund_graph.py) runs under the Try-it policy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from blocks import ids
from examples import refund_graph
from tests.conftest import CHANNEL

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def stack_overrides(tmp_path):
    return {"graphs": {"refund": "examples.refund_graph:graph"},
            "policy_file": ROOT / "examples" / "policy.yaml",
            "checkpoint_url": f"sqlite:///{tmp_path / 'checkpoints.db'}"}


def test_the_readme_shows_the_example_as_it_is():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("**Writing graphs for Signoff.**")
    shown = re.search(r"```python\n(.*?)```", readme[start:], re.S)
    assert shown is not None and shown.group(1) in (ROOT / "examples" / "refund_graph.py").read_text()


def test_the_readme_graph_asks_the_policy_s_approvers_and_acts_once_approved(stack):
    # It named approvers=["@finance"] itself, which the Try-it policy's refunds rule forbids: the
    # run failed, blaming the run for approvers only the example's call had named.
    refund_graph.payments.refunded.clear()
    r = stack.api.post("/v1/runs", json={"graph": "refund", "input": {"order": 1234}})
    assert r.status_code == 202, r.text
    stack.run_jobs()
    run = stack.api.get(f"/v1/runs/{r.json()['id']}").json()
    assert run["status"] == "waiting", run
    [req] = run["pending_requests"]
    assert req["rule"] == "refunds" and req["urgency"] == "high"
    assert req["items"][0]["allowed"] == ["approve", "edit", "reject"], req["items"]
    stack.sandbox.click("U0ALICE", CHANNEL, stack.card(req["id"])["ts"], ids.ACTION_APPROVE)
    stack.run_jobs()
    done = stack.api.get(f"/v1/runs/{run['id']}").json()
    assert done["status"] == "done" and done["result"]["status"] == "refunded, approved by U0ALICE", done
    assert refund_graph.payments.refunded == [{"order": 1234, "amount": 340}]


def test_a_graph_naming_approvers_its_rule_does_not_allow_fails_naming_where_they_came_from(stack):
    # The policy's default rule lets a run name approvers, so the start is accepted; the refunds
    # rule its interrupt is routed by does not.
    body = {"graph": "refund", "input": {"order": 1234}, "approvers": ["U0CAROL"]}
    r = stack.api.post("/v1/runs", json=body)
    assert r.status_code == 202, r.text
    stack.run_jobs()
    run = stack.api.get(f"/v1/runs/{r.json()['id']}").json()
    assert run["status"] == "failed" and "(U0CAROL)" in run["error"] and "request_approval()" in run["error"]
    assert "allow_request_approvers" in run["error"], run["error"]



def test_an_edit_refused_for_its_new_rule_says_so_under_the_field_that_changed(stack):
    r = stack.api.post("/v1/runs", json={"graph": "refund", "input": {"order": 1234}})
    assert r.status_code == 202, r.text
    stack.run_jobs()
    [req] = stack.api.get(f"/v1/runs/{r.json()['id']}").json()["pending_requests"]
    stack.sandbox.click("U0ALICE", CHANNEL, stack.card(req["id"])["ts"], ids.ACTION_EDIT)
    [view] = stack.views("U0ALICE")
    # $45 falls under small-refunds: refused, and said under the amount (it was under the order).
    answer = stack.sandbox.submit_view("U0ALICE", view["id"], {
        "field_order": {ids.ACTION_FORM_VALUE: "1234"}, "field_amount": {ids.ACTION_FORM_VALUE: "45"}})
    errors = answer.json()["errors"]
    assert list(errors) == ["field_amount"] and "small-refunds" in errors["field_amount"], errors
