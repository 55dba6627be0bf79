"""A worker measures its clock against the database's and refuses to fire deadlines on a wrong one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.ops.clock import ClockSkew, check_skew, measure_skew


def test_a_clock_in_step_with_the_database_passes(db):
    assert abs(check_skew(db, lambda: datetime.now(UTC), most=2)) < 1


@pytest.mark.parametrize("offset", [timedelta(seconds=30), timedelta(seconds=-30)])
def test_a_fast_or_slow_clock_is_refused_naming_the_setting(db, offset):
    clock = lambda: datetime.now(UTC) + offset  # noqa: E731
    assert measure_skew(db, clock) == pytest.approx(offset.total_seconds(), abs=1)
    with pytest.raises(ClockSkew, match="SIGNOFF_MAX_CLOCK_SKEW=2 s") as refused:
        check_skew(db, clock, most=2)
    assert ("ahead of" if offset > timedelta() else "behind") in str(refused.value)
