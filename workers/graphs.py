"""Graph jobs: run a graph, resume it with a decision; both re-check the thread before acting."""

from __future__ import annotations

from rq import get_current_job

from workers import runtime


def start_run(run_id: str) -> None:
    """Run a graph from its input until it ends or interrupts."""
    runtime.current().graphs().start(run_id)


def resume(request_id: str) -> None:
    """Resume a graph with the decision of `request_id`, unless that was already applied."""
    executor = runtime.current().graphs()
    try:
        executor.resume(request_id)
    except Exception as e:
        job = get_current_job()
        executor.resume_failed(request_id, e, final=job is None or not job.retries_left)
        raise  # RQ retries with backoff while retries are left


def recover() -> int:
    """Queue again every decided request whose graph was not resumed (a worker died, Redis
    lost the job); run at worker start. The resume job itself skips what was applied."""
    ctx = runtime.current()
    pending = ctx.db_resumes_queued()
    for request_id in pending:
        ctx.jobs.resume(request_id)
    return len(pending)
