"""Redis stops and starts again: what could not be queued meanwhile goes out soon after, once.

The requests are created (201, their cards owed) and decided while Redis is down; the sweepers
look for lost work only once a day here, so only the outage itself can send them looking.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from redis import Redis
from rq import Queue, Worker

from blocks import ids
from bot import wiring
from bot.core.lifecycle import Verdict
from bot.embedded_redis import EmbeddedRedis
from tests.conftest import CHANNEL, Stack, process_env
from workers import queues, runtime
from workers.deadlines import Sweeper, requeue_lost
from workers.locks import leased_lock

DEADLINE = 60.0  # seconds: generous, only a missing recovery runs into it


@pytest.fixture
def redis_server() -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own (the session's is shared): stopped and started again on one socket."""
    data = Path(tempfile.mkdtemp(prefix="so-outage-"))  # short: the socket path must fit sun_path
    server = EmbeddedRedis(data, persist=False).start()
    yield server
    server.stop()
    shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def paused(server: EmbeddedRedis) -> Iterator[None]:
    """Redis stopped, not killed: connections are accepted and nothing is answered, as with a hung
    host or a partition that drops packets."""
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        server.process.send_signal(signal.SIGCONT)


@pytest.fixture
def sweepers(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], list[Sweeper]]]:
    """Start sweeper threads (two workers' worth) that look for lost work on their first pass and
    then once a day: any sooner recovery has to come from the outage."""
    monkeypatch.setattr(Sweeper, "REQUEUE_EVERY", 24 * 3600.0)
    started: list[Sweeper] = []

    def start(n: int) -> list[Sweeper]:
        for _ in range(n):
            sweeper = Sweeper(stack.context, interval=0.1)
            sweeper.start()
            started.append(sweeper)
        return started

    yield start
    for sweeper in started:
        sweeper.stopped.set()
    for sweeper in started:
        sweeper.join(timeout=10)


def run_until(stack: Stack, done: Callable[[], bool]) -> bool:
    """Run queued jobs (as a worker does) until `done()`, or give up after DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        stack.run_jobs()
        if done():
            return True
        time.sleep(0.1)
    return done()


def cards_of(stack: Stack, request_id: str) -> list[dict[str, object]]:
    return [m for m in stack.sandbox.messages(CHANNEL) if request_id in str(m["blocks"])]


def test_cards_and_decisions_owed_during_an_outage_go_out_once_redis_is_back(stack, redis_server, sweepers):
    decided = stack.create(summary="decided while Redis is down")
    stack.run_jobs()
    ts = stack.card(decided["id"])["ts"]
    sweepers(2)
    time.sleep(0.3)  # their first (periodic) pass is behind them

    redis_server.stop()
    created = [stack.create(summary=f"Refund #{n}", args={"order": n}) for n in range(3)]
    assert [c["delivery"]["state"] for c in created] == ["pending"] * 3  # stored; card owed
    stack.w.service.decide(decided["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    time.sleep(0.5)  # the sweepers find Redis down
    redis_server.start()

    def owed_work_done() -> bool:
        updated = ids.ACTION_APPROVE not in str(stack.sandbox.message(CHANNEL, ts)["blocks"])
        return updated and all(cards_of(stack, c["id"]) for c in created)

    assert run_until(stack, owed_work_done), "owed cards were not posted after Redis came back"
    time.sleep(0.5)  # more passes: nothing is queued a second time
    stack.run_jobs()
    assert [len(cards_of(stack, c["id"])) for c in created] == [1, 1, 1]
    assert stack.api.get(f"/v1/requests/{created[0]['id']}").json()["delivery"]["state"] == "posted"


def test_a_redis_that_stops_answering_holds_up_no_agent_and_no_click(stack, redis_server):
    # Each Redis call gives up after its socket timeout.
    req = stack.create(summary="decided while Redis hangs")
    stack.run_jobs()
    ts = stack.card(req["id"])["ts"]
    with paused(redis_server):
        created = stack.create(summary="created while Redis hangs")
        assert created["delivery"]["state"] == "pending"  # stored; its card owed
        clicked = stack.sandbox.click("U0ALICE", CHANNEL, ts, ids.ACTION_APPROVE)
        assert clicked.status_code == 200
        assert stack.api.get(f"/v1/requests/{req['id']}").json()["status"] == "approved"
        health = stack.api.get("/healthz")
        assert health.status_code == 503 and "Timeout" in health.json()["redis"], health.text


@pytest.mark.parametrize("stack_overrides", [{"metrics_token": "m" * 24}])
def test_metrics_still_answer_while_redis_hangs_and_the_heartbeat_reads_zero(stack, redis_server):
    # A 500 dropped every series, and "no worker heartbeat" never fires on a missing one.
    stack.create(summary="counted")
    with paused(redis_server):
        scraped = httpx.get(f"{stack.url}/metrics", headers={"Authorization": "Bearer " + "m" * 24},
                            timeout=60)
    assert scraped.status_code == 200, scraped.text
    assert "signoff_worker_heartbeat_timestamp_seconds 0.0" in scraped.text
    assert 'signoff_requests_pending{age="0-60"} 1.0' in scraped.text  # the database's part is there
    assert not [line for line in scraped.text.splitlines() if line.startswith("signoff_rq_queue_depth{")]


def test_a_click_that_changes_nothing_is_still_explained_while_redis_is_down(stack, redis_server):
    # The explanation normally goes through Redis to a worker; with Redis down, web sends it.
    req = stack.create(summary="decided before the outage")
    stack.run_jobs()
    ts = stack.card(req["id"])["ts"]
    stack.w.service.decide(req["id"], actor="U0ALICE", verdict=Verdict.APPROVE)
    redis_server.stop()
    assert stack.sandbox.click("U0BOB", CHANNEL, ts, ids.ACTION_APPROVE).status_code == 200
    [told] = stack.ephemerals("U0BOB")
    assert "already" in told["text"].lower() and "U0ALICE" in told["text"]


def test_a_thread_lease_survives_a_renewal_that_timed_out(redis_server):
    client = Redis.from_url(redis_server.url, socket_timeout=wiring.REDIS_TIMEOUT,
                            socket_connect_timeout=wiring.REDIS_TIMEOUT)  # as wiring.build makes it
    lease = 6.0  # renewed every 2 s
    with leased_lock(client, "signoff:thread:t", lease=lease):
        time.sleep(1.5)
        with paused(redis_server):  # the renewal at 2 s waits, then times out
            time.sleep(wiring.REDIS_TIMEOUT + 1.1)
        time.sleep(8.0 - 1.5 - wiring.REDIS_TIMEOUT - 1.1)  # past the lease granted before the pause
        assert client.pttl("signoff:thread:t") > 0, "the lease lapsed while its holder ran"
    assert client.exists("signoff:thread:t") == 0  # released at the end
    client.close()


def test_a_sweeper_that_missed_the_outage_learns_of_it_from_the_web(stack, redis_server, sweepers):
    redis_server.stop()
    owed = stack.create(summary="created while Redis is down")
    redis_server.start()
    later = stack.create(summary="created once Redis is back")  # this enqueue says work is owed
    sweepers(1)  # it never saw Redis down; its first pass leaves the 30 s grace alone
    assert run_until(stack, lambda: bool(cards_of(stack, owed["id"]))), "the owed card was not posted"
    assert len(cards_of(stack, owed["id"])) == 1 and len(cards_of(stack, later["id"])) == 1


def test_a_web_that_goes_quiet_after_the_outage_still_sends_the_sweepers_looking(
        stack, redis_server, clock, monkeypatch):
    monkeypatch.setattr(Sweeper, "REQUEUE_EVERY", 24 * 3600.0)
    worker = wiring.build(stack.w.settings, clock=clock)  # another process: its own jobs, no news
    redis_server.stop()
    owed = stack.create(summary="created while Redis is down")
    redis_server.start()  # and web queues nothing more
    sweeper = Sweeper(worker.job_context(), interval=0.1)  # it never saw Redis down
    sweeper.start()
    try:
        assert run_until(stack, lambda: bool(cards_of(stack, owed["id"]))), "the owed card was not posted"
    finally:
        sweeper.stopped.set()
        sweeper.join(timeout=10)
        worker.db.engine.dispose()


def test_sweepers_recovering_at_once_queue_each_owed_job_once(stack, redis_server):
    redis_server.stop()
    created = [stack.create(summary=f"Refund #{n}", args={"order": n}) for n in range(20)]
    redis_server.start()
    runtime.install(stack.context)
    start = threading.Barrier(8)

    def recover() -> None:  # as every worker's sweeper does on the pass after Redis returns
        start.wait()
        requeue_lost(stack.context, grace=timedelta(0))

    threads = [threading.Thread(target=recover) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    job_ids = Queue(queues.CARDS, connection=stack.w.redis).get_job_ids()
    assert sorted(job_ids) == sorted(queues.post_cards_job_id(c["id"]) for c in created)


def test_card_updates_caught_up_after_an_outage_wait_behind_new_cards(stack, redis_server):
    decided = stack.create()
    stack.run_jobs()  # its card is out
    redis_server.stop()
    stack.w.service.decide(decided["id"], actor="U0ALICE", verdict=Verdict.APPROVE)  # its update is lost
    new = stack.create(summary="Refund #2", args={"order": 2})
    redis_server.start()
    runtime.install(stack.context)
    requeue_lost(stack.context, grace=timedelta(0))
    version = stack.w.service.get(decided["id"]).version
    cards = Queue(queues.CARDS, connection=stack.w.redis)
    assert cards.get_job_ids() == [queues.post_cards_job_id(new["id"])]
    assert Queue(queues.CARDS_LATER, connection=stack.w.redis).get_job_ids() == [
        queues.update_cards_job_id(decided["id"], version)]
    stack.run_jobs()
    assert "Approved" in str(stack.card(decided["id"])["blocks"]) and stack.card(new["id"])


def test_a_worker_busy_when_redis_goes_away_serves_cards_once_it_is_back(stack, redis_server, tmp_path):
    s = stack.w.settings
    env = {**os.environ, **process_env(s.slack_api_url), "DATABASE_URL": s.database_url,
           "REDIS_URL": s.redis_url or "", "SIGNOFF_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait(lambda: Worker.count(connection=stack.w.redis) >= 1), "the worker did not start"
        job = Queue(queues.CARDS, connection=stack.w.redis).enqueue(time.sleep, 2)
        assert wait(lambda: job.get_status() == "started"), "the worker did not take the job"
        redis_server.stop()  # the job ends while Redis is down: RQ's loop meets the outage
        time.sleep(3)
        redis_server.start()
        req = stack.create(summary="created once Redis is back")
        assert wait(lambda: bool(cards_of(stack, req["id"]))), "the worker serves no cards after the outage"
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait(done: Callable[[], bool]) -> bool:
    """Poll `done()` for up to DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.05)
    return done()
