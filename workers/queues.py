"""Queue names and the enqueueing side of every job family, in one place."""

from __future__ import annotations

from redis import Redis
from rq import Queue, Retry

CARDS = "signoff-cards"
ALL = (CARDS,)

# Slack outages are usually short; back off up to five minutes, then leave the job failed
# (visible in RQ's failed registry) rather than retrying forever.
SLACK_RETRY = Retry(max=8, interval=[1, 2, 5, 10, 30, 60, 120, 300])


class RQJobs:
    """Jobs the service asks for, put on RQ queues; the job functions live in workers.cards."""

    def __init__(self, redis: Redis) -> None:
        self.cards = Queue(CARDS, connection=redis)

    def post_cards(self, request_id: str) -> None:
        """Queue posting the cards of a new request."""
        self.cards.enqueue("workers.cards.post_cards", request_id, retry=SLACK_RETRY,
                           job_id=f"post-cards-{request_id}")

    def update_cards(self, request_id: str) -> None:
        """Queue bringing every copy of a card up to date."""
        self.cards.enqueue("workers.cards.update_cards", request_id, retry=SLACK_RETRY)
