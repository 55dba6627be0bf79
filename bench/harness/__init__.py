"""What every benchmark shares, and the only thing a benchmark imports from `bench`.

The options and entry point (`parser`, `run_main`, `log`), the stack on loopback
(`running_stack`, or its parts for a benchmark that lays them out itself), the requests and
cards benchmarks make, latency bookkeeping (`Samples`, `timed_calls`, `difference`, `ratio`),
what the worker did (`job_timings`, `job_report`) and what the processes cost (`cpu_ms`,
`cpu_tree_ms`, `memory_mb`).
"""

from bench.harness.cards import card_request_id, request_body
from bench.harness.cli import at_least_one, log, loopback_only, parser, process_options, run_main
from bench.harness.jobs import job_report, job_timings
from bench.harness.measure import Samples, difference, machine, percentile, ratio, timed_calls
from bench.harness.stack import (
    CHANNEL,
    START_TIMEOUT,
    Stack,
    child_env,
    cpu_ms,
    cpu_tree_ms,
    fail_with_logs,
    log_problems,
    memory_mb,
    running_stack,
    seed_sandbox,
    signoff_process,
    tail,
)

__all__ = [
    "CHANNEL",
    "START_TIMEOUT",
    "Samples",
    "Stack",
    "at_least_one",
    "card_request_id",
    "child_env",
    "cpu_ms",
    "cpu_tree_ms",
    "difference",
    "fail_with_logs",
    "job_report",
    "job_timings",
    "log",
    "log_problems",
    "loopback_only",
    "machine",
    "memory_mb",
    "parser",
    "percentile",
    "process_options",
    "ratio",
    "request_body",
    "run_main",
    "running_stack",
    "seed_sandbox",
    "signoff_process",
    "tail",
    "timed_calls",
]
