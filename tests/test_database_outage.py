"""PostgreSQL stopped and started under a running Signoff: agents get JSON 503s with Retry-After,
clickers are told to try again, and everything works again once it is back, graphs included."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlmodel import select

from blocks import ids
from bot.core.lifecycle import Verdict
from bot.storage.tables import AuditEvent
from tests import graph_apps
from tests.conftest import CHANNEL, _fresh_pg_database
from tests.graph_fixtures import effects_file  # noqa: F401 - fixture
from tests.servers import Postgres

pytestmark = pytest.mark.postgres

TRY_AGAIN = "Signoff can't record decisions right now, try again in a minute"


@pytest.fixture
def cluster(postgres) -> Postgres:
    if not isinstance(postgres, Postgres):
        pytest.skip("needs the tests' own PostgreSQL cluster to stop and start it")
    return postgres


@pytest.fixture
def stack_url(cluster):
    return _fresh_pg_database(cluster)


@pytest.fixture
def stack_overrides():
    return {"graphs": graph_apps.GRAPHS, "default_approvers": ("U0ALICE",), "default_channel": CHANNEL}




def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "unavailable"
    assert int(response.headers["Retry-After"]) > 0


def test_agents_and_clickers_are_told_to_retry_while_the_database_is_down(stack, cluster):
    req = stack.create()
    stack.run_jobs()
    card = stack.card(req["id"])
    cluster.down()
    try:
        assert_unavailable(stack.api.get(f"/v1/requests/{req['id']}"))
        assert_unavailable(stack.api.get(f"/v1/requests/{req['id']}/wait", params={"timeout": 1}))
        assert_unavailable(stack.api.get("/v1/requests"))
        assert_unavailable(stack.api.post(f"/v1/requests/{req['id']}/cancel", json={"reason": "r"}))
        assert_unavailable(stack.api.post("/v1/requests", json={"action": "a", "summary": "s",
                                                                 "approvers": ["U0ALICE"]}))
        clicked = stack.sandbox.click("U0ALICE", CHANNEL, card["ts"], ids.ACTION_APPROVE)
        assert clicked.status_code == 200
        [told] = stack.ephemerals("U0ALICE")
        assert TRY_AGAIN in told["text"]
    finally:
        cluster.up()
    # Back: the same click decides, and the agent sees it.
    stack.sandbox.click("U0ALICE", CHANNEL, card["ts"], ids.ACTION_APPROVE)
    assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "approved"


def test_every_graph_resumes_without_a_failure_after_a_database_restart(stack, cluster):
    runs = []
    for amount in (1, 2, 3, 4):
        r = stack.api.post("/v1/runs", json={"graph": "refund", "input": {"action": f"refund {amount}",
                                                                          "approved": False}})
        runs.append(r.json())
    stack.run_jobs()  # every run waits on its request; the checkpointer's pool holds connections
    requests = [stack.api.get(f"/v1/runs/{run['id']}").json()["pending_requests"][0] for run in runs]
    cluster.down()
    time.sleep(0.5)
    cluster.up()
    for req in requests:
        stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    stack.run_jobs()
    with stack.w.db.read() as s:
        failed = list(s.exec(select(AuditEvent).where(AuditEvent.kind == "resume_failed")))
    assert failed == []
    assert [stack.api.get(f"/v1/runs/{run['id']}").json()["status"] for run in runs] == ["done"] * 4
    assert sorted(graph_apps.effects()) == [f"executed refund {a}" for a in (1, 2, 3, 4)]
