"""Exporting and verifying the audit log (the CLI and tests share these)."""

from __future__ import annotations

import csv
import json
from typing import TextIO

from bot.core.audit import ChainBreak, verify_chain
from bot.storage import repo
from bot.storage.db import Database

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


def verify(db: Database) -> tuple[int, ChainBreak | None]:
    """(events checked, the first break or None)."""
    with db.read() as s:
        head = repo.audit_head(s)
        records = list(repo.audit_records(s))
    return len(records), verify_chain(records, head_seq=head.seq, head_hash=head.hash)
