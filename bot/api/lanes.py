"""Three lanes for the web process's blocking work, so what a person is waiting on never queues
behind a burst of agents' calls.

Every blocking call (SQL, Redis, Slack) runs on a thread. By default they all share anyio's 40,
so at 64 agents a click waited behind every create in flight (click ack p99 0.93 s on 2 cores,
bench/README.md). Now:

- `slack`: Slack's requests (a person clicked; Slack gives up at 3 s), on a few threads: a click
  is mostly the interpreter's work, and on one interpreter lock sixteen clicks at once on sixteen
  threads each took its turn at every statement (click ack p99 130-210 ms against 70-120 ms on
  four threads, 16 in flight, bench.approval_loop);
- `urgent`: a decision made through the decision API, and the read that answers a waiting agent
  once its request has ended;
- everything else (creating, listing, reading): anyio's threads, fewer of them: on one
  interpreter lock more threads only made every call of a burst slower.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import anyio.to_thread

T = TypeVar("T")

SLACK_THREADS = 4
URGENT_THREADS = 16
API_THREADS = 8

_slack = ThreadPoolExecutor(max_workers=SLACK_THREADS, thread_name_prefix="slack")
_urgent = ThreadPoolExecutor(max_workers=URGENT_THREADS, thread_name_prefix="urgent")


async def slack(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run `fn` on the Slack lane's threads."""
    return await asyncio.get_running_loop().run_in_executor(_slack, functools.partial(fn, *args, **kwargs))


async def urgent(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run `fn` on the urgent lane's threads."""
    return await asyncio.get_running_loop().run_in_executor(_urgent, functools.partial(fn, *args, **kwargs))


def narrow_the_api_lane() -> None:
    """Give the rest (anyio's `run_in_threadpool`) API_THREADS threads; call on the event loop."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = API_THREADS
