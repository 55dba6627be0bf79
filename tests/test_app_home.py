"""The App Home tab lists what waits on the person who opens it, and its buttons decide."""

from __future__ import annotations

import json
import time

from blocks import ids
from bot.core.lifecycle import Verdict


def home_of(stack, user):
    [home] = [v for v in stack.views(user) if v["type"] == "home"]
    return home


def test_home_lists_the_requests_waiting_on_you_and_its_buttons_decide(stack):
    mine = stack.create(summary="Refund $340 to order #1234", approvers=["U0ALICE"])
    stack.create(summary="Not for alice", approvers=["U0BOB"])
    done = stack.create(summary="Already decided", approvers=["U0ALICE"])
    stack.w.service.decide(done["id"], actor="U0ALICE", verdict=Verdict.APPROVE)

    assert stack.sandbox.open_home("U0ALICE").status_code == 200
    home = home_of(stack, "U0ALICE")
    text = json.dumps(home["view"])
    assert "Waiting on you (1)" in text and "Refund $340" in text
    assert "Not for alice" not in text and "Already decided" not in text

    stack.sandbox.click_view("U0ALICE", home["id"], ids.ACTION_APPROVE, value=mine["id"])
    assert stack.api.get(f"/v1/requests/{mine['id']}").json()["status"] == "approved"
    # The click refreshes the Home tab (after the ack): the request is gone from it.
    end = time.monotonic() + 10
    while "Waiting on you (0)" not in (text := json.dumps(home_of(stack, "U0ALICE")["view"])):
        assert time.monotonic() < end, text
        time.sleep(0.02)
    assert "Nothing is waiting on you" in text


def wait_for_home(stack, user, needle):
    end = time.monotonic() + 10
    while needle not in (text := json.dumps(home_of(stack, user)["view"], ensure_ascii=False)):
        assert time.monotonic() < end, text
        time.sleep(0.02)
    return text


def test_each_home_row_acts_on_its_own_request_when_clicked_on_the_page(stack):
    import httpx

    rows = [stack.create(summary=f"Refund order {n}", approvers=["U0ALICE"]) for n in range(3)]
    stack.sandbox.open_home("U0ALICE")
    page = httpx.get(f"{stack.sandbox.url}/", params={"as": "U0ALICE"}).text
    # The page's form for the second row's Approve names its block: that is what the click sends.
    assert "name='block_id' value='home_1_actions'" in page
    home = home_of(stack, "U0ALICE")
    answer = httpx.post(f"{stack.sandbox.url}/_sandbox/click", data={
        "user": "U0ALICE", "view_id": home["id"], "block_id": "home_1_actions",
        "action_id": ids.ACTION_APPROVE})
    assert answer.status_code == 303
    status = [stack.api.get(f"/v1/requests/{r['id']}").json()["status"] for r in rows]
    assert status == ["pending", "approved", "pending"]


def test_a_stale_home_click_republishes_the_tab_with_what_happened(stack):
    req = stack.create(summary="Refund order 7", approvers=["U0ALICE", "U0BOB"])
    stack.sandbox.open_home("U0ALICE")
    home = home_of(stack, "U0ALICE")
    stack.w.service.decide(req["id"], actor="U0BOB", verdict=Verdict.APPROVE)  # meanwhile, in a channel
    stack.sandbox.click_view("U0ALICE", home["id"], ids.ACTION_APPROVE, block_id="home_0_actions")
    text = wait_for_home(stack, "U0ALICE", "home_notice")
    assert "Already approved by <@U0BOB>" in text
    assert "Waiting on you (0)" in text
