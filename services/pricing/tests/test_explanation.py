"""Explanations: a JSON-ready trace of one row with money in minor units, and sentences for people."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from services.pricing.domain.endings import PriceEnding, PriceEndings
from services.pricing.domain.explanation import explain, explain_rows, format_age, format_minor
from services.pricing.domain.guardrails import GuardrailSpec
from services.pricing.domain.strategies import CostPlus, KeepPrice, MatchLowest, OptimiseProfit
from services.pricing.tests.engine_support import HOUR, Priced, Sku, price, spec

NAMES = {0: "A", 1: "B", 2: "C"}


def explained(priced: Priced, row: int = 0) -> dict[str, Any]:
    result = explain(priced.engine, priced.inputs, priced.outcome, row, competitor_names=NAMES)
    # Plain JSON, without NaN or infinities.
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    return result


@pytest.mark.parametrize(
    ("amount", "exponent", "text"),
    [(1999, 2, "19.99"), (-50, 2, "-0.50"), (5, 2, "0.05"), (500, 0, "500"), (5, 3, "0.005"), (120000, 2, "1200.00")],
)
def test_money_is_formatted_with_the_currency_exponent(amount: int, exponent: int, text: str) -> None:
    assert format_minor(amount, exponent) == text


@pytest.mark.parametrize(("seconds", "text"), [(45, "45 s"), (600, "10 min"), (7300, "2 h"), (3 * 86400 + 5, "3 d")])
def test_ages_read_naturally(seconds: float, text: str) -> None:
    assert format_age(seconds) == text


def test_a_matched_price_raised_by_map_in_conflict_with_the_max_price() -> None:
    priced = price(
        spec(MatchLowest(), guardrails=GuardrailSpec(max_price_minor=1780)),
        Sku(
            current=1900,
            cost=1200,
            map_price=1800,
            market=[(0, 1750, 2 * HOUR), (1, 1999, 600.0), (2, 2100, 60.0)],
        ),
    )
    result = explained(priced)
    assert result["recommended_price"] == 1800
    assert result["strategy"] == {"name": "test", "rule": "match_lowest", "step": 0, "price": 1750}
    assert result["guardrails"] == [{"guardrail": "map", "delta": 50, "from": 1750, "to": 1800}]
    assert result["conflicts"] == {"lost": ["max_price"], "won": ["map"]}
    inputs = result["inputs"]
    assert isinstance(inputs, dict)
    assert inputs["competitor_prices"][0] == {
        "competitor_id": 0,
        "name": "A",
        "price": 1750,
        "age_seconds": 7200.0,
        "used": True,
    }
    assert result["sentences"] == [
        "Matched the lowest of 3 competitor prices (A 17.50, 2 h old; B 19.99, 10 min old; C 21.00, 1 min old): 17.50.",
        "MAP raised it from 17.50 to 18.00.",
        "Conflict: the maximum price (at most 17.80) gave way to MAP (at least 18.00), which outranks it.",
        "Recommended 18.00 instead of 19.00 (-5.26 %).",
    ]


def test_skipped_steps_say_why_and_unused_prices_are_marked() -> None:
    chain = spec(MatchLowest(), CostPlus(25.0), max_age=HOUR)
    priced = price(chain, Sku(current=1500, cost=1000, market=[(1, 1400, 3 * HOUR)]))
    result = explained(priced)
    assert result["skipped"] == [{"step": 0, "rule": "match_lowest", "reasons": ["stale_market_data"]}]
    assert result["inputs"]["competitor_prices"][0]["used"] is False
    assert result["sentences"][:2] == [
        "Skipped match lowest: every competitor price is older than 1 h.",
        "Cost plus 25 %: cost 10.00 gives 12.50.",
    ]


def test_an_optimised_price_shows_the_model_and_its_interval() -> None:
    guardrails = GuardrailSpec(max_change_percent=10.0)
    priced = price(
        spec(OptimiseProfit(), guardrails=guardrails),
        Sku(current=1900, cost=1000, elasticity=-3.0, se=0.5),
    )
    result = explained(priced)
    inputs = result["inputs"]
    assert isinstance(inputs, dict)
    low, high = inputs["elasticity_interval_95"]
    assert math.isclose(low, -3.0 - 1.959963984540054 * 0.5)
    assert math.isclose(high, -3.0 + 1.959963984540054 * 0.5)
    assert result["sentences"][0] == (
        "Profit is highest at 15.00 for elasticity -3.00 (95 % interval -3.98 to -2.02) and cost 10.00; "
        "within the allowed 17.10-20.90 that is 17.10."
    )


def test_an_ending_that_would_cross_a_guardrail_is_explained() -> None:
    endings = PriceEndings((PriceEnding(0, minor_ending=99),))
    priced = price(
        spec(KeepPrice(), guardrails=GuardrailSpec(endings=endings)), Sku(current=1250, map_price=1240, max_price=1260)
    )
    result = explained(priced)
    assert result["ending"] == {"status": "skipped_guardrail", "delta": 0}
    assert (
        "No price ending fits between 12.40 and 12.60 without crossing a guardrail; left at 12.50."
        in result["sentences"]
    )


def test_yen_amounts_have_no_decimals() -> None:
    endings = PriceEndings((PriceEnding(0, whole_digit=9),))
    priced = price(spec(KeepPrice(), guardrails=GuardrailSpec(endings=endings)), Sku(current=1234), exponent=0)
    result = explained(priced)
    assert result["recommended_price"] == 1229
    assert result["sentences"][-2:] == [
        "The price ending moved it from 1234 to 1229.",
        "Recommended 1229 instead of 1234 (-0.41 %).",
    ]


def test_every_changed_row_of_a_run_can_be_explained() -> None:
    rng = np.random.default_rng(5)
    skus = [
        Sku(current=int(c), cost=float(c * 6 // 10), market=[(0, int(c * 0.95), 60.0), (1, int(c * 1.1), 60.0)])
        for c in rng.integers(100, 10_000, 50)
    ]
    priced = price(spec(MatchLowest(), guardrails=GuardrailSpec(min_margin=0.3)), *skus)
    changed = np.flatnonzero(priced.outcome.changed)
    explanations = explain_rows(priced.engine, priced.inputs, priced.outcome, changed)
    assert len(explanations) == len(changed) > 0
    assert all(item["changed"] and item["sentences"] for item in explanations)
