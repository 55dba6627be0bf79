"""Policies route every request; timeouts, reminders and escalation never leave one stranded."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from rq import Queue
from sqlmodel import select

from blocks import ids
from bot import wiring
from bot.cli import main
from bot.core.lifecycle import Verdict
from bot.errors import AlreadyDecided
from bot.storage.tables import AuditEvent
from tests.conftest import CHANNEL
from workers import cards as worker_cards
from workers import deadlines, queues, runtime

POLICY = Path(__file__).with_name("policy_refunds.yaml")


@pytest.fixture
def stack_overrides():
    return {"policy_file": POLICY}


def refund(stack, amount, **extra):
    body = {"action": "issue_refund", "summary": f"Refund ${amount}", "args": {"amount": amount},
            "requester": "billing-bot", **extra}
    r = stack.api.post("/v1/requests", json=body)
    assert r.status_code == 201, r.text
    stack.run_jobs()
    return r.json()


def events(stack, request_id, kind=None):
    with stack.w.db.read() as s:
        rows = s.exec(select(AuditEvent).where(AuditEvent.request_id == request_id).order_by(AuditEvent.seq))
        return [(e.kind, e.data) for e in rows if kind is None or e.kind == kind]


def get(stack, req):
    return stack.api.get(f"/v1/requests/{req['id']}").json()


def test_a_rule_that_names_no_channel_posts_in_the_channel_the_request_names_and_dms(stack):
    # The default rule names approvers but no channel: the request's channel was silently dropped,
    # so a team watching it never saw the card. Its approvers are still DMed: a channel the agent
    # chose may not hold them, and a deadline must not pass with nobody told.
    stack.sandbox.add_channel("C0OTHER", name="other")
    r = stack.api.post("/v1/requests", json={"action": "send_email", "summary": "Winter sale",
                                             "channel": "C0OTHER"})
    assert r.status_code == 201 and (r.json()["channel"], r.json()["dm"]) == ("C0OTHER", True), r.text
    stack.run_jobs()
    assert len(stack.sandbox.messages("C0OTHER")) == 1
    assert len(stack.sandbox.messages(stack.sandbox.dm_channel("U0ALICE"))) == 1
    # A channel the bot cannot post in is refused rather than dropped, as without a policy.
    r = stack.api.post("/v1/requests", json={"action": "send_email", "summary": "Winter sale",
                                             "channel": "C0NOSUCH"})
    assert r.status_code == 422 and "channel" in r.json()["fields"], r.text
    # Without a channel it goes by DM, as the rule says.
    r = stack.api.post("/v1/requests", json={"action": "send_email", "summary": "Winter sale"})
    assert r.status_code == 201 and (r.json()["channel"], r.json()["dm"]) == (None, True), r.text


def test_a_request_may_add_dms_to_its_rule_s_channel_but_never_drop_the_rule_s(stack):
    # mid-refunds posts in #approvals only; `dm: true` asked for DMs too and was silently dropped.
    mid = refund(stack, 340, dm=True)
    assert (mid["rule"], mid["channel"], mid["dm"]) == ("mid-refunds", CHANNEL, True)
    assert len(stack.sandbox.messages(stack.sandbox.dm_channel("U0ALICE"))) == 1
    big = refund(stack, 900, dm=False)  # big-refunds notifies both ways: dm false changes nothing
    assert (big["rule"], big["dm"]) == ("big-refunds", True)


def test_an_unknown_approver_is_named_at_its_place_in_the_request_not_after_the_rules(stack):
    # The default rule names U0ALICE and lets a request add its own: an unknown second one of
    # the request's was reported as approvers[2].
    r = stack.api.post("/v1/requests", json={"action": "send_email", "summary": "Winter sale",
                                             "approvers": ["U0BOB", "nobody@example.com"]})
    assert r.status_code == 422 and list(r.json()["fields"]) == ["approvers[1]"], r.text


def test_small_refunds_are_auto_approved_and_audited_without_a_card(stack):
    req = refund(stack, 20)
    assert (req["status"], req["decided_by"], req["rule"]) == ("approved", "system", "small-refunds")
    [(_, data)] = events(stack, req["id"], "auto_decided")
    assert data["rule"] == "small-refunds"
    assert stack.sandbox.messages(CHANNEL) == []


def test_requests_are_routed_by_the_first_matching_rule(stack):
    mid, big = refund(stack, 340), refund(stack, 900)
    assert (mid["rule"], mid["eligible_approvers"], mid["dm"]) == ("mid-refunds", ["U0ALICE", "U0BOB"], False)
    assert (big["rule"], big["urgency"], big["dm"]) == ("big-refunds", "high", True)
    other = stack.create(action="send_email", approvers=["U0CAROL"])
    assert (other["rule"], other["eligible_approvers"]) == ("default", ["U0ALICE", "U0CAROL"])
    refused = stack.api.post("/v1/requests", json={"action": "issue_refund", "summary": "s",
                                                   "args": {"amount": 340}, "approvers": ["U0DAVE"]})
    assert refused.status_code == 422 and "mid-refunds" in refused.json()["fields"]["approvers"]


def test_quorum_counts_distinct_people_and_one_reject_ends_it(stack):
    req = refund(stack, 900)
    ts = stack.card(req["id"])["ts"]
    stack.sandbox.click("U0ALICE", CHANNEL, ts, ids.ACTION_APPROVE)
    stack.sandbox.click("U0ALICE", CHANNEL, ts, ids.ACTION_APPROVE)  # the same person again
    [told] = stack.ephemerals("U0ALICE")
    assert "already approved" in told["text"] and "1 more" in told["text"]
    got = get(stack, req)
    assert (got["status"], got["approvals"]) == ("pending", ["U0ALICE"])
    stack.run_jobs()
    assert "1 of 2 approvals" in str(stack.card(req["id"])["blocks"])
    stack.sandbox.click("U0BOB", CHANNEL, ts, ids.ACTION_APPROVE)
    assert get(stack, req)["status"] == "approved"
    assert [k for k, _ in events(stack, req["id"]) if k in ("vote", "decided")] == ["vote", "decided"]
    assert all(d["rule"] == "big-refunds" for _, d in events(stack, req["id"], "vote"))

    other = refund(stack, 901)
    stack.w.service.decide(other["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    stack.w.service.decide(other["id"], actor="U0BOB", verdict=Verdict.REJECT, reason="too much")
    assert (get(stack, other)["status"], get(stack, other)["reason"]) == ("rejected", "too much")


def test_the_requester_cannot_approve_and_a_request_only_they_could_approve_escalates(stack, clock):
    req = stack.create(action="rotate_keys", approvers=[], requester="U0ALICE", summary="Rotate keys")
    stack.run_jobs()
    ts = stack.card(req["id"])["ts"]
    stack.sandbox.click("U0ALICE", CHANNEL, ts, ids.ACTION_APPROVE)
    [told] = stack.ephemerals("U0ALICE")
    assert "separation of duties" in told["text"]
    assert [k for k, _ in events(stack, req["id"], "refused_click")] == ["refused_click"]
    stack.sweep()  # nobody but the requester could decide: escalated at once, not after 1h
    got = get(stack, req)
    assert got["escalation_level"] == 1 and "U0CAROL" in got["eligible_approvers"]
    stack.sandbox.click("U0CAROL", CHANNEL, ts, ids.ACTION_APPROVE)
    assert get(stack, req)["status"] == "approved"


def test_late_clicks_are_answered_from_what_is_known_and_refusals_are_still_audited(stack, clock):
    """Clicks are checked against a remembered state once a request has ended; a pending one is
    read every time, so someone an escalation adds is not refused by what an earlier click saw."""
    req = stack.create(action="rotate_keys", approvers=[], requester="U0ALICE", summary="Rotate keys")
    stack.run_jobs()
    ts = stack.card(req["id"])["ts"]
    stack.sandbox.click("U0CAROL", CHANNEL, ts, ids.ACTION_APPROVE)  # not an approver yet
    assert "Only this request's approvers" in stack.ephemerals("U0CAROL")[0]["text"]
    stack.sweep()  # only the requester could decide it: escalated to U0CAROL at once
    stack.sandbox.click("U0CAROL", CHANNEL, ts, ids.ACTION_APPROVE)
    assert (get(stack, req)["status"], get(stack, req)["decided_by"]) == ("approved", "U0CAROL")
    for _ in range(2):  # an approver again, the requester, someone who never was an approver
        for user in ("U0CAROL", "U0ALICE", "U0DAVE"):
            stack.sandbox.click(user, CHANNEL, ts, ids.ACTION_APPROVE)
    assert ["Already approved" in e["text"] for e in stack.ephemerals("U0CAROL", 3)] == [False, True, True]
    assert all("separation of duties" in e["text"] for e in stack.ephemerals("U0ALICE", 2))
    assert all("approvers can decide" in e["text"] for e in stack.ephemerals("U0DAVE", 2))
    assert len(events(stack, req["id"], "refused_click")) == 1 + 2 + 2  # the refusals, not the late clicks
    # Another process (here: a second service on the same store) answers the same way.
    other = wiring.build(stack.w.settings, clock=clock)
    with pytest.raises(AlreadyDecided):
        other.service.decide(req["id"], actor="U0CAROL", verdict=Verdict.APPROVE)
    other.db.engine.dispose()


@pytest.mark.parametrize("requester", ["U0ALICE", "<@U0ALICE>", "alice@example.com", "ALICE@Example.COM"])
def test_a_request_only_its_requester_could_approve_escalates_at_once_however_they_are_spelled(
    stack, clock, requester
):
    req = stack.create(action="rotate_keys", approvers=[], requester=requester, summary="Rotate keys")
    stack.run_jobs()
    stack.sweep()  # the deadline half must see the same requester the creation did: no waiting 1h
    got = get(stack, req)
    assert (got["escalation_level"], got["eligible_approvers"]) == (1, ["U0ALICE", "U0CAROL"])
    assert [d["level"] for _, d in events(stack, req["id"], "escalated")] == [1]


def test_a_request_from_a_bot_is_not_stranded_by_an_approver_of_its_own_name(stack, clock):
    req = stack.create(action="rotate_keys", approvers=[], requester="billing-bot", summary="Rotate keys")
    stack.run_jobs()
    stack.sweep()
    assert get(stack, req)["escalation_level"] == 0
    clock.advance(hours=1)
    stack.sweep()
    assert get(stack, req)["escalation_level"] == 1


def test_a_timeout_fires_exactly_once_with_the_job_and_two_sweepers(stack, clock):
    req = refund(stack, 340)
    clock.advance(minutes=31)
    runtime.install(stack.context)
    racers = [threading.Thread(target=deadlines.sweep) for _ in range(2)]
    for t in racers:
        t.start()
    stack.run_scheduled()  # the scheduled deadline job itself
    for t in racers:
        t.join()
    stack.run_jobs()
    got = get(stack, req)
    assert (got["status"], got["decided_by"]) == ("expired", "system") and "30m" in got["reason"]
    assert len(events(stack, req["id"], "expired")) == 1
    assert "Expired" in str(stack.card(req["id"])["blocks"])


def test_after_flushall_the_sweeper_recovers_the_card_and_the_deadline(stack, clock):
    body = {"action": "issue_refund", "summary": "Refund $340", "args": {"amount": 340}}
    req = stack.api.post("/v1/requests", json=body).json()
    stack.w.redis.flushall()  # the card job and the scheduled timeout are gone
    clock.advance(minutes=1)
    stack.sweep()
    assert stack.card(req["id"])  # re-posted from SQL
    clock.advance(minutes=30)
    stack.sweep()
    assert get(stack, req)["status"] == "expired"
    assert len(events(stack, req["id"], "expired")) == 1


def test_a_click_racing_the_timeout_has_one_outcome_and_the_loser_is_told(stack, clock):
    req = refund(stack, 340)
    ts = stack.card(req["id"])["ts"]
    clock.advance(minutes=31)
    runtime.install(stack.context)
    sweeper = threading.Thread(target=deadlines.sweep)
    sweeper.start()
    answer = stack.sandbox.click("U0BOB", CHANNEL, ts, ids.ACTION_APPROVE)
    sweeper.join()
    assert answer.status_code == 200
    got = get(stack, req)
    endings = events(stack, req["id"], "expired") + events(stack, req["id"], "decided")
    assert len(endings) == 1 and got["status"] in ("expired", "approved")
    if got["status"] == "expired":
        [told] = stack.ephemerals("U0BOB")
        assert "expired" in told["text"].lower()


def test_a_two_level_escalation_chain_with_reminders(stack, clock):
    req = refund(stack, 900)
    card = stack.card(req["id"])
    thread = lambda: [m["text"] for m in stack.sandbox.replies(CHANNEL, card["ts"])]  # noqa: E731
    for minutes, expected in ((10, 1), (5, 2), (5, 3), (10, 4), (15, 5)):  # at 10, 15, 20, 30, 45 min
        clock.advance(minutes=minutes)
        stack.sweep()
        assert len(thread()) == expected, thread()
    texts = thread()
    assert [t.split(":")[1] for t in texts] == ["alarm_clock", "arrow_heading_up", "alarm_clock",
                                                 "alarm_clock", "arrow_heading_up"]
    assert "<@U0CAROL>" in texts[1] and "<@U0DAVE>" in texts[4]
    for user in ("U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"):  # a card in each DM, once
        dm = stack.sandbox.messages(stack.sandbox.dm_channel(user))
        assert len([m for m in dm if m["blocks"]]) == 1, user
    # Each reminder is a DM to every approver who has not acted yet, naming the request.
    alice = stack.sandbox.messages(stack.sandbox.dm_channel("U0ALICE"))
    alice_dm = [m["text"] for m in alice if not m["blocks"]]
    assert len(alice_dm) == 3 and all(t.startswith(":alarm_clock: Reminder: *") for t in alice_dm)
    assert "`issue_refund`" in alice_dm[0] and "for your decision" in alice_dm[0]
    assert "Still waiting on <@U0ALICE>" in texts[0]
    got = get(stack, req)
    assert got["escalation_level"] == 2 and {"U0CAROL", "U0DAVE"} <= set(got["eligible_approvers"])
    assert "Escalated to" in str(stack.card(req["id"])["blocks"])
    clock.advance(minutes=40)  # four intervals later: still only one more reminder, never a flood
    stack.sweep()
    assert len(thread()) == 6
    assert [d["level"] for _, d in events(stack, req["id"], "escalated")] == [1, 2]


def test_a_reminder_redis_lost_is_sent_once_by_the_lost_work_pass(stack, clock):
    req = refund(stack, 900)
    card = stack.card(req["id"])
    thread = lambda: [m["text"] for m in stack.sandbox.replies(CHANNEL, card["ts"])]  # noqa: E731
    alice = lambda: [m for m in stack.sandbox.messages(stack.sandbox.dm_channel("U0ALICE"))  # noqa: E731
                     if not m["blocks"]]
    cards = Queue(queues.CARDS, connection=stack.w.redis)

    def fire_and_lose() -> None:
        runtime.install(stack.context)
        assert deadlines.sweep() == 1
        cards.empty()  # Redis lost the reminder's job (and the card update queued with it)

    clock.advance(minutes=10)
    fire_and_lose()
    assert thread() == [] and alice() == []
    for _ in range(2):  # found again by the pass that looks for lost work; sent once
        deadlines.requeue_lost(stack.context, grace=timedelta(0))
        stack.run_jobs()
    assert len(thread()) == 1 and thread()[0].startswith(":alarm_clock: Reminder") and len(alice()) == 1

    # What was lost for a request decided before the pass (here an escalation's notice) is not
    # sent, and a reminder's job that runs after the decision reminds nobody.
    clock.advance(minutes=5)
    fire_and_lose()
    stack.w.service.decide(req["id"], actor="U0BOB", verdict=Verdict.REJECT, reason="no")
    deadlines.requeue_lost(stack.context, grace=timedelta(0))
    stack.run_jobs()
    runtime.install(stack.context)
    worker_cards.remind(req["id"], 2)
    assert len(thread()) == 1 and len(alice()) == 1


def test_a_reminder_job_that_comes_late_or_twice_sends_nothing(stack, clock):
    req = refund(stack, 900)
    alice = lambda: [m for m in stack.sandbox.messages(stack.sandbox.dm_channel("U0ALICE"))  # noqa: E731
                     if not m["blocks"]]
    for minutes in (10, 5, 5):  # t = 20: reminders 1 and 2 sent, escalated once
        clock.advance(minutes=minutes)
        stack.sweep()
    sent = len(alice())
    clock.advance(minutes=10)  # t = 30: reminder 3 fires; its job is held up
    runtime.install(stack.context)
    assert deadlines.sweep() == 1
    Queue(queues.CARDS, connection=stack.w.redis).empty()
    clock.advance(minutes=10)  # t = 40: reminder 4 fires
    assert deadlines.sweep() == 1
    worker_cards.remind(req["id"], 3)  # reminder 3's job, at last: reminder 4 replaces it
    assert len(alice()) == sent
    stack.run_jobs()
    assert len(alice()) == sent + 1
    worker_cards.remind(req["id"], 4)  # queued twice: sent once
    assert len(alice()) == sent + 1


def test_policy_check_and_explain_on_the_command_line(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["policy", "check", str(POLICY)])
    assert ok.exit_code == 0 and "4 rule(s)" in ok.output
    bad = tmp_path / "bad.yaml"
    typo = "    approvers: [U0ALICE, U0BOB]"
    bad.write_text(POLICY.read_text().replace(typo, typo.replace("approvers", "aprovers")))
    refused = runner.invoke(main, ["policy", "check", str(bad)])
    assert refused.exit_code == 1 and "did you mean 'approvers'" in refused.output
    line = POLICY.read_text().splitlines().index("    approvers: [U0ALICE, U0BOB]") + 1
    assert f"bad.yaml:{line}:" in refused.output
    explained = runner.invoke(main, ["policy", "explain", "--file", str(POLICY), "--action", "issue_refund",
                                     "--args", '{"amount": 340}'])
    assert explained.exit_code == 0 and "mid-refunds" in explained.output
    assert "small-refunds" in explained.output and "amount is 340" in explained.output
    high = runner.invoke(main, ["policy", "explain", "--file", str(POLICY), "--action", "issue_refund",
                                "--args", '{"amount": 340}', "--urgency", "high"])  # as the API spells it
    assert high.exit_code == 0 and "mid-refunds" in high.output, high.output


def test_a_card_routed_to_a_user_group_mentions_the_group(stack):
    req = refund(stack, 340)  # mid-refunds: approvers ["@finance"]
    card = stack.card(req["id"])
    assert card["text"].startswith("<!subteam^S0FINANCE> <@U0ALICE> <@U0BOB> Approval needed")
    assert "*Waiting on* <!subteam^S0FINANCE>, <@U0ALICE>, <@U0BOB>" in card["blocks"][1]["text"]["text"]
    assert "then it auto-rejects" in card["blocks"][1]["text"]["text"]  # timeout: 30m, on_timeout: reject
