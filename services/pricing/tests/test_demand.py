import math
from datetime import UTC, date, datetime

import numpy as np
import pytest
from numpy.typing import NDArray

from demo.catalog import generate_catalog
from demo.sales import CATEGORY_ELASTICITIES, SkuDemand, demand_profiles, generate_sales
from runtime.errors import InvalidArgument
from services.pricing.domain.demand import (
    MAX_INTERVAL_WIDTH,
    MIN_PRICE_VARIATION,
    MIN_SALES_DAYS,
    DailySales,
    PooledElasticities,
    SkuFit,
    daily_series,
    epoch_day,
    estimate_elasticities,
    fit_elasticities,
    pool_by_category,
)

FIRST_DAY = epoch_day(date(2025, 1, 6))


def _synthetic(
    rng: np.random.Generator,
    sku: str,
    category_id: str,
    elasticity: float,
    *,
    days: int = 180,
    base: float = 5.0,
    prices: NDArray[np.float64] | None = None,
    weekday_factors: NDArray[np.float64] | None = None,
    trend: float = 0.0,
    overdispersion: float = 0.0,
) -> DailySales:
    """Daily Poisson (or gamma-Poisson) demand base·(p/p0)^e·exp(trend·t)·weekday with a known elasticity."""
    day_numbers = np.arange(FIRST_DAY, FIRST_DAY + days)
    if prices is None:
        prices = 20.0 * rng.choice([0.8, 0.9, 1.0, 1.1, 1.2], size=days // 10 + 1).repeat(10)[:days]
    weekday = np.ones(7) if weekday_factors is None else weekday_factors
    mean = base * (prices / prices.mean()) ** elasticity * np.exp(trend * np.linspace(0, 1, days))
    mean = mean * weekday[(day_numbers + 3) % 7]
    if overdispersion > 0:
        mean = mean * rng.gamma(1 / overdispersion, overdispersion, size=days)
    return DailySales(sku, category_id, day_numbers, prices, rng.poisson(mean))


@pytest.fixture(scope="module")
def demo() -> tuple[list[SkuDemand], list[DailySales]]:
    catalog = generate_catalog()
    sales = generate_sales(catalog, end=datetime(2025, 6, 1, tzinfo=UTC))
    profiles = list(demand_profiles(catalog))
    days = np.arange(epoch_day(sales.first_day), epoch_day(sales.first_day) + sales.units.shape[1])
    series = [
        DailySales(profile.sku, profile.category_id, days, sales.prices_minor[row].astype(np.float64), sales.units[row])
        for row, profile in enumerate(profiles)
    ]
    return profiles, series


@pytest.fixture(scope="module")
def demo_fits(demo: tuple[list[SkuDemand], list[DailySales]]) -> list[SkuFit]:
    return fit_elasticities(demo[1])


@pytest.fixture(scope="module")
def demo_pooled(demo_fits: list[SkuFit]) -> PooledElasticities:
    return pool_by_category(demo_fits)


def test_own_fits_recover_the_planted_elasticities_within_their_errors(
    demo: tuple[list[SkuDemand], list[DailySales]], demo_fits: list[SkuFit]
) -> None:
    profiles, _ = demo
    fitted = [(fit, profile) for fit, profile in zip(demo_fits, profiles, strict=True) if fit.estimable]
    assert len(fitted) > 0.8 * len(profiles)
    within = [abs(fit.elasticity - profile.elasticity) <= 2 * fit.standard_error for fit, profile in fitted]
    assert np.mean(within) >= 0.9


def test_pooled_elasticities_recover_the_planted_ones_within_their_errors(
    demo: tuple[list[SkuDemand], list[DailySales]], demo_pooled: PooledElasticities
) -> None:
    profiles, _ = demo
    models = demo_pooled.models
    assert all(model.reliable for model in models)
    within = [
        abs(model.elasticity - profile.elasticity) <= 2 * model.standard_error
        for model, profile in zip(models, profiles, strict=True)
    ]
    assert np.mean(within) >= 0.9
    assert {model.source for model in models} == {"shrunk", "category"}


def test_category_means_match_the_planted_ones(
    demo: tuple[list[SkuDemand], list[DailySales]], demo_fits: list[SkuFit], demo_pooled: PooledElasticities
) -> None:
    profiles, _ = demo
    assert set(demo_pooled.categories) == set(CATEGORY_ELASTICITIES)
    for category_id, estimate in demo_pooled.categories.items():
        planted = [
            profile.elasticity
            for profile, fit in zip(profiles, demo_fits, strict=True)
            if fit.estimable and profile.category_id == category_id
        ]
        assert estimate.sku_count == len(planted)
        assert abs(estimate.elasticity - np.mean(planted)) <= 3 * estimate.standard_error, category_id
        assert abs(estimate.elasticity - CATEGORY_ELASTICITIES[category_id]) <= 0.25, category_id


def test_a_fitted_sku_is_shrunk_toward_its_category(demo_fits: list[SkuFit], demo_pooled: PooledElasticities) -> None:
    shrunk = [(fit, model) for fit, model in zip(demo_fits, demo_pooled.models, strict=True) if fit.estimable]
    for fit, model in shrunk:
        mean = demo_pooled.categories[fit.category_id].elasticity
        assert model.source == "shrunk"
        assert min(fit.elasticity, mean) <= model.elasticity <= max(fit.elasticity, mean)
        assert model.standard_error < fit.standard_error
    thin_fit, thin_model = max(shrunk, key=lambda pair: pair[0].standard_error)
    mean = demo_pooled.categories[thin_fit.category_id].elasticity
    assert thin_fit.standard_error > 1
    # The noisier a sku's own fit, the closer its model stays to the category.
    assert abs(thin_model.elasticity - mean) < 0.2 * abs(thin_fit.elasticity - mean)


def test_a_sku_whose_price_never_moved_takes_its_category_estimate(
    demo: tuple[list[SkuDemand], list[DailySales]], demo_fits: list[SkuFit], demo_pooled: PooledElasticities
) -> None:
    profiles, _ = demo
    fixed = [row for row, profile in enumerate(profiles) if not profile.price_moves]
    assert fixed
    for row in fixed:
        fit, model = demo_fits[row], demo_pooled.models[row]
        category = demo_pooled.categories[fit.category_id]
        assert not fit.estimable
        assert fit.price_variation == pytest.approx(0, abs=1e-12)
        assert "price barely varied" in fit.reason
        assert math.isnan(fit.elasticity)
        assert model.source == "category"
        assert model.reliable
        assert model.elasticity == category.elasticity
        assert model.standard_error == pytest.approx(category.predictive_sd)
        assert model.standard_error > category.standard_error
        assert model.ci_low < model.elasticity < model.ci_high


def test_a_sku_with_few_sales_days_is_not_fitted_alone() -> None:
    rng = np.random.default_rng(1)
    fit = fit_elasticities([_synthetic(rng, "rare", "c", -1.5, base=0.05)])[0]
    assert fit.sales_days < MIN_SALES_DAYS
    assert not fit.estimable
    assert f"only {fit.sales_days} days with sales" in fit.reason


def test_a_category_without_fitted_skus_leaves_its_skus_unreliable() -> None:
    rng = np.random.default_rng(2)
    flat = np.full(180, 20.0)
    series = [_synthetic(rng, f"flat-{n}", "no-variation", -1.5, prices=flat) for n in range(4)]
    series += [_synthetic(rng, f"moving-{n}", "other", -1.5) for n in range(4)]
    pooled = estimate_elasticities(series)
    assert set(pooled.categories) == {"other"}
    for model in pooled.models[:4]:
        assert model.source == "none"
        assert not model.reliable
        assert math.isnan(model.elasticity)
        assert "price barely varied" in model.reason
        assert "no estimate to fall back on" in model.reason
    assert all(model.reliable and model.source == "shrunk" for model in pooled.models[4:])


def test_a_positive_elasticity_is_unreliable() -> None:
    rng = np.random.default_rng(3)
    series = [_synthetic(rng, f"odd-{n}", "veblen", 1.0, base=20.0) for n in range(4)]
    pooled = estimate_elasticities(series)
    assert pooled.categories["veblen"].elasticity > 0
    for model in pooled.models:
        assert model.elasticity > 0
        assert not model.reliable
        assert "not negative" in model.reason


def test_an_absurdly_wide_interval_is_unreliable() -> None:
    rng = np.random.default_rng(4)
    barely = 20.0 * np.where(np.arange(180) % 60 < 30, 1.0, 1.05)
    noisy = _synthetic(rng, "noisy", "", -1.5, base=0.3, prices=barely)
    assert noisy.units.astype(bool).sum() >= MIN_SALES_DAYS
    model = estimate_elasticities([noisy]).models[0]
    assert model.source == "sku"
    assert model.ci_high - model.ci_low > MAX_INTERVAL_WIDTH
    assert not model.reliable
    assert "wider than" in model.reason


def test_skus_of_a_category_too_small_to_pool_keep_their_own_fit() -> None:
    rng = np.random.default_rng(5)
    series = [_synthetic(rng, f"sku-{n}", "small", -2.0, base=30.0) for n in range(2)]
    pooled = estimate_elasticities(series)
    assert pooled.categories == {}
    fits = fit_elasticities(series)
    for fit, model in zip(fits, pooled.models, strict=True):
        assert model.source == "sku"
        assert model.reliable
        assert (model.elasticity, model.standard_error) == (fit.elasticity, fit.standard_error)
        assert model.ci_low == pytest.approx(fit.elasticity - 1.96 * fit.standard_error, abs=1e-3)


def test_a_well_observed_sku_is_recovered_closely() -> None:
    rng = np.random.default_rng(6)
    fit = fit_elasticities([_synthetic(rng, "busy", "c", -1.7, base=200.0, days=365)])[0]
    assert fit.estimable
    assert fit.n_days == 365
    assert fit.elasticity == pytest.approx(-1.7, abs=0.05)
    assert fit.standard_error < 0.03


def test_days_without_sales_do_not_bias_thin_skus() -> None:
    """Half the days sell nothing; dropping them (OLS on log units) would pull elasticities toward zero."""
    rng = np.random.default_rng(7)
    fits = fit_elasticities([_synthetic(rng, f"thin-{n}", "c", -2.0, base=0.7) for n in range(300)])
    estimates = np.array([fit.elasticity for fit in fits if fit.estimable])
    assert len(estimates) > 250
    assert abs(estimates.mean() + 2.0) < 3 * estimates.std() / np.sqrt(len(estimates))


def test_standard_errors_stay_honest_under_overdispersion() -> None:
    rng = np.random.default_rng(8)
    truth = rng.uniform(-2.5, -0.5, size=300)
    series = [_synthetic(rng, f"sku-{n}", "c", float(e), base=8.0, overdispersion=0.5) for n, e in enumerate(truth)]
    fits = fit_elasticities(series)
    errors = np.array([(fit.elasticity - e) / fit.standard_error for fit, e in zip(fits, truth, strict=True)])
    # Poisson standard errors without the dispersion would cover about 63 % here.
    assert 0.88 <= np.mean(np.abs(errors) <= 1.96) <= 0.99


def test_weekday_and_trend_effects_are_not_mistaken_for_price_effects() -> None:
    rng = np.random.default_rng(9)
    days = np.arange(FIRST_DAY, FIRST_DAY + 364)
    weekday = (days + 3) % 7
    # Cheaper at weekends, when more people shop anyway, and dearer over time while demand grows.
    prices = 20.0 * np.where(weekday >= 5, 0.85, 1.0) * np.exp(0.2 * np.linspace(0, 1, len(days)))
    prices *= np.where((days // 14) % 2 == 0, 1.0, 1.1)
    factors = np.array([0.8, 0.8, 0.8, 0.9, 1.0, 1.5, 1.6])
    series = [
        _synthetic(rng, f"sku-{n}", "c", -1.0, days=364, base=20.0, prices=prices, weekday_factors=factors, trend=0.5)
        for n in range(20)
    ]
    estimates = np.array([fit.elasticity for fit in fit_elasticities(series)])
    assert abs(estimates.mean() + 1.0) < 0.1


def test_a_price_that_moves_with_the_trend_alone_is_not_estimable() -> None:
    rng = np.random.default_rng(10)
    drifting = 20.0 * np.exp(np.linspace(0, 0.3, 180))
    fit = fit_elasticities([_synthetic(rng, "drift", "c", -1.5, base=10.0, prices=drifting)])[0]
    assert fit.price_variation > MIN_PRICE_VARIATION
    assert not fit.estimable
    assert "in step with the trend" in fit.reason


def test_results_keep_the_input_order() -> None:
    rng = np.random.default_rng(11)
    series = [
        _synthetic(rng, "a", "c", -1.0, prices=np.full(180, 5.0)),
        _synthetic(rng, "b", "c", -1.0),
        _synthetic(rng, "c", "c", -1.0, base=0.01),
        _synthetic(rng, "d", "c", -1.0),
    ]
    assert [fit.sku for fit in fit_elasticities(series)] == ["a", "b", "c", "d"]
    assert [model.sku for model in estimate_elasticities(series).models] == ["a", "b", "c", "d"]


def test_daily_series_fills_days_without_sales_with_the_last_price_and_leaves_out_returns() -> None:
    series = daily_series(
        "sku",
        "c",
        sale_days=np.array([101, 101, 103, 106, 99, 120, 104]),
        quantities=np.array([1, 3, 2, 1, 5, 9, -1]),
        unit_prices=np.array([10.0, 12.0, 9.0, 9.5, 1.0, 1.0, 1.0]),
        first_day=100,
        last_day=107,
        list_price=11.0,
    )
    assert series.days.tolist() == list(range(100, 108))
    assert series.units.tolist() == [0, 4, 0, 2, 0, 0, 1, 0]
    assert series.prices.tolist() == [11.5, 11.5, 11.5, 9.0, 9.0, 9.0, 9.5, 9.5]
    unsold = daily_series(
        "sku",
        "c",
        sale_days=np.array([], dtype=np.int64),
        quantities=np.array([], dtype=np.int64),
        unit_prices=np.array([]),
        first_day=100,
        last_day=102,
        list_price=11.0,
    )
    assert unsold.units.tolist() == [0, 0, 0]
    assert unsold.prices.tolist() == [11.0, 11.0, 11.0]


@pytest.mark.parametrize(
    ("days", "prices", "units", "field"),
    [
        ([1, 1, 2], [1.0, 1.0, 1.0], [0, 1, 2], "days"),
        ([1, 2, 3], [1.0, 0.0, 1.0], [0, 1, 2], "prices"),
        ([1, 2, 3], [1.0, float("nan"), 1.0], [0, 1, 2], "prices"),
        ([1, 2, 3], [1.0, 1.0, 1.0], [0, -1, 2], "units"),
        ([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], [0, 1, 2], "days"),
        ([1, 2, 3], [1.0, 1.0, 1.0], [0.5, 1, 2], "units"),
    ],
)
def test_bad_series_are_refused(days: list[float], prices: list[float], units: list[float], field: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        DailySales("sku", "c", np.array(days), np.array(prices), np.array(units))
    assert error.value.field == field


def test_series_of_unequal_length_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="equally long"):
        DailySales("sku", "c", np.array([1, 2]), np.array([1.0]), np.array([1, 2]))


def test_epoch_days_count_from_1970() -> None:
    assert epoch_day(date(1970, 1, 1)) == 0
    assert epoch_day(date(2025, 1, 6)) == 20094
