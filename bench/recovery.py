"""Recovery from a Redis outage: how soon after Redis comes back the owed cards go out.

Run from the repo root:  .venv/bin/python -m bench.recovery  [--quick]
Prints one JSON object on stdout (progress goes to stderr); asserts nothing about speed.

With Redis up, N requests are created and each one's create -> card posted is measured (the
baseline). Then redis-server is stopped, N more requests are created (and K of the baseline's
cards are approved), Redis is started again on the same socket, and what was owed is timed from
the moment Redis answered PING: Redis back -> card posted, and Redis back -> decided card updated.
See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any

from bench.harness import (
    CHANNEL,
    Samples,
    Stack,
    at_least_one,
    card_request_id,
    cpu_tree_ms,
    log,
    log_problems,
    parser,
    request_body,
    run_main,
    running_stack,
)
from blocks import ids

TARGET_S = 10.0  # Redis back -> every owed card out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = parser(__doc__, quick="10 requests, a 6 s outage: about 40 s")
    p.add_argument("--requests", type=int, default=50, help="requests created while Redis is down (50)")
    p.add_argument("--decisions", type=int, default=5,
                   help="baseline cards approved while Redis is down (5)")
    p.add_argument("--down", type=float, default=20.0,
                   help="seconds Redis stays down in all, creates included (20)")
    p.add_argument("--deadline", type=float, default=180.0,
                   help="seconds after Redis is back to wait for the owed cards (180)")
    args = p.parse_args(argv)
    if args.quick:
        args.requests, args.decisions, args.down = 10, 2, 6.0
    at_least_one(p, args, "requests")
    return args


def cards(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    """Every card in the bench channel by request id (more than one = a duplicate)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for m in stack.sandbox.messages(CHANNEL):
        if (rid := card_request_id(m)) is not None:
            found.setdefault(rid, []).append(m)
    return found


def wait_until(done: Any, *, deadline: float, every: float = 0.02) -> bool:
    """Poll `done()` until it is true or `deadline` (monotonic) passes."""
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(every)
    return bool(done())


def create(stack: Stack, n: int) -> tuple[str | None, float, int]:
    """POST one request: (id or None, wall time it was sent, status code)."""
    sent = time.time()
    r = stack.api.post("/v1/requests", json=request_body(stack, n, approvers=2))
    rid = r.json().get("id") if r.status_code in (200, 201) else None
    return rid, sent, r.status_code


def baseline(stack: Stack, n: int, start: int) -> tuple[Samples, dict[str, str]]:
    """Create n requests one after another with Redis up: create -> card posted."""
    sent: dict[str, float] = {}
    samples = Samples()
    for i in range(n):
        rid, at, status = create(stack, start + i)
        if rid is None:
            samples.fail(f"create answered {status}")
            continue
        sent[rid] = at
    wait_until(lambda: set(sent) <= set(cards(stack)), deadline=time.monotonic() + 60)
    posted = cards(stack)
    for rid, at in sent.items():
        if rid in posted:
            samples.latencies_ms.append((float(posted[rid][0]["ts"]) - at) * 1000)
        else:
            samples.fail(f"no card for {rid} within 60 s")
    return samples, {rid: posted[rid][0]["ts"] for rid in sent if rid in posted}


def approve(stack: Stack, ts: str) -> int:
    """The first approver clicks Approve on the card at `ts`; the HTTP status Bolt answered."""
    return stack.clicks.click(stack.users[0], CHANNEL, ts, ids.ACTION_APPROVE).status_code


def outage(stack: Stack, args: argparse.Namespace, decide: dict[str, str]) -> dict[str, Any]:
    """Stop Redis, create and decide, start Redis; time what was owed from Redis back."""
    log("stopping redis-server")
    stopped = time.monotonic()
    stack.redis_server.stop()
    statuses: Counter[str] = Counter()
    create_ms = Samples()
    owed: list[str] = []
    for i in range(args.requests):
        t0 = time.monotonic()
        rid, _, status = create(stack, 10_000 + i)
        create_ms.latencies_ms.append((time.monotonic() - t0) * 1000)
        statuses[str(status)] += 1
        if rid is not None:
            owed.append(rid)
    clicks: Counter[str] = Counter(str(approve(stack, ts)) for ts in decide.values())
    while time.monotonic() - stopped < args.down:
        time.sleep(0.1)
    log(f"created {len(owed)} requests ({dict(statuses)}), clicked {len(decide)}; starting redis-server")
    stack.redis_server.start()
    back = time.time()
    back_mono = time.monotonic()
    deadline = back_mono + args.deadline

    def all_out() -> bool:
        posted = cards(stack)
        if not set(owed) <= set(posted):
            return False
        return all(ids.ACTION_APPROVE not in str(stack.sandbox.message(CHANNEL, ts)["blocks"])
                   for ts in decide.values())

    everything = wait_until(all_out, deadline=deadline, every=0.05)
    settled_s = time.monotonic() - back_mono
    time.sleep(min(10.0, args.deadline / 10))  # would a duplicate follow?
    posted = cards(stack)
    to_card = Samples()
    for rid in owed:
        if rid in posted:
            to_card.latencies_ms.append((float(posted[rid][0]["ts"]) - back) * 1000)
        else:
            to_card.fail(f"no card for {rid} {args.deadline:.0f} s after Redis came back")
    to_update = Samples()
    for rid, ts in decide.items():
        card = stack.sandbox.message(CHANNEL, ts)  # its buttons gone, it no longer names the request
        if ids.ACTION_APPROVE not in str(card["blocks"]) and card.get("edited"):
            to_update.latencies_ms.append((float(card["edited_ts"]) - back) * 1000)
        else:
            to_update.fail(f"card of {rid} still shows its buttons")
    duplicates = sum(len(v) - 1 for v in posted.values())
    worst = max(to_card.latencies_ms + to_update.latencies_ms, default=None)
    return {
        "create_answers_while_down": dict(statuses),
        "create_ms_while_down": create_ms.summary(),
        "approve_click_answers_while_down": dict(clicks),
        "redis_down_s": round(back_mono - stopped, 1),
        "redis_back_to_card_posted": to_card.summary(),
        "redis_back_to_decided_card_updated": to_update.summary(),
        "everything_out_s": round(settled_s, 2) if everything else None,
        "duplicate_cards": duplicates,
        "worker_alive": stack.worker.poll() is None,
        "met_target": worst is not None and worst < TARGET_S * 1000 and everything and duplicates == 0,
    }


def run(args: argparse.Namespace, *, host: dict[str, Any]) -> dict[str, Any]:
    with running_stack(approvers=2) as stack:
        log("warming up")
        baseline(stack, 3, 0)
        cpu0 = cpu_tree_ms(stack.worker.pid)
        log(f"baseline: {args.requests} requests with Redis up")
        up, posted = baseline(stack, args.requests, 100)
        decide = dict(list(posted.items())[: args.decisions])
        down = outage(stack, args, decide)
        cpu = cpu_tree_ms(stack.worker.pid) - cpu0
        problems = log_problems(stack.log_files)
    back = down["redis_back_to_card_posted"]
    return {
        "benchmark": "recovery",
        "machine": host,
        "parameters": {k: v for k, v in vars(args).items()},
        "baseline_redis_up_create_to_card_posted": up.summary(),
        **down,
        "compared": {
            "p50_card_after_outage_over_redis_up": (
                round(back["p50_ms"] / up.summary()["p50_ms"], 1)
                if back["p50_ms"] and up.summary()["p50_ms"] else None),
        },
        "worker_cpu_ms": round(cpu, 1),
        "log_problems": problems,
        "targets": {"every_owed_card_within_10s_of_redis_back": down["met_target"],
                    "no_duplicate_cards": down["duplicate_cards"] == 0},
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -m bench.recovery`."""
    return run_main(parse_args, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
