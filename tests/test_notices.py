"""Explanations for clicks that changed nothing are sent by a worker's Teller, not by web."""

from __future__ import annotations

import json
import time

from tests.conftest import CHANNEL
from workers.queues import TELL_KEY


def test_an_explanation_queued_by_web_reaches_the_person_and_a_bad_one_does_not_stop_the_next(stack):
    jobs = stack.w.service.jobs
    stack.w.redis.rpush(TELL_KEY, b"not json", json.dumps({"channel": CHANNEL}))  # broken ones
    jobs.tell("C0NOSUCHCHANNEL", "U0ALICE", "lost: Slack refuses the channel")
    jobs.tell(CHANNEL, "U0ALICE", "Already approved by <@U0BOB>. Nothing was changed.")
    [told] = stack.ephemerals("U0ALICE")
    assert told["text"].startswith("Already approved") and told["channel"] == CHANNEL


def test_an_explanation_older_than_a_minute_is_dropped(stack):
    old = {"channel": CHANNEL, "user": "U0BOB", "text": "stale", "at": time.time() - 61}
    stack.w.redis.rpush(TELL_KEY, json.dumps(old))
    stack.w.service.jobs.tell(CHANNEL, "U0BOB", "fresh")
    assert [e["text"] for e in stack.ephemerals("U0BOB")] == ["fresh"]
    time.sleep(0.3)  # the stale one was taken first: had it been sent, it would be here by now
    assert [e["text"] for e in stack.sandbox.ephemerals("U0BOB")] == ["fresh"]
