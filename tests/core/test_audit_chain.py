from dataclasses import replace

import pytest

from bot.core.audit import (
    GENESIS,
    Head,
    Record,
    compare,
    event_hash,
    event_mac,
    link,
    replay,
    verify_chain,
)

KEY = b"k" * 32


def chain(n: int, *, keyed_from: int = 1, key: bytes = KEY) -> list[Record]:
    """n events: plain SHA-256 before `keyed_from`, MACed under `key` from it on."""
    records, prev = [], GENESIS
    for seq in range(1, n + 1):
        r = Record(seq=seq, at=f"2026-11-21T10:00:0{seq}+00:00", request_id="r", kind="vote",
                   actor="U1", data={"n": seq}, prev_hash=prev, hash="")
        r = replace(r, hash=link(r, keyed_from=keyed_from, key=key))
        records.append(r)
        prev = r.hash
    return records


def check(records, *, keyed_from=1, key=KEY, head=None, anchor=None):
    last = head or records[-1]
    return verify_chain(records, head_seq=last.seq, head_hash=last.hash, keyed_from=keyed_from, key=key,
                        anchor=anchor)


def test_an_intact_keyed_chain_verifies():
    assert check(chain(5)) is None


def test_an_old_unkeyed_chain_with_keyed_events_after_the_marker_verifies():
    records = chain(6, keyed_from=4)
    assert records[2].hash == event_hash(**{k: getattr(records[2], k) for k in (
        "seq", "at", "request_id", "kind", "actor", "data", "prev_hash")})  # today's plain chain
    assert check(records, keyed_from=4) is None


def test_an_edited_event_is_named():
    records = chain(5)
    records[2] = replace(records[2], data={"n": 99})
    broken = check(records)
    assert broken is not None and broken.seq == 3 and "edited" in broken.reason


def test_a_deleted_middle_event_is_named():
    records = chain(5)
    del records[1]
    broken = check(records)
    assert broken is not None and broken.seq == 2 and "missing" in broken.reason


def test_deleting_the_last_events_is_caught_by_the_head_row():
    records = chain(5)
    broken = check(records[:3], head=records[-1])
    assert broken is not None and "deleted from the end" in broken.reason


def test_a_truncated_tail_with_the_head_row_moved_back_is_caught_by_the_kept_head():
    records = chain(5)
    kept = Head(5, records[4].hash)
    assert check(records[:3]) is None  # the database alone cannot tell
    broken = check(records[:3], anchor=kept)
    assert broken is not None and "head kept elsewhere is event 5" in broken.reason


def test_a_rewritten_tail_is_caught_by_the_kept_head():
    records = chain(5)
    kept = Head(4, records[3].hash)
    forged = chain(5, key=b"another key of at least 32 bytes!")  # as if rewritten with a stolen key
    broken = check(forged, key=b"another key of at least 32 bytes!", anchor=kept)
    assert broken is not None and broken.seq == 4 and "rewritten" in broken.reason


def test_a_tail_recomputed_with_plain_sha256_fails_once_keyed():
    records = chain(5, keyed_from=3)
    plain = chain(5, keyed_from=99)  # every event a plain SHA-256 link, as an attacker can compute
    broken = check(plain, keyed_from=3)
    assert broken is not None and broken.seq == 3 and "MAC" in broken.reason
    assert check(records, keyed_from=3) is None


@pytest.mark.parametrize("moved_to", [1, 2, 4, 5, None])
def test_moving_the_marker_breaks_the_chain(moved_to):
    # Attackers moving the marker later also recompute the events it passes as plain links.
    records = chain(5, keyed_from=3)
    if moved_to is not None and moved_to > 3:
        records = chain(moved_to - 1, keyed_from=99) + records[moved_to - 1:]
        records = [replace(r, prev_hash=records[i - 1].hash if i else GENESIS) for i, r in enumerate(records)]
    broken = check(records, keyed_from=moved_to)
    assert broken is not None


def test_a_marker_moved_past_every_keyed_event_is_caught_by_the_kept_head():
    # Every keyed event rewritten as a plain link and the marker put after them: the database
    # alone looks like one never keyed since; the head kept elsewhere carries the real MAC.
    records = chain(5, keyed_from=3)
    kept = Head(4, records[3].hash)
    plain = chain(5, keyed_from=99)
    assert check(plain, keyed_from=6) is None
    assert "past the head" in check(plain, keyed_from=7).reason
    broken = check(plain, keyed_from=6, anchor=kept)
    assert broken is not None and broken.seq == 4


def test_the_wrong_key_fails():
    broken = check(chain(5), key=b"w" * 32)
    assert broken is not None and broken.seq == 1 and "SIGNOFF_AUDIT_KEY" in broken.reason


def test_no_key_fails_on_the_first_keyed_event():
    broken = check(chain(5, keyed_from=3), keyed_from=3, key=None)
    assert broken is not None and broken.seq == 3 and "not set" in broken.reason


def test_the_mac_covers_every_field_and_the_marker():
    base = dict(key=KEY, keyed_from=1, seq=1, at="t", request_id="r", kind="k", actor="a", data={"x": 1},
                prev_hash=GENESIS)
    h = event_mac(**base)
    for name, other in (("keyed_from", 2), ("seq", 2), ("at", "u"), ("request_id", None), ("kind", "j"),
                        ("actor", "b"), ("data", {"x": 2}), ("prev_hash", "1" * 64), ("key", b"x" * 32)):
        assert event_mac(**{**base, name: other}) != h, name
    assert h != event_hash(**{k: v for k, v in base.items() if k not in ("key", "keyed_from")})


def test_a_head_parses_and_prints_back():
    head = Head(12, "a" * 64)
    assert Head.parse(str(head)) == head
    for bad in ("12", "x:" + "a" * 64, "0:" + "a" * 64, "3:abc", "3:" + "G" * 64):
        with pytest.raises(ValueError, match="SEQ:MAC"):
            Head.parse(bad)


def ev(seq, kind, actor="system", rid="r1", **data):
    return Record(seq=seq, at="t", request_id=rid, kind=kind, actor=actor, data=data, prev_hash="",
                  hash="")


def row(**over):
    base = {"action": "refund", "status": "pending", "decided_by": None, "approvals": [],
            "edited_args": None, "item_decisions": [None]}
    return base | over


def test_replay_of_a_quorum_matches_the_row_and_a_flipped_status_is_named():
    events = [ev(1, "requested", "agent:a", action="refund"), ev(2, "posted"),
              ev(3, "vote", "U1", verdict="approve", approvals=1, quorum=2),
              ev(4, "refused_click", "U9", why="no"),
              ev(5, "decided", "U2", verdict="approve", status="approved", approvals=2, quorum=2)]
    x = replay(events)["r1"]
    good = row(status="approved", decided_by="U2", approvals=["U1", "U2"],
               item_decisions=[{"type": "approve", "by": "U2"}])
    assert compare(x, good) == []
    x = replay(events[:3])["r1"]
    assert compare(x, row(approvals=["U1"])) == []
    flipped = compare(x, row(status="approved", approvals=["U1"]))
    assert [m.field for m in flipped] == ["status"]
    assert "request r1: status is 'approved'" in str(flipped[0]) and "'pending'" in str(flipped[0])


def test_replay_carries_edited_args_and_item_decisions():
    events = [ev(1, "requested", "agent:a", action="refund"),
              ev(2, "decided", "U1", verdict="edit", status="approved", edited_args={"amount": 3})]
    x = replay(events)["r1"]
    good = row(status="approved", decided_by="U1", edited_args={"amount": 3},
               item_decisions=[{"type": "edit", "by": "U1"}])
    assert compare(x, good) == []
    assert [m.field for m in compare(x, good | {"edited_args": {"amount": 300}})] == ["edited_args"]
    assert [m.field for m in compare(x, good | {"item_decisions": [{"type": "edit", "by": "U9"}]})] \
        == ["item 0 decision"]


def test_replay_of_a_batch_auto_decided_then_timed_out():
    events = [ev(1, "requested", "agent:a", action="a", items=[{}, {}, {}]),
              ev(2, "auto_decided", status="pending", rule=["auto"],
                 items=[{"item": 0, "decision": "approve", "rule": "auto"}]),
              ev(3, "item_decided", "U1", verdict="reject", status="pending", item=1),
              ev(4, "expired", status="rejected", decision="reject", reason="timeout")]
    x = replay(events)["r1"]
    decisions = [{"type": "approve", "by": "system"}, {"type": "reject", "by": "U1"},
                 {"type": "reject", "by": "system"}]
    assert compare(x, row(action="a", status="rejected", decided_by="system",
                          item_decisions=decisions)) == []


def test_replay_of_a_cancel_and_a_row_without_events():
    x = replay([ev(1, "requested", "agent:a", action="refund"),
                ev(2, "cancelled", "agent:a", reason="no longer needed")])["r1"]
    assert compare(x, row(status="cancelled", decided_by="agent:a")) == []
    assert [m.field for m in compare(x, None)] == ["row"]
