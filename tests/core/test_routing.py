"""The routing rules every caller shares: who the requester is, and when a request is stranded."""

from datetime import timedelta

import pytest

from bot.core.routing import is_stranded, names_a_person, requester_identity, route_for
from bot.policy.model import Escalation, Rule


@pytest.mark.parametrize("spelling", ["U0ALICE", "W0ALICE", "<@U0ALICE>", "alice@example.com",
                                      "ALICE@Example.COM"])
def test_every_spelling_of_a_person_counts_as_a_person(spelling):
    assert names_a_person(spelling)


@pytest.mark.parametrize("spelling", [None, "", "billing-bot", "agent:refunds"])
def test_bot_and_service_names_are_not_people(spelling):
    assert not names_a_person(spelling)


@pytest.mark.parametrize("spelling", ["U0ALICE", "<@U0ALICE>", "alice@example.com", "ALICE@Example.COM"])
def test_a_requester_resolved_to_the_only_approver_is_stranded_however_spelled(spelling):
    # The service resolves a person's spelling to a Slack id; the rule must use that id, not the text.
    assert requester_identity(spelling, "U0ALICE") == "U0ALICE"
    assert is_stranded(separation_of_duties=True, eligible=["U0ALICE"], requester=spelling,
                       requester_id="U0ALICE")


def test_an_unresolved_requester_is_compared_as_given():
    assert is_stranded(separation_of_duties=True, eligible=["U0ALICE"], requester="U0ALICE",
                       requester_id=None)
    assert not is_stranded(separation_of_duties=True, eligible=["U0ALICE"], requester="billing-bot",
                           requester_id=None)


def test_another_eligible_person_or_no_separation_of_duties_is_not_stranded():
    assert not is_stranded(separation_of_duties=True, eligible=["U0ALICE", "U0BOB"],
                           requester="alice@example.com", requester_id="U0ALICE")
    assert not is_stranded(separation_of_duties=False, eligible=["U0ALICE"],
                           requester="alice@example.com", requester_id="U0ALICE")
    assert is_stranded(separation_of_duties=True, eligible=[], requester=None, requester_id=None)


def test_a_route_resolves_escalation_targets_and_keeps_the_rules_timing():
    rule = Rule(name="keys", line=3, quorum=2, separation_of_duties=False, remind_every=timedelta(minutes=10),
                escalations=(Escalation(after=timedelta(hours=1), to=("@leads",), notify="both"),),
                timeout=timedelta(hours=2), on_timeout="wait")
    route = route_for(rule, resolve=lambda names: [f"U_{n.lstrip('@').upper()}" for n in names])
    assert (route.rule, route.quorum, route.on_timeout) == ("keys", 2, "wait")
    assert route.separation_of_duties is False
    assert (route.remind_every, route.timeout) == (timedelta(minutes=10), timedelta(hours=2))
    [step] = route.escalations
    assert (step.after, step.to, step.notify) == (timedelta(hours=1), ("U_LEADS",), "both")
