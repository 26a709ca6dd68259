"""The EU Omnibus prior price: the lowest price in force during the 30 days before a reduction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runtime.errors import FailedPrecondition
from runtime.money import Money
from services.pricing.domain.omnibus import PriceChangeRecord, prior_price

DAY = timedelta(days=1)
T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def history(*points: tuple[int, int], currency: str = "EUR") -> list[PriceChangeRecord]:
    """(day offset, price in cents) pairs, oldest first."""
    return [PriceChangeRecord(T0 + day * DAY, Money(cents, currency), "usr_1", "") for day, cents in points]


def test_prior_price_is_the_lowest_in_force_during_the_30_days_before_the_reduction() -> None:
    # 100 since day 0, raised to 120 on day 40, cut to 90 on day 60: the 30 days before day 60
    # saw 100 (days 30-40) and 120 (days 40-60).
    result = prior_price(history((0, 10000), (40, 12000), (60, 9000)), T0 + 61 * DAY)
    assert result.is_reduction
    assert result.current_price == Money(9000, "EUR")
    assert result.prior_price == Money(10000, "EUR")
    assert result.reduction_time == T0 + 60 * DAY
    assert result.window_start == T0 + 30 * DAY


def test_a_price_that_ended_before_the_window_does_not_count() -> None:
    # 80 ended on day 10, long before the window (days 30-60) of the cut to 95.
    result = prior_price(history((0, 8000), (10, 12000), (60, 9500)), T0 + 60 * DAY)
    assert result.prior_price == Money(12000, "EUR")


def test_a_brief_low_price_inside_the_window_is_the_prior_price() -> None:
    result = prior_price(history((0, 12000), (45, 7000), (46, 12000), (60, 9900)), T0 + 70 * DAY)
    assert result.prior_price == Money(7000, "EUR")


def test_a_raise_or_an_unchanged_price_is_no_reduction() -> None:
    raised = prior_price(history((0, 10000), (20, 11000)), T0 + 21 * DAY)
    assert not raised.is_reduction
    assert raised.prior_price is None
    assert raised.current_price == Money(11000, "EUR")
    assert not prior_price(history((0, 10000)), T0).is_reduction


def test_the_price_in_force_at_the_asked_time_is_judged() -> None:
    events = history((0, 10000), (40, 8000), (50, 11000))
    assert prior_price(events, T0 + 45 * DAY).is_reduction
    assert not prior_price(events, T0 + 55 * DAY).is_reduction


def test_prices_in_another_currency_are_not_compared() -> None:
    events = [*history((0, 10000), currency="USD"), *history((10, 9000))]
    assert not prior_price(events, T0 + 11 * DAY).is_reduction


def test_no_price_yet_is_a_failed_precondition() -> None:
    with pytest.raises(FailedPrecondition):
        prior_price(history((5, 100)), T0)
