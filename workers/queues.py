"""The job table: queue names, job ids and the enqueueing side of every job family, in one place.

Job functions are enqueued by reference, never by a string that names them, and every job id is
made by one function here, so the sweeper asks about exactly the ids the service queued.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from redis import Redis
from redis.exceptions import RedisError
from rq import Callback, Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from bot.service.ports import Ending
from workers import cards, graphs, liveness, webhooks
from workers.retries import CRASH_RETRY, GRAPH_RETRY, SLACK_RETRY

log = logging.getLogger(__name__)

CARDS = "signoff-cards"
CARDS_LATER = "signoff-cards-later"
CALLBACKS = "signoff-callbacks"
GRAPHS = "signoff-graphs"
DEADLINES = "signoff-deadlines"
# A worker takes queues in this order. Callbacks are short and agents wait on them (measured:
# behind card jobs they queued 0.26 s p50 at 8 agents, for an 8 ms job); resuming the graph is
# what an approver's click is for; then cards; last, the cards of requests that ended at a
# deadline, which come in bursts (10,000 timeouts in a minute left thousands queued, each a Slack
# call or more) and nobody is waiting on, so that a new request's card or a clicked card never
# waits behind them; until one has waited too long (SignoffWorker then lets the two take turns).
ALL = (DEADLINES, CALLBACKS, GRAPHS, CARDS, CARDS_LATER)

# Pub/sub channel on which the web process learns that a request ended (long-poll waiters).
ENDED_CHANNEL = "signoff:ended"

# Set by a process whose queueing failed while Redis was down, as soon as Redis answers it again:
# some sweeper then looks for the owed work at once instead of at its next once-a-minute pass.
OWED_KEY = "signoff:owed"

# How often a worker whose Redis is unreachable tries again (seconds).
RECONNECT_EVERY = 1.0
REPORT_EVERY = 1.0  # seconds between tries to tell the sweepers (OWED_KEY) that work is owed
# Ephemeral explanations for clicks that changed nothing ("already approved by …"), queued by web
# for a worker's Teller to send (workers/notices.py); at most TELL_KEEP wait, the newest.
TELL_KEY = "signoff:tell"
TELL_KEEP = 10_000

# A job in one of these states will still run (or chose to stop): queueing it again would run
# it twice at once, or reset the retries of one that is backing off.
_LIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.FAILED}

F = TypeVar("F", bound=Callable[..., Any])

# Every graph job: retried with backoff, and failed for good with its run (graphs.abandoned) when a
# dead worker took its last attempt with it. Named, not referenced: workers.graphs imports this module.
_GRAPH_JOB: dict[str, Any] = {"retry": GRAPH_RETRY, "on_failure": Callback("workers.graphs.abandoned")}


def post_cards_job_id(request_id: str) -> str:
    """The one job that posts a new request's cards."""
    return f"post-cards-{request_id}"


def update_cards_job_id(request_id: str, version: int) -> str:
    """The job that brings the cards up to `version`: one per version."""
    return f"update-cards-{request_id}-{version}"


def escalate_job_id(request_id: str, level: int) -> str:
    """The job that tells the people escalation level `level` added."""
    return f"escalate-{request_id}-{level}"


def remind_job_id(request_id: str, reminder: int) -> str:
    """The job that sends reminder number `reminder`."""
    return f"remind-{request_id}-{reminder}"


def callback_job_id(delivery_id: str, attempt: int) -> str:
    """Attempt number `attempt` of a callback delivery: the same attempt queued twice runs once."""
    return f"callback-{delivery_id}-{attempt}"


def start_run_job_id(run_id: str) -> str:
    """The job that runs a graph from its input."""
    return f"run-{run_id}"


def resume_job_id(request_id: str) -> str:
    """The job that resumes a graph with the decision of `request_id`."""
    return f"resume-{request_id}"


def later_job_id(job_id: str, delay: float) -> str:
    """Job `job_id` come back for later: an id of its own, as a job that reschedules itself
    under its own id has the new schedule dropped when RQ marks the running one finished."""
    return f"{job_id}-at-{int(time.time() + delay)}"


def _best_effort(method: F) -> F:
    """Enqueueing happens after the SQL commit: if Redis is down the work is not lost (the
    sweeper re-finds it in SQL), so say so in the log instead of failing the committed action.
    The first call that gets through again tells the sweepers (OWED_KEY) that work is owed."""

    @functools.wraps(method)
    def wrapper(self: RQJobs, *args: Any, **kwargs: Any) -> Any:
        try:
            result = method(self, *args, **kwargs)
        except RedisError as e:
            self._owe()
            log.warning("could not queue %s%s (%s); the sweeper will redo it", method.__name__, args, e)
            return None
        if self.owed:
            self._report_owed()
        return result

    return wrapper  # type: ignore[return-value]


class RQJobs:
    """Jobs the service asks for, put on RQ queues; the job functions live in workers/."""

    def __init__(self, redis: Redis, *, lease: float = 15.0) -> None:
        self.redis, self.lease = redis, lease  # lease: how long a dead worker still looks alive
        self.owed = False  # a queueing failed since OWED_KEY was last set from this process
        self._failures = 0  # queueings that failed, ever: a report covers those counted before it
        self._owed_lock = threading.Lock()
        self._reporter: threading.Thread | None = None
        self.cards = Queue(CARDS, connection=redis)
        self.cards_later = Queue(CARDS_LATER, connection=redis)
        self.callbacks = Queue(CALLBACKS, connection=redis)
        self.graphs = Queue(GRAPHS, connection=redis)
        self.deadlines = Queue(DEADLINES, connection=redis)

    def is_live(self, job_id: str) -> bool:
        """Whether a job with this id is queued, running on a live worker, scheduled or failed
        for good. RQ's "started" is not enough: a SIGKILLed worker's job stays started for
        minutes, so a started job counts only while its worker's heartbeat lasts."""
        try:
            job = Job.fetch(job_id, connection=self.redis)
        except NoSuchJobError:
            return False
        status = job.get_status()
        if status == JobStatus.STARTED:
            young = job.started_at is not None and time.time() - job.started_at.timestamp() < self.lease
            return young or liveness.is_alive(self.redis, job.worker_name)
        return status in _LIVE

    def _owe(self) -> None:
        """Remember that a queueing failed, and tell the sweepers as soon as Redis answers: a
        thread tries every REPORT_EVERY seconds, so a process that queues nothing more after
        the outage (a quiet web) still sends them looking at once."""
        with self._owed_lock:
            self.owed = True
            self._failures += 1
            if self._reporter is None:
                self._reporter = threading.Thread(target=self._report_when_back, name="signoff-owed",
                                                  daemon=True)
                self._reporter.start()

    def _report_when_back(self) -> None:
        while True:
            self._report_owed()
            with self._owed_lock:
                if not self.owed:
                    self._reporter = None
                    return
            time.sleep(REPORT_EVERY)

    def _report_owed(self) -> None:
        failures = self._failures
        try:
            self.redis.set(OWED_KEY, "1")
        except RedisError:
            return  # down still: the reporter tries again
        with self._owed_lock:
            if self._failures == failures:  # none failed meanwhile, or it would go unreported
                self.owed = False

    def take_owed(self) -> bool:
        """Whether some process could not queue work since the last call (RedisError if Redis is
        down); one sweeper takes the news, and any that takes it looks for the owed work."""
        mine, self.owed = self.owed, False
        try:
            return bool(self.redis.delete(OWED_KEY)) or mine
        except RedisError:
            self.owed = self.owed or mine
            raise

    def claim(self, job_id: str) -> bool:
        """Whether this process may queue `job_id` again: one of the sweepers that found it
        missing at the same moment (every worker's, as Redis comes back) queues it, not all."""
        return bool(self.redis.set(f"signoff:requeue:{job_id}", "1", nx=True, px=int(self.lease * 1000)))

    @property
    def queues(self) -> tuple[Queue, ...]:
        """Every Signoff queue, in the order a worker takes them."""
        return (self.deadlines, self.callbacks, self.graphs, self.cards, self.cards_later)

    def tell(self, channel: str, user: str, text: str) -> bool:
        """Have a worker tell `user` `text` ephemerally in `channel`: one Redis round trip here
        instead of a Slack call (about a millisecond of the web process's CPU, per late click).
        False when Redis cannot take it (nothing in SQL owes the message)."""
        tell = json.dumps({"channel": channel, "user": user, "text": text, "at": time.time()})
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.rpush(TELL_KEY, tell)
                pipe.ltrim(TELL_KEY, -TELL_KEEP, -1)
                pipe.execute()
        except RedisError as e:
            log.warning("could not queue a message for %s (%s): %s", user, e, text)
            return False
        return True

    @_best_effort
    def post_cards(self, request_id: str) -> None:
        """Queue posting the cards of a new request."""
        self.cards.enqueue(cards.post_cards, request_id, retry=SLACK_RETRY,
                           job_id=post_cards_job_id(request_id))

    @_best_effort
    def request_changed(self, request_id: str, version: int, *, later: bool = False) -> None:
        """Update every card to show `version`; one job per version, so the sweeper's check for a
        live one sees it and never queues a duplicate. `later`: on CARDS_LATER (the sweeper
        catching up on updates Redis lost, up to hundreds at once)."""
        queue = self.cards_later if later else self.cards
        queue.enqueue(cards.update_cards, request_id, retry=SLACK_RETRY,
                      job_id=update_cards_job_id(request_id, version))

    @_best_effort
    def refresh_cards(self, request_id: str) -> None:
        """Bring every card up to date after something the version does not count (a resume or a
        callback that failed, or recovered, after the decision)."""
        self.cards.enqueue(cards.update_cards, request_id, retry=SLACK_RETRY)

    @_best_effort
    def request_ended(self, request_id: str, *, delivery_id: str | None, resume: bool, version: int) -> None:
        """Update every card, deliver the callback, resume the graph, wake waiting agents: one
        Redis round trip."""
        self._ended([Ending(request_id=request_id, delivery_id=delivery_id, resume=resume, version=version)],
                    card_queue=self.cards)

    @_best_effort
    def requests_ended(self, endings: Sequence[Ending]) -> None:
        """request_ended for each, in one Redis round trip (a batch of timeouts); their card updates
        wait on CARDS_LATER, behind the cards people are waiting for."""
        self._ended(endings, card_queue=self.cards_later)

    def _ended(self, endings: Sequence[Ending], *, card_queue: Queue) -> None:
        resumes = [self.graphs.prepare_data(graphs.resume, (e.request_id,), **_GRAPH_JOB,
                                            job_id=resume_job_id(e.request_id)) for e in endings if e.resume]
        updates = [card_queue.prepare_data(cards.update_cards, (e.request_id,), retry=SLACK_RETRY,
                                           job_id=update_cards_job_id(e.request_id, e.version))
                   for e in endings]
        callbacks = [self.callbacks.prepare_data(webhooks.deliver_callback, (e.delivery_id, 1),
                                                 retry=CRASH_RETRY, job_id=callback_job_id(e.delivery_id, 1))
                     for e in endings if e.delivery_id is not None]
        with self.redis.pipeline() as p:
            for queue, batch in ((self.graphs, resumes), (card_queue, updates), (self.callbacks, callbacks)):
                if batch:
                    queue.enqueue_many(batch, pipeline=p)
            for e in endings:
                p.publish(ENDED_CHANNEL, e.request_id)
            p.execute()

    @_best_effort
    def deliver_callback(self, delivery_id: str, *, attempt: int, delay: float = 0.0) -> None:
        """Queue attempt number `attempt` of a callback, `delay` seconds from now."""
        job_id, func = callback_job_id(delivery_id, attempt), webhooks.deliver_callback
        if delay <= 0:
            self.callbacks.enqueue(func, delivery_id, attempt, job_id=job_id, retry=CRASH_RETRY)
        else:
            self.callbacks.enqueue_in(timedelta(seconds=delay), func, delivery_id, attempt,
                                      job_id=job_id, retry=CRASH_RETRY)

    @_best_effort
    def escalated(self, request_id: str, *, from_level: int, to_level: int) -> None:
        """Tell the people added by these escalation levels."""
        self.cards.enqueue(cards.escalate, request_id, from_level, to_level, retry=SLACK_RETRY,
                           job_id=escalate_job_id(request_id, to_level))

    @_best_effort
    def reminded(self, request_id: str, *, reminder: int) -> None:
        """Send reminder number `reminder`: DMs and a note in the card's threads."""
        self.cards.enqueue(cards.remind, request_id, reminder, retry=SLACK_RETRY,
                           job_id=remind_job_id(request_id, reminder))

    @_best_effort
    def start_run(self, run_id: str) -> None:
        """Queue running a graph until it ends or interrupts."""
        self.graphs.enqueue(graphs.start_run, run_id, **_GRAPH_JOB, job_id=start_run_job_id(run_id))

    @_best_effort
    def resume(self, request_id: str) -> None:
        """Queue resuming a graph with the decision of `request_id`."""
        self.graphs.enqueue(graphs.resume, request_id, **_GRAPH_JOB, job_id=resume_job_id(request_id))

    @_best_effort
    def resume_later(self, request_id: str, *, delay: float) -> None:
        """Try the resume again in `delay` seconds (its thread is locked by another worker now)."""
        self.graphs.enqueue_in(timedelta(seconds=delay), graphs.resume, request_id, **_GRAPH_JOB,
                               job_id=later_job_id(resume_job_id(request_id), delay))

    @_best_effort
    def start_run_later(self, run_id: str, *, delay: float) -> None:
        """Try starting the run again in `delay` seconds (its thread is locked now)."""
        self.graphs.enqueue_in(timedelta(seconds=delay), graphs.start_run, run_id, **_GRAPH_JOB,
                               job_id=later_job_id(start_run_job_id(run_id), delay))
