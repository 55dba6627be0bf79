"""The audit chain and its replay: pure, so `audit verify` and the writer share one definition.

Events before the chain's keyed marker (`keyed_from`) are a plain SHA-256 chain, as written before
the chain was keyed; every event from the marker on carries an HMAC-SHA256 under SIGNOFF_AUDIT_KEY
that also covers the marker, so moving the marker breaks the first keyed event it passes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

GENESIS = "0" * 64
MIN_KEY = 32


@dataclass(frozen=True, kw_only=True)
class Record:
    """One stored audit event, as the chain sees it."""

    seq: int
    at: str  # ISO-8601 UTC text, hashed exactly as stored
    request_id: str | None
    kind: str
    actor: str
    data: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainBreak:
    """Where and why the chain stops verifying."""

    seq: int
    reason: str


@dataclass(frozen=True)
class Head:
    """A chain position to keep elsewhere: `SEQ:MAC` (what `signoff audit head` prints)."""

    seq: int
    mac: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.mac}"

    @classmethod
    def parse(cls, text: str) -> Head:
        """Read `SEQ:MAC`; ValueError saying what is wrong."""
        seq, sep, mac = text.strip().partition(":")
        if not sep or not seq.isdigit() or int(seq) < 1 or len(mac) != 64 or \
                any(c not in "0123456789abcdef" for c in mac):
            raise ValueError(f"{text!r} is not SEQ:MAC (a sequence number and 64 hex digits)")
        return cls(int(seq), mac)


def _canonical(fields: Sequence[Any]) -> bytes:
    return json.dumps(list(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def event_hash(
    *, seq: int, at: str, request_id: str | None, kind: str, actor: str,
    data: Mapping[str, Any], prev_hash: str,
) -> str:
    """SHA-256 over a canonical JSON of every field and the previous hash (the unkeyed chain)."""
    return hashlib.sha256(_canonical([seq, at, request_id, kind, actor, data, prev_hash])).hexdigest()


def event_mac(
    *, key: bytes, keyed_from: int, seq: int, at: str, request_id: str | None, kind: str, actor: str,
    data: Mapping[str, Any], prev_hash: str,
) -> str:
    """HMAC-SHA256 under `key` over every field, the previous MAC and where keying began."""
    fields = ["signoff-audit-v2", keyed_from, seq, at, request_id, kind, actor, data, prev_hash]
    return hmac.new(key, _canonical(fields), hashlib.sha256).hexdigest()


def link(record: Record, *, keyed_from: int, key: bytes | None) -> str | None:
    """What `record.hash` must be: plain before the marker, keyed after; None without the key."""
    fields = dict(seq=record.seq, at=record.at, request_id=record.request_id, kind=record.kind,
                  actor=record.actor, data=record.data, prev_hash=record.prev_hash)
    if record.seq < keyed_from:
        return event_hash(**fields)  # type: ignore[arg-type]
    if key is None:
        return None
    return event_mac(key=key, keyed_from=keyed_from, **fields)  # type: ignore[arg-type]


def check_link(record: Record, *, keyed_from: int, key: bytes | None) -> ChainBreak | None:
    """Why `record.hash` is not what its contents (and `prev_hash`) make it, or None."""
    wanted = link(record, keyed_from=keyed_from, key=key)
    if wanted is None:
        return ChainBreak(record.seq, "the event is keyed and SIGNOFF_AUDIT_KEY is not set")
    if hmac.compare_digest(wanted, record.hash):
        return None
    why = "contents do not match the stored hash (edited)" if record.seq < keyed_from else \
        "contents do not match the stored MAC (edited, or a different SIGNOFF_AUDIT_KEY)"
    return ChainBreak(record.seq, why)


def verify_chain(
    records: Iterable[Record], *, head_seq: int, head_hash: str, keyed_from: int | None = 1,
    key: bytes | None = None, anchor: Head | None = None,
) -> ChainBreak | None:
    """The first place the chain is broken (edit, deletion, reorder, truncation, a moved marker,
    a tail that does not reach `anchor`), or None."""
    if keyed_from is None or keyed_from < 1 or keyed_from > head_seq + 1:
        # The marker is set by the migration and never moves; only tampering leaves it elsewhere.
        return ChainBreak(head_seq + 1, f"the keyed marker ({keyed_from}) is missing or past the head")
    expected_seq, prev = 1, GENESIS
    for r in records:
        if r.seq != expected_seq:
            return ChainBreak(expected_seq, f"event {expected_seq} is missing (next stored is {r.seq})")
        if r.prev_hash != prev:
            return ChainBreak(r.seq, "prev_hash does not match the previous event's hash")
        if (wrong := check_link(r, keyed_from=keyed_from, key=key)) is not None:
            return wrong
        if anchor is not None and r.seq == anchor.seq and not hmac.compare_digest(r.hash, anchor.mac):
            return ChainBreak(r.seq, f"the event differs from the head kept elsewhere ({anchor}): "
                                     "the chain was rewritten from here or before")
        expected_seq, prev = r.seq + 1, r.hash
    last = expected_seq - 1
    if anchor is not None and last < anchor.seq:
        return ChainBreak(last + 1, f"the chain ends at event {last} but the head kept elsewhere "
                                    f"is event {anchor.seq} (events deleted from the end)")
    if last != head_seq or prev != head_hash:
        return ChainBreak(expected_seq, f"the chain ends at event {last} but the head "
                                        f"records event {head_seq} (events deleted from the end)")
    return None


# --- Replay: what the `requests` rows must say, from their events alone -------------------------

@dataclass(kw_only=True)
class Expected:
    """A request's fields as its audit events say they are (None: the events do not say)."""

    request_id: str
    action: str | None = None
    status: str | None = None
    decided_by: str | None = None
    approvals: list[str] = field(default_factory=list)
    edited_args: dict[str, Any] | None = None
    edited_known: bool = True  # False: an edit whose event (older Signoff) does not carry the args
    items: dict[int, tuple[str, str]] = field(default_factory=dict)  # index -> (decision, by)
    multi: bool = False


def replay(events: Iterable[Record]) -> dict[str, Expected]:
    """Each request's expected fields after applying its events in chain order."""
    found: dict[str, Expected] = {}
    for e in events:
        if e.request_id is None:
            continue
        x = found.setdefault(e.request_id, Expected(request_id=e.request_id))
        _apply(x, e)
    return found


def _apply(x: Expected, e: Record) -> None:
    d = e.data
    if e.kind == "requested":
        x.action, x.status, x.multi = d.get("action"), "pending", "items" in d
    elif e.kind == "vote":
        x.multi = x.multi or "item" in d
        _approved(x, e.actor)
    elif e.kind in ("decided", "item_decided"):
        x.multi = x.multi or "item" in d
        x.items[int(d.get("item", 0))] = (str(d.get("verdict")), e.actor)
        if "approvals" in d:  # the vote that completed a quorum
            _approved(x, e.actor)
        x.status = d.get("status", x.status)
        if e.kind == "decided":
            x.decided_by = e.actor
            x.edited_args = None if x.multi else (d.get("edited_args") or None)
            x.edited_known = x.multi or d.get("verdict") != "edit" or "edited_args" in d
    elif e.kind == "auto_decided":
        for item in d.get("items") or ():
            x.items[int(item["item"])] = (str(item["decision"]), "system")
        if "items" not in d and "decision" in d:  # a one-item request decided by policy
            x.items[0] = (str(d["decision"]), "system")
            d = {"status": {"approve": "approved", "reject": "rejected"}.get(d["decision"]), **d}
        x.multi = x.multi or len(d.get("items") or ()) > 1 or isinstance(d.get("rule"), list)
        x.status = d.get("status", x.status)
        if x.status != "pending":
            x.decided_by = "system"
    elif e.kind in ("expired", "cancelled"):
        # A timeout by policy carries the outcome for every open item; a plain end carries none.
        x.status, x.decided_by = d.get("status", e.kind), e.actor
        if "decision" in d:
            x.items[-1] = (str(d["decision"]), "system")  # -1: every item still open


def _approved(x: Expected, actor: str) -> None:
    if actor not in x.approvals:
        x.approvals.append(actor)


@dataclass(frozen=True)
class Mismatch:
    """A `requests` row disagreeing with its events."""

    request_id: str
    field: str
    stored: Any = None
    expected: Any = None
    note: str | None = None  # said instead of stored/expected when the row or its events are absent

    def __str__(self) -> str:
        if self.note is not None:
            return f"request {self.request_id}: {self.note}"
        return (f"request {self.request_id}: {self.field} is {self.stored!r} in the requests table "
                f"but the audit events say {self.expected!r}")


def compare(x: Expected, row: Mapping[str, Any] | None) -> list[Mismatch]:
    """Where a stored request row (`requests` columns) differs from what its events say."""
    if row is None:
        return [Mismatch(x.request_id, "row", note="has audit events but no row in the requests table")]
    out: list[Mismatch] = []

    def check(name: str, stored: Any, expected: Any) -> None:
        if stored != expected:
            out.append(Mismatch(x.request_id, name, stored, expected))

    if x.status is None:
        return [Mismatch(x.request_id, "requested event", note="its `requested` audit event is missing")]
    if x.action is not None:
        check("action", row["action"], x.action)
    check("status", row["status"], x.status)
    final = x.status != "pending"
    check("decided_by", row["decided_by"], x.decided_by if final else None)
    check("approvals", sorted(row["approvals"] or []), sorted(x.approvals))
    if final and x.edited_known:
        check("edited_args", row["edited_args"] or None, x.edited_args)
    decisions = list(row["item_decisions"] or [])
    fill = x.items.get(-1)
    for i, stored in enumerate(decisions):
        want = x.items.get(i, fill)
        got = (stored["type"], stored["by"]) if stored else None
        check(f"item {i} decision", got, want)
    return out
