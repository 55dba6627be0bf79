from datetime import timedelta
from pathlib import Path

import pytest

from bot.errors import InvalidInput
from bot.policy.conditions import parse_condition
from bot.policy.explain import explain_text, match
from bot.policy.loader import load_policy
from bot.policy.model import Escalation, Policy, Rule

REFUNDS = Path(__file__).parent / "refunds.yaml"


@pytest.fixture(scope="module")
def refunds() -> Policy:
    return load_policy(REFUNDS)


def rule(name, **fields):
    return Rule(name=name, line=0, approvers=("U0",), **fields)


def policy(*rules):
    return Policy(rules=rules, default=Rule(name="default", line=0, approvers=("@ops",)))


def matched(p, action="act", args=None, requester="U1", urgency=None):
    return match(p, action=action, args=args or {}, requester=requester, urgency=urgency).rule.name


def test_340_goes_to_mid_refunds(refunds):
    e = match(refunds, action="issue_refund", args={"amount": 340}, requester="agent-7", urgency=None)
    assert e.rule.name == "mid-refunds"
    assert e.rule.approvers == ("@cs-approvers",) and e.rule.channel == "C0CSAPPROVALS"
    assert (e.rule.timeout, e.rule.on_timeout) == (timedelta(minutes=30), "reject")
    assert e.rule.notify_mode == "channel"
    assert e.skipped == (("small-refunds", "args.amount < 50 is false (args.amount is 340)"),)


def test_20_is_approved_by_the_system(refunds):
    e = match(refunds, action="issue_refund", args={"amount": 20}, requester=None, urgency=None)
    assert (e.rule.name, e.rule.auto, e.skipped) == ("small-refunds", "approve", ())


def test_900_goes_to_big_refunds_with_everything_it_says(refunds):
    e = match(refunds, action="issue_refund", args={"amount": 900}, requester="agent-7", urgency="low")
    r = e.rule
    assert r.name == "big-refunds" and r.line == 16
    assert (r.approvers, r.notify, r.channel) == (("@finance",), "both", "C0FINANCE")
    assert (r.urgency, r.quorum) == ("high", 2)
    assert r.separation_of_duties and not r.allow_request_approvers
    assert r.remind_every == timedelta(minutes=10)
    assert r.escalations == (
        Escalation(after=timedelta(minutes=15), to=("U0LEAD",), notify="dm"),
        Escalation(after=timedelta(minutes=45), to=("head-of-finance@example.com",), notify="dm"),
    )
    assert (r.timeout, r.on_timeout) == (timedelta(hours=2), "wait")
    assert [name for name, _ in e.skipped] == ["small-refunds", "mid-refunds"]
    assert e.skipped[1] == ("mid-refunds", "args.amount <= 500 is false (args.amount is 900)")


def test_other_actions_fall_to_the_default(refunds):
    e = match(refunds, action="send_email", args={}, requester="agent-7", urgency=None)
    assert e.is_default and e.rule.name == "default" and e.rule.approvers == ("@ops",)
    assert e.rule.timeout == timedelta(hours=1) and e.rule.notify_mode == "dm"
    assert e.skipped[0] == ("small-refunds", 'action "send_email" is not issue_refund')


@pytest.mark.parametrize("args", [{"amount": "lots"}, {"amount": "900"}, {}, {"amount": None}])
def test_a_refund_whose_amount_cannot_be_compared_is_refused_never_sent_to_the_default(refunds, args):
    with pytest.raises(InvalidInput) as e:
        match(refunds, action="issue_refund", args=args, requester=None, urgency=None)
    assert "small-refunds" in str(e.value) and "args.amount" in str(e.value)
    assert list(e.value.fields) == ["args.amount"]


def test_a_rule_whose_action_does_not_match_never_looks_at_the_arguments(refunds):
    assert match(refunds, action="send_email", args={"amount": "lots"}, requester=None,
                 urgency=None).is_default


def test_explain_text_names_the_rule_and_why_earlier_rules_were_skipped(refunds):
    text = explain_text(match(refunds, action="issue_refund", args={"amount": 340}, requester=None,
                              urgency=None))
    assert text.splitlines() == [
        "rule 'mid-refunds' matches (line 7): asks @cs-approvers; in C0CSAPPROVALS; after 30m rejects",
        "skipped:",
        "  small-refunds: args.amount < 50 is false (args.amount is 340)",
    ]


def explain_refund(policy, args):
    return explain_text(match(policy, action="issue_refund", args=args, requester=None, urgency=None))


def test_explain_text_for_auto_and_default(refunds):
    auto = explain_refund(refunds, {"amount": 1})
    assert auto == "rule 'small-refunds' matches (line 2): decided by the system: auto-approve"
    text = explain_text(match(refunds, action="send_email", args={}, requester=None, urgency=None))
    assert text.splitlines()[0] == (
        "no rule matches; the default applies (line 36): asks @ops; by DM, and in the request's "
        "channel if it names one; after 1h rejects")
    big = explain_refund(refunds, {"amount": 501})
    assert ("asks @finance; in C0FINANCE and by DM; needs 2 approvals; urgency high; reminds every 10m; "
            "after 15m adds U0LEAD (dm); after 45m adds head-of-finance@example.com (dm); "
            "after 2h keeps waiting") in big


def test_first_match_wins():
    p = policy(rule("first", actions=("send_*",)), rule("second", actions=("send_email",)))
    assert matched(p, "send_email") == "first"


def test_a_rule_without_criteria_matches_everything():
    assert matched(policy(rule("all"), rule("never-reached")), "anything") == "all"


def test_action_globs():
    p = policy(rule("refunds", actions=("refund_*", "issue_refund")), rule("deletes", actions=("*delete*",)))
    assert matched(p, "refund_partial") == "refunds"
    assert matched(p, "issue_refund") == "refunds"
    assert matched(p, "bulk_delete_users") == "deletes"
    assert matched(p, "Refund_partial") == "default"  # case matters
    assert matched(p, "issue_refunds") == "default"
    e = match(p, action="x", args={}, requester=None, urgency=None)
    assert e.skipped[0] == ("refunds", 'action "x" is not one of refund_*, issue_refund')


def test_requester_matches_exactly():
    p = policy(rule("billing-bot", requesters=("billing-bot", "billing-bot-2")))
    assert matched(p, requester="billing-bot") == "billing-bot"
    assert matched(p, requester="billing-bot-3") == "default"
    assert matched(p, requester="billing") == "default"
    e = match(p, action="a", args={}, requester=None, urgency=None)
    assert e.is_default and e.skipped[0][1].startswith("the requester is unknown")


def test_urgency_matches_and_none_counts_as_normal():
    p = policy(rule("urgent", urgencies=("high",)), rule("usual", urgencies=("normal",)))
    assert matched(p, urgency="high") == "urgent"
    assert matched(p, urgency="normal") == "usual"
    assert matched(p, urgency=None) == "usual"
    assert matched(p, urgency="low") == "default"
    e = match(p, action="a", args={}, requester=None, urgency="low")
    assert e.skipped == (("urgent", 'urgency "low" is not high'), ("usual", 'urgency "low" is not normal'))


def test_every_condition_must_hold():
    both = (parse_condition("args.amount >= 50"), parse_condition("args.currency == usd"))
    p = policy(rule("usd-mid", conditions=both))
    assert matched(p, args={"amount": 60, "currency": "usd"}) == "usd-mid"
    e = match(p, action="a", args={"amount": 60, "currency": "eur"}, requester=None, urgency=None)
    assert e.skipped == (("usd-mid", 'args.currency == usd is false (args.currency is "eur")'),)


def test_criteria_are_checked_together():
    p = policy(rule("r", actions=("pay",), requesters=("U1",), urgencies=("high",),
                    conditions=(parse_condition("args.customer.tier == gold"),)))
    assert matched(p, "pay", {"customer": {"tier": "gold"}}, "U1", "high") == "r"
    assert matched(p, "pay", {"customer": {"tier": "gold"}}, "U2", "high") == "default"
    assert matched(p, "pay", {"customer": {"tier": "silver"}}, "U1", "high") == "default"


def test_conditions_on_action_requester_and_urgency():
    p = policy(rule("r", conditions=(parse_condition("action in [a, b]"), parse_condition("requester != U9"),
                                     parse_condition("urgency == normal"))))
    assert matched(p, "a", requester="U1") == "r"
    assert matched(p, "a", requester="U9") == "default"
    assert matched(p, "c", requester="U1") == "default"


def test_permissive_policy_routes_to_whoever_the_request_names():
    p = Policy.permissive()
    e = match(p, action="anything", args={"x": 1}, requester=None, urgency=None)
    assert e.is_default and e.skipped == ()
    r = e.rule
    assert r.allow_request_approvers and r.approvers == () and r.auto is None
    assert (r.timeout, r.escalations, r.remind_every, r.quorum, r.on_timeout) == (None, (), None, 1, "reject")
    assert explain_text(e) == (
        "no rule matches; the default applies: asks the approvers the request names; "
        "by DM, and in the request's channel if it names one")


def test_notify_defaults_from_the_channel():
    assert Rule(name="a", line=1, channel="C1").notify_mode == "channel"
    assert Rule(name="a", line=1).notify_mode == "dm"
    assert Rule(name="a", line=1, channel="C1", notify="both").notify_mode == "both"
