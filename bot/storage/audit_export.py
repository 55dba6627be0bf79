"""Exporting and verifying the audit log (the CLI and tests share these)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from typing import TextIO

from sqlmodel import select

from bot.core.audit import ChainBreak, Head, Mismatch, compare, replay, verify_chain
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.tables import ApprovalRequest

COLUMNS = ("seq", "at", "request_id", "kind", "actor", "data", "prev_hash", "hash")


def export(db: Database, out: TextIO, *, fmt: str, request_id: str | None = None) -> int:
    """Write events in chain order as `csv` or `jsonl`; returns how many."""
    writer = csv.writer(out) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(COLUMNS)
    count = 0
    with db.read() as s:
        for r in repo.audit_records(s, request_id=request_id):
            row = {"seq": r.seq, "at": r.at, "request_id": r.request_id, "kind": r.kind,
                   "actor": r.actor, "data": dict(r.data), "prev_hash": r.prev_hash, "hash": r.hash}
            if writer is not None:
                writer.writerow([json.dumps(row[c], sort_keys=True) if c == "data" else row[c]
                                 for c in COLUMNS])
            else:
                out.write(json.dumps(row, sort_keys=True) + "\n")
            count += 1
    return count


@dataclass(frozen=True)
class Verified:
    """What `audit verify` found."""

    events: int
    keyed: int  # how many of them carry a MAC
    head: Head | None  # the last event, to keep elsewhere (None for an empty chain)
    broken: ChainBreak | None
    mismatches: list[Mismatch]

    @property
    def ok(self) -> bool:
        """The chain is intact and every request row matches its events."""
        return self.broken is None and not self.mismatches


def verify(db: Database, *, anchor: Head | None = None) -> Verified:
    """Check the chain under the database's audit key (against `anchor`, a head kept elsewhere,
    when given) and every request row against the replay of its events."""
    key = db.audit_key
    with db.read() as s:
        head = repo.audit_head(s)
        records = list(repo.audit_records(s))
        rows = {r.id: r.model_dump() for r in s.exec(select(ApprovalRequest))}
    broken = verify_chain(records, head_seq=head.seq, head_hash=head.hash, keyed_from=head.keyed_from,
                          key=key.encode() if key else None, anchor=anchor)
    expected = replay(records)
    mismatches = [m for x in expected.values() for m in compare(x, rows.get(x.request_id))]
    mismatches += [Mismatch(rid, "audit events", note="is in the requests table with no audit events")
                   for rid in rows if rid not in expected]
    keyed_from = head.keyed_from or head.seq + 1
    return Verified(events=len(records), keyed=sum(r.seq >= keyed_from for r in records),
                    head=Head(records[-1].seq, records[-1].hash) if records else None,
                    broken=broken, mismatches=mismatches)
