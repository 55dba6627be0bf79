"""Exporting and verifying the audit log (the CLI and tests share these)."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from sqlmodel import select

from bot.core.audit import ChainBreak, Head, Mismatch, Record, check_link, compare, replay, verify_chain
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.tables import ApprovalRequest

# `keyed_from` is the chain's marker (the first event MACed under SIGNOFF_AUDIT_KEY): with it and
# the key, an exported file can be verified away from the database (`audit verify --file`).
COLUMNS = ("seq", "at", "request_id", "kind", "actor", "data", "prev_hash", "hash", "keyed_from")


def export(db: Database, out: TextIO, *, fmt: str, request_id: str | None = None) -> int:
    """Write events in chain order as `csv` or `jsonl`; returns how many."""
    writer = csv.writer(out) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(COLUMNS)
    count = 0
    with db.read() as s:
        keyed_from = repo.audit_head(s).keyed_from
        for r in repo.audit_records(s, request_id=request_id):
            row = {"seq": r.seq, "at": r.at, "request_id": r.request_id, "kind": r.kind,
                   "actor": r.actor, "data": dict(r.data), "prev_hash": r.prev_hash, "hash": r.hash,
                   "keyed_from": keyed_from}
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


@dataclass(frozen=True)
class FileVerified:
    """What `audit verify --file` found in an exported file."""

    events: int
    keyed: int
    head: Head | None  # the file's last event
    broken: ChainBreak | None
    request_id: str | None  # set when the file is one request's events (`export --request`)


def verify_file(lines: Iterable[str], *, key: bytes | None, anchor: Head | None = None) -> FileVerified:
    """Check an exported file (JSON Lines or CSV) under `key`.

    A whole log (events 1..n) is checked as a chain, against `anchor` when given; one request's
    events (`export --request`) each against its own MAC, since the events between them are not
    in the file. ValueError names the line that cannot be read.
    """
    records, keyed_from = _read_export(lines)
    if not records:
        raise ValueError("the file holds no events")
    last = records[-1]
    head = Head(last.seq, last.hash)
    owners = {r.request_id for r in records}
    keyed = sum(r.seq >= keyed_from for r in records)
    whole = [r.seq for r in records] == list(range(1, len(records) + 1))
    if whole:
        broken = verify_chain(records, head_seq=last.seq, head_hash=last.hash, keyed_from=keyed_from,
                              key=key, anchor=anchor)
    elif sorted(r.seq for r in records) == list(range(1, len(records) + 1)):
        broken = _out_of_order(records)  # every event is here, in another order
    elif len(owners) != 1 or None in owners:
        broken = ChainBreak(_first_gap(records), "events are missing: the file is neither the whole log "
                                                 "nor one request's events")
    elif anchor is not None:
        raise ValueError("--head checks a whole export; this file holds one request's events only")
    elif (plain := next((r for r in records if r.seq < keyed_from), None)) is not None:
        # Without the events between them, a plain hash proves nothing: anyone can recompute it.
        broken = ChainBreak(plain.seq, f"event {plain.seq} was written before the chain was keyed (event "
                                       f"{keyed_from}): only a whole export can vouch for it")
    else:
        broken = _each_event(records, keyed_from, key)
    if broken is None and keyed == 0:
        # The marker comes from the file: moved past the end, every event would be a plain hash
        # anyone can recompute. Only a MAC proves anything.
        broken = ChainBreak(records[0].seq, "no event in the file carries a MAC under SIGNOFF_AUDIT_KEY, "
                                            "and plain hashes can be recomputed by anyone: nothing in it "
                                            "is authenticated")
    return FileVerified(len(records), keyed, head, broken, None if whole else owners.pop())


def _out_of_order(records: list[Record]) -> ChainBreak:
    """Where a whole log whose lines were reordered first goes out of order."""
    at = next(n for n in range(1, len(records)) if records[n].seq < records[n - 1].seq)
    seq, before = records[at].seq, records[at - 1].seq
    return ChainBreak(seq, f"every event is in the file, but out of order: event {seq} comes after "
                           f"event {before}")


def _first_gap(records: list[Record]) -> int:
    expected = 1
    for r in records:
        if r.seq != expected:
            return expected
        expected += 1
    return expected


def _each_event(records: list[Record], keyed_from: int, key: bytes | None) -> ChainBreak | None:
    """Each event of a part of the chain against its own hash or MAC, in increasing order."""
    previous = 0
    for r in records:
        if r.seq <= previous:
            return ChainBreak(r.seq, f"event {r.seq} comes after event {previous}: out of order")
        if (wrong := check_link(r, keyed_from=keyed_from, key=key)) is not None:
            return wrong
        previous = r.seq
    return None


def _read_export(lines: Iterable[str]) -> tuple[list[Record], int]:
    """The events of an export and its keyed marker; ValueError naming the line that is wrong."""
    rows = iter(lines)
    first = next(rows, "")
    from_csv = next(csv.reader([first]), []) == list(COLUMNS)
    if from_csv:
        parsed: Iterable[tuple[int, Any]] = enumerate(csv.DictReader(rows, fieldnames=COLUMNS), start=2)
    elif first.lstrip().startswith("{"):
        parsed = ((n, line) for n, line in enumerate(itertools.chain([first], rows), start=1) if line.strip())
    elif not first.strip():
        return [], 1
    else:
        raise ValueError(f"line 1: neither JSON Lines nor CSV with the header {','.join(COLUMNS)} "
                         f"(what `signoff audit export` writes){_OLDER}")
    records, markers = [], set()
    for n, raw in parsed:
        try:
            # Read strictly: what a verifier checks must be all the file says. A second "actor"
            # in a line, an extra column or 1.9 for a seq would show one thing and verify another.
            row = raw if from_csv else _strict_json(raw)
            if set(row) != set(COLUMNS):
                raise ValueError(f"fields {sorted(map(str, row))}, not {sorted(COLUMNS)}")
            data = _strict_json(row["data"]) if from_csv else row["data"]
            records.append(Record(
                seq=_whole(row["seq"]), at=_text(row["at"]), request_id=row["request_id"] or None,
                kind=_text(row["kind"]), actor=_text(row["actor"]), data=_mapping(data),
                prev_hash=_text(row["prev_hash"]), hash=_text(row["hash"])))
            markers.add(_whole(row["keyed_from"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"line {n}: not an exported audit event ({e.__class__.__name__}: {e})"
                             f"{_OLDER}") from None
    if len(markers) > 1:
        raise ValueError(f"the lines disagree on keyed_from ({sorted(markers)}): the file was edited")
    return records, markers.pop() if markers else 1


_OLDER = "; an export from an older Signoff has no keyed_from column: export it again"


def _strict_json(text: str) -> Any:
    """JSON in which no object names a key twice."""
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise ValueError(f"a key appears twice: {sorted(k for k in set(keys) if keys.count(k) > 1)}")
        return dict(items)

    return json.loads(text, object_pairs_hook=pairs)


def _whole(value: Any) -> int:
    """A whole number as export writes it: an int in JSON, digits in CSV."""
    digits = isinstance(value, str) and value.isascii() and value.isdigit()
    if isinstance(value, bool) or not (isinstance(value, int) or digits):
        raise TypeError(f"{value!r} is not a whole number")
    return int(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not text")
    return value


def _mapping(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"data {value!r} is not an object")
    return value
