from dataclasses import replace

from bot.core.audit import GENESIS, Record, event_hash, verify_chain


def chain(n: int) -> list[Record]:
    records, prev = [], GENESIS
    for seq in range(1, n + 1):
        fields = dict(seq=seq, at=f"2026-11-21T10:00:0{seq}+00:00", request_id="r", kind="vote",
                      actor="U1", data={"n": seq})
        h = event_hash(**fields, prev_hash=prev)
        records.append(Record(**fields, prev_hash=prev, hash=h))
        prev = h
    return records


def test_an_intact_chain_verifies():
    records = chain(5)
    assert verify_chain(records, head_seq=5, head_hash=records[-1].hash) is None


def test_an_edited_event_is_named():
    records = chain(5)
    records[2] = replace(records[2], actor="U2")
    broken = verify_chain(records, head_seq=5, head_hash=records[-1].hash)
    assert broken is not None and broken.seq == 3 and "edited" in broken.reason


def test_a_deleted_event_is_named():
    records = chain(5)
    del records[1]
    broken = verify_chain(records, head_seq=5, head_hash=records[-1].hash)
    assert broken is not None and broken.seq == 2 and "missing" in broken.reason


def test_deleting_the_last_events_is_caught_by_the_head():
    records = chain(5)
    broken = verify_chain(records[:3], head_seq=5, head_hash=records[-1].hash)
    assert broken is not None and "deleted from the end" in broken.reason


def test_the_hash_covers_every_field():
    base = dict(seq=1, at="t", request_id="r", kind="k", actor="a", data={"x": 1}, prev_hash=GENESIS)
    h = event_hash(**base)
    for key, other in (("seq", 2), ("at", "u"), ("request_id", None), ("kind", "j"), ("actor", "b"),
                       ("data", {"x": 2}), ("prev_hash", "1" * 64)):
        assert event_hash(**{**base, key: other}) != h, key
