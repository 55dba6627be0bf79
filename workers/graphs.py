"""Graph jobs: run a graph, resume it with a decision; both re-check the thread before acting."""

from __future__ import annotations

import logging
from typing import Any

from redis import Redis
from rq import get_current_job
from rq.exceptions import AbandonedJobError
from rq.job import Job

from bot.core.vocabulary import ResumeState, RunStatus
from bot.errors import RunFailed
from bot.storage import recovery, repo
from bot.storage.tables import Run
from workers import queues, runtime
from workers.locks import LockBusy
from workers.retries import GRAPH_RETRY

log = logging.getLogger(__name__)

# Come back this much later when another worker holds the thread: never wait on the lock, or every
# job queued behind this one waits too (up to a dead holder's whole lease).
BUSY_RETRY = 3.0  # seconds


def start_run(run_id: str) -> None:
    """Run a graph from its input until it ends or interrupts."""
    ctx = runtime.current()
    executor = ctx.graphs()
    try:
        executor.start(run_id)
    except LockBusy:
        ctx.jobs.start_run_later(run_id, delay=BUSY_RETRY)
    except RunFailed:
        _no_more_attempts()
        raise
    except Exception as e:
        executor.attempt_failed(run_id, e, final=_final())
        raise  # RQ retries with backoff while retries are left


def _final() -> bool:
    """Whether the job running now fails for good if it raises (no retries left, or no job)."""
    job = get_current_job()
    return job is None or not job.retries_left


def _no_more_attempts() -> None:
    """The run failed on what it asks (a payload, an approver, a channel that cannot be asked),
    and every attempt would read the same: fail the job now rather than retry it for twelve
    minutes. Anything else (the database, Slack, the graph's own exceptions) is retried."""
    job = get_current_job()
    if job is not None:
        job.retries_left = 0  # RQ reads it from this object when the job fails


def resume(request_id: str) -> None:
    """Resume a graph with the decision of `request_id`, unless that was already applied."""
    ctx = runtime.current()
    executor = ctx.graphs()
    job = get_current_job()
    retried = job is not None and job.retries_left != GRAPH_RETRY.max
    try:
        failed_before = executor.resume(request_id)
    except LockBusy:
        ctx.jobs.resume_later(request_id, delay=BUSY_RETRY)  # not a failure: nothing is audited
    except RunFailed:
        # The graph took the decision (audited as resumed); the run failed on what it asked next,
        # which the card says once it is updated again (its decided update may have gone out).
        _no_more_attempts()
        ctx.jobs.refresh_cards(request_id)
        raise
    except Exception as e:
        final = _final()
        executor.resume_failed(request_id, e, final=final)
        if not retried or final:  # the card says it failed once, and again when Signoff gives up
            ctx.jobs.refresh_cards(request_id)
        raise  # RQ retries with backoff while retries are left
    if failed_before:  # an earlier attempt, in this job or another, put a failure line on the card
        ctx.jobs.refresh_cards(request_id)


class WorkerDied(Exception):
    """The worker running a graph job died (killed, out of memory, its machine gone)."""


def abandoned(job: Job, connection: Redis, exc_type: type[BaseException], exc: BaseException,
              tb: Any) -> None:
    """RQ's failure callback of graph jobs, for the one failure the job cannot record itself: its
    worker died on its last attempt, and RQ (or a sweeper) failed it for good. The run fails, and
    a resume is recorded as failed and the card says so; before, the run stayed `running` and the
    resume `queued`, with no job left to change them. The job's own exceptions it records itself.

    Only what is still owed is failed: a worker that died after its resume or run was recorded
    (or that RQ and a sweeper both report) changes nothing. It never raises: RQ's cleanup would
    carry the exception into the worker's loop and stop it."""
    if not issubclass(exc_type, AbandonedJobError) or job.retries_left:
        return  # not abandoned, or RQ runs it again
    try:
        _fail_abandoned(job)
    except Exception:  # noqa: BLE001 - see the docstring
        log.exception("graph job %s: recording that its worker died failed", job.id)


def _fail_abandoned(job: Job) -> None:
    died = WorkerDied(f"the worker running it died ({job.worker_name or 'a worker'}), "
                      "and it had no attempts left")
    ctx = runtime.current()
    [target] = job.args
    if job.func_name == _name(start_run):
        with ctx.db.read() as s:
            run = s.get(Run, target)
        if run is not None and run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            ctx.graphs().attempt_failed(target, died, final=True)
    elif job.func_name == _name(resume):
        with ctx.db.read() as s:
            row = repo.get_request(s, target)
        if row is not None and row.resume_state == ResumeState.QUEUED:
            ctx.graphs().resume_failed(target, died, final=True)
            ctx.jobs.refresh_cards(target)


def _name(func: Any) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def recover() -> int:
    """Queue again every decided request whose graph was not resumed and has no live job (a
    worker died, Redis lost the job); run at worker start. The resume itself skips what was
    applied, and comes back later rather than waiting if a dead worker's lease still holds it."""
    ctx = runtime.current()
    with ctx.db.read() as s:
        pending = [r for r in recovery.resumes_queued(s) if not ctx.jobs.is_live(queues.resume_job_id(r))]
    for request_id in pending:
        ctx.jobs.resume(request_id)
    return len(pending)
