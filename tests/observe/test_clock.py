"""Now is the database's: each process corrects its clock by its offset to the database's."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.ops.clock import ClockSkew, DatabaseClock, check_skew, database_now, measure_skew


def test_a_clock_in_step_with_the_database_passes(db):
    assert abs(check_skew(db, lambda: datetime.now(UTC), most=2)) < 1


@pytest.mark.parametrize("offset", [timedelta(seconds=30), timedelta(seconds=-30)])
def test_a_fast_or_slow_clock_is_refused_naming_the_setting(db, offset):
    clock = lambda: datetime.now(UTC) + offset  # noqa: E731
    assert measure_skew(db, clock) == pytest.approx(offset.total_seconds(), abs=1)
    with pytest.raises(ClockSkew, match="SIGNOFF_MAX_CLOCK_SKEW=2 s") as refused:
        check_skew(db, clock, most=2)
    assert ("ahead of" if offset > timedelta() else "behind") in str(refused.value)


def test_drift_after_start_is_picked_up_when_the_offset_is_re_measured(db):
    skew = {"now": timedelta()}
    clock = DatabaseClock.of(db, base=lambda: datetime.now(UTC) + skew["now"], every=0.3)
    assert abs((clock() - database_now(db)).total_seconds()) < 1
    skew["now"] = timedelta(seconds=40)  # this machine's clock jumps ahead after start
    assert (clock() - database_now(db)).total_seconds() > 30  # until the offset is measured again
    deadline = time.monotonic() + 10
    while abs((clock() - database_now(db)).total_seconds()) > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert abs((clock() - database_now(db)).total_seconds()) < 1


def test_a_clock_that_cannot_read_the_database_keeps_its_last_offset():
    calls = []

    def theirs():
        calls.append(1)
        if len(calls) > 1:
            raise ConnectionError("database down")
        return datetime.now(UTC) - timedelta(seconds=60)

    clock = DatabaseClock(theirs, every=0)
    assert (datetime.now(UTC) - clock()).total_seconds() == pytest.approx(60, abs=1)
    assert (datetime.now(UTC) - clock()).total_seconds() == pytest.approx(60, abs=1)  # kept


def test_while_one_thread_re_measures_the_others_keep_the_last_offset_rather_than_wait():
    # Reading the time must not wait for the database: a slow or unreachable database held
    # every caller of the clock (a click, a create) for as long as one re-measurement took.
    answer, slow, asked = threading.Event(), threading.Event(), threading.Event()

    def theirs():
        if slow.is_set():
            asked.set()
            answer.wait(30)
        return datetime.now(UTC) - timedelta(seconds=60)

    clock = DatabaseClock(theirs, every=0)
    assert (datetime.now(UTC) - clock()).total_seconds() == pytest.approx(60, abs=1)  # measured
    slow.set()
    measuring = threading.Thread(target=clock)
    measuring.start()
    assert asked.wait(10)  # it waits on the database now
    assert (datetime.now(UTC) - clock()).total_seconds() == pytest.approx(60, abs=1)
    assert measuring.is_alive()  # the answer above did not wait for it
    answer.set()
    measuring.join(10)
