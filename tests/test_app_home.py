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
