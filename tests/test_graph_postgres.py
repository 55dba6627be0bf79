"""The same run on PostgreSQL: the store and the LangGraph checkpointer both in it."""

from __future__ import annotations

import pytest

from blocks import ids
from signoff_client import SignoffClient
from tests import graph_apps
from tests.conftest import API_TOKEN, CHANNEL, _fresh_pg_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def stack_url(postgres):
    return _fresh_pg_database(postgres)


@pytest.fixture
def stack_overrides():
    return {"graphs": graph_apps.GRAPHS, "default_approvers": ("U0ALICE",), "default_channel": CHANNEL}


@pytest.fixture(autouse=True)
def effects_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNOFF_TEST_EFFECTS", str(tmp_path / "effects.log"))


def test_a_run_started_from_python_resumes_on_postgres(stack):
    assert stack.w.settings.checkpoints.startswith("postgresql")
    with SignoffClient(base_url=stack.url, token=API_TOKEN) as client:
        run = client.start_run("refund", {"action": "refund $5 to 42", "approved": False}, requester="U0BOB")
        stack.run_jobs()
        [req] = client.get_run(run["id"])["pending_requests"]
        stack.sandbox.click("U0ALICE", CHANNEL, stack.card(req["id"])["ts"], ids.ACTION_APPROVE)
        stack.run_jobs()
        done = client.get_run(run["id"])
    assert done["status"] == "done" and done["requester"] == "U0BOB"
    assert graph_apps.effects() == ["executed refund $5 to 42"]
