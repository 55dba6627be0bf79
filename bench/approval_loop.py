"""The approval loop under load: click acknowledgement and request-created -> card-posted latency.

Run from the repo root:  .venv/bin/python -m bench.approval_loop  [--quick]
Prints one JSON object on stdout (progress goes to stderr); asserts nothing about speed.
See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from redis import Redis
from rq import Queue
from rq.registry import FailedJobRegistry
from slack_sdk import WebClient

from bench.harness import (
    CHANNEL,
    Samples,
    Stack,
    at_least_one,
    card_request_id,
    cpu_ms,
    cpu_tree_ms,
    difference,
    fail_with_logs,
    log,
    log_problems,
    memory_mb,
    parser,
    process_options,
    request_body,
    run_main,
    running_stack,
    timed_calls,
)
from blocks import ids
from workers import queues

CARD_TIMEOUT = 15.0  # a card not posted by then counts as an error
SETTLE_TIMEOUT = 30.0
POLL_S = 0.001

# --- creating requests and finding their cards ----------------------------------------------


@dataclass(frozen=True)
class Created:
    """One POST /v1/requests: the id, when it was sent (wall clock) and how long the API took."""

    request_id: str
    sent_at: float
    api_ms: float


def create(stack: Stack, n: int, *, approvers: int | None = None) -> Created:
    """POST one request; raises on anything but 201."""
    # Wall clock, not perf_counter: the sandbox stamps each posted message with time.time().
    sent_at = time.time()
    r = stack.api.post("/v1/requests", json=request_body(stack, n, approvers=approvers))
    api_ms = (time.time() - sent_at) * 1000
    if r.status_code != 201:
        raise RuntimeError(f"POST /v1/requests -> {r.status_code}: {r.text[:200]}")
    return Created(request_id=r.json()["id"], sent_at=sent_at, api_ms=api_ms)


def wait_cards(stack: Stack, wanted: set[str], *, poll_s: float = POLL_S) -> dict[str, dict[str, Any]]:
    """{request id: its card message} for each wanted card posted before the timeout."""
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + CARD_TIMEOUT
    while True:
        for m in stack.sandbox.messages(CHANNEL):
            rid = card_request_id(m)
            if rid in wanted:
                found[rid] = m
        if len(found) == len(wanted) or time.monotonic() > deadline:
            return found
        time.sleep(poll_s)


@dataclass
class CardRun:
    """create -> card, the API round trip alone, and API answer -> card."""

    to_card: Samples
    api: Samples
    answered_to_card: Samples

    def summary(self) -> dict[str, Any]:
        """The three distributions."""
        return {
            "create_to_card": self.to_card.summary(),
            "api_round_trip": self.api.summary(),
            "api_answered_to_card": self.answered_to_card.summary(),
        }


def create_to_card(stack: Stack, *, total: int, at_once: int, approvers: int | None = None) -> CardRun:
    """`total` requests in waves of `at_once` POSTed together; each wave waits for all its cards.

    A card's arrival time is its `ts`, which the sandbox takes from time.time() when
    chat.postMessage reaches it, so the polling interval decides only when we notice, not what
    we measure. The sandbox is reset after every wave: reading its messages deep-copies the
    channel, and a channel grown to hundreds of cards would make the polling itself the load.
    """
    run = CardRun(Samples(), Samples(), Samples())
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="create") as pool:
        for first in range(0, total, at_once):
            futures = [
                pool.submit(create, stack, n, approvers=approvers)
                for n in range(first, min(total, first + at_once))
            ]
            made = []
            for f in futures:
                try:
                    made.append(f.result())
                except Exception as e:  # noqa: BLE001 - a failed create is counted, not fatal
                    for s in (run.to_card, run.api, run.answered_to_card):
                        s.fail(str(e))
            _record_wave(stack, made, run)
            stack.sandbox.reset()
    for s in (run.to_card, run.api, run.answered_to_card):
        s.wall_s = time.perf_counter() - began
    return run


def _record_wave(stack: Stack, made: list[Created], run: CardRun) -> None:
    # Each poll deep-copies the wave's cards: poll a wave of several less often (the timing
    # comes from the message ts either way).
    posted = wait_cards(stack, {c.request_id for c in made}, poll_s=POLL_S if len(made) == 1 else 0.005)
    for c in made:
        run.api.latencies_ms.append(c.api_ms)
        if c.request_id not in posted:
            run.to_card.fail(f"no card for {c.request_id} within {CARD_TIMEOUT:.0f} s")
            run.answered_to_card.fail("no card")
            continue
        to_card_ms = (float(posted[c.request_id]["ts"]) - c.sent_at) * 1000
        run.to_card.latencies_ms.append(to_card_ms)
        run.answered_to_card.latencies_ms.append(to_card_ms - c.api_ms)


def direct_posts(stack: Stack, *, total: int, blocks: list[dict[str, Any]]) -> Samples:
    """Baseline: chat.postMessage of a real card straight from here, with the worker's client library."""
    client = WebClient(token=stack.bot_token, base_url=stack.sandbox.api_url, timeout=15)

    def post(_: int) -> str | None:
        answer = client.chat_postMessage(channel=CHANNEL, text="Approval needed", blocks=blocks)
        return None if answer["ok"] else str(answer.get("error"))

    samples = timed_calls(post, range(total), concurrency=1)
    stack.sandbox.reset()
    return samples


def a_card(stack: Stack) -> list[dict[str, Any]]:
    """The blocks of a real card, for the direct-post baseline."""
    made = create(stack, 0)
    card = wait_cards(stack, {made.request_id}).get(made.request_id)
    if card is None:
        fail_with_logs(stack, "the worker posted no card")
    stack.sandbox.reset()
    return list(card["blocks"])


# --- clicks -----------------------------------------------------------------------------------


def cards_for(stack: Stack, count: int, *, at_once: int) -> dict[str, str]:
    """Create `count` requests and wait for every card: {request id: card ts}."""
    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="create") as pool:
        made = list(pool.map(lambda n: create(stack, n), range(count)))
    wanted = {c.request_id for c in made}
    posted = wait_cards(stack, wanted, poll_s=0.05)
    if len(posted) != len(wanted):
        fail_with_logs(stack, f"only {len(posted)} of {len(wanted)} cards were posted")
    return {rid: str(m["ts"]) for rid, m in posted.items()}


def click_payloads(stack: Stack, cards: dict[str, str], *, clicks: int, seed: int) -> list[dict[str, Any]]:
    """`clicks` Approve clicks on random cards by random approvers, built while every card is pending.

    Built up front because once a card is decided the worker replaces its buttons, and the
    sandbox cannot click a button that is gone; in Slack, people still click stale cards (their
    client has not refreshed yet), and those clicks must be acked just as fast.
    """
    rng = random.Random(seed)
    request_ids = sorted(cards)
    return [
        stack.clicks.block_actions(rng.choice(stack.users), CHANNEL, cards[rid], ids.ACTION_APPROVE)
        for rid in (rng.choice(request_ids) for _ in range(clicks))
    ]


def deliver(stack: Stack, payload: dict[str, Any]) -> str | None:
    """POST one signed interaction to /slack/events, as Slack does; an error unless 200."""
    r = stack.clicks.deliver(payload)
    return None if r.status_code == 200 else f"HTTP {r.status_code}: {r.text[:120]}"


def click_run(
    stack: Stack, payloads: list[dict[str, Any]], *, concurrency: int
) -> tuple[Samples, dict[str, float], list[float]]:
    """Fire the clicks; also the CPU each process spent per click meanwhile, and each click's
    latency in the order of `payloads`."""
    pids = {
        "web": stack.web.pid,
        "worker": stack.worker.pid,
        "redis": stack.redis_pid,
        "bench_process": os.getpid(),
    }
    # web and worker with their children (--web-workers, --worker-processes); not this process,
    # whose children are the whole stack.
    cpu = {name: cpu_tree_ms if name in ("web", "worker") else cpu_ms for name in pids}
    latencies = [0.0] * len(payloads)

    def click(n: int) -> str | None:
        start = time.perf_counter()
        error = deliver(stack, payloads[n])
        latencies[n] = (time.perf_counter() - start) * 1000
        return error

    before = {name: cpu[name](pid) for name, pid in pids.items()}
    samples = timed_calls(click, range(len(payloads)), concurrency=concurrency)
    spent = {
        name: round((cpu[name](pid) - before[name]) / max(1, len(payloads)), 2) for name, pid in pids.items()
    }
    return samples, spent, latencies


def by_kind(payloads: list[dict[str, Any]], latencies: list[float],
            decided_by: dict[str, str | None]) -> dict[str, Any]:
    """Click ack split into the clicks that decided (the first click on a card by the person
    recorded as deciding it) and the late ones: where the tail comes from."""
    deciding, late, seen = Samples(), Samples(), set()
    for payload, ms in zip(payloads, latencies, strict=True):
        request_id, user = payload["actions"][0]["value"], payload["user"]["id"]
        decider = request_id not in seen and decided_by.get(request_id) == user
        seen |= {request_id} if decider else set()
        (deciding if decider else late).latencies_ms.append(ms)
    return {"deciding": deciding.summary(), "late": late.summary()}


def deciding_and_late(stack: Stack, cards: dict[str, str]) -> dict[str, float]:
    """Web CPU per click, one at a time: the click that decides a card, then a late click on it
    by someone else (the kind that is four in five of the run under load)."""
    first, second = stack.users[0], stack.users[1]
    deciding = [stack.clicks.block_actions(first, CHANNEL, ts, ids.ACTION_APPROVE) for ts in cards.values()]
    late = [stack.clicks.block_actions(second, CHANNEL, ts, ids.ACTION_APPROVE) for ts in cards.values()]
    spent = {}
    for name, payloads in (("deciding_click", deciding), ("late_click", late)):
        before = cpu_tree_ms(stack.web.pid)
        for payload in payloads:
            if (error := deliver(stack, payload)) is not None:
                fail_with_logs(stack, f"a {name.replace('_', ' ')} failed: {error}")
        spent[name] = round((cpu_tree_ms(stack.web.pid) - before) / max(1, len(payloads)), 2)
    return spent


def healthz_floor(stack: Stack, *, total: int, concurrency: int) -> Samples:
    """Baseline: GET /healthz (one SELECT 1 and one PING) at the clicks' concurrency."""
    with httpx.Client(base_url=stack.web_url, timeout=3.0, trust_env=False) as client:

        def get(_: int) -> str | None:
            r = client.get("/healthz")
            return None if r.status_code == 200 else f"HTTP {r.status_code}"

        return timed_calls(get, range(total), concurrency=concurrency)


def signed_floor(stack: Stack, *, total: int, concurrency: int) -> Samples:
    """Baseline: a signed url_verification through /slack/events: signature check and Bolt, no listener."""
    payloads = [{"type": "url_verification", "token": "bench", "challenge": f"c{n}"} for n in range(total)]
    return timed_calls(lambda p: deliver(stack, p), payloads, concurrency=concurrency)


def settle(
    stack: Stack, cards: dict[str, str], payloads: list[dict[str, Any]], *, ephemerals_before: int
) -> dict[str, Any]:
    """After the clicks: wait until the worker updated every clicked card, then say what happened."""
    clicked = {p["actions"][0]["value"] for p in payloads}
    clicked_ts = {cards[rid] for rid in clicked}
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        updated = {c["args"].get("ts") for c in stack.sandbox.calls("chat.update") if c["ok"]} & clicked_ts
        if len(updated) >= len(clicked) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    # The newest 500 approved requests (the API's largest page) hold every one clicked here.
    approved = stack.api.get("/v1/requests", params={"status": "approved", "limit": 500}).json()
    decided_by = {r["id"]: r["decided_by"] for r in approved["requests"]}
    with Redis.from_url(stack.redis_url) as redis:
        failed = FailedJobRegistry(queue=Queue(queues.CARDS, connection=redis)).count
    return {
        "requests_clicked": len(clicked),
        "requests_approved": len({r["id"] for r in approved["requests"]} & clicked),
        "cards_updated": len(updated),
        "already_decided_ephemerals": len(stack.sandbox.ephemerals()) - ephemerals_before,
        "ephemerals_expected": len(payloads) - len(clicked),
        "failed_jobs": failed,
        "decided_by": decided_by,
    }


# --- the run ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; --quick shrinks everything for a smoke run."""
    p = parser(__doc__, quick="~15 s")
    process_options(p)
    p.add_argument("--requests", type=int, default=100, help="requests the clicks land on (default 100)")
    p.add_argument("--clicks", type=int, default=500, help="Approve clicks fired (default 500)")
    p.add_argument("--concurrency", type=int, default=16, help="clicks in flight at once (default 16)")
    p.add_argument(
        "--creates",
        type=int,
        default=200,
        help="requests per create->card run, sequential and concurrent (default 200)",
    )
    p.add_argument(
        "--create-concurrency",
        type=int,
        default=8,
        help="requests POSTed together in the concurrent create->card run (default 8)",
    )
    p.add_argument("--approvers", type=int, default=16, help="approvers named on each request (default 16)")
    p.add_argument("--warmup", type=int, default=5, help="unmeasured requests first (default 5)")
    p.add_argument("--seed", type=int, default=1, help="seed of the click plan (default 1)")
    args = p.parse_args(argv)
    if args.quick:
        args.requests, args.clicks, args.creates, args.warmup = 20, 100, 24, 2
    at_least_one(p, args, "requests", "clicks", "concurrency", "creates", "create_concurrency", "approvers")
    return args


def measure_cards(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """create -> card one at a time, a few at a time, and with one approver; plus the Slack-leg floor."""
    log(f"warm-up: {args.warmup} requests")
    create_to_card(stack, total=args.warmup, at_once=1)
    blocks = a_card(stack)
    log(f"baseline: {args.creates} direct chat.postMessage calls to the sandbox")
    direct = direct_posts(stack, total=args.creates, blocks=blocks)
    log(f"create -> card: {args.creates} requests, one at a time")
    sequential = create_to_card(stack, total=args.creates, at_once=1)
    if sequential.to_card.errors == args.creates:
        fail_with_logs(stack, f"no request got a card: {sequential.to_card.error_examples}")
    log(f"create -> card: {args.creates} requests, {args.create_concurrency} at a time")
    concurrent = create_to_card(stack, total=args.creates, at_once=args.create_concurrency)
    one = max(1, args.creates // 2)
    log(f"create -> card: {one} requests naming 1 approver, one at a time")
    single = create_to_card(stack, total=one, at_once=1, approvers=1)
    return {
        "sequential": sequential.summary(),
        f"concurrent_{args.create_concurrency}": concurrent.summary(),
        "sequential_1_approver": single.summary(),
        "baseline_direct_chat_postMessage": direct.summary(),
    }


def measure_clicks(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """Clicks one at a time (fixed cost), then under load with their baselines at the same load."""
    few, few_clicks = max(1, args.requests // 5), max(1, args.clicks // 5)
    log(f"clicks one at a time: {few_clicks} clicks on {few} new cards")
    cards = cards_for(stack, few, at_once=args.create_concurrency)
    one_by_one, one_cpu, _ = click_run(
        stack, click_payloads(stack, cards, clicks=few_clicks, seed=args.seed), concurrency=1
    )
    signed_one = signed_floor(stack, total=few_clicks, concurrency=1)
    log(f"web CPU of a deciding click and of a late one: {args.requests} new cards, each clicked twice")
    split = deciding_and_late(stack, cards_for(stack, args.requests, at_once=args.create_concurrency))

    log(f"clicks under load: creating {args.requests} requests and waiting for their cards")
    cards = cards_for(stack, args.requests, at_once=args.create_concurrency)
    payloads = click_payloads(stack, cards, clicks=args.clicks, seed=args.seed + 1)
    log(
        f"baselines: {args.clicks} GET /healthz and {args.clicks} signed url_verification, "
        f"{args.concurrency} at a time"
    )
    health = healthz_floor(stack, total=args.clicks, concurrency=args.concurrency)
    web_before = cpu_tree_ms(stack.web.pid)
    signed = signed_floor(stack, total=args.clicks, concurrency=args.concurrency)
    floor_cpu = round((cpu_tree_ms(stack.web.pid) - web_before) / max(1, args.clicks), 2)
    ephemerals_before = len(stack.sandbox.ephemerals())
    log(
        f"clicks under load: {args.clicks} Approve clicks on {len(cards)} cards, {args.concurrency} at a time"
    )
    loaded, cpu, latencies = click_run(stack, payloads, concurrency=args.concurrency)
    log("waiting for the worker to update the decided cards")
    outcome = settle(stack, cards, payloads, ephemerals_before=ephemerals_before)
    return {
        "click_ack": loaded.summary(),
        "click_ack_by_kind": by_kind(payloads, latencies, outcome.pop("decided_by")),
        "click_ack_baselines": {"healthz": health.summary(), "signed_url_verification": signed.summary()},
        "click_ack_one_at_a_time": one_by_one.summary(),
        "signed_url_verification_one_at_a_time": signed_one.summary(),
        "cpu_ms_per_click": cpu,
        "cpu_ms_per_click_one_at_a_time": one_cpu,
        "web_cpu_ms_one_at_a_time": split,
        "web_cpu_ms_per_signed_url_verification": floor_cpu,
        "click_outcome": outcome,
    }


def run(args: argparse.Namespace, *, host: dict[str, Any]) -> dict[str, Any]:
    """Start the stack, measure every phase, and return the report."""
    env = {"DATABASE_URL": args.database_url} if args.database_url else None
    with running_stack(approvers=args.approvers, env=env, web_workers=args.web_workers,
                       worker_processes=args.worker_processes) as stack:
        cards = measure_cards(stack, args)
        clicks = measure_clicks(stack, args)
        rss = {"web": memory_mb(stack.web.pid), "worker": memory_mb(stack.worker.pid)}
        problems = log_problems(stack.log_files)
    return report(args=args, host=host, cards=cards, clicks=clicks, rss=rss, problems=problems)


def report(
    *,
    args: argparse.Namespace,
    host: dict[str, Any],
    cards: dict[str, Any],
    clicks: dict[str, Any],
    rss: dict[str, Any],
    problems: dict[str, Any],
) -> dict[str, Any]:
    """The JSON the benchmark prints."""
    click, seq = clicks["click_ack"], cards["sequential"]
    signed = clicks["click_ack_baselines"]["signed_url_verification"]
    return {
        "benchmark": "approval_loop",
        "machine": host,
        "parameters": vars(args),
        **{k: v for k, v in clicks.items() if k != "click_outcome"},
        "create_to_card": cards,
        "compared": {
            "click_ack_p50_minus_signed_floor_p50_ms": difference(click["p50_ms"], signed["p50_ms"]),
            "click_ack_p99_minus_signed_floor_p99_ms": difference(click["p99_ms"], signed["p99_ms"]),
            "click_ack_one_at_a_time_p50_minus_signed_floor_p50_ms": difference(
                clicks["click_ack_one_at_a_time"]["p50_ms"],
                clicks["signed_url_verification_one_at_a_time"]["p50_ms"],
            ),
            "create_to_card_p50_minus_api_round_trip_and_direct_post_p50_ms": difference(
                seq["create_to_card"]["p50_ms"],
                seq["api_round_trip"]["p50_ms"],
                cards["baseline_direct_chat_postMessage"]["p50_ms"],
            ),
        },
        "click_outcome": clicks["click_outcome"],
        "rss_mb": {name: m["peak"] for name, m in rss.items()},
        "rss_mb_at_end": {name: m["now"] for name, m in rss.items()},
        "service_log_problems": problems,
        "targets": {
            "click_ack_p99_under_100ms": _under(click, 99, 100),
            "create_to_card_p50_under_150ms": _under(seq["create_to_card"], 50, 150),
            "click_ack_p99_within_1_5x_signed_floor_p99": _under(click, 99, 1.5 * signed["p99_ms"])
            if signed.get("p99_ms") is not None else False,
            "web_cpu_under_2ms_per_click": clicks["cpu_ms_per_click"]["web"] < 2.0,
        },
    }


def _under(summary: dict[str, Any], p: int, limit_ms: float) -> bool:
    """Met only when the percentile is below the limit and nothing failed."""
    value = summary.get(f"p{p}_ms")
    return value is not None and value < limit_ms and summary.get("errors") == 0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON report."""
    return run_main(parse_args, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
