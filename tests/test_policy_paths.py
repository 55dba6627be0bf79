"""The policy holds on every path: batches, quorum per item, edits, identity, types, agent identity.

Each test reproduces a way around a rule that once worked; DESIGN invariant 9 and 10.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from blocks import ids
from bot.cli import main
from bot.core.vocabulary import DecisionType as Verdict
from bot.storage.tables import AuditEvent
from tests import graph_apps, policy_graphs
from tests.conftest import API_TOKEN, CHANNEL, OTHER_TOKEN
from tests.graph_fixtures import effects_file  # noqa: F401 - fixture

POLICY = Path(__file__).parent / "policy" / "paths.yaml"


@pytest.fixture
def stack_overrides(tmp_path):
    # No default approvers: graph runs are routed by the policy alone.
    return {"policy_file": POLICY, "graphs": policy_graphs.GRAPHS | graph_apps.GRAPHS,
            "checkpoint_url": f"sqlite:///{tmp_path / 'checkpoints.db'}", "default_channel": CHANNEL}


def start(stack, graph):
    r = stack.api.post("/v1/runs", json={"graph": graph, "input": {
        "messages": [{"role": "user", "content": "go"}]}})
    assert r.status_code == 202, r.text
    stack.run_jobs()
    return stack.api.get(f"/v1/runs/{r.json()['id']}").json()


def run_of(stack, run):
    return stack.api.get(f"/v1/runs/{run['id']}").json()


def click(stack, user, req_id, action, index=None):
    card = stack.card(req_id)
    return stack.sandbox.click(user, CHANNEL, card["ts"], action, value=ids.button_value(req_id, index))


def request(stack, req_id):
    return stack.api.get(f"/v1/requests/{req_id}").json()


def events(stack, request_id):
    with stack.w.db.read() as s:
        rows = s.exec(select(AuditEvent).where(AuditEvent.request_id == request_id).order_by(AuditEvent.seq))
        return [(e.kind, e.actor, e.data) for e in rows]


def refused_to(stack, user):
    return " ".join(json.dumps(e) for e in stack.ephemerals(user))


# 1. A batch is routed item by item, never by its first call.
def test_a_batch_is_not_auto_approved_by_its_first_call(stack):
    run = start(stack, "note_then_delete")
    assert run["status"] == "waiting", run
    [req] = run["pending_requests"]
    assert req["status"] == "pending"
    assert graph_apps.effects() == []  # nothing ran: the deletion waits for people
    note, deletion = req["items"]
    assert note["rule"] == "notes" and note["decision"]["type"] == "approve"
    assert note["decision"]["by"] == "system"
    assert deletion["rule"] == "deletions" and deletion["decision"] is None
    # Only the deletion rule's approvers may decide the deletion.
    click(stack, "U0DAVE", req["id"], ids.ACTION_APPROVE, 1)
    assert "Only this request's approvers" in refused_to(stack, "U0DAVE")


# 2. Quorum counts per item in a batch.
def test_quorum_counts_per_item_of_a_batch(stack):
    run = start(stack, "two_deletions")
    [req] = run["pending_requests"]
    click(stack, "U0ALICE", req["id"], ids.ACTION_APPROVE, 0)
    click(stack, "U0ALICE", req["id"], ids.ACTION_APPROVE, 1)
    stack.run_jobs()
    assert run_of(stack, run)["status"] == "waiting"
    assert graph_apps.effects() == []
    got = request(stack, req["id"])
    assert [i["approvals"] for i in got["items"]] == [["U0ALICE"], ["U0ALICE"]]
    card = json.dumps(stack.card(req["id"])["blocks"])
    assert card.count("1 of 2 approvals: <@U0ALICE>") == 2  # progress under each item
    click(stack, "U0ALICE", req["id"], ids.ACTION_APPROVE, 0)  # the same person again counts nothing
    click(stack, "U0BOB", req["id"], ids.ACTION_APPROVE, 0)
    stack.run_jobs()
    assert run_of(stack, run)["status"] == "waiting"  # item 1 still has one approval
    click(stack, "U0CAROL", req["id"], ids.ACTION_APPROVE, 1)
    stack.run_jobs()
    assert run_of(stack, run)["status"] == "done"
    assert sorted(graph_apps.effects()) == ["delete_account account=1", "delete_account account=2"]
    decided = request(stack, req["id"])
    assert [i["approvals"] for i in decided["items"]] == [["U0ALICE", "U0BOB"], ["U0ALICE", "U0CAROL"]]


# 3. An edit that moves an item under another rule is refused, naming that rule.
def submit_edit(stack, user, fields, n=1):
    view = stack.views(user, n)[-1]
    assert view["callback_id"] == ids.VIEW_EDIT
    values = {f"field_{k}": {ids.ACTION_FORM_VALUE: v} for k, v in fields.items()}
    return stack.sandbox.submit_view(user, view["id"], values)


def test_an_edit_into_a_stricter_rule_is_refused(stack):
    run = start(stack, "mail")
    [req] = run["pending_requests"]
    assert req["rule"] == "colleague-mail"
    click(stack, "U0ALICE", req["id"], ids.ACTION_EDIT, 0)
    body = req["items"][0]["args"]["body"]
    answer = submit_edit(stack, "U0ALICE", {"to": "boss@elsewhere.test", "body": body})
    # The modal says why, under the field that was changed (it was under the first input).
    errors = answer.json()["errors"]
    assert list(errors) == ["field_to"] and "outside-mail" in errors["field_to"], errors
    stack.run_jobs()
    assert request(stack, req["id"])["status"] == "pending"
    assert graph_apps.effects() == []
    # An edit that stays under the same rule is a decision as before.
    click(stack, "U0ALICE", req["id"], ids.ACTION_EDIT, 0)
    answer = submit_edit(stack, "U0ALICE", {"to": "bob@example.com", "body": "hi Bob"}, n=2)
    assert answer.status_code == 200 and not answer.content
    stack.run_jobs()
    assert graph_apps.effects() == ["send_email to=bob@example.com body=hi Bob"]


def test_an_edit_that_breaks_a_condition_type_is_refused(stack):
    run = start(stack, "mail")
    [req] = run["pending_requests"]
    with pytest.raises(Exception, match="args.to"):
        stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.EDIT, index=0,
                               args={"to": 42, "body": "x"})
    assert request(stack, req["id"])["status"] == "pending"


def test_an_edit_is_matched_with_the_urgency_the_request_asked_for_not_the_one_a_rule_set(stack):
    r = stack.api.post("/v1/requests", json={
        "action": "pay", "summary": "s", "args": {"amount": 10}, "urgency": "low",
        "allowed_decisions": ["approve", "edit", "reject"]})
    assert r.status_code == 201, r.text
    req = r.json()
    assert (req["rule"], req["urgency"]) == ("pay", "high")  # the rule raised it
    with pytest.raises(Exception, match="low-big"):
        stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.EDIT, args={"amount": 5000})
    assert request(stack, req["id"])["status"] == "pending"


# 4. Separation of duties holds however the requester is spelled.
@pytest.mark.parametrize("spelling", ["<@U0ALICE|alice>", "<@U0ALICE>", " U0ALICE", "\u00a0U0ALICE",
                                      "U0ALICE\u200b", "ALICE@example.com", " alice@EXAMPLE.com "])
def test_the_requester_cannot_approve_in_any_spelling(stack, spelling):
    req = stack.create(action="restart_service", args={}, approvers=[], requester=spelling)
    assert req["requester_id"] == "U0ALICE"
    stack.run_jobs()
    stack.sandbox.click("U0ALICE", CHANNEL, stack.card(req["id"])["ts"], ids.ACTION_APPROVE)
    assert "separation of duties" in refused_to(stack, "U0ALICE")
    assert request(stack, req["id"])["status"] == "pending"


@pytest.mark.parametrize("spelling", ["U0NOBODY", "<@U0NOBODY>", "nobody@example.com"])
def test_a_person_like_requester_that_cannot_be_resolved_is_refused(stack, spelling):
    r = stack.api.post("/v1/requests", json={"action": "restart_service", "summary": "s",
                                             "requester": spelling})
    assert r.status_code == 422, r.text
    assert "requester" in r.text
    assert stack.api.get("/v1/requests").json()["requests"] == []


def test_a_slack_error_while_resolving_the_requester_is_a_503(stack):
    stack.sandbox.fail_next("users.lookupByEmail", error="internal_error")
    r = stack.api.post("/v1/requests", json={"action": "restart_service", "summary": "s",
                                             "requester": "dave@example.com"})
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) > 0
    assert stack.api.get("/v1/requests").json()["requests"] == []


# 5. Conditions are typed and fail closed; NaN and infinities are refused.
def test_a_string_amount_is_refused_not_routed_to_the_default(stack):
    r = stack.api.post("/v1/requests", json={"action": "issue_refund", "summary": "s",
                                             "args": {"amount": "900"}})
    assert r.status_code == 422, r.text
    text = r.text
    assert "args.amount" in text and "small-refunds" in text and "900" in text
    assert stack.api.get("/v1/requests").json()["requests"] == []


def test_a_missing_field_is_refused(stack):
    r = stack.api.post("/v1/requests", json={"action": "issue_refund", "summary": "s", "args": {}})
    assert r.status_code == 422, r.text
    assert "args.amount" in r.text


@pytest.mark.parametrize("literal", ["NaN", "-Infinity", "Infinity"])
def test_nan_and_infinities_are_refused_anywhere_in_a_body(stack, literal):
    for body in (f'{{"action": "issue_refund", "summary": "s", "args": {{"amount": {literal}}}}}',
                 f'{{"action": "ping", "summary": "s", "context": {{"deep": [1, {literal}]}}}}'):
        r = stack.api.post("/v1/requests", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, r.text
        assert literal in r.text or "not a finite number" in r.text
    assert stack.api.get("/v1/requests").json()["requests"] == []


# 6. Rules can match the authenticated agent; `requester` is only a claim.
def test_a_rule_for_an_agent_matches_its_token_not_its_claim(stack):
    mine = stack.create(action="ping", args={}, approvers=[], channel=None)
    assert (mine["status"], mine["rule"]) == ("approved", "trusted-pings")
    other = stack.api.post("/v1/requests", headers={"Authorization": f"Bearer {OTHER_TOKEN}"},
                           json={"action": "ping", "summary": "s", "requester": "test-agent"})
    assert other.status_code == 201, other.text
    assert (other.json()["status"], other.json()["rule"]) == ("pending", "default")
    assert API_TOKEN  # the stack's own token is test-agent's


def test_policy_check_warns_when_an_auto_rule_trusts_the_requester_claim(tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  - name: lax\n    match:\n      requester: billing-bot\n    auto: approve\n"
                      "default:\n  approvers: [U0ALICE]\n")
    result = CliRunner().invoke(main, ["policy", "check", str(policy)])
    assert result.exit_code == 0, result.output
    assert "warning" in result.output and "lax" in result.output and "requester" in result.output


# 7. A graph run under a policy is routed by it, needing no default approvers.
def test_a_graph_run_is_routed_by_the_policy(stack):
    run = start(stack, "mail")
    [req] = run["pending_requests"]
    assert (req["rule"], req["eligible_approvers"]) == ("colleague-mail", ["U0ALICE"])


def test_a_run_naming_its_own_approvers_where_no_rule_allows_it_is_refused_at_start(stack):
    r = stack.api.post("/v1/runs", json={"graph": "mail", "approvers": ["U0DAVE"],
                                         "input": {"messages": [{"role": "user", "content": "go"}]}})
    assert r.status_code == 422, r.text
    assert "approvers" in r.text


def test_policy_check_slack_names_every_unknown_user_group_and_channel(sandbox, tmp_path):
    from tests.conftest import BOT_TOKEN

    policy = tmp_path / "p.yaml"
    policy.write_text(
        "rules:\n"
        "  - name: refunds\n    match:\n      action: refund\n"
        "    approvers: [U0ALICE, U0NOBODY, '@nogroup']\n"
        "    channel: C0MISSING\n    escalate:\n      - after: 1h\n        to: [nobody@example.com]\n"
        "default:\n  approvers: ['@finance']\n  channel: C0APPROVALS\n")
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": sandbox.api_url}
    result = CliRunner().invoke(main, ["policy", "check", "--slack", str(policy)], env=env)
    assert result.exit_code == 1, result.output
    problems = [line for line in result.output.splitlines() if line.startswith(f"{policy}:2: ")]
    assert len(problems) == 4, result.output  # two approvers, the escalation target, the channel
    assert all("rule 'refunds'" in p for p in problems)
    assert any("U0NOBODY" in p for p in problems) and any("C0MISSING" in p for p in problems)
    good = tmp_path / "good.yaml"
    good.write_text("default:\n  approvers: ['@finance', U0ALICE]\n  channel: C0APPROVALS\n")
    result = CliRunner().invoke(main, ["policy", "check", "--slack", str(good)], env=env)
    assert result.exit_code == 0, result.output
