"""Deadlines: the sweeper thread of every worker fires what is due, in batches, and finds in SQL
what Redis lost.

Deadlines are not RQ jobs: at 167 deadlines/s one scheduled job per deadline cost more in RQ
(scheduler, queue, job record, result) than firing it, and RQ's scheduler releases jobs up to a
second early and fails over in minutes. Every worker's sweeper looks on the `next_deadline_at`
index every SIGNOFF_DEADLINE_INTERVAL seconds instead; firing is conditional and PostgreSQL's
`SKIP LOCKED` gives concurrent sweepers different rows, so each deadline fires once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from redis.exceptions import RedisError

from bot.observe import heartbeat
from bot.storage import recovery
from workers import liveness, queues, runtime

log = logging.getLogger(__name__)


def fire(request_id: str) -> None:
    """Fire a request's due reminder, escalation or timeout (a job an older Signoff scheduled;
    the sweeper finds its next deadline)."""
    runtime.current().service.deadlines.fire(request_id)


def fire_due() -> int:
    """Fire every overdue deadline found in SQL, in batches; returns how many were due.

    It costs what is due, not what is pending: one indexed range query on next_deadline_at.
    """
    return runtime.current().service.deadlines.fire_due()


# Work SQL says is owed is queued again only once this old: younger, its own enqueue may still be
# on the way (between the commit and the enqueue) and queueing it too would run it twice.
GRACE = timedelta(seconds=30)
# After an outage the rows whose enqueue failed are known: only the commit -> enqueue gap is left.
RECOVERY_GRACE = timedelta(seconds=2)


def sweep(*, requeue: bool = True, grace: timedelta = GRACE) -> int:
    """One whole pass: take over dead workers' jobs, fire every overdue deadline, and (with
    `requeue`) requeue lost work older than `grace`; returns how many deadlines were due."""
    ctx = runtime.current()
    take_over_dead(ctx)
    fired = fire_due()
    if requeue:
        requeue_lost(ctx, grace=grace)
    return fired


def take_over_dead(ctx: runtime.JobContext) -> None:
    """Re-queue the running jobs of workers whose heartbeat lapsed, and the scheduled jobs a dead
    scheduler left overdue: two Redis reads per queue, so on every pass."""
    try:
        redis, all_queues = ctx.jobs.redis, ctx.jobs.queues
        for job_id in liveness.take_over(redis, all_queues, lease=ctx.lease):
            log.warning("sweeper: took over %s from a dead worker", job_id)
        liveness.queue_overdue(redis, all_queues)
    except Exception:  # noqa: BLE001 - Redis may be down; the SQL half of the pass still runs
        log.exception("sweeper: taking over dead workers' jobs failed")


def requeue_lost(ctx: runtime.JobContext, *, grace: timedelta = GRACE) -> int:
    """Queue again what SQL says is owed but has no live job: cards, card updates, escalation
    notices, reminders, resumes, callbacks; returns how many. A job still queued, running, backing off or
    failed for good is left alone, so this never runs a job twice at once nor resets its
    retries; and of the sweepers that find one missing at once, only the one that claims it queues it."""
    jobs, before = ctx.jobs, ctx.clock() - grace
    with ctx.db.read() as s:
        lost_cards = recovery.lost_cards(s, before=before)
        stale_cards = recovery.stale_cards(s, before=before)
        unnotified, resumes = recovery.unnotified(s), recovery.resumes_queued(s, before=before)
        unreminded = recovery.unreminded(s)
        lost_callbacks = recovery.lost_callbacks(s, before=before)
    owed: list[tuple[str, Callable[[], None]]] = []
    for request_id in lost_cards:
        owed.append((queues.post_cards_job_id(request_id), partial(jobs.post_cards, request_id)))
    for request_id, version in stale_cards:  # behind new cards and fresh clicks: a catch-up
        owed.append((queues.update_cards_job_id(request_id, version),
                     partial(jobs.request_changed, request_id, version, later=True)))
    for request_id, told, level in unnotified:
        owed.append((queues.escalate_job_id(request_id, level),
                     partial(jobs.escalated, request_id, from_level=told, to_level=level)))
    for request_id, reminder in unreminded:
        owed.append((queues.remind_job_id(request_id, reminder),
                     partial(jobs.reminded, request_id, reminder=reminder)))
    for request_id in resumes:
        owed.append((queues.resume_job_id(request_id), partial(jobs.resume, request_id)))
    for delivery_id, attempts in lost_callbacks:
        owed.append((queues.callback_job_id(delivery_id, attempts + 1),
                     partial(jobs.deliver_callback, delivery_id, attempt=attempts + 1)))
    queued = 0
    for job_id, enqueue in owed:
        if not jobs.is_live(job_id) and jobs.claim(job_id):
            enqueue()
            queued += 1
    return queued


class Sweeper(threading.Thread):
    """Fires deadlines every `deadline_interval` seconds inside each worker process; takes over
    dead workers' jobs every `interval`, and requeues lost work every REQUEUE_EVERY, or at once
    when Redis answers again after an outage.

    A thread rather than a scheduled RQ job: a job can be lost with Redis or wait out a
    scheduler failover, and then nothing would ever sweep again.
    """

    # Deadlines are looked for on every tick (an indexed query); lost work less often: those
    # queries scan what is pending (measured: 25 ms at 10,000), and lost work is rare, except
    # after Redis was unreachable: then on every pass from the first that reaches it again until
    # one whose cutoff (now - RECOVERY_GRACE) is past that moment, whoever saw the outage.
    REQUEUE_EVERY = 60.0  # seconds

    def __init__(self, context: runtime.JobContext, *, interval: float,
                 deadline_interval: float = 0.5) -> None:
        super().__init__(name="signoff-sweeper", daemon=True)
        self.context, self.interval = context, interval
        self.deadline_interval = min(deadline_interval, interval)
        self.stopped = threading.Event()
        self.outage = False  # a pass found Redis down
        self.owed_before: datetime | None = None  # work owed since an outage was committed before this

    def run(self) -> None:
        runtime.install(self.context)
        pass_due = requeue_due = time.monotonic() + self.interval  # the first whole pass after `interval`
        while not self.stopped.wait(self.deadline_interval):
            now = time.monotonic()
            try:
                if now >= pass_due:
                    pass_due = now + self.interval
                    periodic = now >= requeue_due
                    if periodic:
                        requeue_due = now + self.REQUEUE_EVERY
                    self.sweep_once(periodic=periodic)
                    heartbeat.beat(self.context.jobs.redis, self.context.clock())  # alerts and doctor read it
                else:
                    fire_due()
            except Exception:  # noqa: BLE001 - keep sweeping; Redis or the DB may be back next time
                log.exception("sweeper pass failed")

    def sweep_once(self, *, periodic: bool) -> None:
        """One pass; lost work is looked for when `periodic`, and at once when Redis answers again
        after this sweeper saw it down or after another process could not queue work."""
        now = self.context.clock()
        try:
            told = self.context.jobs.take_owed()
        except RedisError:  # down: deadlines still fire from SQL; what they queue is owed too
            self.outage = True
            sweep(requeue=False)
            return
        if told or self.outage:
            self.owed_before, self.outage = now, False  # every failed enqueue happened before now
        if self.owed_before is None:
            sweep(requeue=periodic)
            return
        sweep(requeue=False)
        queued = requeue_lost(self.context, grace=RECOVERY_GRACE)
        if now - RECOVERY_GRACE >= self.owed_before:
            self.owed_before = None  # this pass looked at every row committed before the news
        if queued:
            log.warning("sweeper: Redis answers again; queued %d job(s) owed since the outage", queued)
