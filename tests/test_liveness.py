"""Heartbeats and what the sweeper takes over, on a real Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from rq import Queue
from rq.job import JobStatus

from workers import liveness
from workers.queues import RQJobs


def test_a_heartbeat_lapses_after_its_lease_and_a_clean_stop_removes_it(redis):
    beat = liveness.Heartbeat(redis, "w1", lease=0.2)
    beat.beat()
    assert liveness.is_alive(redis, "w1")
    time.sleep(0.4)  # nobody renewed it: the process is as good as dead
    assert not liveness.is_alive(redis, "w1")
    beat.beat()
    assert liveness.is_alive(redis, "w1")
    beat.stop()
    assert not liveness.is_alive(redis, "w1") and not liveness.is_alive(redis, None)


def test_scheduled_jobs_a_dead_scheduler_left_overdue_are_queued_once(redis):
    queue = Queue("q", connection=redis)
    late = queue.enqueue_at(datetime.now(UTC) + timedelta(hours=1), len, "x", job_id="late")
    soon = queue.enqueue_at(datetime.now(UTC) + timedelta(hours=1), len, "y", job_id="soon")
    registry = queue.scheduled_job_registry
    redis.zadd(registry.key, {"late": int((datetime.now(UTC) - timedelta(seconds=10)).timestamp())})
    redis.zadd(registry.key, {"soon": int(datetime.now(UTC).timestamp())})  # the scheduler's to move
    assert liveness.queue_overdue(redis, [queue]) == ["late"]
    assert liveness.queue_overdue(redis, [queue]) == []
    assert queue.job_ids == ["late"] and late.get_status(refresh=True) == JobStatus.QUEUED
    assert soon.get_status(refresh=True) == JobStatus.SCHEDULED


def test_a_started_job_is_live_only_while_its_worker_beats(redis):
    jobs = RQJobs(redis, lease=0)  # no grace for a young job: judge by the heartbeat alone
    job = jobs.graphs.enqueue(len, "x", job_id="resume-r1")
    job.set_status(JobStatus.STARTED)
    redis.hset(job.key, "worker_name", "w2")
    redis.hset(job.key, "started_at", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    assert not jobs.is_live("resume-r1")  # a SIGKILLed worker's job: RQ still says "started"
    liveness.Heartbeat(redis, "w2", lease=30).beat()
    assert jobs.is_live("resume-r1")
