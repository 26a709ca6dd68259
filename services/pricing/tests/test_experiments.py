import json
from typing import Any

import numpy as np
import pytest

from runtime.errors import InvalidArgument
from services.pricing.domain.experiments import PriceExperiment, StopRule

PRICES = [8.0, 9.0, 10.0, 11.0, 12.0]
# Purchase probability per visitor at each price: revenue per visitor 2.40, 2.43, 2.40, 2.20, 1.80.
PURCHASE_PROBABILITY = np.array([0.30, 0.27, 0.24, 0.20, 0.15])
VISITORS = 50


def _run_binomial(experiment: PriceExperiment, rng: np.random.Generator, periods: int) -> float:
    """Sell for `periods` periods as the experiment chooses; the revenue earned."""
    revenue = 0.0
    for _ in range(periods):
        candidate = experiment.choose(rng)
        units = int(rng.binomial(VISITORS, PURCHASE_PROBABILITY[candidate]))
        experiment.record(candidate, VISITORS, units)
        revenue += PRICES[candidate] * units
    return revenue


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_thompson_sampling_earns_nearly_what_the_best_fixed_price_would(seed: int) -> None:
    periods = 10_000
    experiment = PriceExperiment(PRICES, likelihood="binomial", stop_rule=StopRule(max_periods=periods))
    earned = _run_binomial(experiment, np.random.default_rng(seed), periods)
    best_fixed = periods * VISITORS * float(np.max(np.array(PRICES) * PURCHASE_PROBABILITY))
    assert earned >= 0.9 * best_fixed
    # It learnt: the two clearly worse prices were rarely tried.
    assert experiment.periods[3:].sum() < 0.05 * periods


def test_thompson_sampling_on_units_alone_maximises_profit() -> None:
    """Poisson demand 40·(p/10)^-2.5 units per period; with a unit cost of 6 profit peaks at 10."""
    rng = np.random.default_rng(5)
    rates = 40.0 * (np.array(PRICES) / 10.0) ** -2.5
    profit_per_period = (np.array(PRICES) - 6.0) * rates
    experiment = PriceExperiment(PRICES, likelihood="poisson", unit_cost=6.0)
    earned = 0.0
    for _ in range(5_000):
        candidate = experiment.choose(rng)
        units = int(rng.poisson(rates[candidate]))
        experiment.record(candidate, 1, units)
        earned += (PRICES[candidate] - 6.0) * units
    assert earned >= 0.9 * 5_000 * profit_per_period.max()
    assert experiment.objective == "profit"


def _with_expected_sales(experiment: PriceExperiment, rates: np.ndarray[Any, Any], periods: int) -> None:
    for candidate, rate in enumerate(rates):
        for _ in range(periods):
            experiment.record(candidate, 1, round(rate))


def test_the_objective_decides_the_winner() -> None:
    # Elasticity -3: revenue falls with price; the margin over a unit cost of 6 peaks at 6·3/2 = 9.
    rates = 400.0 * (np.array(PRICES) / 10.0) ** -3
    rule = StopRule(min_periods=1, max_periods=10_000)
    by_revenue = PriceExperiment(PRICES, likelihood="poisson", stop_rule=rule)
    by_profit = PriceExperiment(PRICES, likelihood="poisson", unit_cost=6.0, stop_rule=rule)
    _with_expected_sales(by_revenue, rates, 500)
    _with_expected_sales(by_profit, rates, 500)
    revenue_report = by_revenue.report(np.random.default_rng(0))
    profit_report = by_profit.report(np.random.default_rng(0))
    assert revenue_report.winner == 0
    assert profit_report.winner == 1
    assert revenue_report.stop_reason == profit_report.stop_reason == "confident"
    assert revenue_report.candidates[0].profit_per_period is None
    assert profit_report.candidates[0].profit_per_period == pytest.approx((8 - 6) * rates[0], rel=0.01)


def test_the_report_describes_every_candidate() -> None:
    rng = np.random.default_rng(6)
    experiment = PriceExperiment(PRICES, likelihood="binomial", stop_rule=StopRule(min_periods=5, max_periods=10_000))
    _run_binomial(experiment, rng, 2_000)
    report = experiment.report(np.random.default_rng(7))
    assert report.periods == 2_000
    assert report.exposures_per_period == VISITORS
    assert report.objective == "revenue"
    assert sum(candidate.probability_best for candidate in report.candidates) == pytest.approx(1.0)
    assert [candidate.periods for candidate in report.candidates] == experiment.periods.tolist()
    assert sum(candidate.exposures for candidate in report.candidates) == 2_000 * VISITORS
    for candidate in report.candidates:
        assert candidate.price == PRICES[candidate.index]
        assert candidate.units == experiment.units[candidate.index]
        assert candidate.revenue_low < candidate.revenue_per_period < candidate.revenue_high
        assert candidate.revenue_per_period == pytest.approx(candidate.price * candidate.units_per_period)
        assert candidate.profit_per_period is candidate.profit_low is candidate.profit_high is None
    most_tried = max(report.candidates, key=lambda candidate: candidate.periods)
    truth = most_tried.price * PURCHASE_PROBABILITY[most_tried.index] * VISITORS
    assert most_tried.revenue_low <= truth <= most_tried.revenue_high
    assert most_tried.revenue_high - most_tried.revenue_low < 0.05 * truth


def test_the_report_is_reproducible_with_the_same_generator() -> None:
    experiment = PriceExperiment(PRICES, likelihood="binomial")
    _run_binomial(experiment, np.random.default_rng(8), 300)
    assert experiment.report(np.random.default_rng(1)) == experiment.report(np.random.default_rng(1))


def test_an_experiment_stops_once_one_price_is_clearly_best_but_not_before_min_periods() -> None:
    rng = np.random.default_rng(9)
    experiment = PriceExperiment(
        [10.0, 20.0], likelihood="binomial", stop_rule=StopRule(probability_best=0.99, min_periods=30)
    )
    probability = [0.5, 0.1]
    for period in range(1, 200):
        candidate = experiment.choose(rng)
        experiment.record(candidate, 100, int(rng.binomial(100, probability[candidate])))
        report = experiment.report(rng, draws=4_000)
        if period < 30:
            assert not report.stopped
            assert report.winner is None
        elif report.stopped:
            break
    assert report.stopped
    assert report.stop_reason == "confident"
    assert report.winner == 0
    assert report.candidates[0].probability_best >= 0.99


def test_an_experiment_between_equally_good_prices_stops_at_max_periods() -> None:
    rng = np.random.default_rng(10)
    rule = StopRule(probability_best=0.99, min_periods=5, max_periods=40)
    experiment = PriceExperiment([10.0, 10.5], likelihood="poisson", stop_rule=rule)
    # 21 units at 10.00 and 20 at 10.50 earn the same.
    units = [21, 20]
    for period in range(40):
        assert not experiment.report(rng, draws=2_000).stopped
        experiment.record(period % 2, 1, units[period % 2])
    report = experiment.report(rng)
    assert report.stopped
    assert report.stop_reason == "max_periods"
    assert report.winner == int(np.argmax([candidate.probability_best for candidate in report.candidates]))


def test_state_survives_a_round_trip_through_json() -> None:
    experiment = PriceExperiment(
        PRICES, likelihood="binomial", unit_cost=5.0, stop_rule=StopRule(probability_best=0.9, max_periods=500)
    )
    _run_binomial(experiment, np.random.default_rng(11), 100)
    restored = PriceExperiment.from_dict(json.loads(json.dumps(experiment.to_dict())))
    assert restored.to_dict() == experiment.to_dict()
    assert restored.stop_rule == experiment.stop_rule
    first, second = np.random.default_rng(12), np.random.default_rng(12)
    assert [experiment.choose(first) for _ in range(50)] == [restored.choose(second) for _ in range(50)]


@pytest.mark.parametrize(
    ("prices", "field"),
    [
        ([10.0], "prices"),
        ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], "prices"),
        ([10.0, 10.0], "prices"),
        ([10.0, 0.0], "prices"),
        ([10.0, -5.0], "prices"),
        ([10.0, float("nan")], "prices"),
        ([10.0, float("inf")], "prices"),
        ([10.0, True], "prices"),
        ([10.0, "12"], "prices"),
    ],
)
def test_bad_candidate_prices_are_refused(prices: list[Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        PriceExperiment(prices, likelihood="binomial")
    assert error.value.field == field


def test_whole_number_prices_in_minor_units_are_accepted() -> None:
    assert PriceExperiment([999, 1099, 1199], likelihood="poisson").prices.tolist() == [999.0, 1099.0, 1199.0]


@pytest.mark.parametrize("unit_cost", [-1.0, 12.0, 20.0, float("nan")])
def test_bad_unit_costs_are_refused(unit_cost: float) -> None:
    with pytest.raises(InvalidArgument) as error:
        PriceExperiment([10.0, 12.0], likelihood="binomial", unit_cost=unit_cost)
    assert error.value.field == "unit_cost"


def test_an_unknown_likelihood_is_refused() -> None:
    with pytest.raises(InvalidArgument) as error:
        PriceExperiment([10.0, 12.0], likelihood="normal")  # type: ignore[arg-type]
    assert error.value.field == "likelihood"


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"probability_best": 0.5}, "probability_best"),
        ({"probability_best": 1.0}, "probability_best"),
        ({"min_periods": 0}, "min_periods"),
        ({"min_periods": 10, "max_periods": 9}, "max_periods"),
        ({"min_periods": 2.5}, "min_periods"),
        ({"max_periods": "90"}, "max_periods"),
        ({"probability_best": float("nan")}, "probability_best"),
    ],
)
def test_bad_stop_rules_are_refused(rule: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        StopRule(**rule)
    assert error.value.field == field


@pytest.mark.parametrize(
    ("likelihood", "record", "field"),
    [
        ("binomial", (2, 10, 1), "candidate"),
        ("binomial", (-1, 10, 1), "candidate"),
        ("binomial", (0, -1, 0), "exposures"),
        ("binomial", (0, 10, -1), "units"),
        ("binomial", (0, 10, 11), "units"),
        ("poisson", (0, 0, 3), "exposures"),
        ("poisson", (0, 1.5, 3), "exposures"),
    ],
)
def test_bad_records_are_refused_and_change_nothing(likelihood: Any, record: tuple[Any, Any, Any], field: str) -> None:
    experiment = PriceExperiment([10.0, 12.0], likelihood=likelihood)
    before = experiment.to_dict()
    with pytest.raises(InvalidArgument) as error:
        experiment.record(*record)
    assert error.value.field == field
    assert experiment.to_dict() == before


def test_a_poisson_experiment_counts_several_units_per_exposure() -> None:
    experiment = PriceExperiment([10.0, 12.0], likelihood="poisson")
    experiment.record(0, 1, 25)
    assert experiment.units.tolist() == [25, 0]


def _state(**changes: Any) -> dict[str, Any]:
    state = PriceExperiment([10.0, 12.0], likelihood="binomial").to_dict()
    state.update(changes)
    return state


@pytest.mark.parametrize(
    "state",
    [
        _state(version=2),
        _state(periods=[1]),
        _state(units=[1, -1]),
        _state(units=[5, 0], exposures=[4, 0]),
        _state(exposures=[1.5, 0]),
        _state(prices=[10.0]),
        {key: value for key, value in _state().items() if key != "stop_rule"},
        _state(stop_rule={"probability_best": 0.9}),
    ],
)
def test_malformed_state_is_refused(state: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        PriceExperiment.from_dict(state)
