"""RQ's cost per job: Signoff's worker (workers.rq_worker) against RQ's SimpleWorker, same run.

Run from the repo root:  .venv/bin/python -m bench.rq_jobs  [--quick]
Prints one JSON object on stdout (progress goes to stderr); asserts nothing about speed.

Each round queues the same number of jobs that do nothing and runs them to the end with one
worker of each kind, in turn, on a private redis-server: what is left is RQ's bookkeeping. Per
job: the worker's CPU, Redis round trips (sends), commands Redis ran and Redis's own CPU.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.connection
from redis import Redis
from rq import Queue, SimpleWorker

from bench.harness import at_least_one, log, parser, run_main
from bot.embedded_redis import EmbeddedRedis
from workers.rq_worker import SignoffWorker

WORKERS: dict[str, type[SimpleWorker]] = {"rq_simple_worker": SimpleWorker, "signoff_worker": SignoffWorker}


def nothing(n: int) -> int:
    """The job: RQ's cost is all that is measured."""
    return n


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = parser(__doc__, quick="~5 s")
    p.add_argument("--jobs", type=int, default=2000, help="jobs per worker per round (default 2000)")
    p.add_argument("--rounds", type=int, default=5, help="rounds, each running both workers (default 5)")
    args = p.parse_args(argv)
    at_least_one(p, args, "jobs", "rounds")
    if args.quick:
        args.jobs, args.rounds = 200, 2
    return args


class _Sends:
    """Counts what this process sends to Redis: one send is one round trip."""

    def __init__(self) -> None:
        self.count = 0
        self._original = redis.connection.AbstractConnection.send_packed_command

        def counted(conn: Any, command: Any, check_health: bool = True) -> None:
            self.count += 1
            self._original(conn, command, check_health)

        redis.connection.AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]

    def close(self) -> None:
        redis.connection.AbstractConnection.send_packed_command = self._original  # type: ignore[method-assign]


def _redis_cpu(client: Redis) -> float:
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def _one(client: Redis, kind: str, jobs: int, sends: _Sends) -> dict[str, float]:
    client.flushall()
    queue = Queue("bench", connection=client)
    queue.enqueue_many([Queue.prepare_data(nothing, (n,)) for n in range(jobs)])
    client.config_resetstat()
    redis_before, sent_before = _redis_cpu(client), sends.count
    cpu, wall = time.process_time(), time.monotonic()
    WORKERS[kind]([queue], connection=client).work(burst=True, logging_level="WARNING")
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    sent = sends.count - sent_before
    commands = sum(int(v["calls"]) for k, v in client.info("commandstats").items()
                   if k not in ("cmdstat_info", "cmdstat_config|resetstat"))
    redis_cpu = _redis_cpu(client) - redis_before
    return {"cpu_ms_per_job": 1000 * cpu / jobs, "wall_ms_per_job": 1000 * wall / jobs,
            "round_trips_per_job": sent / jobs, "commands_per_job": commands / jobs,
            "redis_cpu_ms_per_job": 1000 * redis_cpu / jobs}


def run(args: argparse.Namespace, *, host: dict[str, Any]) -> dict[str, Any]:
    measured: dict[str, list[dict[str, float]]] = {kind: [] for kind in WORKERS}
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp), persist=False).start()
        sends = _Sends()
        try:
            client = Redis.from_url(server.url)
            for n in range(args.rounds):
                for kind in WORKERS if n % 2 == 0 else reversed(WORKERS):  # each goes first by turns
                    measured[kind].append(_one(client, kind, args.jobs, sends))
                log(f"round {n + 1}/{args.rounds}: " + ", ".join(
                    f"{kind} {measured[kind][-1]['cpu_ms_per_job']:.2f} ms" for kind in WORKERS))
        finally:
            sends.close()
            server.stop()
    medians = {kind: {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}
               for kind, runs in measured.items()}
    base, ours = medians["rq_simple_worker"], medians["signoff_worker"]
    return {"benchmark": "rq_jobs", "machine": host, "parameters": vars(args), **medians,
            "compared": {key: {"difference": round(ours[key] - base[key], 3),
                               "ratio": round(ours[key] / base[key], 3) if base[key] else None}
                         for key in base}}


def main(argv: list[str] | None = None) -> int:
    return run_main(parse_args, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
