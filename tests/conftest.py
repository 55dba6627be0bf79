"""Real parts for every test: redis-server, SQLite or PostgreSQL, the Slack sandbox, the web app."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import create_engine, text

from bot import wiring
from bot.embedded_redis import EmbeddedRedis
from bot.settings import Settings
from bot.storage.db import Database
from slack_sandbox.server import SlackSandbox
from tests.servers import Postgres, serve
from workers import queues, runtime
from workers.notices import Teller
from workers.rq_worker import SignoffWorker

SIGNING_SECRET = "sandbox-signing-secret-0123456789"
BOT_TOKEN = "xoxb-sandbox-test-token"
API_TOKEN = "test-agent-token-0123456789abcdef"
OTHER_TOKEN = "other-agent-token-0123456789abcdef"
# Signs test-agent's callbacks; other-agent has none, so its callback URLs are refused.
CALLBACK_SECRET = "test-agent-callback-secret-0123456789abcdef"
# MACs the audit chain (SIGNOFF_AUDIT_KEY); processes a test starts get it in their environment.
AUDIT_KEY = "test-audit-key-0123456789abcdef0123456789"
USERS = {"U0ALICE": "alice", "U0BOB": "bob", "U0CAROL": "carol", "U0DAVE": "dave"}
CHANNEL = "C0APPROVALS"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False).start()
    yield server
    server.stop()


@pytest.fixture
def redis(redis_server: EmbeddedRedis) -> Iterator[Redis]:
    client = Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres | str]:
    external = os.environ.get("SIGNOFF_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    try:
        server = Postgres().start()
    except (FileNotFoundError, OSError) as e:
        if os.environ.get("CI"):
            raise  # CI installs PostgreSQL; a missing server there is a failure, not a skip
        pytest.skip(f"PostgreSQL not available: {e}")
    yield server
    server.stop()


def _fresh_pg_database(pg: Postgres | str) -> str:
    admin = pg if isinstance(pg, str) else pg.url()
    name = "t_" + uuid.uuid4().hex[:12]
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return admin.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'signoff.db'}"
    return _fresh_pg_database(request.getfixturevalue("postgres"))


def on_every_database() -> Any:
    """A module's `stack_url` fixture that runs its stack on SQLite and on PostgreSQL; in the
    module: `stack_url = on_every_database()`."""

    @pytest.fixture
    def stack_url(database_url: str) -> str:
        return database_url

    return stack_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'signoff.db'}"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database.connect(database_url, audit_key=AUDIT_KEY)
    yield database
    database.engine.dispose()


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SlackSandbox]:
    sb = SlackSandbox.start(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    yield sb
    sb.stop()


@pytest.fixture
def sandbox(sandbox_server: SlackSandbox) -> SlackSandbox:
    sb = sandbox_server
    sb.reset()
    for uid, name in USERS.items():
        sb.add_user(uid, name=name, email=f"{name}@example.com", real_name=name.title())
    sb.add_usergroup("S0FINANCE", handle="finance", users=["U0ALICE", "U0BOB"])
    sb.add_channel(CHANNEL, name="approvals")
    return sb


@dataclass
class Stack:
    """One running Signoff: web app over HTTP, store, Redis, and the sandbox it talks to."""

    w: wiring.Wiring
    sandbox: SlackSandbox
    url: str
    api: httpx.Client
    context: runtime.JobContext

    def run_jobs(self, names: Sequence[str] = queues.ALL) -> int:
        """Run every job queued (on the queues `names`) to completion in this process, like a
        worker would."""
        runtime.install(self.context)
        # A client of its own, as in `signoff worker`: RQ raises its client's socket timeout.
        with Redis.from_url(self.w.settings.redis_url or "") as connection:
            worker = SignoffWorker(list(names), connection=connection)
            worker.work(burst=True, logging_level="WARNING")
        return worker.successful_job_count

    def run_scheduled(self) -> int:
        """Let time pass for scheduled jobs: queue each one now and run it; returns how many."""
        moved = 0
        for name in queues.ALL:
            queue = Queue(name, connection=self.w.redis)
            registry = queue.scheduled_job_registry
            for job_id in registry.get_job_ids():
                registry.remove(job_id)
                queue.enqueue_job(queue.fetch_job(job_id))
                moved += 1
        self.run_jobs()
        return moved

    def sweep(self) -> int:
        """One sweeper pass (as each worker's sweeper thread does), then the jobs it queued."""
        from workers import deadlines

        runtime.install(self.context)
        fired = deadlines.sweep()
        self.run_jobs()
        return fired

    def create(self, **body: Any) -> dict[str, Any]:
        """POST /v1/requests with sensible defaults; asserts it was accepted."""
        body = {"action": "issue_refund", "summary": "Refund $340 to order #1234",
                "args": {"order": 1234, "amount": 340}, "approvers": ["U0ALICE", "U0BOB"],
                "channel": CHANNEL, **body}
        r = self.api.post("/v1/requests", json=body)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def ephemerals(self, user: str, n: int = 1) -> list[dict[str, Any]]:
        """The ephemerals `user` got, waiting for at least `n`: they trail Bolt's ack."""
        return _eventually(lambda: self.sandbox.ephemerals(user), n)

    def views(self, user: str, n: int = 1) -> list[dict[str, Any]]:
        """The modals open for `user`, waiting for at least `n`: views.open follows the ack."""
        return _eventually(lambda: self.sandbox.views(user), n)

    def card(self, request_id: str, channel: str = CHANNEL) -> dict[str, Any]:
        """The posted copy of a request's card in `channel`."""
        for m in self.sandbox.messages(channel):
            if request_id in str(m["blocks"]):
                return m
        raise AssertionError(f"no card for {request_id} in {channel}")


def _eventually(read: Any, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while len(got := read()) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return got


def process_env(slack_api_url: str) -> dict[str, str]:
    """What a `signoff` process a test starts needs to talk to the sandbox and sign its audit chain."""
    return {"SLACK_API_URL": slack_api_url, "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SIGNOFF_API_TOKENS": f"test-agent:{API_TOKEN}",
            "SIGNOFF_AUDIT_KEY": AUDIT_KEY}


def make_settings(database_url: str, redis_url: str, sandbox: SlackSandbox, tmp: Path,
                  **overrides: Any) -> Settings:
    overrides = {"callback_secrets": {"test-agent": (CALLBACK_SECRET,)}, "audit_key": AUDIT_KEY} | overrides
    return Settings(**overrides,
        data_dir=tmp, database_url=database_url, redis_url=redis_url,
        slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
        slack_api_url=sandbox.api_url, api_tokens={API_TOKEN: "test-agent", OTHER_TOKEN: "other-agent"},
        allow_private_callbacks=True,  # test receivers listen on 127.0.0.1
    )


@pytest.fixture
def stack_url() -> str:
    """Which database the end-to-end stack uses; parametrise indirectly to change it."""
    return ""


class MovableClock:
    """Wall time plus an offset the test moves forward (deadlines without sleeping)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        """Move time forward, e.g. advance(minutes=15)."""
        self.offset += timedelta(**delta)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def stack_overrides() -> dict[str, Any]:
    """Settings a test module changes for its stack (override this fixture)."""
    return {}


@pytest.fixture
def stack(
    sandbox: SlackSandbox, redis: Redis, redis_server: EmbeddedRedis, tmp_path: Path, sqlite_url: str,
    stack_url: str, stack_overrides: dict[str, Any], clock: MovableClock,
) -> Iterator[Stack]:
    settings = make_settings(stack_url or sqlite_url, redis_server.url, sandbox, tmp_path, **stack_overrides)
    w = wiring.build(settings, clock=clock)
    teller = Teller(w.redis, w.slack, wait=0.1)  # what each worker runs: it sends the ephemerals
    teller.start()
    with serve(w.web_app()) as url:
        sandbox.events_url = f"{url}/slack/events"
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_TOKEN}"},
                          timeout=30) as api:
            yield Stack(w=w, sandbox=sandbox, url=url, api=api, context=w.job_context())
    teller.stop()
    teller.join()
    w.db.engine.dispose()
