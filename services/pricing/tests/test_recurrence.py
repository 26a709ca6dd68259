"""Occurrences of a schedule's interval: on its rhythm, never before the moment asked about, never a whole
interval late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.pricing.domain.recurrence import occurrence_after, occurrence_from

START = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MS = timedelta(milliseconds=1)

moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(
    lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)
)
intervals = st.integers(min_value=15, max_value=10_080).map(lambda minutes: timedelta(minutes=minutes))


def test_examples_around_the_start_and_on_an_occurrence() -> None:
    assert occurrence_from(START, HOUR, START - timedelta(days=3)) == START
    assert occurrence_from(START, HOUR, START) == START
    assert occurrence_from(START, HOUR, START + MS) == START + HOUR
    assert occurrence_from(START, HOUR, START + 2 * HOUR) == START + 2 * HOUR
    assert occurrence_after(START, HOUR, START - MS) == START
    assert occurrence_after(START, HOUR, START) == START + HOUR
    assert occurrence_after(START, HOUR, START + 2 * HOUR) == START + 3 * HOUR
    # Three and a half intervals missed: the next is the fourth, not the first missed one.
    assert occurrence_after(START, HOUR, START + 3.5 * HOUR) == START + 4 * HOUR


def test_a_daily_interval_keeps_its_utc_hour_across_daylight_saving() -> None:
    # Europe's clocks went forward on 2026-03-29; a UTC rhythm does not notice.
    after = occurrence_after(START, timedelta(days=1), datetime(2026, 3, 30, 12, 0, tzinfo=UTC))
    assert after == datetime(2026, 3, 31, 3, 0, tzinfo=UTC)


@given(moments, intervals, moments)
def test_occurrences_are_on_the_rhythm_and_the_first_ones_not_before(
    start: datetime, interval: timedelta, moment: datetime
) -> None:
    at_or_after = occurrence_from(start, interval, moment)
    after = occurrence_after(start, interval, moment)
    for found in (at_or_after, after):
        assert found >= start
        assert (found - start) % interval == timedelta(0)
    assert at_or_after >= moment
    assert after > moment
    # The first such: one interval earlier is before the start or before the moment.
    assert at_or_after == start or at_or_after - interval < moment
    assert after == start or after - interval <= moment
    assert after == (at_or_after + interval if at_or_after == moment else at_or_after)
