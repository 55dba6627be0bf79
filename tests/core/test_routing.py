"""The routing rules every caller shares: who the requester is, and when a request is stranded."""

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.deadlines import Step
from bot.core.identity import is_person, normalise
from bot.core.items import DecisionType, Item, ItemDecision, ItemRoute
from bot.core.lifecycle import RequestState
from bot.core.routing import (
    combined_route,
    escalated,
    is_stranded,
    requester_identity,
    with_request_deadline,
)
from bot.core.vocabulary import Status
from bot.errors import InvalidInput
from bot.policy.model import Escalation, Rule


@pytest.mark.parametrize("spelling", ["U0ALICE", "W0ALICE", "<@U0ALICE>", "alice@example.com",
                                      "ALICE@Example.COM"])
def test_every_spelling_of_a_person_counts_as_a_person(spelling):
    assert is_person(normalise(spelling))


@pytest.mark.parametrize("spelling", ["", "billing-bot", "agent:refunds"])
def test_bot_and_service_names_are_not_people(spelling):
    assert not is_person(normalise(spelling))


def as_given(names, *, field=""):  # noqa: ANN001, ANN202 - a resolver that knows every name
    return list(names)


def state(eligible, *, requester, sod=True, routes=None, decisions=None):
    items = tuple(Item(action=f"a{n}") for n in range(len(routes or [None])))
    return RequestState(id="req_1", status=Status.PENDING, version=0, eligible=tuple(eligible),
                        items=items, item_decisions=tuple(decisions or [None] * len(items)),
                        requester=requester, separation_of_duties=sod,
                        item_routes=tuple(routes) if routes else None)


@pytest.mark.parametrize("spelling", ["U0ALICE", "<@U0ALICE>", "alice@example.com", "ALICE@Example.COM"])
def test_a_requester_resolved_to_the_only_approver_is_stranded_however_spelled(spelling):
    # The service resolves a person's spelling to a Slack id; the rule must use that id, not the text.
    assert requester_identity(spelling, "U0ALICE") == "U0ALICE"
    assert is_stranded(state(["U0ALICE"], requester=requester_identity(spelling, "U0ALICE")))


def test_an_unresolved_requester_is_compared_as_given():
    assert is_stranded(state(["U0ALICE"], requester="U0ALICE"))
    assert not is_stranded(state(["U0ALICE"], requester="billing-bot"))


def test_another_eligible_person_or_no_separation_of_duties_is_not_stranded():
    assert not is_stranded(state(["U0ALICE", "U0BOB"], requester="U0ALICE"))
    assert not is_stranded(state(["U0ALICE"], requester="U0ALICE", sod=False))
    assert is_stranded(state([], requester=None))


def test_one_item_only_the_requester_could_approve_strands_the_request():
    routes = [ItemRoute(rule="a", eligible=("U0ALICE", "U0BOB")), ItemRoute(rule="b", eligible=("U0ALICE",))]
    assert is_stranded(state(["U0ALICE", "U0BOB"], requester="U0ALICE", routes=routes))
    decided = [None, ItemDecision(type=DecisionType.APPROVE, by="system", at=datetime.now(UTC))]
    assert not is_stranded(state(["U0ALICE", "U0BOB"], requester="U0ALICE", routes=routes,
                                 decisions=decided))


def test_several_rules_make_one_route_that_is_the_strictest():
    lax = Rule(name="lax", line=1, approvers=("U1",), timeout=timedelta(hours=2), on_timeout="approve",
               remind_every=timedelta(hours=1))
    strict = Rule(name="strict", line=2, approvers=("U2",), quorum=2, timeout=timedelta(hours=4),
                  on_timeout="reject", remind_every=timedelta(minutes=10),
                  escalations=(Escalation(after=timedelta(minutes=30), to=("U3",)),))
    route = combined_route([lax, strict], resolve=as_given)
    assert (route.timeout, route.on_timeout, route.quorum) == (timedelta(hours=2), "reject", 2)
    assert route.remind_every == timedelta(minutes=10)
    assert [(s.rule, s.to) for s in route.escalations] == [("strict", ("U3",))]
    only_lax = combined_route([lax, Rule(name="waits", line=3, approvers=("U4",))], resolve=as_given)
    assert only_lax.on_timeout == "wait"  # one rule never times out: approving its items would be lax
    assert combined_route([lax], resolve=as_given).on_timeout == "approve"


def test_an_escalation_adds_people_only_to_the_items_of_its_rule():
    routes = [ItemRoute(rule="a", eligible=("U1",)), ItemRoute(rule="b", eligible=("U2",))]
    after = escalated(routes, [Step(after=timedelta(minutes=5), to=("U9",), rule="b")])
    assert [r.eligible for r in after] == [("U1",), ("U2", "U9")]


def test_a_route_resolves_escalation_targets_and_keeps_the_rules_timing():
    rule = Rule(name="keys", line=3, quorum=2, separation_of_duties=False, remind_every=timedelta(minutes=10),
                escalations=(Escalation(after=timedelta(hours=1), to=("@leads",), notify="both"),),
                timeout=timedelta(hours=2), on_timeout="wait")
    route = combined_route([rule], resolve=lambda names, field="": [f"U_{n.lstrip('@').upper()}"
                                                                     for n in names])
    assert (route.rule, route.quorum, route.on_timeout) == ("keys", 2, "wait")
    assert route.separation_of_duties is False
    assert (route.remind_every, route.timeout) == (timedelta(minutes=10), timedelta(hours=2))
    [step] = route.escalations
    assert (step.after, step.to, step.notify) == (timedelta(hours=1), ("U_LEADS",), "both")


def test_an_approving_deadline_is_the_latest_of_the_rules_never_the_earliest():
    soon = Rule(name="soon", line=1, approvers=("U1",), timeout=timedelta(hours=1), on_timeout="approve")
    late = Rule(name="late", line=2, approvers=("U2",), timeout=timedelta(hours=5), on_timeout="approve")
    route = combined_route([soon, late], resolve=as_given)
    assert (route.on_timeout, route.timeout) == ("approve", timedelta(hours=5))
    strict = Rule(name="strict", line=3, approvers=("U3",), timeout=timedelta(hours=3), on_timeout="reject")
    assert combined_route([soon, strict], resolve=as_given).timeout == timedelta(hours=1)  # rejecting early


def test_a_request_cannot_bring_its_auto_approval_forward():
    route = combined_route([Rule(name="lax", line=1, approvers=("U1",), timeout=timedelta(hours=24),
                                 on_timeout="approve")], resolve=as_given)
    with pytest.raises(InvalidInput, match="approve sooner"):
        with_request_deadline(route, timeout=timedelta(seconds=1), on_timeout=None, max_timeout=None)
    sooner = with_request_deadline(route, timeout=timedelta(hours=1), on_timeout="reject", max_timeout=None)
    assert (sooner.timeout, sooner.on_timeout) == (timedelta(hours=1), "reject")


def test_too_few_people_for_the_quorum_is_stranded():
    routes = [ItemRoute(rule="pair", eligible=("U0ALICE", "U0BOB"), quorum=2)]
    assert is_stranded(state(["U0ALICE", "U0BOB"], requester="U0ALICE", routes=routes))
    assert not is_stranded(state(["U0ALICE", "U0BOB"], requester="nightly-bot", routes=routes))


def test_an_escalation_target_is_resolved_under_its_rules_name():
    # An unknown one is reported as the rule's, not as the agent's approvers[0].
    asked: list[str] = []
    rule = Rule(name="keys", line=1, approvers=("U1",),
                escalations=(Escalation(after=timedelta(hours=1), to=("@leads",), notify="dm"),))
    combined_route([rule], resolve=lambda names, field="": asked.append(field) or list(names))
    assert asked == ["policy rule 'keys' escalate.to"]
