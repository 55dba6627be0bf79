"""`signoff audit verify` catches an edited, deleted, cut-off or rewritten event and a `requests` row
that disagrees with its events, and names it; `audit head` gives the head to keep elsewhere; export
writes every event."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlmodel import Session, select

from bot.cli import main
from bot.core.audit import event_hash
from bot.core.lifecycle import Event, Verdict
from bot.errors import NotAuthorized, SignoffError
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.tables import ApprovalRequest
from tests.conftest import AUDIT_KEY, on_every_database

stack_url = on_every_database()  # SQLite and PostgreSQL


@pytest.fixture
def logged(stack):
    """A store with a few real events: requested, posted, refused_click, decided."""
    for _ in range(2):
        stack.create()
    req = stack.create()
    stack.run_jobs()
    with pytest.raises(NotAuthorized):
        stack.w.service.decide(req["id"], actor="U0DAVE", verdict=Verdict.APPROVE)
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    return stack


def run(stack, *args: str, key: str = AUDIT_KEY):
    env = {"DATABASE_URL": stack.w.settings.database_url, "SLACK_BOT_TOKEN": "", "SIGNOFF_AUDIT_KEY": key}
    return CliRunner().invoke(main, list(args), env=env)


def head_of(stack) -> str:
    r = run(stack, "audit", "head")
    assert r.exit_code == 0, r.output
    return r.stdout.strip()


def last_seq(conn) -> int:
    return conn.execute(text("SELECT MAX(seq) FROM audit_events")).scalar_one()


def test_an_untouched_log_verifies(logged):
    r = run(logged, "audit", "verify")
    assert r.exit_code == 0, r.output
    assert "chain intact" in r.output and "requests match their events" in r.output


def test_an_edited_row_fails_verify_and_is_named(logged):
    with logged.w.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'U0DAVE' WHERE kind = 'decided'"))
        seq = conn.execute(text("SELECT seq FROM audit_events WHERE kind = 'decided'")).scalar_one()
    r = run(logged, "audit", "verify")
    assert r.exit_code == 1
    assert f"BROKEN at event {seq}" in r.output and "edited" in r.output


def test_a_deleted_row_fails_verify_and_is_named(logged):
    with logged.w.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    r = run(logged, "audit", "verify")
    assert r.exit_code == 1 and "BROKEN at event 3" in r.output and "missing" in r.output


def test_a_row_deleted_from_the_end_fails_verify(logged):
    with logged.w.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)"))
    assert run(logged, "audit", "verify").exit_code == 1


def test_export_jsonl_and_csv_carry_every_event_in_order(logged):
    lines = run(logged, "audit", "export", "--format", "jsonl").stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert {"requested", "posted", "refused_click", "decided"} <= {e["kind"] for e in events}
    rows = list(csv.DictReader(io.StringIO(run(logged, "audit", "export", "--format", "csv").stdout)))
    assert [int(r["seq"]) for r in rows] == [e["seq"] for e in events]
    assert json.loads(rows[-1]["data"]) == events[-1]["data"]


def test_exporting_a_request_that_is_not_there_fails_naming_it(logged):
    # It exported 0 events with exit 0: a typo in an id looked like a request with no history.
    r = run(logged, "audit", "export", "--request", "req_nope")
    assert r.exit_code == 1 and "no request 'req_nope'" in r.output, r.output


def test_head_prints_the_last_event_as_seq_and_mac(logged):
    with logged.w.db.engine.connect() as conn:
        seq, mac = conn.execute(text("SELECT seq, hash FROM audit_events ORDER BY seq DESC")).first()
    assert head_of(logged) == f"{seq}:{mac}"
    r = run(logged, "audit", "verify", "--head", f"{seq}:{mac}")
    assert r.exit_code == 0 and f"reaching the head {seq}:{mac}" in r.output


def test_a_truncated_tail_with_the_head_row_rewound_is_caught_with_head(logged):
    kept = head_of(logged)
    with logged.w.db.engine.begin() as conn:
        seq = last_seq(conn)
        conn.execute(text("DELETE FROM audit_events WHERE seq >= :s"), {"s": seq - 1})
        prev = conn.execute(text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": seq - 2}).scalar_one()
        conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": seq - 2, "h": prev})
        # The decision's events went with it: put the request back to pending so the rows agree.
        conn.execute(text("UPDATE requests SET status = 'pending', decided_by = NULL, decision = NULL, "
                          "decided_at = NULL, item_decisions = :d WHERE status = 'approved'"),
                     {"d": json.dumps([None])})
    assert run(logged, "audit", "verify").exit_code == 0  # the database alone cannot tell
    r = run(logged, "audit", "verify", "--head", kept)
    assert r.exit_code == 1
    assert f"the chain ends at event {seq - 2} but the head kept elsewhere is event {seq}" in r.output


def test_a_tail_rewritten_with_plain_sha256_fails_once_keyed(logged):
    with logged.w.db.engine.begin() as conn:
        seq = last_seq(conn)
        events = conn.execute(text("SELECT seq, at, request_id, kind, actor, data, prev_hash "
                                   "FROM audit_events WHERE seq >= :s ORDER BY seq"), {"s": seq - 1}).all()
        prev = events[0].prev_hash
        for e in events:  # what anyone with write access can compute without the key
            data = json.loads(e.data) if isinstance(e.data, str) else e.data
            h = event_hash(seq=e.seq, at=e.at, request_id=e.request_id, kind=e.kind, actor=e.actor,
                           data=data, prev_hash=prev)
            conn.execute(text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :s"),
                         {"p": prev, "h": h, "s": e.seq})
            prev = h
        conn.execute(text("UPDATE audit_head SET hash = :h"), {"h": prev})
    r = run(logged, "audit", "verify")
    assert r.exit_code == 1 and f"BROKEN at event {seq - 1}" in r.output and "MAC" in r.output


def test_moving_the_keyed_marker_fails(logged):
    with logged.w.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET keyed_from = 3"))
    r = run(logged, "audit", "verify")
    assert r.exit_code == 1 and "BROKEN at event 1" in r.output


def test_a_requests_row_flipped_to_approved_is_named(logged):
    with logged.w.db.engine.begin() as conn:
        pending = text("SELECT id FROM requests WHERE status = 'pending' ORDER BY id")
        rid = conn.execute(pending).scalars().first()
        conn.execute(text("UPDATE requests SET status = 'approved', decided_by = 'U0ALICE' WHERE id = :i"),
                     {"i": rid})
    r = run(logged, "audit", "verify")
    assert r.exit_code == 1
    assert f"MISMATCH: request {rid}: status is 'approved' in the requests table but the audit events " \
           "say 'pending'" in r.output
    assert f"request {rid}: decided_by is 'U0ALICE'" in r.output
    assert "BROKEN" not in r.output  # the chain itself is intact


def test_edited_args_slipped_into_an_approved_row_are_named(logged):
    with logged.w.db.engine.begin() as conn:
        rid = conn.execute(text("SELECT id FROM requests WHERE status = 'approved'")).scalar_one()
        conn.execute(text("UPDATE requests SET edited_args = :a WHERE id = :i"),
                     {"a": json.dumps({"order": 1234, "amount": 3000}), "i": rid})
    r = run(logged, "audit", "verify")
    assert r.exit_code == 1 and f"request {rid}: edited_args is {{'order': 1234, 'amount': 3000}}" in r.output


def test_a_request_row_inserted_without_events_is_named(logged):
    with Session(logged.w.db.engine) as s, s.begin():
        source = s.exec(select(ApprovalRequest).where(ApprovalRequest.status == "approved")).one()
        s.add(ApprovalRequest(**(source.model_dump() | {"id": "req_forged"})))
    r = run(logged, "audit", "verify")
    assert r.exit_code == 1
    assert "request req_forged: is in the requests table with no audit events" in r.output


def test_the_wrong_key_fails_and_no_key_says_so(logged):
    r = run(logged, "audit", "verify", key="another-audit-key-0123456789abcdef0123")
    assert r.exit_code == 1 and "BROKEN at event 1" in r.output and "SIGNOFF_AUDIT_KEY" in r.output
    r = run(logged, "audit", "verify", key="")
    assert r.exit_code == 1 and "SIGNOFF_AUDIT_KEY is not set" in r.output


def test_a_malformed_head_is_refused(logged):
    r = run(logged, "audit", "verify", "--head", "12")
    assert r.exit_code == 2 and "SEQ:MAC" in r.output


def test_web_without_a_key_stops_with_one_line_naming_it(logged):
    env = {"DATABASE_URL": logged.w.settings.database_url, "SLACK_BOT_TOKEN": "xoxb-x",
           "SLACK_SIGNING_SECRET": "s" * 32, "SIGNOFF_API_TOKENS": "agent:" + "t" * 32,
           "SIGNOFF_AUDIT_KEY": ""}
    r = CliRunner().invoke(main, ["web"], env=env)
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1
    assert "SIGNOFF_AUDIT_KEY is not set" in r.output
    r = CliRunner().invoke(main, ["web"], env=env | {"SIGNOFF_AUDIT_KEY": "short"})
    assert r.exit_code == 1 and "SIGNOFF_AUDIT_KEY is a placeholder or shorter than 32" in r.output


def test_a_process_without_the_key_writes_no_event(logged):
    keyless = Database.connect(logged.w.settings.database_url)
    with logged.w.db.engine.connect() as conn:
        before = last_seq(conn)
    with pytest.raises(SignoffError, match="SIGNOFF_AUDIT_KEY"), keyless.write() as s:
        repo.append_event(s, Event(kind="note", actor="system", request_id=None), at=logged.w.clock())
    keyless.engine.dispose()
    with logged.w.db.engine.connect() as conn:
        assert last_seq(conn) == before


def exported(stack, tmp_path, *args: str, fmt: str = "jsonl"):
    path = tmp_path / f"audit.{fmt}"
    r = run(stack, "audit", "export", "--format", fmt, "-o", str(path), *args)
    assert r.exit_code == 0, r.output
    return path


def verify_file(stack, path, *args: str, key: str = AUDIT_KEY):
    return run(stack, "audit", "verify", "--file", str(path), *args, key=key)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_exported_file_verifies_without_the_database(logged, tmp_path, fmt):
    path = exported(logged, tmp_path, fmt=fmt)
    kept = head_of(logged)
    with logged.w.db.engine.begin() as conn:  # the database is gone; the file is what the auditor has
        conn.execute(text("DELETE FROM audit_events"))
    r = verify_file(logged, path)
    assert r.exit_code == 0, r.output
    assert "OK" in r.output and "keyed" in r.output and "--head" in r.output
    r = verify_file(logged, path, "--head", kept)
    assert r.exit_code == 0 and f"reaching the head {kept}" in r.output, r.output
    r = verify_file(logged, path, key="another-audit-key-0123456789abcdef0123")
    assert r.exit_code == 1 and "BROKEN at event 1" in r.output and "SIGNOFF_AUDIT_KEY" in r.output
    # It needs the key and nothing else: an auditor's machine has no database, Slack or web port.
    elsewhere = CliRunner().invoke(main, ["audit", "verify", "--file", str(path)], env={
        "SIGNOFF_AUDIT_KEY": AUDIT_KEY, "DATABASE_URL": "mysql://nope", "SIGNOFF_PORT": "eighty"})
    assert elsewhere.exit_code == 0, elsewhere.output
    short = CliRunner().invoke(main, ["audit", "verify", "--file", str(path)], env={"SIGNOFF_AUDIT_KEY": "k"})
    assert short.exit_code == 1 and "SIGNOFF_AUDIT_KEY is a placeholder or shorter" in short.output


def test_an_edited_exported_file_is_caught_and_named(logged, tmp_path):
    path = exported(logged, tmp_path)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    decided = next(e for e in events if e["kind"] == "decided")
    kept = head_of(logged)

    def rewrite(changed):
        path.write_text("".join(json.dumps(e) + "\n" for e in changed))
        return verify_file(logged, path, "--head", kept)

    r = rewrite([e | {"actor": "U0DAVE"} if e is decided else e for e in events])
    assert r.exit_code == 1 and f"BROKEN at event {decided['seq']}" in r.output and "edited" in r.output
    r = rewrite([e for e in events if e["seq"] != 3])
    assert r.exit_code == 1 and "BROKEN at event 3" in r.output and "missing" in r.output
    r = rewrite([events[0], events[2], events[1], *events[3:]])  # all there, lines swapped
    assert r.exit_code == 1 and "BROKEN at event 2" in r.output and "out of order" in r.output
    assert "missing" not in r.output
    r = rewrite(events[:-1])  # cut from the end: only a head kept elsewhere shows it
    assert r.exit_code == 1 and "the head kept elsewhere" in r.output
    assert verify_file(logged, path).exit_code == 0
    # Every event rewritten as a plain hash chain, the marker moved past the end in every line.
    prev, plain = "0" * 64, []
    for e in events:
        fields = {k: e[k] for k in ("seq", "at", "request_id", "kind", "actor", "data")}
        h = event_hash(**fields, prev_hash=prev)
        plain.append(e | {"prev_hash": prev, "hash": h, "keyed_from": len(events) + 1})
        prev = h
    path.write_text("".join(json.dumps(e) + "\n" for e in plain))
    r = verify_file(logged, path)
    assert r.exit_code == 1 and "no event in the file carries a MAC" in r.output


def test_one_requests_export_verifies_each_event(logged, tmp_path):
    with logged.w.db.engine.connect() as conn:
        rid = conn.execute(text("SELECT id FROM requests WHERE status = 'approved'")).scalar_one()
    path = exported(logged, tmp_path, "--request", rid)
    r = verify_file(logged, path)
    assert r.exit_code == 0 and f"of request {rid}" in r.output, r.output
    events = [json.loads(line) for line in path.read_text().splitlines()]
    events[-1]["data"]["reason"] = "looks fine"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    r = verify_file(logged, path)
    assert r.exit_code == 1 and f"BROKEN at event {events[-1]['seq']}" in r.output


def test_a_file_that_is_not_an_export_is_named(logged, tmp_path):
    path = tmp_path / "notes.txt"
    for text_, said in [("hello\n", "line 1: neither JSON Lines nor CSV"),
                        ('{"seq": 1}\n', "line 1: not an exported audit event (ValueError: fields ['seq']"),
                        ("", "holds no events")]:
        path.write_text(text_)
        r = verify_file(logged, path)
        assert r.exit_code == 1 and said in r.output and "Traceback" not in r.output, r.output


def test_the_readmes_sqlite_backup_makes_a_copy_that_verifies(logged, tmp_path):
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    url = logged.w.settings.database_url
    if not url.startswith("sqlite"):
        pytest.skip("the README's SQLite backup line")
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    start = readme.index("python -c 'import sqlite3")
    line = readme[start:readme.index("\n", readme.index("\\\n", start) + 2)].replace("\\\n", " ")
    argv = shlex.split(line)
    command = argv[:argv.index(".signoff/signoff.db")]  # python -c '…', then the two files
    assert command[:2] == ["python", "-c"], line
    source, copy = url.removeprefix("sqlite:///"), tmp_path / "backup.db"
    subprocess.run([sys.executable, *command[1:], source, str(copy)], check=True, timeout=60)
    r = CliRunner().invoke(main, ["audit", "verify"], env={
        "DATABASE_URL": f"sqlite:///{copy}", "SLACK_BOT_TOKEN": "", "SIGNOFF_AUDIT_KEY": AUDIT_KEY})
    assert r.exit_code == 0 and "chain intact" in r.output, r.output


def test_an_exported_line_must_say_only_what_is_verified(logged, tmp_path):
    path = exported(logged, tmp_path)
    lines = path.read_text().splitlines()
    decided = next(n for n, line in enumerate(lines) if '"kind": "decided"' in line)

    def with_line(text_):
        path.write_text("\n".join(lines[:decided] + [text_] + lines[decided + 1:]) + "\n")
        return verify_file(logged, path)

    original = lines[decided]
    # A second "actor" would be shown by some readers while the other one is the one verified.
    twice = original.replace('"actor": "U0ALICE"', '"actor": "U0DAVE", "note": "CEO", "actor": "U0ALICE"')
    assert twice != original
    r = with_line(twice)
    assert r.exit_code == 1 and f"line {decided + 1}" in r.output and "appears twice" in r.output, r.output
    r = with_line(original[:-1] + ', "note": "approved by the CEO"}')
    assert r.exit_code == 1 and "fields" in r.output, r.output
    seq = json.loads(original)["seq"]
    r = with_line(original.replace(f'"seq": {seq}}}', f'"seq": {seq}.0}}'))
    assert r.exit_code == 1 and "not a whole number" in r.output, r.output
    assert with_line(original).exit_code == 0


def test_a_csv_export_with_an_extra_column_is_refused(logged, tmp_path):
    path = exported(logged, tmp_path, fmt="csv")
    lines = path.read_text().splitlines()
    lines[2] += ",approved by the CEO"
    path.write_text("\n".join(lines) + "\n")
    r = verify_file(logged, path)
    assert r.exit_code == 1 and "line 3" in r.output and "fields" in r.output, r.output


def test_head_is_refused_for_one_requests_export(logged, tmp_path):
    with logged.w.db.engine.connect() as conn:
        rid = conn.execute(text("SELECT id FROM requests WHERE status = 'approved'")).scalar_one()
    path = exported(logged, tmp_path, "--request", rid)
    r = verify_file(logged, path, "--head", head_of(logged))
    assert r.exit_code == 1 and "--head checks a whole export" in r.output, r.output


def test_events_from_before_the_key_cannot_be_vouched_for_by_one_requests_export(stack, tmp_path):
    # A database upgraded through revision 0003: its first events are a plain hash chain.
    with stack.w.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET keyed_from = 4"))
    stack.create()
    req = stack.create()  # its `requested` event is event 2, before the marker
    stack.run_jobs()
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    path = exported(stack, tmp_path, "--request", req["id"])
    assert [json.loads(line)["seq"] for line in path.read_text().splitlines()][0] == 2
    r = verify_file(stack, path)
    assert r.exit_code == 1 and "event 2 was written before the chain was keyed" in r.output, r.output
    # The whole export vouches for it: the first keyed event's MAC covers the plain ones' hashes.
    assert verify_file(stack, exported(stack, tmp_path)).exit_code == 0
