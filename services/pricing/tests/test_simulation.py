import math
from typing import Any

import numpy as np
import pytest

from runtime.errors import InvalidArgument
from services.pricing.domain.simulation import SimulationResult, simulate

CURRENT = np.array([1000.0, 2000.0, 500.0, 1500.0])
NEW = np.array([1100.0, 1800.0, 500.0, 1200.0])
BASELINE = np.array([4.0, 2.0, 10.0, 1.0])
COST = np.array([600.0, 1500.0, 300.0, 1300.0])
ELASTICITY = np.array([-1.5, -2.0, -1.0, -0.8])


def _simulate(se: float | np.ndarray[Any, Any], **overrides: Any) -> SimulationResult:
    arguments: dict[str, Any] = {
        "current_price": CURRENT,
        "new_price": NEW,
        "baseline_units": BASELINE,
        "unit_cost": COST,
        "elasticity": ELASTICITY,
        "standard_error": np.broadcast_to(se, CURRENT.shape),
        "rng": np.random.default_rng(0),
    }
    return simulate(**{**arguments, **overrides})


def test_predictions_follow_the_constant_elasticity_curve() -> None:
    result = _simulate(0.0)
    units = BASELINE * (NEW / CURRENT) ** ELASTICITY
    sku = result.per_sku
    np.testing.assert_allclose(sku.units, units)
    np.testing.assert_allclose(sku.revenue, units * NEW)
    np.testing.assert_allclose(sku.profit, units * (NEW - COST))
    np.testing.assert_allclose(sku.units_today, BASELINE)
    np.testing.assert_allclose(sku.revenue_today, BASELINE * CURRENT)
    np.testing.assert_allclose(sku.profit_today, BASELINE * (CURRENT - COST))
    # A known elasticity leaves nothing uncertain.
    np.testing.assert_allclose(sku.units_low, units)
    np.testing.assert_allclose(sku.units_high, units)
    assert result.units.predicted == pytest.approx(units.sum())
    assert result.units.today == pytest.approx(BASELINE.sum())
    assert result.revenue.predicted == pytest.approx((units * NEW).sum())
    assert result.revenue.today == pytest.approx((BASELINE * CURRENT).sum())
    assert result.profit.predicted == pytest.approx((units * (NEW - COST)).sum())
    assert result.profit.today == pytest.approx((BASELINE * (CURRENT - COST)).sum())
    for total in (result.units, result.revenue, result.profit):
        assert total.low == pytest.approx(total.predicted)
        assert total.high == pytest.approx(total.predicted)
    assert (result.sku_count, result.predicted_count, result.excluded_count) == (4, 4, 0)


def test_a_sku_interval_is_the_curve_at_the_ends_of_the_elasticity_interval() -> None:
    result = _simulate(0.3)
    ratio = NEW / CURRENT
    at_low, at_high = BASELINE * ratio ** (ELASTICITY - 1.96 * 0.3), BASELINE * ratio ** (ELASTICITY + 1.96 * 0.3)
    np.testing.assert_allclose(result.per_sku.units_low, np.minimum(at_low, at_high), rtol=1e-4)
    np.testing.assert_allclose(result.per_sku.units_high, np.maximum(at_low, at_high), rtol=1e-4)
    np.testing.assert_allclose(result.per_sku.revenue_low, np.minimum(at_low, at_high) * NEW, rtol=1e-4)
    # An unchanged price predicts today's units whatever the elasticity.
    assert result.per_sku.units_low[2] == result.per_sku.units_high[2] == BASELINE[2]


def test_intervals_widen_with_the_standard_error() -> None:
    narrow, wide = _simulate(0.1), _simulate(0.5)
    changed = NEW != CURRENT
    for name in ("units", "revenue", "profit"):
        narrow_width = getattr(narrow.per_sku, f"{name}_high") - getattr(narrow.per_sku, f"{name}_low")
        wide_width = getattr(wide.per_sku, f"{name}_high") - getattr(wide.per_sku, f"{name}_low")
        assert np.all(wide_width[changed] > narrow_width[changed])
        np.testing.assert_allclose(getattr(narrow.per_sku, name), getattr(wide.per_sku, name))
        narrow_total, wide_total = getattr(narrow, name), getattr(wide, name)
        assert wide_total.high - wide_total.low > 2 * (narrow_total.high - narrow_total.low)
        assert narrow_total.low < narrow_total.predicted < narrow_total.high


def test_the_total_interval_of_one_sku_matches_its_own() -> None:
    result = _simulate(
        0.4,
        current_price=CURRENT[:1],
        new_price=NEW[:1],
        baseline_units=BASELINE[:1],
        unit_cost=COST[:1],
        elasticity=ELASTICITY[:1],
        standard_error=np.array([0.4]),
        draws=20_000,
    )
    assert result.units.low == pytest.approx(result.per_sku.units_low[0], rel=0.01)
    assert result.units.high == pytest.approx(result.per_sku.units_high[0], rel=0.01)


def test_a_price_below_cost_keeps_the_profit_interval_in_order() -> None:
    result = _simulate(0.3, new_price=np.array([500.0, 1800.0, 500.0, 1200.0]))
    sku = result.per_sku
    assert sku.profit[0] < 0
    assert np.all(sku.profit_low <= sku.profit)
    assert np.all(sku.profit <= sku.profit_high)
    assert sku.profit_low[0] < sku.profit_high[0]


def test_skus_without_a_reliable_elasticity_are_excluded_and_counted() -> None:
    elasticity = np.array([-1.5, math.nan, -1.0, -0.8])
    result = _simulate(0.2, elasticity=elasticity, reliable=np.array([True, True, True, False]))
    assert (result.sku_count, result.predicted_count, result.excluded_count) == (4, 2, 2)
    assert result.per_sku.predicted.tolist() == [True, False, True, False]
    for name in ("units", "units_low", "units_high", "revenue", "profit", "profit_low", "profit_high"):
        values = getattr(result.per_sku, name)
        assert np.isnan(values[[1, 3]]).all(), name
        assert np.isfinite(values[[0, 2]]).all(), name
    kept = np.array([0, 2])
    assert result.units.today == pytest.approx(BASELINE[kept].sum())
    assert result.units.predicted == pytest.approx(np.nansum(result.per_sku.units))
    alone = _simulate(
        0.2,
        current_price=CURRENT[kept],
        new_price=NEW[kept],
        baseline_units=BASELINE[kept],
        unit_cost=COST[kept],
        elasticity=ELASTICITY[kept],
        standard_error=np.full(2, 0.2),
    )
    assert result.revenue == alone.revenue
    # The price changes still describe every sku.
    assert result.price_changes.up + result.price_changes.down + result.price_changes.unchanged == 4


def test_a_nan_standard_error_means_no_prediction() -> None:
    result = _simulate(np.array([0.2, math.nan, 0.2, 0.2]))
    assert result.per_sku.predicted.tolist() == [True, False, True, True]


def test_no_reliable_sku_gives_empty_totals() -> None:
    result = _simulate(0.2, elasticity=np.full(4, math.nan))
    assert result.predicted_count == 0
    assert result.revenue.today == result.revenue.predicted == result.revenue.low == result.revenue.high == 0


def test_the_same_generator_gives_the_same_result() -> None:
    first, second = _simulate(0.3), _simulate(0.3)
    assert (first.units, first.revenue, first.profit) == (second.units, second.revenue, second.profit)


def test_the_distribution_of_price_changes() -> None:
    current = np.array([100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 1000.0, 1000.0])
    new = np.array([100.0, 110.0, 125.0, 90.0, 99.0, 101.5, 950.0, 1000.0])
    result = simulate(
        current_price=current,
        new_price=new,
        baseline_units=np.ones(8),
        unit_cost=np.full(8, 50.0),
        elasticity=np.full(8, -1.0),
        standard_error=np.full(8, 0.1),
        rng=np.random.default_rng(0),
    )
    changes = result.price_changes
    assert (changes.up, changes.down, changes.unchanged) == (3, 3, 2)
    counts = {(bin.low, bin.high): bin.count for bin in changes.bins}
    assert counts == {
        (None, -20.0): 0,
        (-20.0, -10.0): 0,
        (-10.0, -5.0): 1,
        (-5.0, -2.0): 1,
        (-2.0, 0.0): 1,
        (0.0, 2.0): 1,
        (2.0, 5.0): 0,
        (5.0, 10.0): 0,
        (10.0, 20.0): 1,
        (20.0, None): 1,
    }
    percent = [0.0, 10.0, 25.0, -10.0, -1.0, 1.5, -5.0, 0.0]
    assert changes.minimum == pytest.approx(-10.0)
    assert changes.maximum == pytest.approx(25.0)
    assert changes.mean == pytest.approx(np.mean(percent))
    assert changes.median == pytest.approx(np.median(percent))
    assert changes.p05 <= changes.p25 <= changes.median <= changes.p75 <= changes.p95


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"current_price": CURRENT[:3]}, "new_price"),
        ({"new_price": NEW[:3]}, "new_price"),
        ({"new_price": np.array([1100.0, 0.0, 500.0, 1200.0])}, "new_price"),
        ({"current_price": np.array([1000.0, -1.0, 500.0, 1500.0])}, "current_price"),
        ({"current_price": np.array([1000.0, math.nan, 500.0, 1500.0])}, "current_price"),
        ({"baseline_units": np.array([4.0, -2.0, 10.0, 1.0])}, "baseline_units"),
        ({"unit_cost": np.array([600.0, -1.0, 300.0, 1300.0])}, "unit_cost"),
        ({"standard_error": np.array([0.1, -0.1, 0.1, 0.1])}, "standard_error"),
        ({"elasticity": ["a", "b", "c", "d"]}, "elasticity"),
        ({"reliable": np.array([1, 0, 1, 1])}, "reliable"),
        ({"draws": 10}, "draws"),
        (
            {
                "current_price": [],
                "new_price": [],
                "baseline_units": [],
                "unit_cost": [],
                "elasticity": [],
                "standard_error": [],
            },
            "current_price",
        ),
    ],
)
def test_bad_input_is_refused(override: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        _simulate(0.1, **override)
    assert error.value.field == field
