"""Long-poll support: one Redis subscription per web process wakes every waiting agent.

A waiter holds only an asyncio future while it waits: no thread, no database connection, so
hundreds of agents can wait on one process. Losing the subscription only makes waiters time
out and answer `pending`, after which clients poll again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class Waiters:
    """Futures per request id, resolved when a request-ended message arrives on `channel`."""

    def __init__(self, redis_url: str, *, channel: str) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self._futures: dict[str, set[asyncio.Future[None]]] = defaultdict(set)
        self._ready = asyncio.Event()

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after Redis errors."""
        while True:
            try:
                await self._listen()
            except RedisError as e:
                self._ready.clear()
                log.warning("long-poll subscription lost (%s); reconnecting", e)
                self._wake_all()  # waiters re-read the store instead of sleeping through a decision
                await asyncio.sleep(0.5)

    async def _listen(self) -> None:
        client = Redis.from_url(self.redis_url)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(self.channel)
                self._ready.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._wake(message["data"].decode())
        finally:
            await client.aclose()

    async def ready(self, timeout: float = 5.0) -> None:
        """Wait until the subscription is live (start-up)."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    @contextlib.asynccontextmanager
    async def watch(self, request_id: str) -> AsyncIterator[asyncio.Future[None]]:
        """A future resolved when `request_id` ends; registered for the duration of the block."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._futures[request_id].add(future)
        try:
            yield future
        finally:
            waiting = self._futures.get(request_id)
            if waiting is not None:
                waiting.discard(future)
                if not waiting:
                    del self._futures[request_id]

    def _wake(self, request_id: str) -> None:
        for future in self._futures.get(request_id, ()):
            if not future.done():
                future.set_result(None)

    def _wake_all(self) -> None:
        for request_id in list(self._futures):
            self._wake(request_id)

    @property
    def count(self) -> int:
        """How many agents are waiting right now."""
        return sum(len(v) for v in self._futures.values())
