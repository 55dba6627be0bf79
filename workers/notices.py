"""The Teller: each worker sends the ephemeral explanations web queued for clicks that changed
nothing ("Already approved by …", "Only this request's approvers can decide it").

They used to be Slack calls from web after the ack: about a millisecond of web's CPU and a thread
held for Slack's round trip per late click, and four clicks in five are late. Now web pushes one
line to a Redis list (`queues.TELL_KEY`) and every worker's Teller thread takes them from it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from workers.queues import TELL_KEY

log = logging.getLogger(__name__)

STALE = 60.0  # seconds after which an explanation is dropped: the card has long said it


class Teller(threading.Thread):
    """Takes queued explanations off Redis and posts each as an ephemeral message."""

    def __init__(self, redis: Redis, slack: WebClient, *, wait: float = 1.0) -> None:
        super().__init__(name="signoff-teller", daemon=True)
        self.redis, self.slack, self.wait = redis, slack, wait
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                taken = self.redis.blpop([TELL_KEY], timeout=self.wait)
            except RedisError as e:
                log.warning("teller: Redis is unreachable (%s); trying again", e)
                self.stopped.wait(1.0)
                continue
            if taken is not None:
                self.send(taken[1])

    def send(self, raw: bytes | str) -> None:
        """Post one explanation, unless it is older than STALE seconds; never raises, so one bad
        message cannot stop this worker's Teller."""
        try:
            tell: dict[str, Any] = json.loads(raw)
            if time.time() - float(tell.get("at", 0)) > STALE:
                log.info("teller: dropped a message for %s older than %d s", tell.get("user"), STALE)
                return
            self.slack.chat_postEphemeral(channel=tell["channel"], user=tell["user"], text=tell["text"])
        except SlackApiError as e:
            log.warning("ephemeral failed: %s", e.response.get("error"))
        except Exception:  # noqa: BLE001 - one bad message must not stop the others
            log.exception("teller: a queued message could not be sent: %r", raw[:200])

    def stop(self) -> None:
        """Stop after the current wait (at most `wait` seconds)."""
        self.stopped.set()
