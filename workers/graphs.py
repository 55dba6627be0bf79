"""Graph jobs: run a graph, resume it with a decision; both re-check the thread before acting."""

from __future__ import annotations

from rq import get_current_job

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
    job = get_current_job()
    retried = job is not None and job.retries_left != GRAPH_RETRY.max
    try:
        executor.resume(request_id)
    except Exception as e:
        final = job is None or not job.retries_left
        executor.resume_failed(request_id, e, final=final)
        if not retried or final:  # the card says it failed once, and again when Signoff gives up
            ctx.jobs.refresh_cards(request_id)
        raise  # RQ retries with backoff while retries are left
    if retried:  # an earlier attempt put a failure line on the card: take it away
        ctx.jobs.refresh_cards(request_id)


def recover() -> int:
    """Queue again every decided request whose graph was not resumed (a worker died, Redis
    lost the job); run at worker start. The resume job itself skips what was applied."""
    ctx = runtime.current()
    with ctx.db.read() as s:
        pending = recovery.resumes_queued(s)
    for request_id in pending:
        ctx.jobs.resume(request_id)
    return len(pending)
