"""Price elasticity of demand per sku from its daily sales, pooled within its category.

Each sku's own fit is a log-log model, log E[units] = a + e·log(price) + b·t + weekday effects, estimated
by Poisson regression with a log link (IRLS); e is the elasticity. The estimable skus of a category give
the category's mean elasticity and the spread between its skus (DerSimonian-Laird random effects); each
sku's estimate is then shrunk toward its category by precision, and a sku that cannot be fitted alone takes
the category's estimate. A model the optimiser must not trust is marked unreliable, with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from runtime.errors import InvalidArgument

# A sku is fitted alone only with this many days with a sale, this much price variation (standard
# deviation of log price; 0.02 ≈ prices 2 % apart) and a design whose columns are not (nearly) collinear.
MIN_SALES_DAYS = 20
MIN_PRICE_VARIATION = 0.02
MAX_CONDITION_NUMBER = 1e6
# A category estimate needs this many fitted skus: fewer cannot tell the spread between skus from noise.
MIN_CATEGORY_SKUS = 3
# Skus of one category never share exactly one elasticity. When their own fits are too noisy to show the
# spread, DerSimonian-Laird's estimate truncates at zero and would make every shrunk sku as certain as the
# category mean; the spread used is never below this modest one.
MIN_BETWEEN_SKU_SD = 0.25
# A 95 % interval wider than this (standard error above ~1.02) says nothing about how demand responds to
# price: such a model is unreliable.
MAX_INTERVAL_WIDTH = 4.0
Z_95 = 1.959963984540054

_ELASTICITY_COLUMN = 1
_MAX_ITERATIONS = 50
_DEVIANCE_TOLERANCE = 1e-9
# Bound on the linear predictor: keeps exp() finite when a weekday never sells (its effect runs to -inf).
_ETA_BOUND = 30.0
# Skus fitted together in one batch of stacked matrices; bounds memory for long histories.
_BATCH = 2048
# 1970-01-01, day 0 of the day numbers, was a Thursday (weekday 3 with Monday 0).
_EPOCH = date(1970, 1, 1)
_EPOCH_WEEKDAY = 3

Source = Literal["sku", "shrunk", "category", "none"]


def epoch_day(day: date) -> int:
    """The day number of `day`: days since 1970-01-01 (UTC)."""
    return (day - _EPOCH).days


@dataclass(frozen=True, slots=True, eq=False)
class DailySales:
    """One sku's demand per calendar day.

    `days` are day numbers (epoch_day), strictly increasing; the caller lists every calendar day between
    the first and last observation, with 0 units on days without a sale (a missing day is treated as
    unobserved, not as zero demand). `prices` is the price offered that day, in any one unit (major or
    minor: the elasticity does not depend on it). On a day without a sale no order line tells the price:
    use the price history, or daily_series's carry-forward.
    """

    sku: str
    category_id: str
    days: NDArray[np.int64]
    prices: NDArray[np.float64]
    units: NDArray[np.int64]

    def __post_init__(self) -> None:
        if not self.sku:
            raise InvalidArgument("sku must not be empty", field="sku")
        days, prices, units = np.asarray(self.days), np.asarray(self.prices), np.asarray(self.units)
        if days.ndim != 1 or len(days) == 0 or prices.shape != days.shape or units.shape != days.shape:
            raise InvalidArgument(f"{self.sku}: days, prices and units must be equally long, non-empty lists")
        if not np.issubdtype(days.dtype, np.integer) or np.any(np.diff(days) <= 0):
            raise InvalidArgument(f"{self.sku}: days must be strictly increasing day numbers", field="days")
        if not np.issubdtype(units.dtype, np.integer) or np.any(units < 0):
            raise InvalidArgument(f"{self.sku}: units must be whole numbers ≥ 0", field="units")
        prices = prices.astype(np.float64)
        if not np.all(np.isfinite(prices)) or np.any(prices <= 0):
            raise InvalidArgument(f"{self.sku}: prices must be finite and positive", field="prices")
        object.__setattr__(self, "days", days.astype(np.int64))
        object.__setattr__(self, "prices", prices)
        object.__setattr__(self, "units", units.astype(np.int64))


def daily_series(
    sku: str,
    category_id: str,
    *,
    sale_days: NDArray[np.int64],
    quantities: NDArray[np.int64],
    unit_prices: NDArray[np.float64],
    first_day: int,
    last_day: int,
    list_price: float,
) -> DailySales:
    """A sku's DailySales over days first_day..last_day from its order lines (day number, quantity and unit
    price of each line): units summed per day, the day's price the quantity-weighted mean unit price.

    A day without a sale keeps the last price sold at (before the first sale, the first sale's price), so
    a price change on days without sales shows only from the next sale; with no sale at all every day
    takes `list_price`. Returns (negative quantities) and lines outside the days are left out: demand is
    what was bought, on the day it was bought.
    """
    if last_day < first_day:
        raise InvalidArgument("last_day is before first_day", field="last_day")
    sale_days, quantities = np.asarray(sale_days, dtype=np.int64), np.asarray(quantities, dtype=np.int64)
    unit_prices = np.asarray(unit_prices, dtype=np.float64)
    if not (sale_days.shape == quantities.shape == unit_prices.shape) or sale_days.ndim != 1:
        raise InvalidArgument(f"{sku}: sale_days, quantities and unit_prices must be equally long lists")
    inside = (sale_days >= first_day) & (sale_days <= last_day) & (quantities > 0)
    offset = sale_days[inside] - first_day
    length = last_day - first_day + 1
    units = np.bincount(offset, weights=quantities[inside], minlength=length).astype(np.int64)
    takings = np.bincount(offset, weights=quantities[inside] * unit_prices[inside], minlength=length)
    sold = np.flatnonzero(units)
    if len(sold) == 0:
        prices = np.full(length, float(list_price))
    else:
        # Index of the latest day with a sale at or before each day, the first sale for days before it.
        latest = np.maximum(np.searchsorted(sold, np.arange(length), side="right") - 1, 0)
        prices = (takings[sold] / units[sold])[latest]
    return DailySales(sku, category_id, np.arange(first_day, last_day + 1, dtype=np.int64), prices, units)


@dataclass(frozen=True, slots=True)
class SkuFit:
    """One sku's own fit, before pooling; elasticity and standard error are NaN when not estimable."""

    sku: str
    category_id: str
    elasticity: float
    standard_error: float
    n_days: int
    sales_days: int
    # Standard deviation of log price over the days.
    price_variation: float
    estimable: bool
    # Why the sku could not be fitted alone; "" when it could.
    reason: str


@dataclass(frozen=True, slots=True)
class CategoryEstimate:
    """Random-effects mean elasticity of a category's fitted skus and the spread between them (the
    DerSimonian-Laird estimate, at least MIN_BETWEEN_SKU_SD)."""

    category_id: str
    elasticity: float
    # Of the mean.
    standard_error: float
    between_sku_sd: float
    sku_count: int

    @property
    def predictive_sd(self) -> float:
        """Uncertainty about one sku of the category before its own sales are seen."""
        return math.sqrt(self.between_sku_sd**2 + self.standard_error**2)


@dataclass(frozen=True, slots=True)
class ElasticityModel:
    """The elasticity the optimiser may use for one sku. Source: "sku" its own fit (no category estimate),
    "shrunk" its own fit shrunk toward its category, "category" the category's estimate alone, "none" no
    estimate at all (elasticity NaN)."""

    sku: str
    category_id: str
    elasticity: float
    standard_error: float
    ci_low: float
    ci_high: float
    source: Source
    reliable: bool
    n_days: int
    # Why the model is unreliable; "" when it is reliable.
    reason: str


@dataclass(frozen=True, slots=True)
class PooledElasticities:
    # In the order of the fits.
    models: tuple[ElasticityModel, ...]
    categories: dict[str, CategoryEstimate]


def estimate_elasticities(series: Sequence[DailySales]) -> PooledElasticities:
    """Fit every sku alone, then pool within categories."""
    return pool_by_category(fit_elasticities(series))


def fit_elasticities(series: Sequence[DailySales]) -> list[SkuFit]:
    """Each sku's own Poisson log-log fit; skus are fitted in stacked batches.

    Poisson regression rather than OLS on log(units): it keeps the days without a sale (dropping them
    selects on the outcome and biases thin skus' elasticities toward zero) and it models log E[units]
    itself, where OLS on log(units) models E[log units], which differs under count noise. Sales are
    usually overdispersed, so the standard error is the quasi-Poisson one: the model-based variance
    scaled by the Pearson dispersion, never below 1 (count data are not less noisy than Poisson; a lower
    estimate is noise).
    """
    fits: list[SkuFit | None] = [None] * len(series)
    fittable: list[int] = []
    for index, one in enumerate(series):
        sales_days, variation = _screen(one)
        reasons = []
        if sales_days < MIN_SALES_DAYS:
            reasons.append(f"only {sales_days} days with sales (needs {MIN_SALES_DAYS})")
        if variation < MIN_PRICE_VARIATION:
            reasons.append(f"price barely varied (sd of log price {variation:.3f}, needs {MIN_PRICE_VARIATION})")
        if reasons:
            fits[index] = _unfitted(one, sales_days, variation, "; ".join(reasons))
        else:
            fittable.append(index)
    for start in range(0, len(fittable), _BATCH):
        batch = fittable[start : start + _BATCH]
        for index, fit in zip(batch, _fit_batch([series[index] for index in batch]), strict=True):
            fits[index] = fit
    return [fit for fit in fits if fit is not None]


def pool_by_category(fits: Sequence[SkuFit]) -> PooledElasticities:
    """Shrink each fitted sku toward its category and give unfitted skus the category's estimate.

    A category "" is no category: its skus are never pooled.
    """
    by_category: dict[str, list[SkuFit]] = {}
    for fit in fits:
        if fit.estimable and fit.category_id:
            by_category.setdefault(fit.category_id, []).append(fit)
    categories = {
        category_id: _random_effects(category_id, members)
        for category_id, members in by_category.items()
        if len(members) >= MIN_CATEGORY_SKUS
    }
    return PooledElasticities(tuple(_model(fit, categories.get(fit.category_id)) for fit in fits), categories)


def _screen(one: DailySales) -> tuple[int, float]:
    """Days with a sale, and the standard deviation of log price."""
    return int(np.count_nonzero(one.units)), float(np.std(np.log(one.prices)))


def _unfitted(one: DailySales, sales_days: int, variation: float, reason: str) -> SkuFit:
    return SkuFit(one.sku, one.category_id, math.nan, math.nan, len(one.days), sales_days, variation, False, reason)


def _design(one: DailySales) -> NDArray[np.float64]:
    """Columns: intercept, centred log price, linear trend over [-0.5, 0.5], Tuesday…Sunday indicators."""
    days = one.days
    log_price = np.log(one.prices)
    span = max(int(days[-1] - days[0]), 1)
    weekday = (days + _EPOCH_WEEKDAY) % 7
    columns = [
        np.ones(len(days)),
        log_price - log_price.mean(),
        (days - days[0]) / span - 0.5,
        *((weekday == day).astype(np.float64) for day in range(1, 7)),
    ]
    return np.column_stack(columns)


def _fit_batch(batch: Sequence[DailySales]) -> list[SkuFit]:
    """IRLS for a batch of skus at once: histories padded to the longest, padding rows weighted zero."""
    length = max(len(one.days) for one in batch)
    designs = [_design(one) for one in batch]
    width = designs[0].shape[1]
    x = np.zeros((len(batch), length, width))
    y = np.zeros((len(batch), length))
    mask = np.zeros((len(batch), length))
    for row, (one, design) in enumerate(zip(batch, designs, strict=True)):
        x[row, : len(one.days)] = design
        y[row, : len(one.days)] = one.units
        mask[row, : len(one.days)] = 1.0
    singular = _ill_conditioned(x)
    elasticity = np.full(len(batch), np.nan)
    standard_error = np.full(len(batch), np.nan)
    converged = np.zeros(len(batch), dtype=np.bool_)
    fitted = ~singular
    if np.any(fitted):
        elasticity[fitted], standard_error[fitted], converged[fitted] = _irls(x[fitted], y[fitted], mask[fitted])
    fits = []
    for row, one in enumerate(batch):
        sales_days, variation = _screen(one)
        if singular[row]:
            fits.append(_unfitted(one, sales_days, variation, "price moved in step with the trend or weekdays"))
        elif not (converged[row] and math.isfinite(elasticity[row]) and math.isfinite(standard_error[row])):
            fits.append(_unfitted(one, sales_days, variation, "the fit did not converge"))
        else:
            fits.append(
                SkuFit(
                    one.sku,
                    one.category_id,
                    float(elasticity[row]),
                    float(standard_error[row]),
                    len(one.days),
                    sales_days,
                    variation,
                    True,
                    "",
                )
            )
    return fits


def _ill_conditioned(x: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Which stacked designs have (nearly) collinear columns, judged on columns scaled to unit length."""
    norms = np.linalg.norm(x, axis=1)
    scaled = x / np.where(norms > 0, norms, 1.0)[:, None, :]
    eigenvalues = np.linalg.eigvalsh(scaled.transpose(0, 2, 1) @ scaled)
    # Eigenvalues of the Gram matrix are the squared singular values of the design.
    collinear = eigenvalues[:, 0] * MAX_CONDITION_NUMBER**2 < eigenvalues[:, -1]
    empty_column: NDArray[np.bool_] = np.any(norms == 0, axis=1)
    return empty_column | collinear


def _irls(
    x: NDArray[np.float64], y: NDArray[np.float64], mask: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Stacked Poisson log-link fits: the elasticity, its quasi-Poisson standard error, and whether each converged."""
    mean_units = (y * mask).sum(axis=1, keepdims=True) / mask.sum(axis=1, keepdims=True)
    mu = np.where(mask > 0, (y + mean_units) / 2, 1.0)
    eta = np.log(mu)
    deviance = np.full(len(x), np.inf)
    converged = np.zeros(len(x), dtype=np.bool_)
    beta: NDArray[np.float64] = np.zeros((len(x), x.shape[2]))
    for _ in range(_MAX_ITERATIONS):
        weighted_t = (x * (mu * mask)[..., None]).transpose(0, 2, 1)
        working = eta + (y - mu) / mu
        beta = np.linalg.solve(weighted_t @ x, weighted_t @ working[..., None])[..., 0].astype(np.float64, copy=False)
        eta = np.clip(np.einsum("stk,sk->st", x, beta), -_ETA_BOUND, _ETA_BOUND)
        mu = np.exp(eta)
        previous, deviance = deviance, _poisson_deviance(y, mu, mask)
        converged = np.abs(deviance - previous) <= _DEVIANCE_TOLERANCE * (np.abs(deviance) + 0.1)
        if np.all(converged):
            break
    weighted_t = (x * (mu * mask)[..., None]).transpose(0, 2, 1)
    covariance = np.linalg.inv(weighted_t @ x)
    residual_df = np.maximum(mask.sum(axis=1) - x.shape[2], 1.0)
    dispersion = np.maximum((mask * (y - mu) ** 2 / mu).sum(axis=1) / residual_df, 1.0)
    variance = dispersion * covariance[:, _ELASTICITY_COLUMN, _ELASTICITY_COLUMN]
    return beta[:, _ELASTICITY_COLUMN], np.sqrt(variance), converged


def _poisson_deviance(
    y: NDArray[np.float64], mu: NDArray[np.float64], mask: NDArray[np.float64]
) -> NDArray[np.float64]:
    ratio = np.where(y > 0, y / mu, 1.0)
    deviance: NDArray[np.float64] = 2.0 * (mask * (y * np.log(ratio) - (y - mu))).sum(axis=1)
    return deviance


def _random_effects(category_id: str, members: Sequence[SkuFit]) -> CategoryEstimate:
    """DerSimonian-Laird: the between-sku variance by moments of Cochran's Q (floored), then the mean weighted
    by each sku's precision including that variance."""
    estimates = np.array([fit.elasticity for fit in members])
    variances = np.array([fit.standard_error for fit in members]) ** 2
    weights = 1.0 / variances
    fixed_mean = float(np.sum(weights * estimates) / np.sum(weights))
    q = float(np.sum(weights * (estimates - fixed_mean) ** 2))
    scale = float(np.sum(weights) - np.sum(weights**2) / np.sum(weights))
    estimated = (q - (len(members) - 1)) / scale if scale > 0 else 0.0
    between = max(estimated, MIN_BETWEEN_SKU_SD**2)
    random_weights = 1.0 / (variances + between)
    mean = float(np.sum(random_weights * estimates) / np.sum(random_weights))
    return CategoryEstimate(
        category_id, mean, math.sqrt(1.0 / float(np.sum(random_weights))), math.sqrt(between), len(members)
    )


def _model(fit: SkuFit, category: CategoryEstimate | None) -> ElasticityModel:
    source: Source
    if fit.estimable and category is not None:
        # Prior for the sku: its category's mean, as uncertain as the spread between skus plus the mean's own error.
        prior_precision = 1.0 / category.predictive_sd**2
        own_precision = 1.0 / fit.standard_error**2
        precision = prior_precision + own_precision
        elasticity = (own_precision * fit.elasticity + prior_precision * category.elasticity) / precision
        standard_error, source = math.sqrt(1.0 / precision), "shrunk"
    elif fit.estimable:
        elasticity, standard_error, source = fit.elasticity, fit.standard_error, "sku"
    elif category is not None:
        elasticity, standard_error, source = category.elasticity, category.predictive_sd, "category"
    else:
        elasticity, standard_error, source = math.nan, math.nan, "none"
    low, high = elasticity - Z_95 * standard_error, elasticity + Z_95 * standard_error
    return ElasticityModel(
        sku=fit.sku,
        category_id=fit.category_id,
        elasticity=elasticity,
        standard_error=standard_error,
        ci_low=low,
        ci_high=high,
        source=source,
        reliable=not (reason := _unreliable_because(fit, source, elasticity, low, high)),
        n_days=fit.n_days,
        reason=reason,
    )


def _unreliable_because(fit: SkuFit, source: Source, elasticity: float, low: float, high: float) -> str:
    if source == "none":
        where = f"category {fit.category_id!r}" if fit.category_id else "no category"
        return f"{fit.reason}; {where} has no estimate to fall back on"
    reasons = []
    if elasticity >= 0:
        reasons.append(f"elasticity {elasticity:+.2f} is not negative: demand would not fall as the price rises")
    if high - low > MAX_INTERVAL_WIDTH:
        reasons.append(f"95 % interval [{low:.2f}, {high:.2f}] is wider than {MAX_INTERVAL_WIDTH}")
    return "; ".join(reasons)
