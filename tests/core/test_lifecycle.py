from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.core.items import DecisionType, Item
from bot.core.lifecycle import RequestState, Status, Verdict, check_can_decide, decide
from bot.errors import AlreadyDecided, InvalidInput, NotAuthorized

NOW = datetime(2026, 11, 21, 14, 2, tzinfo=UTC)
PENDING = RequestState(id="req_1", status=Status.PENDING, version=3, eligible=("U1", "U2"))


def test_approve_moves_pending_to_approved_conditionally_on_version():
    t = decide(PENDING, actor="U1", verdict=Verdict.APPROVE, reason=None, now=NOW)
    assert (t.status, t.from_version, t.decided_by, t.decided_at) == (Status.APPROVED, 3, "U1", NOW)
    assert t.event.kind == "decided" and t.event.actor == "U1"


def test_reject_needs_a_reason_and_records_it():
    with pytest.raises(InvalidInput):
        decide(PENDING, actor="U1", verdict=Verdict.REJECT, reason="  ", now=NOW)
    t = decide(PENDING, actor="U2", verdict=Verdict.REJECT, reason="too much", now=NOW)
    assert t.status is Status.REJECTED and t.event.data["reason"] == "too much"


def test_someone_not_eligible_is_refused_even_when_already_decided():
    decided = RequestState(id="r", status=Status.APPROVED, version=4, eligible=("U1",),
                           decided_by="U1", decided_at=NOW)
    for state in (PENDING, decided):
        with pytest.raises(NotAuthorized) as e:
            check_can_decide(state, actor="U9")
        assert "U1" in e.value.approvers


def test_a_decided_request_tells_who_won_and_when():
    decided = RequestState(id="r", status=Status.REJECTED, version=4, eligible=("U1", "U2"),
                           decided_by="U2", decided_at=NOW)
    with pytest.raises(AlreadyDecided) as e:
        decide(decided, actor="U1", verdict=Verdict.APPROVE, reason=None, now=NOW)
    assert (e.value.status, e.value.decided_by, e.value.decided_at) == ("rejected", "U2", NOW)


BATCH = RequestState(
    id="req_2", status=Status.PENDING, version=0, eligible=("U1", "U2"),
    items=(Item(action="send_email", allowed=(DecisionType.APPROVE, DecisionType.EDIT)),
           Item(action="delete_file", allowed=(DecisionType.APPROVE, DecisionType.REJECT))),
    item_decisions=(None, None),
)


def test_a_batch_stays_pending_until_every_item_is_answered():
    first = decide(BATCH, actor="U1", verdict=Verdict.EDIT, args={"to": "x"}, now=NOW, index=0)
    assert first.status is Status.PENDING and first.event.kind == "item_decided"
    after = replace(BATCH, version=1, item_decisions=first.item_decisions)
    with pytest.raises(AlreadyDecided):
        decide(after, actor="U2", verdict=Verdict.APPROVE, now=NOW, index=0)
    last = decide(after, actor="U2", verdict=Verdict.REJECT, reason="keep it", now=NOW, index=1)
    assert last.status is Status.ANSWERED and last.final and last.event.kind == "decided"


def test_only_allowed_decisions_on_a_named_item():
    with pytest.raises(InvalidInput, match="say which"):
        decide(BATCH, actor="U1", verdict=Verdict.APPROVE, now=NOW)
    with pytest.raises(InvalidInput, match="not allowed"):
        decide(BATCH, actor="U1", verdict=Verdict.REJECT, reason="no", now=NOW, index=0)
    with pytest.raises(InvalidInput, match="no item 5"):
        decide(BATCH, actor="U1", verdict=Verdict.APPROVE, now=NOW, index=5)
    with pytest.raises(InvalidInput, match="changed arguments"):
        decide(BATCH, actor="U1", verdict=Verdict.EDIT, now=NOW, index=0)
