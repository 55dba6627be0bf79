"""Graph jobs: run a graph, resume it with a decision; both re-check the thread before acting."""

from __future__ import annotations

from rq import get_current_job

from bot.slack import delivery
from bot.storage import recovery
from workers import queues, runtime
from workers.locks import LockBusy
from workers.retries import GRAPH_RETRY

# Come back this much later when another worker holds the thread: never wait on the lock, or every
# job queued behind this one waits too (up to a dead holder's whole lease).
BUSY_RETRY = 3.0  # seconds


def start_run(run_id: str) -> None:
    """Run a graph from its input until it ends or interrupts."""
    ctx = runtime.current()
    try:
        ctx.graphs().start(run_id)
    except LockBusy:
        ctx.jobs.start_run_later(run_id, delay=BUSY_RETRY)


def resume(request_id: str) -> None:
    """Resume a graph with the decision of `request_id`, unless that was already applied."""
    ctx = runtime.current()
    executor = ctx.graphs()
    try:
        executor.resume(request_id)
    except LockBusy:
        ctx.jobs.resume_later(request_id, delay=BUSY_RETRY)  # not a failure: nothing is audited
    except Exception as e:
        job = get_current_job()
        final = job is None or not job.retries_left
        first = job is not None and job.retries_left == GRAPH_RETRY.max
        executor.resume_failed(request_id, e, final=final)
        if first or final:  # tell people on the card once, and again when Signoff gives up
            what = "Signoff gave up resuming" if final else "Resuming failed; Signoff retries it with backoff"
            delivery.reply_in_threads(ctx.db, ctx.slack, request_id,
                                      f":warning: {what} the graph: {e.__class__.__name__}: {e}")
        raise  # RQ retries with backoff while retries are left


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
