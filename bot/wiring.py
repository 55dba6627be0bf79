"""The only place real Redis, the database engine, the Slack client and the apps are built."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from redis import Redis
from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import text

from bot.api.app import build_web_app
from bot.api.metrics import build_metrics_router
from bot.api.waiters import Waiters
from bot.core.lifecycle import Event
from bot.observe.metrics import StoreCollector, render, zero_series
from bot.observe.store import read_store
from bot.ops.clock import DatabaseClock
from bot.policy.loader import load_policy
from bot.service import ApprovalService, Clock, utcnow
from bot.service.decisions import DecisionDesk
from bot.service.limits import AgentLimits
from bot.settings import Settings
from bot.slack.app import Guard, SlackEndpoint, build_bolt_app
from bot.slack.client import make_client, make_lookup_client
from bot.slack.directory import SlackDirectory
from bot.slack.identity import SlackIdentity
from bot.storage import repo
from bot.storage.db import Database
from bot.webhooks.sender import check_callback
from bot.webhooks.transport import Outbound
from workers.locks import leased_lock
from workers.queues import ALL as ALL_QUEUES
from workers.queues import ENDED_CHANNEL, RQJobs
from workers.runtime import JobContext

# Seconds any one Redis call may take before it is given up. Without a bound, a Redis that
# accepts connections but never answers (a hung host, a partition that drops packets) held every
# click, create and health check that touched it, for as long as it hung. Every Redis call on
# the request path is best effort or fails closed, so giving up is safe; 2 s leaves a click
# inside Slack's 3 s, and is longer than the Teller's BLPOP (1 s). RQ's worker blocks for
# minutes on its own client (see `signoff worker`).
REDIS_TIMEOUT = 2.0

if TYPE_CHECKING:
    from bot.agents.registry import GraphRegistry
    from bot.agents.runs import GraphExecutor, RunService


@dataclass(frozen=True, kw_only=True)
class Wiring:
    """Every real part of one Signoff process."""

    settings: Settings
    redis: Redis
    db: Database
    slack: WebClient
    service: ApprovalService
    jobs: RQJobs
    clock: Clock

    @cached_property
    def registry(self) -> GraphRegistry:
        """The registered graphs on the shared checkpointer; a bad entry raises InvalidSettings."""
        from bot.agents.registry import GraphRegistry, make_checkpointer

        if not self.settings.graphs:
            return GraphRegistry({})
        return GraphRegistry.load(self.settings.graphs, make_checkpointer(self.settings.checkpoints))

    @cached_property
    def runs(self) -> RunService:
        """Starting and reporting on graph runs."""
        from bot.agents.runs import RunService

        return RunService(self.db, registry=self.registry, start=self.jobs.start_run, clock=self.clock,
                          check_start=self.service.check_run_start)

    @cached_property
    def executor(self) -> GraphExecutor:
        """Running and resuming graphs (worker side)."""
        from bot.agents.runs import GraphExecutor

        lease = self.settings.resume_lease

        def thread_lock(thread_id: str) -> AbstractContextManager[Any]:
            # One step of one thread at a time, across workers: LangGraph does not lock resumes.
            # The lease frees the lock of a worker that died holding it; a live holder renews it.
            return leased_lock(self.redis, f"signoff:thread:{thread_id}", lease=lease)

        return GraphExecutor(self.db, registry=self.registry, approvals=self.service,
                             thread_lock=thread_lock, default_approvers=self.settings.default_approvers)

    def job_context(self) -> JobContext:
        """What worker jobs in this process use."""
        return JobContext(
            db=self.db, slack=self.slack, clock=self.clock, jobs=self.jobs,
            outbound=Outbound(timeout=self.settings.callback_timeout),
            callback_secrets=self.settings.callback_secrets,
            allow_private_callbacks=self.settings.allow_private_callbacks,
            graphs=lambda: self.executor, service=self.service,
            sweep_interval=self.settings.sweep_interval, lease=self.settings.resume_lease,
        )

    def bolt_app(self) -> App:
        """The Bolt app (verifies the bot token with auth.test on construction)."""
        assert self.settings.slack_signing_secret is not None
        guard = self.guard() if self.settings.slack_app_token is not None else None
        return build_bolt_app(client=self.slack, signing_secret=self.settings.slack_signing_secret,
                              service=self.service, socket_mode=guard)

    def guard(self) -> Guard:
        """What refuses payloads for another workspace or app (asks Slack who we are: auth.test)."""
        return Guard(SlackIdentity.learn(self.slack), self.audit)

    def web_app(self, bolt: App | None = None) -> FastAPI:
        """The HTTP app; without the Slack endpoint in Socket Mode."""
        endpoint = None
        if self.settings.slack_app_token is None:
            assert self.settings.slack_signing_secret is not None
            endpoint = SlackEndpoint(bolt or self.bolt_app(),
                                     signing_secret=self.settings.slack_signing_secret, guard=self.guard())
        assert self.settings.redis_url is not None
        waiters = Waiters(self.settings.redis_url, channel=ENDED_CHANNEL)
        app = build_web_app(service=self.service, api_tokens=self.settings.api_tokens,
                            slack=endpoint, health=self.health, waiters=waiters, runs=lambda: self.runs,
                            max_body=self.settings.max_body_bytes,
                            decisions=self.decisions, api_scopes=self.settings.api_scopes,
                            limits=self.limits())
        app.include_router(build_metrics_router(token=self.settings.metrics_token, render=self.metrics))
        return app

    def metrics(self) -> bytes:
        """The Prometheus exposition: every process's counters, and the store read now."""
        store = StoreCollector(lambda: read_store(self.db, self.redis, queues=ALL_QUEUES, now=self.clock()))
        return render(store)

    def audit(self, event: Event) -> None:
        """Append one audit event in its own transaction (for refusals that change nothing else)."""
        with self.db.write() as s:
            repo.append_event(s, event, at=self.clock())

    @cached_property
    def decisions(self) -> DecisionDesk:
        """Deciding for people from UIs other than Slack (the decision API)."""
        from bot.agents.checkpoints import checkpoint_reader

        return DecisionDesk(self.service, checkpoint_of=checkpoint_reader(self.db, lambda: self.registry))

    def limits(self) -> AgentLimits:
        """The per-agent limits on creating requests (inactive when none is configured)."""
        return AgentLimits(db=self.db, redis=self.redis, clock=self.clock,
                           rate=self.settings.agent_rate_limit, max_pending=self.settings.agent_max_pending)


    def health(self) -> dict[str, str]:
        """Database and Redis reachability, for /healthz and `signoff doctor`."""
        checks = {}
        try:
            with self.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as e:  # noqa: BLE001 - a health check reports, it does not raise
            checks["database"] = f"error: {e.__class__.__name__}"
        try:
            self.redis.ping()
            checks["redis"] = "ok"
        except Exception as e:  # noqa: BLE001
            checks["redis"] = f"error: {e.__class__.__name__}"
        return checks


def build(settings: Settings, *, clock: Clock | None = None, base: Clock = utcnow,
          serves_agents: bool = True) -> Wiring:
    """Connect to everything `settings` names; REDIS_URL must be resolved by now.

    `serves_agents`: this process answers agents' requests (web): its Slack lookups fail fast
    rather than wait out Slack on the request path. A worker's wait, as its other Slack calls do.

    "Now" is `base` (this process's clock) corrected to the database's (see bot.ops.clock);
    a test passes its own `clock` instead, to move time.
    """
    if settings.redis_url is None:
        raise ValueError("build() needs a redis_url; the entrypoint starts the embedded one")
    redis = Redis.from_url(settings.redis_url, socket_timeout=REDIS_TIMEOUT,
                           socket_connect_timeout=REDIS_TIMEOUT)
    db = Database.connect(settings.database_url, audit_key=settings.audit_key)
    if clock is None:
        clock = DatabaseClock.of(db, base=base, warn_over=settings.max_clock_skew)
    slack = make_client(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    jobs = RQJobs(redis, lease=settings.resume_lease)
    lookups = (make_lookup_client(token=settings.slack_bot_token, base_url=settings.slack_api_url)
               if serves_agents else slack)
    policy = load_policy(settings.policy_file) if settings.policy_file else None
    service = ApprovalService(
        db, jobs=jobs, clock=clock, directory=SlackDirectory(lookups),
        default_channel=settings.default_channel,
        check_callback_url=partial(check_callback, secrets=settings.callback_secrets,
                                   allow_private=settings.allow_private_callbacks),
        policy=policy,
    )
    rules = policy.every_rule if policy is not None else ()
    zero_series(agents=set(settings.api_tokens.values()),
                escalating_rules=[r.name for r in rules if r.escalations])
    return Wiring(settings=settings, redis=redis, db=db, slack=slack, service=service, jobs=jobs,
                  clock=clock)
