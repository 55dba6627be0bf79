"""Queue names and the enqueueing side of every job family, in one place."""

from __future__ import annotations

from datetime import timedelta

from redis import Redis
from rq import Queue, Retry

CARDS = "signoff-cards"
CALLBACKS = "signoff-callbacks"
GRAPHS = "signoff-graphs"
ALL = (GRAPHS, CARDS, CALLBACKS)

# Pub/sub channel on which the web process learns that a request ended (long-poll waiters).
ENDED_CHANNEL = "signoff:ended"

# Slack outages are usually short; back off up to five minutes, then leave the job failed
# (visible in RQ's failed registry) rather than retrying forever.
SLACK_RETRY = Retry(max=8, interval=[1, 2, 5, 10, 30, 60, 120, 300])
# Callback attempts schedule their own backoff; this only covers a worker dying mid-attempt.
CRASH_RETRY = Retry(max=3, interval=[5, 30, 120])
# Graph runs and resumes: a failing step (the graph's own exception, a database hiccup) is
# retried with backoff; each retry first re-checks what the thread still waits for.
GRAPH_RETRY = Retry(max=5, interval=[2, 10, 30, 120, 600])


class RQJobs:
    """Jobs the service asks for, put on RQ queues; the job functions live in workers/."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.cards = Queue(CARDS, connection=redis)
        self.callbacks = Queue(CALLBACKS, connection=redis)
        self.graphs = Queue(GRAPHS, connection=redis)

    def post_cards(self, request_id: str) -> None:
        """Queue posting the cards of a new request."""
        self.cards.enqueue("workers.cards.post_cards", request_id, retry=SLACK_RETRY,
                           job_id=f"post-cards-{request_id}")

    def request_changed(self, request_id: str) -> None:
        """Update every card (an item of a batch was answered)."""
        self.cards.enqueue("workers.cards.update_cards", request_id, retry=SLACK_RETRY)

    def request_ended(self, request_id: str, *, delivery_id: str | None, resume: bool) -> None:
        """Update every card, deliver the callback, resume the graph, wake waiting agents."""
        if resume:
            self.resume(request_id)
        self.cards.enqueue("workers.cards.update_cards", request_id, retry=SLACK_RETRY)
        if delivery_id is not None:
            self.deliver_callback(delivery_id, attempt=1)
        self.redis.publish(ENDED_CHANNEL, request_id)

    def start_run(self, run_id: str) -> None:
        """Queue running a graph until it ends or interrupts."""
        self.graphs.enqueue("workers.graphs.start_run", run_id, retry=GRAPH_RETRY,
                            job_id=f"run-{run_id}")

    def resume(self, request_id: str) -> None:
        """Queue resuming a graph with the decision of `request_id`."""
        self.graphs.enqueue("workers.graphs.resume", request_id, retry=GRAPH_RETRY,
                            job_id=f"resume-{request_id}")

    def deliver_callback(self, delivery_id: str, *, attempt: int, delay: float = 0.0) -> None:
        """Queue attempt number `attempt` of a callback, `delay` seconds from now."""
        job_id = f"callback-{delivery_id}-{attempt}"  # the same attempt queued twice runs once
        func = "workers.callbacks.deliver_callback"
        if delay <= 0:
            self.callbacks.enqueue(func, delivery_id, attempt, job_id=job_id, retry=CRASH_RETRY)
        else:
            self.callbacks.enqueue_in(timedelta(seconds=delay), func, delivery_id, attempt,
                                      job_id=job_id, retry=CRASH_RETRY)
