"""SignoffWorker against a real Redis: fewer round trips per job, and what RQ sees of it unchanged."""

from __future__ import annotations

import shlex
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from redis import ConnectionPool, Redis
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.job import Job, JobStatus
from rq.suspension import resume, suspend
from rq.utils import utcformat
from rq.worker import Worker

from workers import queues, rq_worker
from workers.rq_worker import BEAT_EVERY, SignoffWorker

JOBS = 40


def worker_state_in_redis() -> str | None:
    """A job that reports its own worker's state, as `rq info` would read it."""
    from rq import get_current_job
    from rq.worker import Worker as Reader

    job = get_current_job()
    assert job is not None and job.worker_name
    found = Reader.find_by_key(Reader.redis_worker_namespace_prefix + job.worker_name,
                               connection=job.connection)
    return found.get_state() if found else None


class Monitor:
    """Every command Redis receives meanwhile (MONITOR), as lists of words."""

    def __init__(self, redis: Redis) -> None:
        self.seen: list[list[str]] = []
        self._monitor = redis.monitor()
        self._monitor.connection.send_command("MONITOR")  # type: ignore[union-attr]
        self._monitor.connection.read_response()  # type: ignore[union-attr]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self.seen.append(self._monitor.next_command()["command"].split())
            except Exception:
                return

    def stop(self, redis: Redis) -> list[list[str]]:
        redis.set("monitor:end", "1")  # the last command, to know every earlier one was read
        while not any(c[:2] == ["SET", "monitor:end"] for c in self.seen):
            time.sleep(0.01)
        self._stop.set()
        self._monitor.connection.disconnect()  # type: ignore[union-attr]
        return self.seen


def run(redis: Redis, worker_class: type[SimpleWorker]) -> tuple[list[list[str]], float, Any]:
    queue = Queue("t", connection=redis)
    enqueued = [queue.enqueue(worker_state_in_redis) for _ in range(JOBS)]
    monitor = Monitor(redis)
    started = time.monotonic()
    worker = worker_class([queue], connection=redis)
    worker.work(burst=True, logging_level="WARNING")
    took = time.monotonic() - started
    sent = monitor.stop(redis)
    assert [j.get_status(refresh=True) for j in enqueued] == [JobStatus.FINISHED] * JOBS
    assert [j.return_value() for j in enqueued] == ["busy"] * JOBS  # RQ sees it busy while it works
    return sent, took, worker


def count(sent: list[list[str]], name: str, key: str) -> int:
    return sum(1 for c in sent if c[0].upper() == name and len(c) > 1 and c[1].strip('"') == key)


def test_it_heartbeats_at_most_once_a_job_and_sends_fewer_commands_than_rq(redis: Redis) -> None:
    ours, took, worker = run(redis, SignoffWorker)
    # Per job, the two heartbeats in RQ's own preparation pipelines and none of its idle ones but
    # one a beat (a job's heartbeat shortens the key's TTL; the next idle one may lengthen it).
    beats = count(ours, "EXPIRE", worker.key)
    assert beats <= 2 * JOBS + took / BEAT_EVERY + 5, (beats, took)  # with the job's own, in RQ's pipelines
    redis.flushall()
    theirs, _, simple = run(redis, SimpleWorker)
    assert count(theirs, "EXPIRE", simple.key) >= 4 * JOBS  # measured: 5 per job
    assert len(ours) <= len(theirs) - 8 * JOBS, (len(ours), len(theirs))  # measured: 10 fewer per job


def test_its_key_lives_as_long_as_rq_asks_to_within_a_beat(redis: Redis) -> None:
    queue = Queue("t", connection=redis)
    worker = SignoffWorker([queue], connection=redis)
    worker.register_birth()
    worker.heartbeat()
    assert worker.worker_ttl + 60 - 1 <= redis.ttl(worker.key) <= worker.worker_ttl + 60
    worker.heartbeat()  # the same, at once: skipped
    worker.heartbeat(30)  # shorter: sent at once
    assert 29 <= redis.ttl(worker.key) <= 30
    worker.heartbeat(worker.worker_ttl + 600)  # longer: sent at once
    assert redis.ttl(worker.key) >= worker.worker_ttl + 600 - 1
    # A key that expired (a worker stalled past its TTL) gets its state back with the next beat.
    redis.delete(worker.key)
    worker._beat_at = worker._beat_until = time.monotonic() - 1
    worker.heartbeat()
    found = Worker.find_by_key(worker.key, connection=redis)
    assert found is not None and found.get_state() == worker.get_state()
    worker.register_death()


def test_it_says_idle_after_its_jobs(redis: Redis) -> None:
    _, _, worker = run(redis, SignoffWorker)  # busy while each job ran (checked in run)
    assert redis.hget(worker.key, "state") == b"idle"


@pytest.mark.parametrize("worker_class", [SignoffWorker, SimpleWorker])
def test_a_suspended_burst_worker_runs_nothing(redis: Redis, worker_class: type[SimpleWorker]) -> None:
    queue = Queue("t", connection=redis)
    job = queue.enqueue(worker_state_in_redis)
    suspend(redis)
    try:
        worker_class([queue], connection=redis).work(burst=True, logging_level="WARNING")
    finally:
        resume(redis)
    assert job.get_status(refresh=True) == JobStatus.QUEUED


def test_a_running_worker_sees_a_suspension_within_a_beat(
    redis: Redis, monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(rq_worker.time, "monotonic", lambda: now[0])
    worker = SignoffWorker([Queue("t", connection=redis)], connection=redis)
    worker.check_for_suspension(burst=True)  # not suspended: goes on
    suspend(redis)
    try:
        now[0] += BEAT_EVERY / 2
        worker.check_for_suspension(burst=True)  # within the beat: not asked yet
        now[0] += BEAT_EVERY / 2
        with pytest.raises(StopRequested):  # a beat on: asked, and a burst worker stops
            worker.check_for_suspension(burst=True)
    finally:
        resume(redis)


def test_the_readmes_rollback_command_hands_the_later_queue_to_an_older_worker(redis: Redis) -> None:
    # The README's command, run as written (its script and keys), against jobs on the later queue:
    # queued, and waiting to retry.
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    [line] = [ln for ln in readme.splitlines() if ln.startswith("redis-cli EVAL") and "cards-later" in ln]
    _, _, script, numkeys, *keys = shlex.split(line)
    later, cards = Queue(queues.CARDS_LATER, connection=redis), Queue(queues.CARDS, connection=redis)
    assert keys == [f"rq:queue:{later.name}", f"rq:queue:{cards.name}", later.scheduled_job_registry.key,
                    cards.scheduled_job_registry.key]
    queued = [later.enqueue(len, [n]) for n in range(3)]
    waiting = [later.enqueue_in(timedelta(seconds=30), len, [n]) for n in range(2)]
    assert redis.eval(script, int(numkeys), *keys) == 5
    assert later.count == 0 and later.scheduled_job_registry.count == 0
    assert sorted(cards.scheduled_job_registry.get_job_ids()) == sorted(j.id for j in waiting)
    for job_id in cards.scheduled_job_registry.get_job_ids():  # their time comes, as RQ's scheduler
        cards.scheduled_job_registry.remove(job_id)           # queues them: on signoff-cards
        cards.enqueue_job(Job.fetch(job_id, connection=redis))
    older = [q for q in queues.ALL if q != queues.CARDS_LATER]  # a worker from before that queue
    SignoffWorker(older, connection=redis).work(burst=True, logging_level="WARNING")
    assert [j.get_status(refresh=True) for j in queued + waiting] == [JobStatus.FINISHED] * 5


def note_ran(name: str) -> None:
    """A job that records, in Redis, that it ran (in the order jobs ran)."""
    from rq import get_current_job

    job = get_current_job()
    assert job is not None
    job.connection.rpush("ran", name)


def queue_cards(redis: Redis, *, cards: int, later: int, later_waited: float) -> None:
    """`cards` jobs on signoff-cards, and `later` on signoff-cards-later queued `later_waited` s ago."""
    for n in range(later):
        job = Queue(queues.CARDS_LATER, connection=redis).enqueue(note_ran, f"later{n}")
        old = job.enqueued_at - timedelta(seconds=later_waited)  # type: ignore[operator]
        redis.hset(job.key, "enqueued_at", utcformat(old))
    for n in range(cards):
        Queue(queues.CARDS, connection=redis).enqueue(note_ran, f"card{n}")


def ran(redis: Redis) -> list[str]:
    SignoffWorker(list(queues.ALL), connection=redis).work(burst=True, logging_level="WARNING")
    return [name.decode() for name in redis.lrange("ran", 0, -1)]


def test_a_later_card_waits_behind_the_cards_people_wait_on(redis: Redis) -> None:
    queue_cards(redis, cards=3, later=2, later_waited=rq_worker.LATER_WAITS_AT_MOST - 5)
    assert ran(redis) == ["card0", "card1", "card2", "later0", "later1"]


def test_a_later_card_that_waited_too_long_takes_turns_with_new_cards(redis: Redis) -> None:
    # Sustained new cards must not hold a timed-out request's card back for ever, nor a backlog of
    # old later cards hold back the new ones: while the later queue's oldest job has waited too
    # long, the two queues take turns.
    queue_cards(redis, cards=3, later=4, later_waited=rq_worker.LATER_WAITS_AT_MOST + 5)
    assert ran(redis) == ["later0", "card0", "later1", "card1", "later2", "card2", "later3"]


def test_a_later_job_whose_record_is_gone_does_not_hold_back_the_ones_behind_it(redis: Redis) -> None:
    # Expired or deleted, its id stays at the head of the queue until RQ dequeues (and drops) it:
    # it must not read as "waited 0 s" while the jobs behind it starve.
    queue_cards(redis, cards=3, later=2, later_waited=0)
    first = Queue(queues.CARDS_LATER, connection=redis).get_job_ids()[0]
    redis.delete(Job.key_for(first))
    assert ran(redis) == ["later1", "card0", "card1", "card2"]


def test_a_later_job_whose_enqueue_time_cannot_be_read_does_not_stop_the_worker(redis: Redis) -> None:
    # Were the look to raise, RQ's work loop would quit, and `signoff worker` start one that
    # quits on the same job: every queue would stall.
    queue_cards(redis, cards=2, later=1, later_waited=0)
    [job_id] = Queue(queues.CARDS_LATER, connection=redis).get_job_ids()
    redis.hset(Job.key_for(job_id), "enqueued_at", "2024-01-01T00:00:00+00:00")  # not RQ's format
    assert ran(redis)[:2] == ["card0", "card1"]


def test_a_redis_error_on_the_look_at_the_later_queue_does_not_stop_the_worker(redis: Redis) -> None:
    # RQ's work loop quits on any exception out of its dequeue but a connection error (its own
    # dequeue waits and retries): the look at the later queue must not raise either. A Redis user
    # that may not read a list's items (LINDEX) makes that look fail every time.
    queue_cards(redis, cards=2, later=1, later_waited=rq_worker.LATER_WAITS_AT_MOST + 5)
    redis.acl_setuser("nolindex", enabled=True, nopass=True, keys=["*"], channels=["*"],
                      commands=["+@all", "-lindex"])
    try:
        pool = redis.connection_pool
        as_user = ConnectionPool(connection_class=pool.connection_class,
                                 **{**pool.connection_kwargs, "username": "nolindex"})
        with Redis(connection_pool=as_user) as limited:
            SignoffWorker(list(queues.ALL), connection=limited).work(burst=True, logging_level="WARNING")
    finally:
        redis.acl_deluser("nolindex")
    assert [name.decode() for name in redis.lrange("ran", 0, -1)] == ["card0", "card1", "later0"]
