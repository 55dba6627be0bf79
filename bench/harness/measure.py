"""Latency bookkeeping for benchmarks: percentiles and a bounded, concurrent request runner."""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Samples:
    """Latencies in milliseconds plus the number of attempts that failed."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0
    error_examples: list[str] = field(default_factory=list)

    def fail(self, why: str) -> None:
        """Count one failed attempt, keeping the first few reasons for the report."""
        self.errors += 1
        if len(self.error_examples) < 3:
            self.error_examples.append(why[:200])

    def summary(self) -> dict[str, Any]:
        """{count, p50_ms, p95_ms, p99_ms, max_ms, errors} (and throughput when timed)."""
        xs = sorted(self.latencies_ms)
        out: dict[str, Any] = {
            "count": len(xs),
            "p50_ms": _rounded(percentile(xs, 50)),
            "p95_ms": _rounded(percentile(xs, 95)),
            "p99_ms": _rounded(percentile(xs, 99)),
            "max_ms": _rounded(xs[-1] if xs else None),
            "errors": self.errors,
        }
        if self.wall_s > 0:
            out["per_second"] = round((len(xs) + self.errors) / self.wall_s, 1)
        if self.error_examples:
            out["error_examples"] = self.error_examples
        return out


def percentile(sorted_xs: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_xs:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_xs)))
    return sorted_xs[rank - 1]


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def timed_calls(call: Callable[[T], str | None], items: Sequence[T], *, concurrency: int) -> Samples:
    """Run `call(item)` for every item, `concurrency` at a time; `call` returns an error or None.

    Each worker thread takes the next item as soon as its previous call returned, so exactly
    `concurrency` calls are in flight until the items run out.
    """
    samples = Samples()

    def one(item: T) -> None:
        start = time.perf_counter()
        try:
            problem = call(item)
        except Exception as e:  # noqa: BLE001 - a failed call is a data point, not a crash
            problem = f"{type(e).__name__}: {e}"
        elapsed_ms = (time.perf_counter() - start) * 1000
        if problem is None:
            samples.latencies_ms.append(elapsed_ms)  # list.append is atomic under the GIL
        else:
            samples.fail(problem)

    began = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench")
    try:
        list(pool.map(one, items))
    finally:
        # On Ctrl-C, drop the calls not started yet instead of running them all first.
        pool.shutdown(wait=True, cancel_futures=True)
    samples.wall_s = time.perf_counter() - began
    return samples


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        # Other work on the box skews every number; this says how busy it was when we began.
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def difference(a: float | None, *bs: float | None) -> float | None:
    """a minus every b, in ms to two places: what a costs above its floors (None if any is unknown)."""
    if a is None or any(b is None for b in bs):
        return None
    return round(a - sum(b for b in bs if b is not None), 2)


def ratio(a: float | None, b: float | None, *, places: int = 2) -> float | None:
    """a over b, rounded (None if either is unknown or b is zero)."""
    return None if a is None or not b else round(a / b, places)
