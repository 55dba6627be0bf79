"""`signoff audit verify` catches an edited or deleted row and names it; export writes every event."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from bot.cli import main
from bot.core.lifecycle import Verdict
from bot.errors import NotAuthorized


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


def run(stack, *args: str):
    env = {"DATABASE_URL": stack.w.settings.database_url, "SLACK_BOT_TOKEN": ""}
    return CliRunner().invoke(main, list(args), env=env)


def test_an_untouched_log_verifies(logged):
    r = run(logged, "audit", "verify")
    assert r.exit_code == 0, r.output
    assert "chain intact" in r.output


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
