"""Signoff's RQ worker: RQ's SimpleWorker without the Redis round trips that tell Redis nothing new.

RQ 2's SimpleWorker makes 18 Redis round trips (52 commands) per job. Six are heartbeats of its
worker key (three per job, an HSET and an EXPIRE each), one writes the state it wrote a moment
before, one asks whether `rq suspend` was run. SignoffWorker sends a heartbeat in one round trip
and only when the key's expiry would otherwise differ by more than BEAT_EVERY from what RQ asks
for, writes its state only when it changes, and looks for a suspension at most every BEAT_EVERY:
11 round trips (42 commands) per job, and 14 % less worker CPU per job (bench/rq_jobs.py).
What RQ and `rq info` see of the worker is unchanged but for `last_heartbeat` (up to BEAT_EVERY
old), its key's expiry (within BEAT_EVERY of RQ's) and `rq suspend` (seen within BEAT_EVERY).
Signoff's own liveness (workers/liveness.py) does not rest on these keys.

Its scheduler process ends quietly after RQ has logged why (see _scheduler_process).

It also keeps the later cards queue (queues.CARDS_LATER, last in every worker's order) from
starving: while its oldest job has waited over LATER_WAITS_AT_MOST (looked at every BEAT_EVERY),
it and the cards queue take turns, so neither a stream of new cards holds a timed-out request's
card back for ever nor a backlog of later cards holds back a new one by more than a job.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq import scheduler as rq_scheduler
from rq.job import Job
from rq.utils import as_text, utcparse

from workers import queues

log = logging.getLogger(__name__)

_rq_scheduler_process = rq_scheduler.run


def _scheduler_process(scheduler: Any) -> None:
    """RQ's scheduler process (`rq.scheduler.run`), which logs the exception that stops it (Redis
    gone, say) and re-raises it: multiprocessing then printed a second, plain-text traceback to
    stderr, the only lines of a JSON-mode worker that were not JSON. It exits 1 instead, as it
    would have, with nothing more said; the worker that follows the outage starts a new one."""
    try:
        _rq_scheduler_process(scheduler)
    except Exception:  # noqa: BLE001 - RQ logged it, traceback included
        raise SystemExit(1) from None


# RQScheduler.start forks with the module's `run` as its target, looked up at each start.
rq_scheduler.run = _scheduler_process

BEAT_EVERY = 1.0  # seconds
LATER_WAITS_AT_MOST = 30.0  # seconds a later card may wait before it takes turns with new cards


class SignoffWorker(SimpleWorker):
    """A SimpleWorker (jobs run in this process) that skips heartbeats, state writes and
    suspension checks that would change nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._beat_at = float("-inf")  # monotonic time of the last heartbeat sent
        self._beat_until = float("-inf")  # when the worker key expires after it
        self._suspension_checked = float("-inf")
        self._later_checked = float("-inf")
        self._later_is_late = False

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's heartbeat, unless the last one was under BEAT_EVERY ago and already keeps the
        worker key as long as this one would, to within BEAT_EVERY (longer or shorter)."""
        ttl = timeout or self.worker_ttl + 60  # as RQ's
        at = time.monotonic()
        if pipeline is not None:  # part of RQ's own transaction: always
            super().heartbeat(timeout, pipeline=pipeline)
        elif at - self._beat_at < BEAT_EVERY and abs(self._beat_until - (at + ttl)) <= BEAT_EVERY:
            return
        else:
            with self.connection.pipeline(transaction=False) as p:
                super().heartbeat(timeout, pipeline=p)
                if at >= self._beat_until:  # the key may have expired: write its state again
                    p.hset(self.key, "state", self._state)
                p.execute()
        self._beat_at, self._beat_until = at, at + ttl

    def set_state(self, state: str, pipeline: Any = None) -> None:
        """RQ's set_state, unless this worker's state already is `state`."""
        if pipeline is None and state == self._state:
            return
        super().set_state(state, pipeline=pipeline)

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's check for `rq suspend`, at most every BEAT_EVERY."""
        at = time.monotonic()
        if at - self._suspension_checked < BEAT_EVERY:
            return
        super().check_for_suspension(burst)
        self._suspension_checked = at

    def dequeue_job_and_maintain_ttl(self, *args: Any, **kwargs: Any) -> Any:
        """RQ's, with the later cards queue's turn settled first."""
        at = time.monotonic()
        if at - self._later_checked >= BEAT_EVERY:
            self._later_checked = at
            was_late = self._later_is_late
            try:
                self._later_is_late = self._oldest_later_waited() > LATER_WAITS_AT_MOST
            except (RedisError, ValueError) as e:  # RQ's work loop would quit on it: its dequeue retries
                log.warning("cannot tell how long the later cards have waited (%s); looking again soon", e)
                self._later_is_late = was_late
            if not self._later_is_late:
                self._ordered_queues = self.queues[:]
            elif not was_late:
                self._put_first(queues.CARDS_LATER)
        return super().dequeue_job_and_maintain_ttl(*args, **kwargs)

    def reorder_queues(self, reference_queue: Queue) -> None:
        """While later cards are late, the queue that did not give the last card goes first."""
        if not self._later_is_late:
            return super().reorder_queues(reference_queue)
        if reference_queue.name in (queues.CARDS, queues.CARDS_LATER):
            self._put_first(queues.CARDS_LATER if reference_queue.name == queues.CARDS else queues.CARDS)
        return None

    def _put_first(self, name: str) -> None:
        """Of the cards queue and the later one, `name` goes first (if this worker takes both)."""
        names = [q.name for q in self._ordered_queues]
        if queues.CARDS in names and queues.CARDS_LATER in names:
            cards, later = names.index(queues.CARDS), names.index(queues.CARDS_LATER)
            if (cards < later) == (name == queues.CARDS_LATER):
                order = self._ordered_queues
                order[cards], order[later] = order[later], order[cards]

    def _oldest_later_waited(self) -> float:
        """Seconds the later cards queue's oldest job has waited (by its enqueuer's clock and this
        machine's); 0 if none, infinite if its record is gone."""
        if queues.CARDS_LATER not in self.queue_names():
            return 0.0
        oldest = self.connection.lindex(Queue(queues.CARDS_LATER, connection=self.connection).key, 0)
        if oldest is None:
            return 0.0
        enqueued_at = self.connection.hget(Job.key_for(as_text(oldest)), "enqueued_at")
        if not enqueued_at:  # its record is gone: RQ drops the id when it comes to it; let it come
            return float("inf")
        return time.time() - utcparse(as_text(enqueued_at)).timestamp()
