"""One log line per lifecycle step, each with the request id, agent, rule and a latency."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from blocks import ids
from bot.observe.logs import JsonFormatter
from tests.conftest import CHANNEL

POLICY = Path(__file__).parents[1] / "policy_refunds.yaml"


@pytest.fixture
def stack_overrides():
    return {"policy_file": POLICY}


def test_created_posted_escalated_and_decided_are_each_one_line(stack, clock, caplog):
    caplog.set_level(logging.INFO, logger="signoff.lifecycle")
    req = stack.create(action="issue_refund", args={"amount": 900}, approvers=[])
    stack.run_jobs()
    clock.advance(minutes=16)
    stack.sweep()
    card = stack.card(req["id"])
    stack.sandbox.click("U0ALICE", CHANNEL, card["ts"], ids.ACTION_APPROVE)
    stack.sandbox.click("U0BOB", CHANNEL, card["ts"], ids.ACTION_APPROVE)
    mine = [r for r in caplog.records if getattr(r, "request_id", None) == req["id"]]
    steps = [r.step for r in mine]  # type: ignore[attr-defined]
    assert steps[:2] == ["created", "posted"] and "escalated" in steps and steps[-1] == "decided", steps
    assert steps.count("decided") == 1
    for r in mine:
        line = json.loads(JsonFormatter().format(r))
        assert (line["request_id"], line["agent"], line["rule"]) == (req["id"], "test-agent", "big-refunds")
    decided = json.loads(JsonFormatter().format(mine[-1]))
    assert decided["outcome"] == "approved" and decided["latency_s"] >= 16 * 60
