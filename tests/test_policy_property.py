"""Invariant 9 by property: whatever the policy, the batch, the edits and who clicks, no item is
decided by fewer distinct eligible people than its own rule's quorum, never by its requester, never
automatically unless its own rule says so; and the audit log names the rule of every decision."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot.core.items import DecisionType, Item
from bot.errors import SignoffError
from bot.policy.parser import parse_policy
from bot.service import ApprovalService, NewRequest
from bot.slack.client import make_client
from bot.slack.directory import SlackDirectory
from bot.storage.tables import AuditEvent
from tests.conftest import BOT_TOKEN
from workers.queues import RQJobs

USERS = ["U0P1", "U0P2", "U0P3", "U0P4"]
ACTIONS = ["pay", "mail"]
BANDS = ("small", "large")  # args.n < 10, or anything else


@dataclass(frozen=True)
class Oracle:
    """The test's own reading of a generated rule: what it must mean, independent of the code."""

    name: str
    auto: str | None
    approvers: frozenset[str]
    quorum: int
    sod: bool


rule_kinds = st.one_of(
    st.sampled_from([("auto", "approve"), ("auto", "reject")]),
    st.tuples(st.just("people"), st.lists(st.sampled_from(USERS), min_size=1, max_size=4, unique=True),
              st.integers(1, 3), st.booleans()),
)


@st.composite
def policies(draw):
    rules, oracles = [], {}
    for action in ACTIONS:
        for band in BANDS:
            name = f"{action}-{band}"
            kind = draw(rule_kinds)
            rule = {"name": name, "match": {"action": action}}
            if band == "small":
                rule["match"]["when"] = "args.n < 10"
            if kind[0] == "auto":
                rule["auto"] = kind[1]
                oracles[name] = Oracle(name, kind[1], frozenset(), 1, True)
            else:
                _, approvers, quorum, sod = kind
                quorum = min(quorum, len(approvers))
                rule |= {"approvers": approvers, "quorum": quorum, "separation_of_duties": sod}
                oracles[name] = Oracle(name, None, frozenset(approvers), quorum, sod)
            rules.append(rule)
    text = yaml.safe_dump({"rules": rules, "default": {"approvers": ["U0P1"]}}, sort_keys=False)
    return parse_policy(text), oracles


items = st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 20)), min_size=1, max_size=3)
clicks = st.lists(st.tuples(st.sampled_from(USERS), st.integers(0, 2),
                            st.sampled_from(["approve", "reject", "edit"]), st.integers(0, 20)),
                  max_size=12)


def expected_rule(action: str, n: int) -> str:
    return f"{action}-{'small' if n < 10 else 'large'}"


@pytest.fixture
def make_service(db, redis, sandbox):
    for uid in USERS:
        sandbox.add_user(uid, name=uid.lower(), email=f"{uid.lower()}@example.com")
    directory = SlackDirectory(make_client(token=BOT_TOKEN, base_url=sandbox.api_url))
    return lambda policy: ApprovalService(db, jobs=RQJobs(redis), directory=directory, policy=policy)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policy=policies(), batch=items, requester=st.sampled_from([*USERS, "nightly-bot"]), plays=clicks)
def test_every_item_is_decided_under_its_own_rule(make_service, db, policy, batch, requester, plays):
    policy, oracles = policy
    service = make_service(policy)
    asked = [Item(action=a, args={"n": n}, allowed=(DecisionType.APPROVE, DecisionType.EDIT,
                                                   DecisionType.REJECT)) for a, n in batch]
    try:
        row, _ = service.create(NewRequest(action=asked[0].action, summary="s", args=dict(asked[0].args),
                                           items=asked, requester=requester, kind="generic"), agent="t")
    except SignoffError:
        return  # e.g. only the requester could approve and no escalation: refused, nothing stored
    for user, index, verdict, n in plays:
        try:
            service.decide(row.id, actor=user, verdict=DecisionType(verdict), index=index % len(asked),
                           reason="no", args={"n": n} if verdict == "edit" else None)
        except SignoffError:
            pass  # refused: not eligible, the requester, already decided, an edit across rules, ...
    final = service.get(row.id)
    for i, (action, n) in enumerate(batch):
        oracle = oracles[expected_rule(action, n)]
        decision = final.item_decisions[i]
        assert final.item_routes[i]["rule"] == oracle.name
        if oracle.auto:
            assert decision is not None and (decision["by"], decision["type"]) == ("system", oracle.auto)
            continue
        if decision is None:
            continue
        assert decision["by"] != "system"
        if decision["type"] == "edit":
            assert expected_rule(action, decision["args"]["n"]) == oracle.name  # the edit stayed put
        deciders = set(final.item_approvals[i]) if decision["type"] == "approve" and oracle.quorum > 1 \
            else {decision["by"]}
        if decision["type"] in ("approve", "edit"):
            assert len(deciders) >= oracle.quorum
        assert deciders <= oracle.approvers
        if oracle.sod:
            assert requester not in deciders
    with db.read() as s:
        events = list(s.exec(select(AuditEvent).where(AuditEvent.request_id == row.id)))
    for event in events:
        if event.kind in ("decided", "item_decided", "vote"):
            i = event.data.get("item", 0)
            assert event.data["rule"] == expected_rule(*batch[i])
        if event.kind == "auto_decided":
            for d in event.data.get("items", ()):
                assert d["rule"] == expected_rule(*batch[d["item"]])
