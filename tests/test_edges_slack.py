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
