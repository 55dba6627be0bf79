"""Signoff laid out for many boxes, as real processes: two `signoff web` behind a round-robin
"load balancer", `signoff worker --processes 3`, PostgreSQL, redis-server and the Slack sandbox.
Every lifecycle ends once, with one card; `signoff web` serves WEB_CONCURRENCY workers; and boxes
whose clocks run ahead keep deadlines on the database's clock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import libfaketime
import pytest
from redis import Redis
from rq import Queue, Worker
from sqlalchemy import create_engine, text

from blocks import ids
from bot.embedded_redis import EmbeddedRedis, free_port
from slack_sandbox.interactions import Interactions
from slack_sandbox.server import SlackSandbox
from tests.conftest import API_TOKEN, SIGNING_SECRET, _fresh_pg_database, process_env
from tests.servers import Postgres, wait_healthy
from workers import queues

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
              pytest.mark.postgres]

LIFECYCLES = 200
IN_FLIGHT = 8
START_TIMEOUT = 90.0  # five processes importing LangGraph at once on a busy 2-core machine
STEP_TIMEOUT = 30.0


def _env(tmp: Path, *, database_url: str, redis_url: str, sandbox: SlackSandbox, port: int) -> dict[str, str]:
    ours = ("SLACK_", "SIGNOFF_", "REDIS_", "DATABASE_", "WEB_CONCURRENCY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return env | {
        "SIGNOFF_DATA_DIR": str(tmp / "data"), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        **process_env(sandbox.api_url),
        "SIGNOFF_PORT": str(port), "PYTHONUNBUFFERED": "1",
    }


@contextmanager
def _process(tmp: Path, name: str, args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    with open(tmp / f"{name}.log", "wb") as out:  # cwd: a .env in the checkout must not leak in
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", *args], cwd=tmp, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(p) for p in (task / "children").read_text().split()}
    return found


def _until(check, what: str, timeout: float = START_TIMEOUT):  # noqa: ANN001, ANN202 - a test helper
    deadline = time.monotonic() + timeout
    while not (got := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return got


def _problems(tmp: Path) -> dict[str, list[str]]:
    return {p.name: bad for p in tmp.glob("*.log")
            if (bad := [ln for ln in p.read_text(errors="replace").splitlines()
                        if "Traceback" in ln or " ERROR " in ln])}


@pytest.fixture
def pg_url(postgres: Postgres | str) -> str:
    return _fresh_pg_database(postgres)


def test_two_web_and_three_workers_decide_every_request_once(
    tmp_path: Path, pg_url: str, redis: Redis, redis_server: EmbeddedRedis, sandbox: SlackSandbox,
) -> None:
    channels = [f"C0L{n:04d}" for n in range(LIFECYCLES)]
    for c in channels:  # a channel per lifecycle: finding its card reads one message
        sandbox.add_channel(c, name=c.lower())
    with ExitStack() as stack:
        ports = [free_port(), free_port()]
        env = [_env(tmp_path, database_url=pg_url, redis_url=redis_server.url, sandbox=sandbox, port=p)
               for p in ports]
        webs = [f"http://127.0.0.1:{p}" for p in ports]
        # The first web creates the schema; the others start on it (as after `signoff db upgrade`).
        first = stack.enter_context(_process(tmp_path, "web0", ["web"], env[0]))
        wait_healthy(webs[0], proc=first, timeout=START_TIMEOUT, output=(tmp_path / "web0.log").read_text)
        second = stack.enter_context(_process(tmp_path, "web1", ["web"], env[1]))
        pool = stack.enter_context(_process(tmp_path, "worker", ["worker", "--processes", "3"], env[0]))
        wait_healthy(webs[1], proc=second, timeout=START_TIMEOUT, output=(tmp_path / "web1.log").read_text)
        _until(lambda: Worker.count(connection=redis) == 3, "three RQ workers")
        clicks = [Interactions(sandbox.state, signing_secret=SIGNING_SECRET, base_url=sandbox.url,
                               events_url=f"{w}/slack/events") for w in webs]
        for c in clicks:
            stack.callback(c.close)
        apis = [stack.enter_context(httpx.Client(base_url=w, timeout=STEP_TIMEOUT,
                                                 headers={"Authorization": f"Bearer {API_TOKEN}"}))
                for w in webs]
        waits = stack.enter_context(ThreadPoolExecutor(IN_FLIGHT))

        def lifecycle(n: int) -> tuple[str, str]:
            """Create on one web, click on the other, wait on the first: (request id, wait's status)."""
            a, b = n % 2, (n + 1) % 2
            r = apis[a].post("/v1/requests", json={
                "action": "issue_refund", "summary": f"Refund #{n}", "args": {"n": n},
                "approvers": ["U0ALICE"], "channel": channels[n]})
            assert r.status_code == 201, r.text
            request_id = r.json()["id"]
            waiting = waits.submit(apis[a].get, f"/v1/requests/{request_id}/wait", params={"timeout": 30})
            card = _until(lambda: sandbox.messages(channels[n]), f"the card of {request_id}", STEP_TIMEOUT)[0]
            assert request_id in str(card["blocks"])
            click = clicks[b].click("U0ALICE", channels[n], card["ts"], ids.ACTION_APPROVE)
            assert click.status_code == 200, click.text
            answer = waiting.result(timeout=STEP_TIMEOUT)
            assert answer.status_code == 200, answer.text
            return request_id, answer.json()["status"]

        started = time.monotonic()
        with ThreadPoolExecutor(IN_FLIGHT) as agents:
            done = list(agents.map(lifecycle, range(LIFECYCLES)))
        took = time.monotonic() - started
        assert Counter(status for _, status in done) == {"approved": LIFECYCLES}, took

        engine = create_engine(pg_url)
        with engine.connect() as conn:
            decided = dict(conn.execute(text("SELECT request_id, count(*) FROM audit_events "
                                             "WHERE kind = 'decided' GROUP BY request_id")).all())
            statuses = Counter(s for (s,) in conn.execute(text("SELECT status FROM requests")))
        engine.dispose()
        assert decided == {rid: 1 for rid, _ in done}
        assert statuses == {"approved": LIFECYCLES}
        posted = Counter(c["args"]["channel"] for c in sandbox.calls("chat.postMessage"))
        assert posted == dict.fromkeys(channels, 1)  # one card per request, whichever worker took it
        _until(lambda: len(sandbox.calls("chat.update")) >= LIFECYCLES, "card updates")
        assert sum(Queue(q, connection=redis).failed_job_registry.count for q in queues.ALL) == 0
        assert _problems(tmp_path) == {}

        # A worker that dies is replaced; the pool keeps three.
        kids = _children(pool.pid)
        assert len(kids) == 3
        victim = min(kids)
        os.kill(victim, signal.SIGKILL)
        _until(lambda: len(now := _children(pool.pid)) == 3 and victim not in now, "a replacement worker", 60)
        assert pool.poll() is None and first.poll() is None and second.poll() is None

        # SIGTERM to the pool stops every worker it started.
        kids = _children(pool.pid)
        pool.terminate()
        assert pool.wait(timeout=60) == 128 + signal.SIGTERM
        assert _until(lambda: not any(Path(f"/proc/{k}").exists() and
                                      Path(f"/proc/{k}/stat").read_text().split()[2] != "Z" for k in kids),
                      "the pool's workers to stop", 30)


def test_web_concurrency_starts_that_many_web_workers(tmp_path: Path, redis_server: EmbeddedRedis,
                                                       sandbox: SlackSandbox) -> None:
    port = free_port()
    env = _env(tmp_path, database_url=f"sqlite:///{tmp_path / 'signoff.db'}", redis_url=redis_server.url,
               sandbox=sandbox, port=port) | {"WEB_CONCURRENCY": "2", "SIGNOFF_LOG_FORMAT": "json"}
    with _process(tmp_path, "web", ["web"], env) as web:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc=web, timeout=START_TIMEOUT, output=(tmp_path / "web.log").read_text)
        spawned = [p for p in _children(web.pid)
                   if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ")]
        assert len(spawned) == 2, (spawned, (tmp_path / "web.log").read_text())
        got = httpx.get(f"{url}/v1/requests", headers={"Authorization": f"Bearer {API_TOKEN}"})
        assert got.status_code == 200 and got.json() == {"requests": []}
        made = httpx.post(f"{url}/v1/requests", headers={"Authorization": f"Bearer {API_TOKEN}"},
                          json={"action": "a", "summary": "s", "approvers": ["U0ALICE"]})
        assert made.status_code == 201, made.text
        # Each worker process logs as its parent was told (its lifecycle lines were dropped).
        # The ready line comes once a worker process answers (the supervisor binds the port).
        assert _until(lambda: "Signoff is running at" in (tmp_path / "web.log").read_text(),
                      "the ready line", 30)
        said = (tmp_path / "web.log").read_text().splitlines()
        assert all(line.startswith("{") for line in said if line.strip()), said  # JSON mode: JSON only
        logged = [json.loads(line) for line in said if line.strip()]
        assert any(e.get("step") == "created" and e.get("request_id") == made.json()["id"] for e in logged)
        web.terminate()
        assert web.wait(timeout=60) in (0, 128 + signal.SIGTERM)
        assert all(not Path(f"/proc/{p}").exists() or "Z" in Path(f"/proc/{p}/stat").read_text().split()[2]
                   for p in spawned)


def _clock_ahead_by(seconds: int) -> dict[str, str]:
    """The environment that sets a process's wall clock `seconds` ahead (libfaketime)."""
    _, env = libfaketime.get_reload_information()
    return {**env, "FAKETIME": f"+{seconds}s"}


def test_web_and_worker_with_clocks_ten_minutes_fast_keep_deadlines_on_the_databases_clock(
    tmp_path: Path, pg_url: str, redis_server: EmbeddedRedis, sandbox: SlackSandbox,
) -> None:
    # Two boxes whose clocks run 600 s ahead of PostgreSQL's: created at the database's now, a
    # deadline 300 s off must not fire, while one a second off does (the sweep that fires it would
    # have fired both on the worker's own clock).
    port = free_port()
    env = _env(tmp_path, database_url=pg_url, redis_url=redis_server.url, sandbox=sandbox, port=port)
    fast = env | _clock_ahead_by(600)
    url = f"http://127.0.0.1:{port}"
    with _process(tmp_path, "web", ["web"], fast) as web, \
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_TOKEN}"}) as api:
        wait_healthy(url, proc=web, timeout=START_TIMEOUT, output=(tmp_path / "web.log").read_text)

        def ask(timeout: int) -> dict[str, str]:
            body = {"action": "issue_refund", "summary": "Refund", "approvers": ["U0ALICE"],
                    "timeout": timeout, "on_timeout": "reject"}
            r = api.post("/v1/requests", json=body)
            assert r.status_code == 201, r.text
            return r.json()

        soon, later = ask(1), ask(300)
        engine = create_engine(pg_url)
        with engine.connect() as conn:
            db_now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
        engine.dispose()
        created = datetime.fromisoformat(soon["created_at"])
        assert abs((created - db_now).total_seconds()) < 60, (created, db_now)  # not 600 s ahead
        with _process(tmp_path, "worker", ["worker"], fast):
            _until(lambda: api.get(f"/v1/requests/{soon['id']}").json()["status"] != "pending",
                   "the first deadline to fire")
            assert api.get(f"/v1/requests/{soon['id']}").json()["status"] == "expired"
            assert api.get(f"/v1/requests/{later['id']}").json()["status"] == "pending"
    for log in ("web.log", "worker.log"):  # the clocks were fast (so this test can fail), and said so
        said = (tmp_path / log).read_text()
        assert "600." in said and "ahead of the database's" in said, said
