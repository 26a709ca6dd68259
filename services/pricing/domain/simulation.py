"""What new prices would do to units, revenue and profit per day, with intervals from elasticity uncertainty.

Per sku, demand at the new price is baseline · (new / current)^elasticity: the baseline is units per day at
the current price (a recent average from the ledger). The point prediction uses the estimated elasticity
(the median under its uncertainty); the sku's 95 % interval is exact for a normal elasticity (units are
monotone in it). Scope totals take their interval from Monte Carlo draws of every sku's elasticity, drawn
independently, so skus that share a category estimate make the true interval somewhat wider.
A sku without a reliable elasticity (NaN, or marked unreliable) gets no prediction: it is counted as
excluded and left out of the totals. Prices and costs are in any one unit (minor units suit the service).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from runtime.errors import InvalidArgument

Z_95 = 1.959963984540054
DEFAULT_DRAWS = 1000
# Percent price change bins: below -20, -20 to -10, …, 10 to 20, 20 and above.
PRICE_CHANGE_EDGES = (-20.0, -10.0, -5.0, -2.0, 0.0, 2.0, 5.0, 10.0, 20.0)
# Draws times skus held in memory at once while summing the scope.
_CHUNK_CELLS = 4_000_000
# Relative price difference below which a price counts as unchanged.
_UNCHANGED = 1e-9

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Estimate:
    """A scope total per day: today, at the new prices, and the 95 % interval of the latter."""

    today: float
    predicted: float
    low: float
    high: float


@dataclass(frozen=True, slots=True, eq=False)
class SkuPredictions:
    """Per sku in input order, per day. Today's figures are there for every sku; the predictions at the new
    price are NaN where the sku has no prediction."""

    predicted: NDArray[np.bool_]
    units_today: Array
    revenue_today: Array
    profit_today: Array
    units: Array
    units_low: Array
    units_high: Array
    revenue: Array
    revenue_low: Array
    revenue_high: Array
    profit: Array
    profit_low: Array
    profit_high: Array


@dataclass(frozen=True, slots=True)
class PriceChangeBin:
    # Percent; None for an open end.
    low: float | None
    high: float | None
    count: int


@dataclass(frozen=True, slots=True)
class PriceChangeDistribution:
    """Percent changes from current to new price over every sku, predicted or not."""

    up: int
    down: int
    unchanged: int
    # Changed prices only, in [low, high).
    bins: tuple[PriceChangeBin, ...]
    mean: float
    minimum: float
    p05: float
    p25: float
    median: float
    p75: float
    p95: float
    maximum: float


@dataclass(frozen=True, slots=True)
class SimulationResult:
    sku_count: int
    predicted_count: int
    # Skus without a reliable elasticity: no prediction, not in the totals.
    excluded_count: int
    # Over the predicted skus.
    units: Estimate
    revenue: Estimate
    profit: Estimate
    per_sku: SkuPredictions
    price_changes: PriceChangeDistribution


def simulate(
    *,
    current_price: ArrayLike,
    new_price: ArrayLike,
    baseline_units: ArrayLike,
    unit_cost: ArrayLike,
    elasticity: ArrayLike,
    standard_error: ArrayLike,
    reliable: ArrayLike | None = None,
    rng: np.random.Generator,
    draws: int = DEFAULT_DRAWS,
) -> SimulationResult:
    """Per-day units, revenue and profit of every sku and of the scope at `new_price` against today."""
    current = _column(current_price, "current_price")
    count = len(current)
    new = _column(new_price, "new_price", count)
    baseline = _column(baseline_units, "baseline_units", count)
    cost = _column(unit_cost, "unit_cost", count)
    e = _column(elasticity, "elasticity", count, finite=False)
    se = _column(standard_error, "standard_error", count, finite=False)
    if count == 0:
        raise InvalidArgument("nothing to simulate: no skus", field="current_price")
    if np.any(current <= 0) or np.any(new <= 0):
        raise InvalidArgument("prices must be positive", field="new_price" if np.any(new <= 0) else "current_price")
    if np.any(baseline < 0):
        raise InvalidArgument("baseline_units must not be negative", field="baseline_units")
    if np.any(cost < 0):
        raise InvalidArgument("unit_cost must not be negative", field="unit_cost")
    if np.any(se < 0):
        raise InvalidArgument("standard_error must not be negative", field="standard_error")
    if draws < 100:
        raise InvalidArgument("draws must be at least 100", field="draws")
    predicted = np.isfinite(e) & np.isfinite(se)
    if reliable is not None:
        flags = np.asarray(reliable)
        if flags.shape != (count,) or flags.dtype != np.bool_:
            raise InvalidArgument(f"reliable must be {count} booleans", field="reliable")
        predicted &= flags
    per_sku = _per_sku(current, new, baseline, cost, e, se, predicted)
    units_draws, revenue_draws, profit_draws = _scope_draws(
        *(column[predicted] for column in (current, new, baseline, cost, e, se)), rng=rng, draws=draws
    )
    return SimulationResult(
        sku_count=count,
        predicted_count=int(predicted.sum()),
        excluded_count=int(count - predicted.sum()),
        units=_estimate(per_sku.units_today, per_sku.units, units_draws, predicted),
        revenue=_estimate(per_sku.revenue_today, per_sku.revenue, revenue_draws, predicted),
        profit=_estimate(per_sku.profit_today, per_sku.profit, profit_draws, predicted),
        per_sku=per_sku,
        price_changes=_price_changes(current, new),
    )


def _column(values: ArrayLike, field: str, count: int | None = None, *, finite: bool = True) -> Array:
    try:
        column = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{field} must be numbers", field=field) from None
    if column.ndim != 1 or (count is not None and len(column) != count):
        raise InvalidArgument(f"{field} must be a list of one number per sku", field=field)
    if finite and not np.all(np.isfinite(column)):
        raise InvalidArgument(f"{field} must be finite", field=field)
    return column


def _per_sku(
    current: Array, new: Array, baseline: Array, cost: Array, e: Array, se: Array, predicted: NDArray[np.bool_]
) -> SkuPredictions:
    log_ratio = np.log(new / current)
    # NaN elasticities of skus without a prediction stay NaN through every figure below.
    e = np.where(predicted, e, np.nan)
    units = baseline * np.exp(e * log_ratio)
    spread = Z_95 * se * np.abs(log_ratio)
    units_low = baseline * np.exp(e * log_ratio - spread)
    units_high = baseline * np.exp(e * log_ratio + spread)
    margin = new - cost
    # A negative margin turns the highest units into the lowest profit.
    profit_bounds = np.stack([units_low * margin, units_high * margin])
    return SkuPredictions(
        predicted=predicted,
        units_today=baseline,
        revenue_today=baseline * current,
        profit_today=baseline * (current - cost),
        units=units,
        units_low=units_low,
        units_high=units_high,
        revenue=units * new,
        revenue_low=units_low * new,
        revenue_high=units_high * new,
        profit=units * margin,
        profit_low=profit_bounds.min(axis=0),
        profit_high=profit_bounds.max(axis=0),
    )


def _scope_draws(
    current: Array,
    new: Array,
    baseline: Array,
    cost: Array,
    e: Array,
    se: Array,
    *,
    rng: np.random.Generator,
    draws: int,
) -> tuple[Array, Array, Array]:
    """Totals of units, revenue and profit per day under `draws` draws of every sku's elasticity."""
    totals = np.zeros((3, draws))
    log_ratio = np.log(new / current)
    chunk = max(1, _CHUNK_CELLS // draws)
    for start in range(0, len(new), chunk):
        part = slice(start, start + chunk)
        sampled = e[part, None] + se[part, None] * rng.standard_normal((len(new[part]), draws))
        units = baseline[part, None] * np.exp(sampled * log_ratio[part, None])
        totals[0] += units.sum(axis=0)
        totals[1] += new[part] @ units
        totals[2] += (new[part] - cost[part]) @ units
    return totals[0], totals[1], totals[2]


def _estimate(today: Array, predicted: Array, draws: Array, rows: NDArray[np.bool_]) -> Estimate:
    low, high = np.quantile(draws, (0.025, 0.975)).tolist()
    return Estimate(float(today[rows].sum()), float(predicted[rows].sum()), low, high)


def _price_changes(current: Array, new: Array) -> PriceChangeDistribution:
    # Rounded so that a change of exactly 10 % falls in the 10 to 20 bin despite floating-point noise.
    percent = np.round((new / current - 1.0) * 100.0, 9)
    unchanged = np.abs(new - current) <= _UNCHANGED * current
    changed = percent[~unchanged]
    counts = np.bincount(
        np.searchsorted(PRICE_CHANGE_EDGES, changed, side="right"), minlength=len(PRICE_CHANGE_EDGES) + 1
    )
    lows: list[float | None] = [None, *PRICE_CHANGE_EDGES]
    highs: list[float | None] = [*PRICE_CHANGE_EDGES, None]
    p05, p25, median, p75, p95 = np.quantile(percent, (0.05, 0.25, 0.5, 0.75, 0.95)).tolist()
    return PriceChangeDistribution(
        up=int(np.count_nonzero(~unchanged & (new > current))),
        down=int(np.count_nonzero(~unchanged & (new < current))),
        unchanged=int(np.count_nonzero(unchanged)),
        bins=tuple(PriceChangeBin(low, high, int(n)) for low, high, n in zip(lows, highs, counts, strict=True)),
        mean=float(percent.mean()),
        minimum=float(percent.min()),
        p05=p05,
        p25=p25,
        median=median,
        p75=p75,
        p95=p95,
        maximum=float(percent.max()),
    )
