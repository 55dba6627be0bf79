"""Deadlines on the database's clock.

Deadlines are stored as UTC times and compared with "now" in every web and worker process: a
process whose clock ran ahead of the others would create requests in the future and fire
timeouts early. So "now" is this process's clock corrected by its offset to the database
server's clock (`DatabaseClock`), measured on first use and again whenever the measurement is
older than RESYNC seconds: drift after start is picked up, and reading the time costs no round
trip. SIGNOFF_MAX_CLOCK_SKEW is what this machine's own clock may differ by before a warning in
the log and a failing `signoff doctor` (the clock of logs and of Slack's signature window).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bot.errors import InvalidSettings
from bot.service.ports import Clock, utcnow
from bot.storage.db import Database

log = logging.getLogger(__name__)

RESYNC = 30.0  # seconds a measured offset is trusted
RETRY = 5.0  # seconds before trying again when the database could not be read


class ClockSkew(InvalidSettings):
    """This machine's clock and the database's disagree by more than allowed."""


def database_now(db: Database) -> datetime:
    """The database server's current time, aware UTC, to the millisecond."""
    query = ("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')" if db.is_sqlite
             else "SELECT clock_timestamp() AT TIME ZONE 'UTC'")
    with db.engine.connect() as conn:
        value = conn.execute(text(query)).scalar_one()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def skew_of(clock: Clock, theirs: Callable[[], datetime]) -> float:
    """Seconds `clock` is ahead of `theirs` (negative: behind), the round trip halved."""
    before = clock()
    other = theirs()
    after = clock()
    return (before + (after - before) / 2 - other).total_seconds()


def measure_skew(db: Database, clock: Clock) -> float:
    """Seconds this clock is ahead of the database's (negative: behind), round trip halved."""
    return skew_of(clock, lambda: database_now(db))


def check_skew(db: Database, clock: Clock, *, most: float) -> float:
    """The skew; ClockSkew when it is more than `most` seconds either way."""
    skew = measure_skew(db, clock)
    if abs(skew) > most:
        raise ClockSkew(_too_far(skew, most))
    return skew


def _too_far(skew: float, most: float) -> str:
    direction = "ahead of" if skew > 0 else "behind"
    return (f"this machine's clock is {abs(skew):.1f} s {direction} the database's (more than "
            f"SIGNOFF_MAX_CLOCK_SKEW={most:g} s): deadlines follow the database's clock, but logs and "
            "Slack's signature window follow this one; sync it (chrony/NTP)")


class DatabaseClock:
    """`base` (this process's clock) corrected by its offset to `theirs` (the database's), the
    offset re-measured when older than `every` seconds. If the database cannot be read the last
    offset stays (none yet: the base clock), and it is tried again RETRY seconds later."""

    def __init__(self, theirs: Callable[[], datetime], *, base: Clock = utcnow, every: float = RESYNC,
                 warn_over: float | None = None) -> None:
        self.theirs, self.base, self.every, self.warn_over = theirs, base, every, warn_over
        self.offset = timedelta()
        self._next = 0.0  # time.monotonic() at which to measure again
        self._measured = False  # a first measurement was attempted
        self._lock = threading.Lock()

    @classmethod
    def of(cls, db: Database, **kwargs: float | Clock | None) -> DatabaseClock:
        """A clock that follows `db`'s server."""
        return cls(lambda: database_now(db), **kwargs)  # type: ignore[arg-type]

    def __call__(self) -> datetime:
        if time.monotonic() >= self._next:
            self.resync()
        return self.base() + self.offset

    def resync(self, *, force: bool = False) -> None:
        """Measure the offset again (one database round trip) unless another thread is doing so
        or just did. The others go on with the last offset meanwhile: a slow database must not
        hold every reader of the time. Only the first attempt is waited for."""
        if not self._lock.acquire(blocking=force or not self._measured):
            return
        try:
            if not force and time.monotonic() < self._next:
                return
            self._measured = True  # tried: from now on readers use the offset there is
            try:
                skew = skew_of(self.base, self.theirs)
            except Exception:  # noqa: BLE001 - keep the last offset; the database may be back soon
                log.warning("cannot read the database's clock; keeping the offset %+.3f s",
                            self.offset.total_seconds(), exc_info=True)
                self._next = time.monotonic() + RETRY
                return
            self.offset = timedelta(seconds=-skew)
            self._next = time.monotonic() + self.every
        finally:
            self._lock.release()
        if self.warn_over is not None and abs(skew) > self.warn_over:
            log.warning(_too_far(skew, self.warn_over))
        else:
            log.debug("clock offset to the database: %+.3f s", -skew)
