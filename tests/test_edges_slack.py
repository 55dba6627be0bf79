"""Hardened edges on the Slack side: late clicks, unknown channels, interactions from elsewhere."""

from __future__ import annotations

from blocks import ids
from tests.graph_fixtures import effects_file, stack_overrides  # noqa: F401 - fixtures
from tests.test_graph_hitl import TIDY, click
from tests.test_graph_runs import start


def test_a_click_on_an_item_already_answered_tells_the_clicker_who_answered(stack):
    run = start(stack, "batched", TIDY)
    [req] = run["pending_requests"]
    assert click(stack, "U0BOB", req["id"], ids.ACTION_APPROVE, 1).status_code == 200
    late = click(stack, "U0ALICE", req["id"], ids.ACTION_APPROVE, 1)
    assert late.status_code == 200
    [told] = stack.ephemerals("U0ALICE")
    assert "Already answered" in told["text"] and "<@U0BOB>" in told["text"]
