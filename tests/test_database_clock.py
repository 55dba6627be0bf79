"""A process whose clock runs fast still fires a timeout at the database's time, never early."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.ops.clock import DatabaseClock, database_now
from bot.storage.db import Database
from bot.storage.tables import AuditEvent
from tests.conftest import AUDIT_KEY, on_every_database
from tests.test_policies import POLICY
from workers import deadlines, runtime

FAST = timedelta(seconds=45)


stack_url = on_every_database()  # SQLite and PostgreSQL


@pytest.fixture
def stack_overrides():
    return {"policy_file": POLICY}


@pytest.fixture
def reference(stack_url):
    db = Database.connect(stack_url, audit_key=AUDIT_KEY)
    yield db
    db.engine.dispose()


@pytest.fixture
def clock(reference):
    """This process's clock runs 45 s fast; the service gets it corrected to the database's."""
    return DatabaseClock.of(reference, base=lambda: datetime.now(UTC) + FAST)


def test_a_fast_process_creates_and_fires_on_the_databases_clock(stack, reference):
    r = stack.api.post("/v1/requests", json={"action": "issue_refund", "summary": "Refund $340",
                                             "args": {"amount": 340}, "requester": "billing-bot",
                                             "timeout": 3})
    assert r.status_code == 201, r.text
    req = stack.w.service.get(r.json()["id"])
    assert abs((req.created_at - database_now(reference)).total_seconds()) < 2  # not 45 s ahead
    deadline = req.next_deadline_at
    runtime.install(stack.context)
    assert deadlines.fire_due() == 0  # this machine's clock says the deadline passed 42 s ago
    assert stack.w.service.get(req.id).status == "pending"
    until = time.monotonic() + 20
    while stack.w.service.get(req.id).status == "pending" and time.monotonic() < until:
        deadlines.fire_due()
        time.sleep(0.1)
    assert database_now(reference) >= deadline
    assert stack.w.service.get(req.id).status == "expired"
    with stack.w.db.read() as s:
        [fired] = s.exec(select(AuditEvent.at).where(AuditEvent.request_id == req.id,
                                                     AuditEvent.kind == "expired")).all()
    assert datetime.fromisoformat(fired) >= deadline
