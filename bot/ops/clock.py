"""Clock skew between this process and the database.

Deadlines are stored as database-independent UTC times and compared with this process's clock; a
worker whose clock runs ahead fires timeouts early. Rather than read the database's clock on every
comparison (a round trip per deadline, and a clock the tests could no longer move), a worker
measures the skew at start and refuses to run beyond SIGNOFF_MAX_CLOCK_SKEW; `signoff doctor`
reports it too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from bot.errors import InvalidSettings
from bot.service.ports import Clock
from bot.storage.db import Database


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


def measure_skew(db: Database, clock: Clock) -> float:
    """Seconds this clock is ahead of the database's (negative: behind), round trip halved."""
    before = clock()
    theirs = database_now(db)
    after = clock()
    ours = before + (after - before) / 2
    return (ours - theirs).total_seconds()


def check_skew(db: Database, clock: Clock, *, most: float) -> float:
    """The skew; ClockSkew when it is more than `most` seconds either way."""
    skew = measure_skew(db, clock)
    if abs(skew) > most:
        direction = "ahead of" if skew > 0 else "behind"
        raise ClockSkew(
            f"this machine's clock is {abs(skew):.1f} s {direction} the database's (more than "
            f"SIGNOFF_MAX_CLOCK_SKEW={most:g} s): deadlines would fire at the wrong time; "
            "sync the clock (chrony/NTP) and start again")
    return skew
