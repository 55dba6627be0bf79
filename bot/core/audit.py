"""Hash chaining of audit events: pure, so `audit verify` and the writer share one definition."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


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


def event_hash(
    *, seq: int, at: str, request_id: str | None, kind: str, actor: str,
    data: Mapping[str, Any], prev_hash: str,
) -> str:
    """SHA-256 over a canonical JSON of every field and the previous hash."""
    canonical = json.dumps(
        [seq, at, request_id, kind, actor, data, prev_hash],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def verify_chain(records: Iterable[Record], *, head_seq: int, head_hash: str) -> ChainBreak | None:
    """The first place the chain is broken (edit, deletion, reorder, truncation), or None."""
    expected_seq, prev = 1, GENESIS
    for r in records:
        if r.seq != expected_seq:
            return ChainBreak(expected_seq, f"event {expected_seq} is missing (next stored is {r.seq})")
        if r.prev_hash != prev:
            return ChainBreak(r.seq, "prev_hash does not match the previous event's hash")
        recomputed = event_hash(seq=r.seq, at=r.at, request_id=r.request_id, kind=r.kind,
                                actor=r.actor, data=r.data, prev_hash=r.prev_hash)
        if recomputed != r.hash:
            return ChainBreak(r.seq, "contents do not match the stored hash (edited)")
        expected_seq, prev = r.seq + 1, r.hash
    if expected_seq - 1 != head_seq or prev != head_hash:
        return ChainBreak(expected_seq, f"the chain ends at event {expected_seq - 1} but the head "
                                        f"records event {head_seq} (events deleted from the end)")
    return None
