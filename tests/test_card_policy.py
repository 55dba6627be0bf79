"""A rule decides whom its channel card pings and whether Approve asks first."""

from __future__ import annotations

import pytest

from tests.conftest import CHANNEL

POLICY = """
rules:
  - name: quiet-cleanup
    match: {action: drop_table}
    approvers: [U0ALICE, U0BOB]
    channel: C0APPROVALS
    mention: none
    confirm: true
default:
  approvers: [U0ALICE, U0BOB]
  channel: C0APPROVALS
  timeout: 2h
  on_timeout: reject
"""


@pytest.fixture
def stack_overrides(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return {"policy_file": path}


def approve_button(message):
    [actions] = [b for b in message["blocks"] if b["type"] == "actions"]
    return actions["elements"][0]


def test_the_default_mentions_the_approvers_and_says_when_it_auto_rejects(stack):
    req = stack.create(summary="Refund $340 to order #1234", requester=None, approvers=[])
    stack.run_jobs()
    card = stack.card(req["id"], CHANNEL)
    assert card["text"].startswith("<@U0ALICE> <@U0BOB> Approval needed: Refund $340 to order #1234")
    status = str(card["blocks"][1])
    assert "*Waiting on* <@U0ALICE>, <@U0BOB>" in status
    assert "then it auto-rejects" in status and "*Requested by* test-agent (agent) · " in status
    assert "Rule `default`" in str(card["blocks"])
    assert "confirm" not in approve_button(card)


def test_a_quiet_rule_pings_nobody_and_asks_before_approving(stack):
    req = stack.create(action="drop_table", summary="Drop table customers_old",
                       args={"table": "customers_old"}, approvers=[])
    stack.run_jobs()
    card = stack.card(req["id"], CHANNEL)
    assert "<@" not in card["text"] and "<!" not in card["text"]
    assert "<@U0ALICE>" not in str(card["blocks"][1])
    confirm = approve_button(card)["confirm"]
    assert confirm["text"]["text"] == "drop_table: Drop table customers_old"
