"""Invariant 1 and 2 on SQLite and PostgreSQL: one decision, its audit event in the same commit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.core.items import DecisionType, Item
from bot.core.lifecycle import Verdict
from bot.errors import AlreadyDecided, NotAuthorized
from bot.policy.parser import parse_policy
from bot.service import ApprovalService, NewRequest
from bot.service.ports import utcnow
from bot.slack.client import make_client
from bot.slack.directory import SlackDirectory
from bot.storage import recovery
from bot.storage.audit_export import verify
from bot.storage.tables import ApprovalRequest, AuditEvent, Run
from tests.conftest import BOT_TOKEN
from workers.queues import RQJobs

APPROVERS = [f"U0AP{n:02d}" for n in range(50)]


@pytest.fixture
def service(db, redis, sandbox):
    for uid in APPROVERS:
        sandbox.add_user(uid, name=uid.lower(), email=f"{uid.lower()}@example.com")
    client = make_client(token=BOT_TOKEN, base_url=sandbox.api_url)
    return ApprovalService(db, jobs=RQJobs(redis), directory=SlackDirectory(client))


def events(db, kind):
    with db.read() as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.kind == kind)))


def test_fifty_concurrent_deciders_make_exactly_one_decision(service, db):
    row, _ = service.create(NewRequest(action="a", summary="s", approvers=APPROVERS), agent="t")

    def click(n: int):
        verdict = Verdict.APPROVE if n % 2 else Verdict.REJECT
        try:
            service.decide(row.id, actor=APPROVERS[n], verdict=verdict, reason=f"no {n}")
            return ("won", APPROVERS[n])
        except AlreadyDecided as e:
            return ("lost", e.decided_by)

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(click, range(50)))

    winners = [who for outcome, who in results if outcome == "won"]
    assert len(winners) == 1
    assert all(who == winners[0] for _, who in results)  # every loser was told who won
    final = service.get(row.id)
    assert final.decided_by == winners[0] and final.version == 1
    decided = events(db, "decided")
    assert len(decided) == 1 and decided[0].actor == winners[0]
    assert verify(db).ok


def test_concurrent_writers_never_fork_the_audit_chain(service, db):
    def create(n: int) -> str:
        row, _ = service.create(NewRequest(action="a", summary=f"s{n}", approvers=["U0ALICE"]),
                                agent="t")
        return row.id

    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(create, range(40)))
    assert len(set(ids)) == 40
    checked = verify(db)
    assert checked.ok and checked.events == 40


def test_a_refused_decision_changes_nothing_but_is_audited(service, db):
    row, _ = service.create(NewRequest(action="a", summary="s", approvers=["U0ALICE"]), agent="t")
    with pytest.raises(NotAuthorized):
        service.decide(row.id, actor="U0DAVE", verdict=Verdict.APPROVE)
    assert service.get(row.id).status == "pending"
    refused = events(db, "refused_click")
    assert [(e.actor, e.request_id) for e in refused] == [("U0DAVE", row.id)]


def test_the_same_idempotency_key_returns_the_same_request(service, db):
    new = NewRequest(action="a", summary="s", approvers=["U0ALICE"], idempotency_key="k1")
    with ThreadPoolExecutor(max_workers=8) as pool:
        rows = list(pool.map(lambda _: service.create(new, agent="t"), range(8)))
    assert len({r.id for r, _ in rows}) == 1
    assert sum(created for _, created in rows) == 1
    with db.read() as s:
        assert len(list(s.exec(select(ApprovalRequest)))) == 1


def test_fifty_concurrent_deciders_on_a_batch_make_one_decision_per_item(service, db):
    items = [Item(action=f"step{n}", args={"n": n}) for n in range(3)]
    row, _ = service.create(NewRequest(action="step0", summary="s", approvers=APPROVERS, items=items,
                                       kind="generic"), agent="t")

    def click(n: int):
        verdict = Verdict.APPROVE if n % 2 else Verdict.REJECT
        try:
            service.decide(row.id, actor=APPROVERS[n], verdict=verdict, reason=f"no {n}", index=n % 3)
            return ("won", n % 3, APPROVERS[n])
        except AlreadyDecided as e:
            return ("lost", n % 3, e.decided_by)

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(click, range(50)))

    final = service.get(row.id)
    assert final.status != "pending"
    for i in range(3):
        winners = [who for outcome, item, who in results if outcome == "won" and item == i]
        assert len(winners) == 1, (i, winners)
        assert final.item_decisions[i]["by"] == winners[0]
        assert all(who == winners[0] for _, item, who in results if item == i)  # losers told who won
    decisions = events(db, "item_decided") + events(db, "decided")
    assert sorted(e.data.get("item") for e in decisions) == [0, 1, 2]
    assert verify(db).ok


def test_the_row_a_decision_returns_is_the_row_it_committed(service, db):
    """decide() brings the row it read up to what its UPDATE wrote instead of reading it back:
    every column must equal a fresh read, after one item of a batch is decided and after an edit
    ends a request (its edited arguments, decision, cleared deadline and version included)."""
    def ask(items: list[Item]) -> str:
        row, _ = service.create(NewRequest(action=items[0].action, summary="s", approvers=APPROVERS[:2],
                                           items=items, kind="generic", timeout=timedelta(hours=1)),
                                agent="t")
        return row.id

    batch = ask([Item(action=f"step{n}", args={"n": n}) for n in range(2)])
    single = ask([Item(action="pay", args={"n": 1}, allowed=tuple(DecisionType))])
    for request_id, decision in ((batch, dict(verdict=Verdict.REJECT, reason="no", index=0)),
                                 (single, dict(verdict=Verdict.EDIT, args={"n": 9}))):
        got = service.decide(request_id, actor=APPROVERS[0], **decision)
        with db.read() as s:
            stored = s.get(ApprovalRequest, request_id)
        assert stored is not None and got.version == 1
        assert got.model_dump() == stored.model_dump()
    assert got.status != "pending" and got.edited_args == {"n": 9} and got.next_deadline_at is None


POLICY = """\
rules:
  - name: small
    match: {action: pay, when: "args.amount < 50"}
    auto: approve
default:
  allow_request_approvers: true
"""


@pytest.mark.parametrize("ending", ["click", "timeout", "policy"])
def test_a_run_request_that_ends_is_owed_a_resume(service, db, ending):
    """Every way a run's request ends records the resume it owes in the same UPDATE, which is what
    the sweeper re-finds when Redis loses the resume job (invariants 3 and 5)."""
    now = utcnow()
    with db.write() as s:
        s.add(Run(id="run_owed", graph="g", thread_id="t_owed", status="running", approvers=[],
                  created_by="t", created_at=now, updated_at=now))
    asking = ApprovalService(db, jobs=service.jobs, directory=service.directory,
                             policy=parse_policy(POLICY))
    amount = 10 if ending == "policy" else 100
    row, _ = asking.create(NewRequest(action="pay", summary="s", args={"amount": amount},
                                      approvers=APPROVERS[:1], run_id="run_owed", interrupt_id="i",
                                      timeout=timedelta(minutes=5)), agent="t")
    if ending == "click":
        asking.decide(row.id, actor=APPROVERS[0], verdict=Verdict.APPROVE)
    elif ending == "timeout":
        later = ApprovalService(db, jobs=service.jobs, directory=service.directory,
                                clock=lambda: utcnow() + timedelta(hours=1))
        later.deadlines.fire(row.id)
    ended = asking.get(row.id)
    assert ended.status != "pending" and ended.resume_state == "queued"
    with db.read() as s:
        assert recovery.resumes_queued(s) == [row.id]
