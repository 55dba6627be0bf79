"""Deadlines: how late 10,000 timeouts fire, and what one sweeper pass costs as pending requests grow.

Run from the repo root:  .venv/bin/python -m bench.deadlines  [--quick]
Prints one JSON object on stdout (progress goes to stderr); asserts nothing about speed.
See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import secrets
import shutil
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis import Redis
from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.results import Result, get_key
from sqlalchemy import event, func, insert, text
from sqlmodel import select

from bench.harness import (
    CHANNEL,
    START_TIMEOUT,
    Samples,
    child_env,
    cpu_ms,
    difference,
    job_report,
    job_timings,
    log,
    log_problems,
    memory_mb,
    parser,
    ratio,
    run_main,
    seed_sandbox,
    signoff_process,
    tail,
)
from blocks.card import approval_card, card_text
from bot import wiring
from bot.core import audit, deadlines
from bot.embedded_redis import EmbeddedRedis, free_port
from bot.service import NewRequest
from bot.settings import load_settings
from bot.slack.delivery import card_for
from bot.storage.audit_export import verify
from bot.storage.tables import ApprovalRequest, AuditEvent, AuditHead, SlackMessage
from slack_sandbox.server import SlackSandbox
from workers import deadlines as deadline_jobs
from workers import queues, runtime

APPROVERS = 4
FIRE_NAME = f"{deadline_jobs.fire.__module__}.{deadline_jobs.fire.__qualname__}"  # as RQ names the job
EXPIRE_ACTION, EXPIRE_TIMEOUT = "bench_expire", timedelta(minutes=2)  # the lateness run
SWEEP_ACTION, SWEEP_TIMEOUT = "bench_sweep", timedelta(hours=2)  # the sweeper-cost store
# The policy the workers load (SIGNOFF_POLICY_FILE): one rule per run, both reject on timeout.
POLICY = f"""\
rules:
  - name: bench-timeout
    match:
      action: {EXPIRE_ACTION}
    approvers: [U0B0000, U0B0001]
    channel: {CHANNEL}
    timeout: {int(EXPIRE_TIMEOUT.total_seconds())}s
    on_timeout: reject
  - name: bench-sweep
    match:
      action: {SWEEP_ACTION}
    approvers: [U0B0000, U0B0001]
    channel: {CHANNEL}
    timeout: {int(SWEEP_TIMEOUT.total_seconds() // 3600)}h
    on_timeout: reject
default:
  approvers: [U0B0000]
"""
PASS_SPACING = timedelta(seconds=10)  # the sweeper-cost store: one batch of due requests per 10 s
POLL_S = 0.5


class SetClock:
    """Wall time, or a fixed instant while `at` is set: what _new_row calls "now"."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at if self.at is not None else datetime.now(UTC)


# --- the parts: redis-server, the Slack sandbox, a SQLite store, `signoff worker` processes ---------


@dataclass
class Parts:
    """What both phases use; the workers come and go inside it."""

    tmp: Path
    redis: Redis
    redis_url: str
    redis_pid: int
    sandbox: SlackSandbox
    env: dict[str, str]  # the workers' whole configuration
    w: wiring.Wiring  # this process's own wiring on the same store, Redis and policy
    clock: SetClock
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)


@contextlib.contextmanager
def running_parts(tmp: Path, *, database_url: str | None = None) -> Iterator[Parts]:
    """Redis, the sandbox and the store (`database_url`, else a fresh SQLite file), configured
    exactly as the workers will see them."""
    with contextlib.ExitStack() as stack:
        server = EmbeddedRedis(tmp / "redis", persist=False).start()
        stack.callback(server.stop)
        secret, bot_token = secrets.token_hex(16), "xoxb-bench-" + secrets.token_hex(8)
        sandbox = SlackSandbox.start(signing_secret=secret, bot_token=bot_token, port=0)
        stack.callback(sandbox.stop)
        seed_sandbox(sandbox, APPROVERS)
        (tmp / "policy.yaml").write_text(POLICY)
        env = child_env(
            tmp=tmp,
            redis_url=server.url,
            sandbox=sandbox,
            bot_token=bot_token,
            secret=secret,
            api_token=secrets.token_hex(24),
            port=free_port(),
        )
        env["SIGNOFF_POLICY_FILE"] = str(tmp / "policy.yaml")
        if database_url:
            env["DATABASE_URL"] = database_url
        clock = SetClock()
        # Building this creates the tables, before any worker starts (see bench/harness/stack.py).
        w = wiring.build(load_settings(env, env_file=None), clock=clock)
        stack.callback(w.db.engine.dispose)
        redis = stack.enter_context(contextlib.closing(Redis.from_url(server.url)))
        log(f"redis-server at {server.url}, sandbox at {sandbox.url}, store {env['DATABASE_URL']}")
        yield Parts(
            tmp=tmp,
            redis=redis,
            redis_url=server.url,
            redis_pid=server.process.pid if server.process else 0,
            sandbox=sandbox,
            env=env,
            w=w,
            clock=clock,
        )


@contextlib.contextmanager
def running_workers(parts: Parts, n: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`signoff worker` n times (each with the scheduler on, as the Procfile runs it); stopped on exit."""
    with contextlib.ExitStack() as stack:
        procs = []
        for k in range(n):
            cwd = parts.tmp / f"worker{k + 1}"  # own cwd: each writes its own worker.log
            cwd.mkdir()
            procs.append(stack.enter_context(signoff_process("worker", env=parts.env, cwd=cwd)))
        deadline = time.monotonic() + START_TIMEOUT
        while Worker.count(connection=parts.redis) < n:
            for k, proc in enumerate(procs):
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"worker {k + 1} exited with {proc.returncode}:\n"
                        f"{tail(parts.tmp / f'worker{k + 1}' / 'worker.log')}"
                    )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{n} workers did not register within {START_TIMEOUT:.0f} s")
            time.sleep(0.05)
        log(f"{n} signoff workers up (pids {', '.join(str(p.pid) for p in procs)})")
        parts.workers = procs
        yield procs


def children_cpu_ms(pid: int) -> float:
    """CPU of a process's direct children (the RQ scheduler a worker forks), in ms."""
    total = 0.0
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_ms(int(child))
    return total


# --- planting pending requests ----------------------------------------------------------------------


def new_row(parts: Parts, *, action: str, deadline: datetime, timeout: timedelta, n: int) -> ApprovalRequest:
    """A request as ApprovalService._new_row stores it, created `timeout` before its deadline."""
    parts.clock.at = deadline - timeout
    try:
        new = NewRequest(
            action=action,
            summary=f"Refund $340 to order #{1000 + n}",
            args={"order": 1000 + n, "amount": 340, "currency": "USD"},
            requester="billing-agent",
        )
        row, _ = parts.w.service._new_row(new, agent="bench")
    finally:
        parts.clock.at = None
    if row.next_deadline_at != deadline:
        raise RuntimeError(f"the service computed {row.next_deadline_at} for a deadline at {deadline}")
    if hasattr(row, "cards_version"):
        # Its card is posted and shows this version: what the sweeper's stale-card check expects.
        row.cards_version = row.version
    return row


def append_events(s: Any, events: Sequence[dict[str, Any]]) -> None:
    """Chain many audit events in one go, with the hash the service uses (its append is ~2 ms each)."""
    head = s.get(AuditHead, 1)
    seq, prev = head.seq, head.hash
    keyed_from = getattr(head, "keyed_from", None)  # None: a Signoff from before the chain was keyed
    key = (s.info.get("audit_key") or "").encode()
    rows = []
    for e in events:
        seq += 1
        fields = {"seq": seq, **e}
        if keyed_from is None:
            digest = audit.event_hash(**fields, prev_hash=prev)
        else:
            digest = audit.link(audit.Record(**fields, prev_hash=prev, hash=""), keyed_from=keyed_from,
                                key=key)
        rows.append({**fields, "prev_hash": prev, "hash": digest})
        prev = digest
    s.execute(insert(AuditEvent), rows)
    head.seq, head.hash = seq, prev
    s.add(head)


def plant(parts: Parts, deadlines_at: Sequence[datetime]) -> dict[str, datetime]:
    """Store one pending request per deadline with its card in the sandbox (and, on a Signoff from
    before deadlines were found by the sweeper alone, schedule its RQ job as create() did then).
    Returns {request id: deadline}."""
    rows = [
        new_row(parts, action=EXPIRE_ACTION, deadline=d, timeout=EXPIRE_TIMEOUT, n=n)
        for n, d in enumerate(deadlines_at)
    ]
    messages, events = [], []
    for row in rows:
        card = card_for(row)  # the real card, posted as the worker would (no HTTP: 10,000 of them)
        sent = parts.sandbox.state.post_message(
            channel=CHANNEL, text=card_text(card), blocks=approval_card(card)
        )
        at = row.created_at.isoformat(timespec="microseconds")
        messages.append(
            {
                "request_id": row.id,
                "channel": sent["channel"],
                "ts": sent["ts"],
                "recipient": None,
                "posted_at": row.created_at,
            }
        )
        events.append(
            {
                "at": at,
                "request_id": row.id,
                "kind": "requested",
                "actor": "agent:bench",
                "data": {
                    "action": row.action,
                    "eligible": row.eligible,
                    "urgency": row.urgency,
                    "rule": row.rule,
                },
            }
        )
        events.append(
            {
                "at": at,
                "request_id": row.id,
                "kind": "posted",
                "actor": "system",
                "data": {"channel": sent["channel"], "ts": sent["ts"], "recipient": None},
            }
        )
    with parts.w.db.write() as s:
        s.add_all(rows)
        s.flush()
        s.execute(insert(SlackMessage), messages)
        append_events(s, events)
    schedule = getattr(parts.w.jobs, "schedule_deadline", None)  # before d46bcff: one RQ job each
    for row in sorted(rows, key=lambda r: r.next_deadline_at or datetime.max):
        assert row.next_deadline_at is not None
        if schedule is not None:
            schedule(row.id, row.next_deadline_at)
    return {row.id: row.next_deadline_at for row in rows if row.next_deadline_at is not None}


def schedule_probes(redis: Redis, times: Sequence[datetime], *, tag: str) -> dict[str, datetime]:
    """The baseline: jobs that only read the clock (`time.time`), scheduled on the deadlines queue."""
    queue = Queue(queues.DEADLINES, connection=redis)
    out = {}
    for n, at in enumerate(times):
        job_id = f"probe-{tag}-{n}"
        queue.enqueue_at(at, time.time, job_id=job_id)
        out[job_id] = at
    return out


def executions(redis: Redis, job_ids: Sequence[str]) -> dict[str, list[Result]]:
    """Every recorded run of each job (RQ keeps the last 10 results per job id), oldest first."""
    out: dict[str, list[Result]] = {}
    for start in range(0, len(job_ids), 1000):
        chunk = job_ids[start : start + 1000]
        with redis.pipeline(transaction=False) as p:
            for job_id in chunk:
                p.xrevrange(get_key(job_id), "+", "-")
            raw = p.execute()
        for job_id, entries in zip(chunk, raw, strict=True):
            out[job_id] = [
                Result.restore(job_id, rid.decode(), payload, connection=redis)
                for rid, payload in reversed(entries)
            ]
    return out


def probe_lateness(redis: Redis, probes: dict[str, datetime]) -> Samples:
    """How late each probe ran: the time it read minus the time it was scheduled for."""
    samples = Samples()
    for job_id, runs in executions(redis, list(probes)).items():
        done = [r for r in runs if r.type == Result.Type.SUCCESSFUL]
        if not done:
            samples.fail(f"{job_id} never ran")
            continue
        samples.latencies_ms.append((float(done[0].return_value) - probes[job_id].timestamp()) * 1000)
    return samples


def wait_probes(redis: Redis, probes: dict[str, datetime], *, grace: float) -> None:
    """Until every probe ran, or `grace` seconds after the last was due."""
    until = max(probes.values()).timestamp() + grace
    while time.time() < until:
        if all(executions(redis, list(probes)).values()):
            return
        time.sleep(POLL_S)


# --- the lateness run ----------------------------------------------------------------------------


def watch(parts: Parts, planted: dict[str, datetime], *, grace: float) -> float:
    """Until no planted request is pending, or `grace` s after the last deadline; returns when it ended."""
    last = max(planted.values()).timestamp()
    next_note = time.time() + 10
    while True:
        with parts.w.db.read() as s:
            pending = s.exec(
                select(func.count()).select_from(ApprovalRequest).where(ApprovalRequest.status == "pending")
            ).one()
        now = time.time()
        if now >= next_note:
            log(f"  {pending} pending, {len(planted) - pending} ended; last deadline in {last - now:.0f} s")
            next_note = now + 10
        if (pending == 0 and now > last) or now > last + grace:
            return now
        time.sleep(POLL_S)


def drain_cards(parts: Parts, *, timeout: float) -> bool:
    """Until the card updates the timeouts queued are done (or `timeout`)."""
    cards = [Queue(name, connection=parts.redis) for name in (queues.CARDS, queues.CARDS_LATER)]
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if all(q.count == 0 and q.started_job_registry.count == 0 for q in cards):
            return True
        time.sleep(POLL_S)
    return False


NEW_CARD_ACTION = "bench_new_card"  # routed by the policy's default: a DM to one approver


def new_cards(parts: Parts, *, count: int, every: float, start_at: float | None = None,
              timeout: float = 120.0) -> Samples:
    """Create -> card posted (the sandbox's chat.postMessage) for `count` new requests, one every
    `every` s from `start_at` (epoch s; now if None), each cancelled once its card is out: how
    long a person waits to see a new request."""
    samples = Samples()
    if start_at is not None:
        time.sleep(max(0.0, start_at - time.time()))
    for n in range(count):
        began = time.monotonic()
        row, _ = parts.w.service.create(NewRequest(action=NEW_CARD_ACTION, summary=f"New card {n}",
                                                   args={"n": n}, requester="bench"), agent="bench")
        while not any(row.id in str(c) for c in parts.sandbox.calls("chat.postMessage")):
            if time.monotonic() - began > timeout:
                samples.fail(f"no card for {row.id} within {timeout:.0f} s")
                break
            time.sleep(0.005)
        else:
            samples.latencies_ms.append((time.monotonic() - began) * 1000)
        parts.w.service.cancel(row.id, agent="bench", reason="bench probe")
        time.sleep(max(0.0, every - (time.monotonic() - began)))
    return samples


def lateness_run(parts: Parts, args: argparse.Namespace) -> dict[str, Any]:
    """Idle probes, then the planted requests with probes among them; what fired when, and how often."""
    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    idle = schedule_probes(
        parts.redis,
        [now + timedelta(seconds=1 + rng.uniform(0, args.idle_spread)) for _ in range(args.idle_probes)],
        tag="idle",
    )
    log(f"baseline: {len(idle)} clock-reading jobs scheduled over {args.idle_spread:.0f} s, workers idle")
    wait_probes(parts.redis, idle, grace=10)
    cards_idle = new_cards(parts, count=args.card_probes, every=0.2)
    log(f"baseline: {args.card_probes} new requests' cards, workers idle")

    setup_began = time.time()
    start = datetime.now(UTC) + timedelta(seconds=args.lead)
    deadlines_at = [start + timedelta(seconds=rng.uniform(0, args.spread)) for _ in range(args.requests)]
    log(
        f"planting {args.requests} pending requests, deadlines over {args.spread:.0f} s, "
        f"the first {args.lead:.0f} s from now"
    )
    planted = plant(parts, deadlines_at)
    loaded = schedule_probes(
        parts.redis,
        [start + timedelta(seconds=rng.uniform(0, args.spread)) for _ in range(args.probes)],
        tag="load",
    )
    setup_s = time.time() - setup_began
    slack_s = min(planted.values()).timestamp() - time.time()
    log(f"planted and scheduled in {setup_s:.1f} s; first deadline in {slack_s:.1f} s")

    cpu_before = cpu_snapshot(parts)
    # New requests while the deadlines fire, from the first one on, spread over their window.
    with ThreadPoolExecutor(max_workers=1) as pool:
        burst = pool.submit(new_cards, parts, count=args.card_probes, every=args.spread / args.card_probes,
                            start_at=min(planted.values()).timestamp())
        ended = watch(parts, planted, grace=args.grace)
        cards_during = burst.result()
    cpu = {k: round(v - cpu_before[k], 1) for k, v in cpu_snapshot(parts).items()}
    window_s = ended - min(planted.values()).timestamp()
    log(
        "all planted requests ended"
        if ended <= max(planted.values()).timestamp() + args.grace
        else "grace period over; some requests may still be pending"
    )
    cards_drained = drain_cards(parts, timeout=args.drain)
    result = outcome(parts, planted)
    return {
        "setup_s": round(setup_s, 1),
        "first_deadline_after_setup_s": round(slack_s, 2),
        **result,
        "baseline": {
            "scheduler_floor_idle": _summary(probe_lateness(parts.redis, idle)),
            "scheduler_floor_under_load": _summary(probe_lateness(parts.redis, loaded)),
        },
        "cpu_ms_during_run": cpu,
        "cpu_ms_per_request": {k: round(v / len(planted), 2) for k, v in cpu.items()},
        "run_wall_s": round(window_s, 1),
        "cards": {
            "chat_update_calls": len(parts.sandbox.calls("chat.update")),
            "chat_update_calls_per_request": round(len(parts.sandbox.calls("chat.update")) / len(planted), 2),
            "card_queue_drained": cards_drained,
            "card_jobs_still_queued": sum(Queue(name, connection=parts.redis).count
                                          for name in (queues.CARDS, queues.CARDS_LATER)),
            # A new request's card, while the timeouts' card updates are queued, against idle.
            "new_card_ms": {"idle": cards_idle.summary(), "during_timeouts": cards_during.summary()},
            "new_card_compared": {
                "p50_ratio": ratio(cards_during.summary()["p50_ms"], cards_idle.summary()["p50_ms"]),
                "max_ratio": ratio(cards_during.summary()["max_ms"], cards_idle.summary()["max_ms"])},
        },
        "worker_jobs": job_timings(parts.redis, seen=set()),
        "jobs": job_report(parts.redis),
        "rss_mb": {f"worker{k + 1}": memory_mb(p.pid)["peak"] for k, p in enumerate(parts.workers)},
        "service_log_problems": log_problems(
            {f"worker{k + 1}": parts.tmp / f"worker{k + 1}" / "worker.log" for k in range(len(parts.workers))}
        ),
        "workers_alive_at_end": all(p.poll() is None for p in parts.workers),
    }


def cpu_snapshot(parts: Parts) -> dict[str, float]:
    """CPU used so far by each worker, the scheduler each forked, Redis and this process, in ms."""
    out = {"redis": cpu_ms(parts.redis_pid), "bench_and_sandbox": cpu_ms(os.getpid())}
    for k, proc in enumerate(parts.workers, start=1):
        out[f"worker{k}"] = cpu_ms(proc.pid)
        out[f"worker{k}_scheduler"] = children_cpu_ms(proc.pid)
    return out


def outcome(parts: Parts, planted: dict[str, datetime]) -> dict[str, Any]:
    """Lateness from the audit log, fired twice, missed, early; and who fired each timeout."""
    with parts.w.db.read() as s:
        expired = s.exec(
            select(AuditEvent.request_id, AuditEvent.at).where(AuditEvent.kind == "expired")
        ).all()
        statuses = dict(s.exec(select(ApprovalRequest.id, ApprovalRequest.status)).all())
    fired: dict[str, list[datetime]] = defaultdict(list)
    for request_id, at in expired:
        fired[request_id].append(datetime.fromisoformat(at))
    runs = deadline_job_runs(parts.redis)
    lateness, early = Samples(), 0
    by_who: dict[str, Samples] = defaultdict(Samples)
    by_window: dict[int, Samples] = defaultdict(Samples)
    first = min(planted.values())
    for request_id, deadline in planted.items():
        if not fired.get(request_id):
            continue
        at = min(fired[request_id])
        late_ms = (at - deadline).total_seconds() * 1000
        lateness.latencies_ms.append(late_ms)
        early += late_ms < 0
        who = attribute(at.timestamp(), runs.get(request_id, []))
        by_who[who].latencies_ms.append(late_ms)
        by_window[int((deadline - first).total_seconds() // 10) * 10].latencies_ms.append(late_ms)
    runs_per_request = Counter(len(runs.get(r, [])) for r in planted)
    last_fired = max((min(v) for v in fired.values()), default=first)
    span_s = (last_fired - first).total_seconds()
    missed = [r for r in planted if not fired.get(r)]
    ms = sorted(lateness.latencies_ms)
    checked = verify(parts.w.db)
    count, chain_break = checked.events, checked.broken or (checked.mismatches or None)
    return {
        "lateness": _summary(lateness),
        "lateness_min_ms": round(ms[0], 2) if ms else None,
        "lateness_share_under": {
            f"{s}s": round(sum(x < s * 1000 for x in ms) / max(1, len(ms)), 4) for s in (0.5, 1, 2, 5)
        },
        "offered_per_s": round(len(planted) / max(1e-9, (max(planted.values()) - first).total_seconds()), 1),
        "expired_per_s": round(len(ms) / span_s, 1) if span_s > 0 else None,
        "fired_twice": sum(len(v) > 1 for v in fired.values()),
        "fired_early": early,
        "missed": len(missed),
        "missed_examples": missed[:3],
        "statuses": dict(Counter(statuses[r] for r in planted)),
        "fired_by": {who: _summary(s) for who, s in sorted(by_who.items())},
        "deadline_job_runs_per_request": {str(k): v for k, v in sorted(runs_per_request.items())},
        "lateness_by_deadline_window_s": {
            f"{w}-{w + 10}": _summary(s, short=True) for w, s in sorted(by_window.items())
        },
        "audit_chain": {"events": count, "intact": chain_break is None},
    }


def attribute(at: float, runs: list[Result]) -> str:
    """Which job ended the request: the run of its deadline job whose span holds the expiry, else
    the sweeper (a thread in each worker; nothing else ends these requests)."""
    spans = sorted(
        (r.execution_started_at.timestamp(), r.execution_ended_at.timestamp())
        for r in runs
        if r.execution_started_at and r.execution_ended_at
    )
    for n, (began, ended) in enumerate(spans):
        if began - 0.001 <= at <= ended + 0.001:
            return "deadline_job_first_run" if n == 0 else "deadline_job_after_waking_early"
    return "sweeper"


def deadline_job_runs(redis: Redis) -> dict[str, list[Result]]:
    """Every recorded run of `workers.deadlines.fire`, by request id, whatever the job ids are."""
    queue = Queue(queues.DEADLINES, connection=redis)
    ids = set(queue.get_job_ids())
    for registry in (
        queue.scheduled_job_registry,
        queue.started_job_registry,
        queue.finished_job_registry,
        queue.failed_job_registry,
    ):
        ids.update(registry.get_job_ids())
    ordered = sorted(ids)
    by_request: dict[str, list[str]] = defaultdict(list)
    for start in range(0, len(ordered), 1000):
        for job in Job.fetch_many(ordered[start : start + 1000], connection=redis):
            if job is not None and job.func_name == FIRE_NAME and job.args:
                by_request[str(job.args[0])].append(job.id)
    found = executions(redis, [j for jobs in by_request.values() for j in jobs])
    return {r: [run for j in jobs for run in found[j]] for r, jobs in by_request.items()}


def _summary(samples: Samples, *, short: bool = False) -> dict[str, Any]:
    out = samples.summary()
    out.pop("per_second", None)
    if short:
        return {k: out[k] for k in ("count", "p50_ms", "p99_ms", "max_ms")}
    return out


# --- the sweeper's cost per pass -----------------------------------------------------------------


@dataclass
class SweepStore:
    """A second store (and Redis database 1) for the sweeper: N pending, K due per pass, fixed clock."""

    parts: Parts
    w: wiring.Wiring
    clock: SetClock
    base: datetime
    due: int
    batches: int  # batches of `due` requests planted, one per pass
    pending: int = 0
    used: int = 0  # batches already fired

    def grow_to(self, n: int, rng: random.Random) -> None:
        """Add future requests (created in the last hour, 2 h timeout) until n are pending."""
        rows = []
        if self.pending == 0:  # first: the due batches, `PASS_SPACING` apart
            for b in range(self.batches):
                for _ in range(self.due):
                    at = self.base + PASS_SPACING * b - timedelta(seconds=rng.uniform(0.1, 4))
                    rows.append((at - SWEEP_TIMEOUT, at))
        while self.pending + len(rows) < n:
            created = self.base - timedelta(seconds=rng.uniform(60, 3600))
            rows.append((created, created + SWEEP_TIMEOUT))
        self.insert(rows, due=self.due * self.batches if self.pending == 0 else 0)
        self.pending += len(rows)

    def insert(self, rows: list[tuple[datetime, datetime]], *, due: int) -> None:
        """Copies of one real row (ApprovalService._new_row), each with its own id, times and card.

        The first `due` (the ones that will time out) get a card in the sandbox, so the card update
        a timeout queues really runs; the others' cards are never touched and only need a row."""
        proto = new_row(self.parts, action=SWEEP_ACTION, deadline=self.base, timeout=SWEEP_TIMEOUT, n=0)
        template = proto.model_dump()
        for start in range(0, len(rows), 10_000):
            requests, messages = [], []
            for k, (created, deadline) in enumerate(rows[start : start + 10_000], start=start):
                rid = "req_" + secrets.token_hex(10)
                requests.append({**template, "id": rid, "created_at": created, "next_deadline_at": deadline})
                card = self.parts.sandbox.state.post_message if k < due else None
                ts = (
                    card(channel=CHANNEL, text=proto.summary, blocks=None)["ts"]
                    if card
                    else f"{created.timestamp():.6f}"
                )
                messages.append(
                    {"request_id": rid, "channel": CHANNEL, "ts": ts, "recipient": None, "posted_at": created}
                )
            with self.w.db.write() as s:
                s.execute(insert(ApprovalRequest), requests)
                s.execute(insert(SlackMessage), messages)

    def run_card_jobs(self) -> None:
        """Run the card updates the last pass queued, as a worker would soon after (not timed)."""
        cards = [Queue(name, connection=self.w.redis) for name in (queues.CARDS, queues.CARDS_LATER)]
        SimpleWorker(cards, connection=self.w.redis).work(burst=True, logging_level="WARNING")

    def at_next_batch(self) -> None:
        """Move the clock to the next batch: exactly `due` requests are overdue."""
        self.clock.at = self.base + PASS_SPACING * self.used
        self.used += 1


def _database_1(url: str) -> str:
    """The same Redis server, database 1: `?db=1` on a unix socket URL, `/1` on a TCP one."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "db"] + [("db", "1")]
        return urlunsplit(parts._replace(query=urlencode(query)))
    return urlunsplit(parts._replace(path="/1"))


@contextlib.contextmanager
def sweep_store(parts: Parts, *, due: int, batches: int) -> Iterator[SweepStore]:
    """The sweeper's store, wired as a worker is, on its own SQLite file and Redis database 1."""
    env = parts.env | {
        "DATABASE_URL": f"sqlite:///{parts.tmp / 'sweeper.db'}",
        "REDIS_URL": _database_1(parts.redis_url),
    }
    clock = SetClock()
    w = wiring.build(load_settings(env, env_file=None), clock=clock)
    runtime.install(w.job_context())
    try:
        base = datetime.now(UTC).replace(microsecond=0)
        # new_row uses parts' service (same policy); the rows go to this store.
        yield SweepStore(parts=parts, w=w, clock=clock, base=base, due=due, batches=batches)
    finally:
        w.redis.flushdb()
        w.redis.close()
        w.db.engine.dispose()


def naive_pass(w: wiring.Wiring) -> list[str]:
    """The design to beat: load every pending request and work out its next deadline in Python."""
    now = w.clock()
    with w.db.read() as s:
        rows = s.exec(select(ApprovalRequest).where(ApprovalRequest.status == "pending")).all()
    due = []
    for row in rows:
        at = deadlines.next_deadline(
            deadlines.Route.from_json(row.route),
            created_at=row.created_at,
            level=row.escalation_level,
            reminders=row.reminders_sent,
        )
        if at is not None and at <= now:
            due.append(row.id)
    return due


def forced_index_ids(w: wiring.Wiring, *, limit: int = 1000) -> list[str]:
    """due_request_ids' query with SQLite told to use ix_requests_next_deadline_at (a reference)."""
    sql = text(
        "SELECT id FROM requests INDEXED BY ix_requests_next_deadline_at "
        "WHERE next_deadline_at <= :now AND status = 'pending' ORDER BY next_deadline_at LIMIT :limit"
    )
    now = w.clock().astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with w.db.read() as s:
        return [r for (r,) in s.execute(sql, {"now": now, "limit": limit})]


def timed(call: Callable[[], object], reps: int, *, expect: Callable[[object], str | None]) -> Samples:
    """Run `call` reps times, one at a time; `expect` turns a wrong answer into an error."""
    samples = Samples()
    for _ in range(reps):
        began = time.perf_counter()
        got = call()
        elapsed = (time.perf_counter() - began) * 1000
        problem = expect(got)
        if problem is None:
            samples.latencies_ms.append(elapsed)
        else:
            samples.fail(problem)
    return samples


def expect_count(n: int) -> Callable[[object], str | None]:
    """A check that a query found exactly n due requests."""
    return lambda got: None if len(got) == n else f"found {len(got)}, {n} due"  # type: ignore[arg-type]


def fired(n: int) -> Callable[[object], str | None]:
    """A check that a sweeper pass fired exactly n deadlines."""
    return lambda got: None if got == n else f"fired {got}, {n} due"


def query_plans(w: wiring.Wiring, call: Callable[[], object]) -> list[str]:
    """SQLite's plan for every SELECT `call` runs (captured as sent, parameters included)."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    event.listen(w.db.engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        event.remove(w.db.engine, "before_cursor_execute", capture)
    plans = []
    with w.db.engine.connect() as conn:
        for statement, params in seen:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            first_line = " ".join(statement.split())[:90]
            plans.append(f"{first_line} … → " + "; ".join(str(r[-1]) for r in rows))
    return plans


def sweeper_costs(parts: Parts, args: argparse.Namespace) -> dict[str, Any]:
    """At each size: the due query, the rest of a pass (requeue_lost), a whole pass that fires `due`
    requests, and the naive full scan; the same `due` at every size."""
    rng = random.Random(args.seed + 1)
    out: dict[str, Any] = {}
    with sweep_store(parts, due=args.due, batches=args.passes * len(args.sweep_sizes)) as store:
        for n in args.sweep_sizes:
            began = time.monotonic()
            store.grow_to(n, rng)
            log(f"sweeper store: {store.pending} pending ({time.monotonic() - began:.1f} s to add)")
            store.at_next_batch()
            exactly = expect_count(args.due)
            due_query = timed(store.w.service.deadlines.due_request_ids, args.query_reps, expect=exactly)
            forced = timed(lambda: forced_index_ids(store.w), args.query_reps, expect=exactly)
            naive = timed(lambda: naive_pass(store.w), args.naive_reps, expect=exactly)
            lost = timed(
                lambda: deadline_jobs.requeue_lost(runtime.current()),
                args.query_reps // 2,
                expect=lambda got: None,
            )
            plans = query_plans(store.w, store.w.service.deadlines.due_request_ids)
            plans += query_plans(store.w, lambda: deadline_jobs.requeue_lost(runtime.current()))
            passes = Samples()
            for k in range(args.passes):
                if k:
                    store.at_next_batch()
                one = timed(deadline_jobs.sweep, 1, expect=fired(args.due))
                passes.latencies_ms += one.latencies_ms
                if one.errors:
                    passes.fail(one.error_examples[0])
                store.run_card_jobs()
            # Nothing due now until the next batch: what a pass costs whatever it fires.
            empty = timed(deadline_jobs.sweep, args.query_reps // 2, expect=fired(0))
            store.pending -= args.due * args.passes
            out[f"{n}_pending"] = {
                "due_request_ids_ms": _summary(due_query),
                "requeue_lost_ms": _summary(lost),
                "full_pass_firing_due_ms": _summary(passes),
                "pass_with_nothing_due_ms": _summary(empty),
                "baseline_naive_scan_ms": _summary(naive),
                "reference_due_query_forced_onto_deadline_index_ms": _summary(forced),
                "query_plans": plans,
            }
            log(
                f"  {n} pending: due query p50 {due_query.summary()['p50_ms']} ms, whole pass p50 "
                f"{passes.summary()['p50_ms']} ms, naive scan p50 {naive.summary()['p50_ms']} ms"
            )
    return out


# --- the benchmark -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; --quick shrinks everything for a smoke run."""
    p = parser(__doc__, quick="~30 s")
    p.add_argument("--requests", type=int, default=10_000, help="pending requests that time out (10000)")
    p.add_argument("--spread", type=float, default=60.0, help="their deadlines spread over this many s (60)")
    p.add_argument("--workers", type=int, default=2, help="`signoff worker` processes (2)")
    p.add_argument(
        "--lead",
        type=float,
        default=None,
        help="s from the start of planting to the first deadline (default 4 + 2 ms per request)",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=150.0,
        help="s after the last deadline before a pending request counts as missed (150)",
    )
    p.add_argument("--drain", type=float, default=10.0, help="s to wait for card updates afterwards (10)")
    p.add_argument("--card-probes", type=int, default=10,
                   help="new requests whose card is timed, idle and while the deadlines fire (10)")
    p.add_argument("--probes", type=int, default=300, help="clock-reading jobs among the deadlines (300)")
    p.add_argument(
        "--idle-probes", type=int, default=100, help="clock-reading jobs before, workers idle (100)"
    )
    p.add_argument("--idle-spread", type=float, default=8.0, help="s the idle probes spread over (8)")
    p.add_argument("--sweep-sizes", default="10000,100000", help="pending requests per sweeper measurement")
    p.add_argument("--due", type=int, default=100, help="requests due per sweeper pass (100)")
    p.add_argument("--passes", type=int, default=5, help="whole sweeper passes timed per size (5)")
    p.add_argument("--query-reps", type=int, default=20, help="timed due queries per size (20)")
    p.add_argument("--naive-reps", type=int, default=2, help="timed naive scans per size (2)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--database-url", default=None,
                   help="an empty database for the lateness run, e.g. postgresql+psycopg://… (default: a "
                        "fresh SQLite file; the sweeper's cost is measured on SQLite either way)")
    p.add_argument("--skip-lateness", action="store_true", help="only the sweeper's cost")
    args = p.parse_args(argv)
    if args.quick:
        args.requests, args.spread, args.probes, args.idle_probes, args.idle_spread = 600, 6.0, 40, 20, 2.0
        args.card_probes = 3
        args.grace, args.drain, args.sweep_sizes = 30.0, 5.0, "1000,10000"
        args.due, args.passes, args.query_reps, args.naive_reps = 20, 3, 10, 2
    args.sweep_sizes = [int(x) for x in str(args.sweep_sizes).split(",") if x.strip()]
    if args.lead is None:
        args.lead = 4 + args.requests * 0.002
    return args


def run(args: argparse.Namespace, *, host: dict[str, Any]) -> dict[str, Any]:
    """Both phases on one set of parts; everything started is stopped on the way out."""
    tmp = Path(tempfile.mkdtemp(prefix="signoff-bench-deadlines-"))
    try:
        with running_parts(tmp, database_url=args.database_url) as parts:
            lateness: dict[str, Any] = {}
            if not args.skip_lateness:
                with running_workers(parts, args.workers):
                    lateness = lateness_run(parts, args)
                log("workers stopped; measuring the sweeper alone")
            sweeper = sweeper_costs(parts, args)
            settings = {
                "sweep_interval_s": parts.w.settings.sweep_interval,
                "timeout_s": EXPIRE_TIMEOUT.total_seconds(),
                "sweeper_store_timeout_s": SWEEP_TIMEOUT.total_seconds(),
                "store": "postgresql" if args.database_url else "sqlite",
                "sweeper_store": "sqlite",
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report(args=args, host=host, lateness=lateness, sweeper=sweeper, settings=settings)


def report(
    *,
    args: argparse.Namespace,
    host: dict[str, Any],
    lateness: dict[str, Any],
    sweeper: dict[str, Any],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """The JSON the benchmark prints."""
    return {
        "benchmark": "deadlines",
        "machine": host,
        "code": code_version(),
        "parameters": {**vars(args), **settings},
        "lateness_run": lateness,
        "sweeper_pass": sweeper,
        "compared": compare(lateness, sweeper, sizes=args.sweep_sizes),
        "targets": targets(lateness, sweeper, sizes=args.sweep_sizes),
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and whether the working tree differed from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}
    return {"commit": commit or None, "uncommitted_changes": [ln[3:] for ln in changed if ln.strip()]}


def compare(lateness: dict[str, Any], sweeper: dict[str, Any], *, sizes: list[int]) -> dict[str, Any]:
    """Lateness over the scheduler's own floor; each sweeper cost at the largest size over the smallest."""
    out: dict[str, Any] = {}
    if lateness:
        fired, floor = lateness["lateness"], lateness["baseline"]["scheduler_floor_under_load"]
        idle = lateness["baseline"]["scheduler_floor_idle"]
        for p in ("p50_ms", "p99_ms", "max_ms"):
            out[f"lateness_minus_floor_under_load_{p}"] = difference(fired[p], floor[p])
            out[f"lateness_minus_floor_idle_{p}"] = difference(fired[p], idle[p])
    if len(sizes) >= 2:
        small, big = sweeper[f"{sizes[0]}_pending"], sweeper[f"{sizes[-1]}_pending"]
        key = f"{sizes[-1]}_over_{sizes[0]}_p50"
        out[key] = {
            name: ratio(big[name]["p50_ms"], small[name]["p50_ms"]) for name in big if name != "query_plans"
        }
        out[f"naive_over_due_query_p50_at_{sizes[-1]}"] = ratio(
            big["baseline_naive_scan_ms"]["p50_ms"], big["due_request_ids_ms"]["p50_ms"]
        )
    return out


def targets(lateness: dict[str, Any], sweeper: dict[str, Any], *, sizes: list[int]) -> dict[str, bool | None]:
    """The issue's goals."""
    out: dict[str, bool | None] = {
        "p99_lateness_under_1s": None,
        "none_fired_twice": None,
        "none_missed": None,
    }
    if lateness:
        p99 = lateness["lateness"]["p99_ms"]
        out["p99_lateness_under_1s"] = p99 is not None and p99 < 1000 and lateness["missed"] == 0
        out["none_fired_twice"] = lateness["fired_twice"] == 0
        out["none_missed"] = lateness["missed"] == 0
    if len(sizes) >= 2:
        small, big = sweeper[f"{sizes[0]}_pending"], sweeper[f"{sizes[-1]}_pending"]
        # 10x the pending requests, the same number due: flat means under 1.5x, for a pass that
        # fires nothing and for one that fires `due` deadlines.
        ratios = [
            ratio(big[k]["p50_ms"], small[k]["p50_ms"])
            for k in ("pass_with_nothing_due_ms", "full_pass_firing_due_ms")
        ]
        out["sweeper_pass_flat_with_pending"] = all(r is not None and r < 1.5 for r in ratios)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON report."""
    return run_main(parse_args, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
