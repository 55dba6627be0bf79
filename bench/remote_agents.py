"""Remote agents: how soon a waiting agent learns a decision, through `wait` and through callbacks.

Run from the repo root:  .venv/bin/python -m bench.remote_agents  [--quick]
Prints one JSON object on stdout (progress goes to stderr); asserts nothing about speed.
See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
from redis import Redis
from rq import Queue
from rq.registry import StartedJobRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.harness import (
    Samples,
    Stack,
    card_request_id,
    cpu_ms,
    cpu_tree_ms,
    job_report,
    job_timings,
    log,
    log_problems,
    memory_mb,
    parser,
    process_options,
    ratio,
    request_body,
    run_main,
    running_stack,
    timed_calls,
)
from blocks import ids
from signoff_client import CallbackVerificationError, verify_callback
from slack_sandbox.server import ServedApp
from workers import queues

LIFECYCLE_TIMEOUT = 30.0  # create -> agent knows; longer counts as an error
CARD_TIMEOUT = 15.0  # a card not posted by then is never clicked
WAIT_HOLD_S = 60  # what the agents ask GET /wait to hold at most
SCAN_S = 0.002  # how often the people look at their channels for new cards
SETTLE_TIMEOUT = 30.0
CHANNELS = 64  # cards are spread over this many channels so that finding one stays cheap


# --- one lifecycle ------------------------------------------------------------------------------


class Failed(Exception):
    """A lifecycle went wrong; the message is the error the report counts."""


@dataclass(eq=False)
class Lifecycle:
    """One request between its creation and its agent learning the outcome."""

    request_id: str
    channel: str
    expected_at: float = 0.0  # perf_counter when its agent started waiting
    clicked: threading.Event = field(default_factory=threading.Event)  # click answered (or given up)
    clicked_at: float | None = None  # perf_counter just before the signed click was sent
    click_ack_ms: float | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What one lifecycle measured, or why it failed."""

    error: str | None = None
    decision_ms: float | None = None  # click sent -> agent knows
    lifecycle_ms: float | None = None  # create sent -> agent knows
    click_ack_ms: float | None = None


@dataclass(frozen=True, kw_only=True)
class Mode:
    """How an agent learns the outcome: `wait`, `callback`, or polling GET every `poll_s` seconds."""

    name: str
    callback: bool = False
    poll_s: float | None = None


WAIT = Mode(name="wait")
CALLBACK = Mode(name="callback", callback=True)


def poll_mode(seconds: float) -> Mode:
    """The baseline: GET /v1/requests/{id} every `seconds` until it is decided."""
    return Mode(name=f"poll_{seconds:g}s", poll_s=seconds)


def wait_until(event: threading.Event, *, deadline: float, abort: threading.Event) -> bool:
    """Wait for `event` until `deadline` (perf_counter), in short slices so Ctrl-C is not held up."""
    while not event.is_set():
        remaining = deadline - time.perf_counter()
        if remaining <= 0 or abort.is_set():
            return False
        event.wait(min(0.2, remaining))
    return True


# --- the people clicking ------------------------------------------------------------------------


class Humans:
    """Approvers watching their channels: a card is clicked Approve as soon as it is posted and its
    agent waits for the outcome, by `clickers` people in parallel."""

    def __init__(self, stack: Stack, *, clickers: int, users: Sequence[str]) -> None:
        self._stack, self._users = stack, users
        self._lock = threading.Lock()
        self._pending: dict[str, Lifecycle] = {}
        self._work = threading.Event()  # set when something is pending: an idle scanner sleeps
        self._stop = threading.Event()
        self._turn = itertools.count()
        self._pool = ThreadPoolExecutor(max_workers=clickers, thread_name_prefix="human")
        self._scanner = threading.Thread(target=self._scan, name="card-scanner", daemon=True)

    def __enter__(self) -> Humans:
        self._scanner.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._work.set()
        self._scanner.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def expect(self, lc: Lifecycle) -> None:
        """The agent waits now: click this request's card once it is there."""
        lc.expected_at = time.perf_counter()
        with self._lock:
            self._pending[lc.request_id] = lc
        self._work.set()

    def _scan(self) -> None:
        while not self._stop.is_set():
            self._work.wait()
            began = time.perf_counter()
            with self._lock:
                pending = list(self._pending.values())
                if not pending:
                    self._work.clear()  # under the lock: expect() cannot slip in between
            by_channel: dict[str, list[Lifecycle]] = defaultdict(list)
            for lc in pending:
                by_channel[lc.channel].append(lc)
            for channel, waiting in by_channel.items():
                # messages() deep-copies the channel: one read per channel, few cards in each.
                posted = {card_request_id(m): str(m["ts"]) for m in self._stack.sandbox.messages(channel)}
                for lc in waiting:
                    self._look(lc, posted.get(lc.request_id))
            # With many cards outstanding a sweep takes milliseconds of the CPU the service needs:
            # rest at least twice as long as the sweep took, so looking costs at most a third of a core.
            self._stop.wait(max(SCAN_S, 2 * (time.perf_counter() - began)))

    def _look(self, lc: Lifecycle, ts: str | None) -> None:
        if ts is None and time.perf_counter() - lc.expected_at < CARD_TIMEOUT:
            return
        with self._lock:
            del self._pending[lc.request_id]
        if ts is None:
            lc.problem = f"no card within {CARD_TIMEOUT:.0f} s"
            lc.clicked.set()
        else:
            self._pool.submit(self._click, lc, ts)

    def _click(self, lc: Lifecycle, ts: str) -> None:
        user = self._users[next(self._turn) % len(self._users)]
        try:
            payload = self._stack.clicks.block_actions(user, lc.channel, ts, ids.ACTION_APPROVE)
            lc.clicked_at = time.perf_counter()
            answer = self._stack.clicks.deliver(payload)  # gives up after 3 s, as Slack does
            lc.click_ack_ms = (time.perf_counter() - lc.clicked_at) * 1000
            if answer.status_code != 200:
                lc.problem = f"click answered HTTP {answer.status_code}: {answer.text[:100]}"
        except Exception as e:  # noqa: BLE001 - a failed click is a counted error
            lc.problem = f"click failed: {type(e).__name__}: {e}"
        finally:
            lc.clicked.set()


# --- the agents' callback endpoint --------------------------------------------------------------


class Receiver:
    """Where the agents' callbacks land: each POST is verified with the agent's callback secret, answered
    200, and its arrival time noted (the first one per request; later ones are duplicates)."""

    def __init__(self, *, secret: str) -> None:
        self._secret = secret
        self._lock = threading.Lock()
        self._arrived: dict[str, tuple[float, dict[str, Any]]] = {}
        self._events: dict[str, threading.Event] = {}
        self.counts = {"received": 0, "duplicates": 0, "bad_signature": 0}
        self.bad_examples: list[str] = []
        self._served: ServedApp | None = None
        self.url = ""

    def __enter__(self) -> Receiver:
        app = Starlette(routes=[Route("/callback", self._endpoint, methods=["POST"])])
        self._served = ServedApp.serve(app, host="127.0.0.1", port=0)
        self.url = f"{self._served.url}/callback"
        return self

    def __exit__(self, *_: object) -> None:
        if self._served is not None:
            self._served.stop()

    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        try:
            payload = verify_callback(request.headers, body, self._secret)
        except CallbackVerificationError as e:
            with self._lock:
                self.counts["bad_signature"] += 1
                if len(self.bad_examples) < 3:
                    self.bad_examples.append(str(e)[:200])
            return Response(status_code=401)
        self._note(str(payload.get("request_id")), time.perf_counter(), payload)
        return Response(status_code=200)

    def _note(self, request_id: str, at: float, payload: dict[str, Any]) -> None:
        with self._lock:
            self.counts["received"] += 1
            if request_id in self._arrived:
                self.counts["duplicates"] += 1
                return
            self._arrived[request_id] = (at, payload)
            self._events.setdefault(request_id, threading.Event()).set()

    def wait(
        self, request_id: str, *, deadline: float, abort: threading.Event
    ) -> tuple[float, dict[str, Any]] | None:
        """(arrival time, verified body) of the request's first callback, or None by the deadline."""
        with self._lock:
            event = self._events.setdefault(request_id, threading.Event())
        if not wait_until(event, deadline=deadline, abort=abort):
            return None
        with self._lock:
            return self._arrived[request_id]

    def report(self) -> dict[str, Any]:
        """How many callbacks came, and how many were duplicates or failed verification."""
        out: dict[str, Any] = dict(self.counts)
        if self.bad_examples:
            out["bad_signature_examples"] = self.bad_examples
        return out


# --- the agents ---------------------------------------------------------------------------------


class Agents:
    """Agents of one API token: each lifecycle creates a request and learns its outcome."""

    def __init__(self, stack: Stack, *, humans: Humans, receiver: Receiver, approvers: int) -> None:
        self._stack, self._humans, self._receiver = stack, humans, receiver
        self._approvers = approvers
        self.abort = threading.Event()
        many = httpx.Limits(max_connections=512, max_keepalive_connections=512)
        self._http = httpx.Client(
            base_url=stack.web_url,
            headers={"Authorization": f"Bearer {stack.api_token}"},
            timeout=LIFECYCLE_TIMEOUT,
            limits=many,
            trust_env=False,
        )

    def __enter__(self) -> Agents:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.abort.set()
        self._http.close()

    def lifecycle(self, mode: Mode, n: int) -> Outcome:
        """create -> card -> click -> agent knows; any failure becomes the outcome's error."""
        began = time.perf_counter()
        deadline = began + LIFECYCLE_TIMEOUT
        try:
            lc = self._create(mode, n)
            status, learned_at = self._learn(mode, lc, n=n, deadline=deadline)
            if not wait_until(lc.clicked, deadline=deadline, abort=self.abort):
                raise Failed("the click was not answered in time")
            if lc.problem is not None or lc.clicked_at is None:
                raise Failed(lc.problem or "no click")
            if status != "approved":
                raise Failed(f"the agent learned {status!r}, not 'approved'")
        except Exception as e:  # noqa: BLE001 - every failure is a data point
            return Outcome(error=str(e) if isinstance(e, Failed) else f"{type(e).__name__}: {e}")
        return Outcome(
            decision_ms=(learned_at - lc.clicked_at) * 1000,
            lifecycle_ms=(learned_at - began) * 1000,
            click_ack_ms=lc.click_ack_ms,
        )

    def _create(self, mode: Mode, n: int) -> Lifecycle:
        channel = channel_name(n % CHANNELS)
        body = {**request_body(self._stack, n, approvers=self._approvers), "channel": channel}
        if mode.callback:
            body["callback_url"] = self._receiver.url
        r = self._http.post("/v1/requests", json=body)
        if r.status_code != 201:
            raise Failed(f"POST /v1/requests -> HTTP {r.status_code}: {r.text[:120]}")
        return Lifecycle(request_id=r.json()["id"], channel=channel)

    def _learn(self, mode: Mode, lc: Lifecycle, *, n: int, deadline: float) -> tuple[str, float]:
        """The outcome's status and the perf_counter when the agent had it."""
        if mode.callback:
            return self._await_callback(lc, deadline=deadline)
        if mode.poll_s is not None:
            return self._poll(lc, every=mode.poll_s, phase=poll_phase(n) * mode.poll_s, deadline=deadline)
        return self._long_poll(lc, deadline=deadline)

    def _long_poll(self, lc: Lifecycle, *, deadline: float) -> tuple[str, float]:
        self._humans.expect(lc)  # just before the first GET: the click should find it waiting
        while (remaining := deadline - time.perf_counter()) > 0 and not self.abort.is_set():
            r = self._http.get(
                f"/v1/requests/{lc.request_id}/wait", params={"timeout": WAIT_HOLD_S}, timeout=remaining
            )
            at = time.perf_counter()
            if r.status_code != 200:
                raise Failed(f"GET /wait -> HTTP {r.status_code}: {r.text[:120]}")
            if (status := r.json()["status"]) != "pending":
                return status, at
        raise Failed(f"still pending after {LIFECYCLE_TIMEOUT:.0f} s of GET /wait")

    def _await_callback(self, lc: Lifecycle, *, deadline: float) -> tuple[str, float]:
        self._humans.expect(lc)
        arrived = self._receiver.wait(lc.request_id, deadline=deadline, abort=self.abort)
        if arrived is None:
            raise Failed(f"no callback within {LIFECYCLE_TIMEOUT:.0f} s")
        at, payload = arrived
        return str(payload.get("status")), at

    def _poll(self, lc: Lifecycle, *, every: float, phase: float, deadline: float) -> tuple[str, float]:
        self._humans.expect(lc)
        due = time.perf_counter() + phase
        while due < deadline:
            if self.abort.wait(max(0.0, due - time.perf_counter())):
                break
            r = self._http.get(f"/v1/requests/{lc.request_id}")
            at = time.perf_counter()
            if r.status_code != 200:
                raise Failed(f"GET /v1/requests/{{id}} -> HTTP {r.status_code}: {r.text[:120]}")
            if (status := r.json()["status"]) != "pending":
                return status, at
            due += every
        raise Failed(f"still pending after {LIFECYCLE_TIMEOUT:.0f} s of polling")


def poll_phase(n: int) -> float:
    """Where in its interval lifecycle n's first GET falls, as a fraction in [0, 1).

    A person clicks whenever they get to it, so a poller's clock and the click are unrelated. The
    golden-ratio sequence spreads the phases evenly for any number of lifecycles, where random
    ones would move a 20-sample median by a quarter of the interval from run to run.
    """
    return (n * 0.6180339887498949) % 1.0


def channel_name(k: int) -> str:
    """The k-th channel the cards are spread over."""
    return f"C0AGENT{k:02d}"


# --- runs ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Run:
    """One mode at one concurrency: `agents` agents, each doing `per_agent` lifecycles in a row."""

    mode: Mode
    agents: int
    per_agent: int


@dataclass(frozen=True)
class Service:
    """What a run needs besides the agents: the stack, a Redis client, and the jobs already counted."""

    stack: Stack
    redis: Redis
    seen_jobs: set[str] = field(default_factory=set)


def run_once(service: Service, fleet: Agents, *, run: Run) -> dict[str, Any]:
    """Run the lifecycles `agents` at a time, then let the worker finish before the next run."""
    stack = service.stack
    outcomes: list[Outcome] = []
    pids = {"web": stack.web.pid, "worker": stack.worker.pid, "redis": stack.redis_pid, "bench": os.getpid()}
    # web and worker with their children (--web-workers, --worker-processes); not this process,
    # whose children are the whole stack.
    meter = {name: cpu_tree_ms if name in ("web", "worker") else cpu_ms for name in pids}
    cpu_before = {name: meter[name](pid) for name, pid in pids.items()}

    def one(n: int) -> str | None:
        outcome = fleet.lifecycle(run.mode, n)
        outcomes.append(outcome)  # list.append is atomic under the GIL
        return outcome.error

    total = run.agents * run.per_agent
    runner = timed_calls(one, range(total), concurrency=run.agents)
    cpu = {name: round((meter[name](pid) - cpu_before[name]) / total, 2) for name, pid in pids.items()}
    settled = settle(service.redis)
    stack.sandbox.reset()  # every card is final now; the next run starts with empty channels
    result = summarize(outcomes, wall_s=runner.wall_s, agents=run.agents, cpu=cpu, settled=settled)
    result["worker_jobs"] = job_timings(service.redis, seen=service.seen_jobs)
    return result


def summarize(
    outcomes: list[Outcome], *, wall_s: float, agents: int, cpu: dict[str, float], settled: bool
) -> dict[str, Any]:
    """The distributions of one run, its throughput and its errors."""
    decision, lifecycle, click, after_ack = Samples(), Samples(), Samples(), Samples()
    for o in outcomes:
        if o.error is not None:
            decision.fail(o.error)
            lifecycle.fail(o.error)
            continue
        assert o.decision_ms is not None and o.lifecycle_ms is not None
        decision.latencies_ms.append(o.decision_ms)
        lifecycle.latencies_ms.append(o.lifecycle_ms)
        if o.click_ack_ms is not None:
            click.latencies_ms.append(o.click_ack_ms)
            after_ack.latencies_ms.append(o.decision_ms - o.click_ack_ms)
    done = len(lifecycle.latencies_ms)
    return {
        "agents": agents,
        "lifecycles": len(outcomes),
        "decision_to_agent": decision.summary(),
        "lifecycles_per_s": round(done / wall_s, 1) if wall_s > 0 else None,
        "lifecycle": lifecycle.summary(),
        "click_ack": click.summary(),
        "click_answered_to_agent": after_ack.summary(),
        "cpu_ms_per_lifecycle": cpu,
        "worker_idle_after": settled,
    }


def settle(redis: Redis) -> bool:
    """Wait until the worker has no queued or running job (cards updated, callbacks sent)."""
    watched = [Queue(name, connection=redis) for name in queues.ALL]
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        if all(q.count == 0 and StartedJobRegistry(queue=q).count == 0 for q in watched):
            return True
        time.sleep(0.05)
    return False


# --- the benchmark ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; --quick shrinks everything for a smoke run."""
    p = parser(__doc__, quick="~20 s")
    process_options(p)
    p.add_argument("--agents", default="1,8,64", help="concurrent agents per run (default 1,8,64)")
    p.add_argument(
        "--lifecycles",
        default="20,10,4",
        help="lifecycles per agent, one per --agents entry (default 20,10,4)",
    )
    p.add_argument(
        "--poll-intervals", default="1,3", help="seconds between GETs of the polling baselines (default 1,3)"
    )
    p.add_argument("--approvers", type=int, default=4, help="approvers named on each request (default 4)")
    p.add_argument("--clickers", type=int, default=8, help="people clicking in parallel (default 8)")
    p.add_argument("--warmup", type=int, default=5, help="unmeasured lifecycles per mode first (default 5)")
    args = p.parse_args(argv)
    if args.quick:
        args.lifecycles, args.poll_intervals, args.warmup = "3,2,1", "1", 2
    try:
        args.agents = [int(x) for x in str(args.agents).split(",")]
        args.lifecycles = [int(x) for x in str(args.lifecycles).split(",")]
        args.poll_intervals = [float(x) for x in str(args.poll_intervals).split(",") if x.strip()]
    except ValueError as e:
        p.error(f"a comma-separated list of numbers is expected: {e}")
    if len(args.lifecycles) != len(args.agents):
        p.error("give one --lifecycles entry per --agents entry")
    if min(args.agents + args.lifecycles + [args.approvers, args.clickers]) < 1 or args.warmup < 0:
        p.error("every count must be at least 1 (--warmup at least 0)")
    if any(s <= 0 for s in args.poll_intervals):
        p.error("poll intervals must be positive")
    return args


def plan(args: argparse.Namespace) -> list[Run]:
    """Every measured run, concurrency by concurrency so that drift on the box hits all modes alike."""
    modes = [WAIT, CALLBACK, *(poll_mode(s) for s in args.poll_intervals)]
    return [
        Run(mode=mode, agents=agents, per_agent=per_agent)
        for agents, per_agent in zip(args.agents, args.lifecycles, strict=True)
        for mode in modes
    ]


def measure(service: Service, fleet: Agents, args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, then every run in the plan; also web's memory after the largest runs."""
    stack = service.stack
    for mode in (WAIT, CALLBACK):
        if args.warmup:
            log(f"warm-up: {args.warmup} {mode.name} lifecycles")
            run_once(service, fleet, run=Run(mode=mode, agents=1, per_agent=args.warmup))
    results: dict[str, dict[str, Any]] = defaultdict(dict)
    rss_web_at_start = memory_mb(stack.web.pid)["now"]
    rss_after: dict[str, float | None] = {}
    for run in plan(args):
        log(f"{run.mode.name}: {run.agents} agents x {run.per_agent} lifecycles")
        result = run_once(service, fleet, run=run)
        results[run.mode.name][f"{run.agents}_agents"] = result
        d = result["decision_to_agent"]
        log(
            f"  decision -> agent p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms, "
            f"{result['lifecycles_per_s']} lifecycles/s, {d['errors']} errors"
        )
        if run.agents == max(args.agents):
            rss_after[run.mode.name] = memory_mb(stack.web.pid)["peak"]
    return {"runs": dict(results), "rss_web_at_start": rss_web_at_start, "rss_web_peak_after": rss_after}


def run(args: argparse.Namespace, *, host: dict[str, Any]) -> dict[str, Any]:
    """Start the stack, the people, the callback endpoint and the agents; measure; report."""
    env = {"SIGNOFF_CALLBACK_ALLOW_PRIVATE": "true"}  # the callbacks go to 127.0.0.1
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    with running_stack(approvers=args.approvers, env=env, web_workers=args.web_workers,
                       worker_processes=args.worker_processes) as stack:
        for k in range(CHANNELS):
            stack.sandbox.add_channel(channel_name(k), name=f"agents-{k:02d}")
        with contextlib.ExitStack() as parts:
            redis = parts.enter_context(contextlib.closing(Redis.from_url(stack.redis_url)))
            receiver = parts.enter_context(Receiver(secret=stack.callback_secret))
            users = stack.users[: args.approvers]
            humans = parts.enter_context(Humans(stack, clickers=args.clickers, users=users))
            fleet = parts.enter_context(
                Agents(stack, humans=humans, receiver=receiver, approvers=args.approvers)
            )
            with interrupts_stop(stack, fleet):
                measured = measure(Service(stack=stack, redis=redis), fleet, args)
            peak = {"web": memory_mb(stack.web.pid)["peak"], "worker": memory_mb(stack.worker.pid)["peak"]}
            extra = {
                "callback_receiver": receiver.report(),
                "jobs": job_report(redis),
                "rss_mb": peak,
                "service_log_problems": log_problems(stack.log_files),
                "processes_alive_at_end": {
                    "web": stack.web.poll() is None,
                    "worker": stack.worker.poll() is None,
                },
            }
    return report(args=args, host=host, measured=measured, extra=extra)


@contextlib.contextmanager
def interrupts_stop(stack: Stack, fleet: Agents) -> Iterator[None]:
    """On Ctrl-C or SIGTERM, stop the agents at once instead of after their long-polls.

    A long-poll holds its connection for up to a minute, and web waits for open requests before
    it exits; killing web (ours, by pid) ends them now, and everything else is stopped on the way out.
    """

    def stop(*_: object) -> None:
        fleet.abort.set()
        if stack.web.poll() is None:
            stack.web.kill()
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def report(
    *, args: argparse.Namespace, host: dict[str, Any], measured: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    """The JSON the benchmark prints."""
    runs = measured["runs"]
    baseline = {name: r for name, r in runs.items() if name.startswith("poll_")}
    return {
        "benchmark": "remote_agents",
        "machine": host,
        "parameters": vars(args),
        "wait": runs.get("wait", {}),
        "callback": runs.get("callback", {}),
        "baseline": baseline,
        "compared": compare(runs, agents=args.agents),
        **{k: v for k, v in extra.items() if k != "rss_mb"},
        "rss_mb": {
            **extra["rss_mb"],
            "web_at_start": measured["rss_web_at_start"],
            "web_peak_after_largest_run": measured["rss_web_peak_after"],
        },
        "targets": targets(runs),
    }


def compare(runs: dict[str, dict[str, Any]], *, agents: list[int]) -> dict[str, Any]:
    """Per concurrency: how many times longer the 1 s poller takes to learn, and its throughput."""
    out: dict[str, Any] = {}
    poll = runs.get("poll_1s", {})
    for n in agents:
        key = f"{n}_agents"
        if key not in poll:
            continue
        base = poll[key]
        row: dict[str, Any] = {}
        for name in ("wait", "callback"):
            mine = runs.get(name, {}).get(key)
            if mine is None:
                continue
            row[f"poll_1s_p50_over_{name}_p50"] = ratio(
                base["decision_to_agent"]["p50_ms"], mine["decision_to_agent"]["p50_ms"], places=1
            )
            row[f"{name}_lifecycles_per_s_over_poll_1s"] = ratio(
                mine["lifecycles_per_s"], base["lifecycles_per_s"], places=1
            )
        out[key] = row
    return out


def targets(runs: dict[str, dict[str, Any]]) -> dict[str, bool | None]:
    """The issue's goals; a latency goal holds only if met at every concurrency without errors."""

    def under(mode: str, p: int, limit: float) -> bool | None:
        measured = runs.get(mode, {}).values()
        if not measured:
            return None
        return all(
            (r["decision_to_agent"][f"p{p}_ms"] or float("inf")) < limit
            and r["decision_to_agent"]["errors"] == 0
            for r in measured
        )

    def at(agents: int) -> list[dict[str, Any]] | None:
        found = [runs.get(m, {}).get(f"{agents}_agents") for m in ("wait", "callback")]
        return None if any(r is None for r in found) else found  # type: ignore[return-value]

    eight, sixty_four = at(8), at(64)
    return {
        "wait_p50_under_50ms": under("wait", 50, 50),
        "wait_p99_under_200ms": under("wait", 99, 200),
        "callback_p50_under_50ms": under("callback", 50, 50),
        "callback_p99_under_200ms": under("callback", 99, 200),
        "lifecycles_at_8_at_least_50_per_s": None
        if eight is None
        else all((r["lifecycles_per_s"] or 0) >= 50 and r["decision_to_agent"]["errors"] == 0 for r in eight),
        "zero_errors_at_64": None
        if sixty_four is None
        else all(r["decision_to_agent"]["errors"] == 0 for r in sixty_four),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON report."""
    return run_main(parse_args, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
