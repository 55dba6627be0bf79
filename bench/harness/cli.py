"""The command line every benchmark shares: its options, progress on stderr, the JSON report on stdout."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.harness.measure import machine

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")

_started = time.monotonic()


def log(message: str) -> None:
    """Progress on stderr, stamped with seconds since start."""
    print(f"[{time.monotonic() - _started:6.1f}s] {message}", file=sys.stderr, flush=True)


def parser(doc: str | None, *, quick: str) -> argparse.ArgumentParser:
    """A benchmark's parser with the options all of them take; `quick` says how long --quick runs."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help=f"small numbers for a smoke run ({quick})")
    return p


def process_options(p: argparse.ArgumentParser) -> None:
    """`--web-workers` and `--worker-processes`, for a benchmark that runs `running_stack`."""
    p.add_argument("--web-workers", type=int, default=1,
                   help="web processes (`signoff web --workers N`, default 1)")
    p.add_argument("--worker-processes", type=int, default=1,
                   help="worker processes (`signoff worker --processes N`, default 1)")
    p.add_argument("--database-url", default=None,
                   help="an empty database for the service, e.g. postgresql+psycopg://… "
                        "(default: a fresh SQLite file)")


def at_least_one(p: argparse.ArgumentParser, args: argparse.Namespace, *names: str) -> None:
    """Refuse (exit 2, usage shown) when any of these counts is below 1."""
    for name in names:
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")


def run_main(
    parse_args: Callable[[list[str] | None], Any],
    run: Callable[..., dict[str, Any]],
    argv: list[str] | None,
) -> int:
    """The common entry point: parse, run, print the JSON report; Ctrl-C/SIGTERM stop cleanly."""
    args = parse_args(argv)
    host = machine()  # before anything starts, so the load average is the box's, not ours
    loopback_only()
    # Ctrl-C and SIGTERM take the same way out, so every process we started is stopped; SIGINT
    # is set explicitly because a shell starts background jobs with it ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = run(args, host=host)
    except KeyboardInterrupt:
        log("interrupted; everything it started has been stopped")
        return 130
    print(json.dumps(result, indent=2))
    log("done")
    return 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def loopback_only() -> None:
    """Drop proxy settings from this process: slack_sdk would otherwise send 127.0.0.1 calls to a proxy."""
    for name in PROXY_VARS:
        os.environ.pop(name, None)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
