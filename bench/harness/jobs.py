"""What the RQ worker did, from RQ's own registries and timestamps."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry

from bench.harness.measure import Samples
from workers import queues


def job_timings(redis: Redis, *, seen: set[str]) -> dict[str, Any]:
    """Per job function, over the jobs finished since the last call: how long each sat in its queue
    (enqueued -> started, RQ's own timestamps) and how long it ran."""
    queued: dict[str, Samples] = defaultdict(Samples)
    ran: dict[str, Samples] = defaultdict(Samples)
    for name in queues.ALL:
        finished = FinishedJobRegistry(queue=Queue(name, connection=redis)).get_job_ids()
        new = [job_id for job_id in finished if job_id not in seen]
        seen.update(new)
        for job in Job.fetch_many(new, connection=redis):
            if job is None or not (job.enqueued_at and job.started_at and job.ended_at):
                continue
            function = str(job.func_name).rsplit(".", 1)[-1]
            queued[function].latencies_ms.append((job.started_at - job.enqueued_at).total_seconds() * 1000)
            ran[function].latencies_ms.append((job.ended_at - job.started_at).total_seconds() * 1000)
    return {
        function: {
            "count": len(queued[function].latencies_ms),
            **{f"queued_{k}": v for k, v in _pcts(queued[function]).items()},
            **{f"ran_{k}": v for k, v in _pcts(ran[function]).items()},
        }
        for function in sorted(queued)
    }


def _pcts(samples: Samples) -> dict[str, Any]:
    summary = samples.summary()
    return {k: summary[k] for k in ("p50_ms", "p99_ms", "max_ms")}


def job_report(redis: Redis) -> dict[str, Any]:
    """Failed jobs and jobs still scheduled (callback retries), per queue."""
    return {
        name: {
            "failed": FailedJobRegistry(queue=Queue(name, connection=redis)).count,
            "scheduled": ScheduledJobRegistry(queue=Queue(name, connection=redis)).count,
        }
        for name in queues.ALL
    }
