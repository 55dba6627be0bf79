"""Worker heartbeats, and taking over the jobs of a worker whose heartbeat lapsed.

RQ's own answer to a dead worker is its "started" registry, cleaned every ~10 minutes, and a
scheduler lock that another worker takes over after minutes too. Each Signoff worker instead
keeps a short heartbeat key alive (`lease` seconds, renewed every lease/3); the sweeper of any
live worker re-queues a started job whose worker's heartbeat is gone, and queues scheduled
jobs left overdue by a dead scheduler.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import AbandonedJobError, NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus

log = logging.getLogger(__name__)

# A scheduled job this late was not queued by a live RQ scheduler (it polls every second).
OVERDUE = 3.0  # seconds


def heartbeat_key(worker_name: str) -> str:
    """The Redis key that says worker `worker_name` is alive."""
    return f"signoff:worker:{worker_name}"


def worker_name() -> str:
    """A unique name for this worker process (RQ's worker name, and its heartbeat's)."""
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"


def is_alive(redis: Redis, name: str | None) -> bool:
    """Whether worker `name` renewed its heartbeat within the lease."""
    return bool(name) and bool(redis.exists(heartbeat_key(name or "")))


class Heartbeat(threading.Thread):
    """Keeps this worker's heartbeat key alive; when the process dies, the key lapses in `lease`."""

    def __init__(self, redis: Redis, name: str, *, lease: float) -> None:
        super().__init__(name="signoff-heartbeat", daemon=True)
        self.redis, self.worker, self.key, self.lease = redis, name, heartbeat_key(name), lease
        self.stopped = threading.Event()

    def beat(self) -> None:
        """Renew the key once (also called before the worker takes its first job)."""
        self.redis.set(self.key, str(os.getpid()), px=int(self.lease * 1000))

    def run(self) -> None:
        while not self.stopped.wait(self.lease / 3):
            try:
                self.beat()
            except RedisError as e:  # Redis is down: nothing to renew into; try again next beat
                log.warning("worker heartbeat failed: %s", e)

    def stop(self) -> None:
        """Stop beating and drop the key, so a clean exit is not mistaken for a death later."""
        self.stopped.set()
        try:
            self.redis.delete(self.key)
        except RedisError:
            pass


def take_over(redis: Redis, queues: Iterable[Queue], *, lease: float) -> list[str]:
    """Re-queue every started job whose worker's heartbeat lapsed; returns their ids.

    An execution younger than `lease` is left alone: its worker may not have beaten yet (or be
    a worker that does not beat, such as a test's in-process one, running a short job).
    """
    taken = []
    cutoff = time.time() - lease
    for queue in queues:
        registry = queue.started_job_registry
        for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
            entry = f"{job_id}:{execution_id}"
            try:
                execution = Execution.fetch(execution_id, job_id, redis)
                owner, started = execution.worker_name, execution.created_at.timestamp()
            except ValueError:  # its data expired: judge by the job alone
                owner, started = None, 0.0
            if started > cutoff or (owner and is_alive(redis, owner)):
                continue
            if not redis.zrem(registry.key, entry):
                continue  # another worker's sweeper claimed it first
            if _requeue_abandoned(redis, queue, job_id, owner):
                taken.append(job_id)
    return taken


def _requeue_abandoned(redis: Redis, queue: Queue, job_id: str, owner: str | None) -> bool:
    try:
        job = Job.fetch(job_id, connection=redis)
    except NoSuchJobError:
        return False
    # Only the job's current run: one queued again (e.g. by a restarted worker) or running on a
    # live worker now left a stale registry entry behind, which is all we removed.
    if job.get_status() != JobStatus.STARTED or (owner and job.worker_name != owner):
        return False
    if job.worker_name and is_alive(redis, job.worker_name):
        return False
    if job.retries_left is not None and job.retries_left <= 0:
        # A job that keeps killing its worker must stop somewhere: fail it like RQ would, failure
        # callback included (a graph job's fails its run).
        with redis.pipeline() as pipe:
            job.set_status(JobStatus.FAILED, pipeline=pipe)
            job._handle_failure(f"abandoned: worker {job.worker_name} died running it", pipe)
            pipe.execute()
        log.warning("job %s abandoned by dead worker %s, no retries left: failed", job_id, job.worker_name)
        if job.failure_callback is not None:
            try:
                job.failure_callback(job, redis, AbandonedJobError, AbandonedJobError(), None)
            except Exception:  # noqa: BLE001 - the next pass must still run
                log.exception("job %s: its failure callback failed", job_id)
        return False
    if job.retries_left is not None:
        job.retries_left -= 1
    queue.enqueue_job(job)  # now, not after a retry interval: the worker died, the job did not fail
    log.warning("job %s taken over from dead worker %s", job_id, job.worker_name)
    return True


def queue_overdue(redis: Redis, queues: Iterable[Queue], *, now: datetime | None = None) -> list[str]:
    """Queue scheduled jobs overdue by more than OVERDUE seconds; returns their ids.

    The RQ scheduler runs in one worker at a time and a dead one's lock passes on only after
    minutes: retries and "come back later" jobs would wait that long.
    """
    moved = []
    score = int((now or datetime.now(UTC)).timestamp() - OVERDUE)
    for queue in queues:
        registry = queue.scheduled_job_registry
        for job_id in registry.get_jobs_to_schedule(score):
            if not redis.zrem(registry.key, job_id):
                continue  # the scheduler (or another sweeper) just queued it
            try:
                job = Job.fetch(job_id, connection=redis)
            except NoSuchJobError:
                continue
            queue.enqueue_job(job)
            moved.append(job_id)
    return moved
