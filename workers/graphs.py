"""Graph jobs: run a graph, resume it with a decision; both re-check the thread before acting."""

from __future__ import annotations

from rq import get_current_job

from bot.slack import delivery
from bot.storage import recovery
from workers import runtime
from workers.retries import GRAPH_RETRY


def start_run(run_id: str) -> None:
    """Run a graph from its input until it ends or interrupts."""
    runtime.current().graphs().start(run_id)


def resume(request_id: str) -> None:
    """Resume a graph with the decision of `request_id`, unless that was already applied."""
    ctx = runtime.current()
    executor = ctx.graphs()
    try:
        executor.resume(request_id)
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
    """Queue again every decided request whose graph was not resumed (a worker died, Redis
    lost the job); run at worker start. The resume job itself skips what was applied."""
    ctx = runtime.current()
    with ctx.db.read() as s:
        pending = recovery.resumes_queued(s)
    for request_id in pending:
        ctx.jobs.resume(request_id)
    return len(pending)
