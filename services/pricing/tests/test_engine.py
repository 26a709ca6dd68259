"""The engine over many rows: input checks, empty inputs, row order, NaN inputs and market sorting."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runtime.errors import InvalidArgument
from services.pricing.domain.engine import PricingEngine, PricingInputs
from services.pricing.domain.guardrails import GuardrailSpec
from services.pricing.domain.strategies import CostPlus, MatchLowest, MatchMedian, OptimiseProfit
from services.pricing.tests.engine_support import HOUR, Sku, inputs_of, market, price, spec

STRATEGIES = [
    spec(MatchLowest(), CostPlus(20.0), guardrails=GuardrailSpec(max_change_percent=15.0), max_age=2 * HOUR),
    spec(MatchMedian(), guardrails=GuardrailSpec(min_margin=0.2)),
    spec(OptimiseProfit(), CostPlus(10.0), guardrails=GuardrailSpec(max_change_minor=300)),
]


def test_empty_inputs_give_an_empty_outcome() -> None:
    engine = PricingEngine(STRATEGIES, 2)
    outcome = engine.price(PricingInputs.build(current_price=[], strategy=[]))
    assert len(outcome) == 0
    assert outcome.skip_reasons.shape == (0, 3)
    assert outcome.guardrail_delta.shape == (0, 7)


def test_omitted_arrays_mean_unknown_for_every_row() -> None:
    engine = PricingEngine(STRATEGIES, 2)
    outcome = engine.price(PricingInputs.build(current_price=[1000, 2000], strategy=[0, 2]))
    assert outcome.recommended.tolist() == [1000, 2000]
    assert outcome.chain_step.tolist() == [2, 2]


def test_rows_in_any_order_get_the_same_prices() -> None:
    rng = np.random.default_rng(3)
    skus = [
        Sku(
            current=int(rng.integers(500, 5000)),
            cost=float(rng.integers(100, 4000)) if rng.random() < 0.8 else math.nan,
            market=market(
                *(int(p) for p in rng.integers(400, 6000, int(rng.integers(0, 4)))), age=HOUR * rng.random() * 3
            ),
            elasticity=float(rng.normal(-2, 1)),
            reliable=bool(rng.random() < 0.7),
            strategy=int(rng.integers(0, 3)),
        )
        for _ in range(300)
    ]
    order = np.argsort([sku.strategy for sku in skus], kind="stable")
    grouped = price(STRATEGIES, *(skus[i] for i in order)).outcome
    interleaved = price(STRATEGIES, *skus).outcome
    for name in ("recommended", "strategy_price", "chain_step", "skip_reasons", "guardrail_delta", "ending"):
        assert np.array_equal(getattr(grouped, name), getattr(interleaved, name)[order]), name


def test_market_rows_are_sorted_with_their_ids_and_ages() -> None:
    inputs = inputs_of([Sku(current=1000, market=[(7, 1200, 10.0), (3, 900, 20.0), (5, 1100, 30.0)])])
    assert inputs.market_price[0].tolist() == [900, 1100, 1200]
    assert inputs.market_competitor[0].tolist() == [3, 5, 7]
    assert inputs.market_age_seconds[0].tolist() == [20.0, 30.0, 10.0]
    assert int(inputs.market_count[0]) == 3


def test_a_row_without_competitors_among_rows_with_them() -> None:
    priced = price(spec(MatchLowest()), Sku(current=1000, market=market(900, 950)), Sku(current=1000))
    assert priced.outcome.recommended.tolist() == [900, 1000]


def test_a_strategy_index_the_engine_does_not_have_is_refused() -> None:
    engine = PricingEngine(STRATEGIES, 2)
    with pytest.raises(InvalidArgument) as caught:
        engine.price(PricingInputs.build(current_price=[1000], strategy=[3]))
    assert caught.value.field == "strategy"


@pytest.mark.parametrize(
    ("columns", "field"),
    [
        ({"current_price": [10.5]}, "current_price"),
        ({"current_price": [0]}, "current_price"),
        ({"current_price": [math.nan]}, "current_price"),
        ({"current_price": [[1000]]}, "current_price"),
        ({"cost": [-1]}, "cost"),
        ({"cost": [1, 2]}, "cost"),
        ({"map_price": [math.inf]}, "map_price"),
        ({"min_price": [2000], "max_price": [1000]}, "min_price"),
        ({"strategy": [-1]}, "strategy"),
        ({"strategy": [0.5]}, "strategy"),
        ({"elasticity": [math.inf]}, "elasticity"),
        ({"elasticity_se": [-0.1]}, "elasticity_se"),
        ({"market_price": [[900.0]], "market_competitor": [[-1]], "market_age_seconds": [[0.0]]}, "market_competitor"),
        (
            {"market_price": [[900.0]], "market_competitor": [[1]], "market_age_seconds": [[math.nan]]},
            "market_age_seconds",
        ),
        ({"market_price": [[900.5]], "market_competitor": [[1]], "market_age_seconds": [[1.0]]}, "market_price"),
        ({"market_price": [[900.0]]}, "market_competitor"),
        (
            {"market_price": [[900.0]], "market_competitor": [[1, 2]], "market_age_seconds": [[1.0]]},
            "market_competitor",
        ),
    ],
)
def test_bad_inputs_are_refused_naming_the_array(columns: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"current_price": [1000], "strategy": [0], **columns}
    with pytest.raises(InvalidArgument) as caught:
        PricingInputs.build(**values)  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(("exponent", "strategies"), [(5, STRATEGIES), (-1, STRATEGIES), (2, []), (2, ["x"])])
def test_bad_engine_settings_are_refused(exponent: int, strategies: list[object]) -> None:
    with pytest.raises(InvalidArgument):
        PricingEngine(strategies, exponent)  # type: ignore[arg-type]


def test_integer_current_prices_are_accepted() -> None:
    inputs = PricingInputs.build(current_price=np.array([1000, 2000], dtype=np.int64), strategy=[0, 0])
    assert inputs.current_price.dtype == np.float64
    assert PricingEngine(STRATEGIES, 2).price(inputs).recommended.dtype == np.int64
