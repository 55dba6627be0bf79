"""A Redis lock that a live holder keeps renewing, so only a dead holder's lock expires."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import LockError, RedisError

RETRY_RENEWAL = 0.5  # seconds between renewals after one failed for want of Redis


class LockBusy(LockError):
    """Another holder has the lock now; the caller should come back later rather than wait."""


@contextmanager
def leased_lock(redis: Redis, name: str, *, lease: float) -> Iterator[None]:
    """Hold `name` for as long as the block runs; renewed every lease/3 by a background thread.

    Raises LockBusy at once if someone holds it: a worker that waited here (up to the lease of a
    dead holder) held up every job queued behind it (measured: a new card took 121.7 s).
    Without renewal a step longer than the lease let a second worker take the lock and apply
    the same decision again (measured: a refund ran twice).
    """
    # thread_local=False: the renewing thread must see the token the holder got (with redis-py's
    # default it sees none, fails to renew, and the lock silently lapses).
    lock = redis.lock(name, timeout=lease, thread_local=False)
    if not lock.acquire(blocking=False):
        raise LockBusy(f"{name} is held by another worker (its lease lapses within {lease:g} s if it died)")
    done = threading.Event()

    def renew() -> None:
        wait = lease / 3
        while not done.wait(wait):
            try:
                lock.reacquire()
                wait = lease / 3
            except LockError:
                return  # lost it (expired, or Redis restarted): the conditional checks still guard the step
            except RedisError:
                # Redis slow or away for a moment (a call gives up after wiring.REDIS_TIMEOUT):
                # the lease is still running, so try again soon rather than give it up.
                wait = min(lease / 3, RETRY_RENEWAL)

    renewer = threading.Thread(target=renew, name=f"renew {name}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        renewer.join()
        try:
            lock.release()
        except LockError:
            pass  # it expired or was taken over; nothing of ours to release
        except RedisError:
            pass  # Redis cannot answer: the lease lapses by itself, and the step's outcome stands
