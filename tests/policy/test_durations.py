from datetime import timedelta

import pytest

from bot.policy.durations import LONGEST, format_duration, parse_duration


@pytest.mark.parametrize(("text", "expected"), [
    ("30s", timedelta(seconds=30)),
    ("10m", timedelta(minutes=10)),
    ("2h", timedelta(hours=2)),
    ("1d", timedelta(days=1)),
    ("1h30m", timedelta(hours=1, minutes=30)),
    ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ("90m", timedelta(minutes=90)),
    (" 5m ", timedelta(minutes=5)),
])
def test_valid_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["15 minutes", "", "30", "1.5h", "m", "30m1h", "1h 30m", "-5m", "1w", "10M"])
def test_invalid_durations_say_how_to_write_one(text):
    with pytest.raises(ValueError, match=r"is not a duration; use 30s, 10m, 2h or 1d"):
        parse_duration(text)


def test_the_message_quotes_what_was_written():
    with pytest.raises(ValueError) as e:
        parse_duration("15 minutes")
    assert str(e.value) == "'15 minutes' is not a duration; use 30s, 10m, 2h or 1d"


@pytest.mark.parametrize("text", ["0s", "0m", "0h0m"])
def test_a_duration_must_be_longer_than_zero(text):
    with pytest.raises(ValueError, match="longer than zero"):
        parse_duration(text)


@pytest.mark.parametrize(("td", "text"), [
    (timedelta(hours=1, minutes=30), "1h30m"),
    (timedelta(seconds=45), "45s"),
    (timedelta(days=1), "1d"),
    (timedelta(days=1, seconds=1), "1d1s"),
    (timedelta(minutes=120), "2h"),
    (timedelta(0), "0s"),
])
def test_format_duration(td, text):
    assert format_duration(td) == text


@pytest.mark.parametrize("text", ["30s", "10m", "1h30m", "1d2h3m4s", "2h"])
def test_format_reads_back(text):
    assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize("text", ["367d", "8809h", "11326237176358357h", "9" * 40 + "s"])
def test_a_duration_longer_than_a_year_is_refused_saying_so(text):
    # A deadline that far off is a typo; one far enough off overflowed into a 500.
    with pytest.raises(ValueError, match=r"longer than 366d; use at most 366d"):
        parse_duration(text)


def test_366_days_is_the_longest_duration():
    assert parse_duration("366d") == timedelta(days=366) == LONGEST
