"""Deadlines fired in batches: many due at once, a click inside a batch, two sweepers on one batch;
on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bot.core import lifecycle
from bot.core.lifecycle import Verdict
from bot.service import NewRequest
from bot.service.deadlines import BATCH
from bot.storage import repo
from bot.storage.audit_export import verify
from bot.storage.tables import ApprovalRequest, AuditEvent
from tests.conftest import on_every_database
from tests.test_policies import POLICY
from workers import deadlines, runtime

stack_url = on_every_database()  # SQLite and PostgreSQL


@pytest.fixture
def stack_overrides():
    return {"policy_file": POLICY}


def pending(stack, n):
    """n requests under mid-refunds (timeout 30m, reject), created straight through the service."""
    new = NewRequest(action="issue_refund", summary="Refund $340", args={"amount": 340},
                     requester="billing-bot")
    return [stack.w.service.create(new, agent="test-agent")[0].id for _ in range(n)]


def kinds(stack):
    with stack.w.db.read() as s:
        return Counter((e.request_id, e.kind) for e in s.exec(select(AuditEvent)))


def status(stack, request_id):
    return stack.w.service.get(request_id).status


def test_more_due_than_a_batch_all_fire_once_in_one_pass(stack, clock):
    ids = pending(stack, BATCH * 2 + 5)
    stack.run_jobs()  # the cards
    clock.advance(minutes=31)
    assert stack.sweep() == len(ids)  # one pass, several batches, then the card updates it queued
    seen = kinds(stack)
    assert all(status(stack, i) == "expired" and seen[(i, "expired")] == 1 for i in ids)
    assert verify(stack.w.db).ok
    assert all("Expired" in str(stack.card(i)["blocks"]) for i in ids[:3] + ids[-3:])
    assert stack.sweep() == 0  # nothing left due


def test_a_request_decided_before_the_batch_keeps_its_decision(stack, clock):
    ids = pending(stack, 3)
    clock.advance(minutes=31)
    stack.w.service.decide(ids[1], actor="U0ALICE", verdict=Verdict.APPROVE)
    stack.sweep()
    assert [status(stack, i) for i in ids] == ["expired", "approved", "expired"]
    assert kinds(stack)[(ids[1], "expired")] == 0


def test_a_click_in_flight_during_the_batch_wins_and_the_batch_skips_it(stack, clock):
    ids = pending(stack, 5)
    clock.advance(minutes=31)
    runtime.install(stack.context)
    swept = threading.Thread(target=deadlines.fire_due)
    # A click that holds its row (its UPDATE done, not yet committed) while the sweeper runs.
    with stack.w.db.write() as s:
        [row] = repo.lock_requests(s, [ids[2]])
        t = lifecycle.decide(repo.state_of(row), actor="U0BOB", verdict=Verdict.APPROVE, reason=None,
                             now=clock(), index=None, args=None, answer=None)
        assert repo.apply_transition(s, t)
        repo.append_event(s, t.event, at=clock())
        swept.start()
        time.sleep(0.5)  # PostgreSQL: the batch skips the held row; SQLite: it waits for the writer
    swept.join(timeout=30)
    deadlines.fire_due()  # the next tick: the clicked request is no longer due
    assert [status(stack, i) for i in ids] == ["expired", "expired", "approved", "expired", "expired"]
    seen = kinds(stack)
    assert seen[(ids[2], "expired")] == 0 and seen[(ids[2], "decided")] == 1
    assert verify(stack.w.db).ok


def test_two_sweepers_on_one_batch_fire_each_deadline_once(stack, clock):
    ids = pending(stack, BATCH + 20)
    clock.advance(minutes=31)
    runtime.install(stack.context)
    barrier = threading.Barrier(2)

    def sweeper():
        barrier.wait()
        deadlines.fire_due()

    racers = [threading.Thread(target=sweeper) for _ in range(2)]
    for r in racers:
        r.start()
    for r in racers:
        r.join(timeout=60)
    stack.run_jobs()
    seen = kinds(stack)
    assert all(status(stack, i) == "expired" and seen[(i, "expired")] == 1 for i in ids)
    assert verify(stack.w.db).ok


def test_a_request_whose_deadline_cannot_be_fired_does_not_stop_the_others(stack, clock):
    made = [stack.w.service.create(NewRequest(action="issue_refund", summary="Refund $340",
                                              args={"amount": 340}, requester="billing-bot"),
                                   agent="test-agent")[0].id for _ in range(3)]
    bad, good = made[0], made[1:]
    with stack.w.db.write() as s:  # a stored route this code cannot read, due before the others
        row = s.get(ApprovalRequest, bad)
        first = min(s.get(ApprovalRequest, i).next_deadline_at for i in made) - timedelta(seconds=1)
        s.execute(update(ApprovalRequest).where(col(ApprovalRequest.id) == bad)
                  .values(route={**row.route, "remind_every": "soon"}, next_deadline_at=first))
    clock.advance(minutes=31)
    runtime.install(stack.context)
    deadlines.fire_due()
    assert [stack.w.service.get(i).status for i in good] == ["expired", "expired"]
    still = stack.w.service.get(bad)
    assert still.status == "pending" and still.next_deadline_at > clock()  # tried again later


def test_a_new_card_and_a_clicked_card_go_out_before_a_burst_of_timed_out_cards(stack, clock):
    # A mass timeout queues a card update per request; a card a person is waiting for (a new
    # request's, a clicked one's) must not wait behind them (with Slack's rate limits, minutes).
    from rq import Queue

    from workers import queues
    from workers.rq_worker import SignoffWorker

    timed_out = pending(stack, 30)
    clicked = pending(stack, 1)[0]
    stack.run_jobs()  # the cards
    clock.advance(minutes=31)
    runtime.install(stack.context)
    with stack.w.db.write() as s:  # the clicked one is decided just before the pass, not by it
        s.execute(update(ApprovalRequest).where(col(ApprovalRequest.id) == clicked)
                  .values(next_deadline_at=None))
    assert deadlines.sweep() == len(timed_out)  # queued, not run: 30 card updates waiting
    stack.w.service.decide(clicked, actor="U0ALICE", verdict=Verdict.APPROVE)
    new = pending(stack, 1)[0]
    updated_before = len(stack.sandbox.calls("chat.update"))
    with stack.w.redis.client() as connection:
        SignoffWorker(list(queues.ALL), connection=connection).work(burst=True, max_jobs=2,
                                                                    logging_level="WARNING")
    # The two jobs run first were the new card and the click's update, not the timeouts'.
    posted = [c for c in stack.sandbox.calls("chat.postMessage") if new in str(c)]
    assert len(posted) == 1
    updates = stack.sandbox.calls("chat.update")[updated_before:]
    assert updates and all(clicked in str(u) for u in updates), [str(u)[:80] for u in updates]
    assert Queue(queues.CARDS_LATER, connection=stack.w.redis).count == len(timed_out)
    stack.run_jobs()  # and then the timeouts' own, all of them
    assert all("Expired" in str(stack.card(i)["blocks"]) for i in timed_out)
