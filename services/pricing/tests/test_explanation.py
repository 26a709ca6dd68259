"""Explanations: a compact trace of each row, stored as plain JSON, rendered into the inputs, chain,
guardrails, conflicts and ending with money in minor units, and sentences for people."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from runtime.errors import FailedPrecondition
from services.pricing.domain.endings import PriceEnding, PriceEndings
from services.pricing.domain.explanation import explain_rows, format_age, format_minor, render
from services.pricing.domain.guardrails import GuardrailSpec
from services.pricing.domain.strategies import CostPlus, KeepPrice, MatchLowest, OptimiseProfit
from services.pricing.domain.trace import Trace, trace_rows
from services.pricing.tests.engine_support import HOUR, Priced, Sku, price, spec
from services.pricing.tests.explanation_cases import BEFORE_TRACES, CASES, NAMES


def stored(traces: list[Trace]) -> list[dict[str, Any]]:
    """The traces as storage gives them back: plain JSON, without NaN or infinities."""
    text = json.dumps(traces, allow_nan=False)
    decoded: list[dict[str, Any]] = json.loads(text)
    return decoded


def explained(priced: Priced, row: int = 0) -> dict[str, Any]:
    (trace,) = stored(trace_rows(priced.engine, priced.inputs, priced.outcome, [row], competitor_names=NAMES))
    result = render(trace)
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


@pytest.mark.parametrize("case", list(CASES))
def test_a_rendered_trace_says_what_the_explanation_said_before_traces(case: str) -> None:
    priced = CASES[case].priced()
    rows = range(len(CASES[case].skus))
    traces = stored(trace_rows(priced.engine, priced.inputs, priced.outcome, rows, competitor_names=CASES[case].names))
    before = json.loads(BEFORE_TRACES.read_text(encoding="utf-8"))[case]
    rendered = [render(trace) for trace in traces]
    assert rendered == before
    # Integers stay integers and floats floats, in the same key order.
    assert json.dumps(rendered) == json.dumps(before)


def test_a_trace_holds_numbers_and_what_its_sentences_need_of_the_strategy() -> None:
    chain = spec(MatchLowest(), CostPlus(25.0), KeepPrice(), max_age=HOUR, guardrails=GuardrailSpec(min_margin=0.2))
    priced = price(chain, Sku(current=1500, cost=1000, map_price=1400, market=[(1, 1400, 3 * HOUR)]))
    (trace,) = stored(trace_rows(priced.engine, priced.inputs, priced.outcome, [0], competitor_names=NAMES))
    assert trace == {
        "trace": 1,
        "currency_exponent": 2,
        # Name, the chain up to the step that set the price (keep price, never reached, is left out), market
        # age limit, guardrails (min margin, min price, max price, max change percent and amount).
        "strategy": ["test", [["match_lowest"], ["cost_plus", 25.0]], 3600.0, [0.2, None, None, None, None]],
        "product": [1500, 1000, 1400, None, None],
        "model": [None, None, True],
        "market": [[1, "B", 1400, 10800.0, False]],
        # step, strategy price, recommended, floor, ceiling (none), ending, lost, won, changed
        "outcome": [1, 1250, 1400, 1400, None, 0, 0, 0, True],
        "skipped": [4],
        "deltas": [0, 0, 150, 0, 0, 0, 0],
    }


def test_a_trace_keeps_the_strategy_it_was_priced_with() -> None:
    """The strategy as the row was priced lives in the trace: the engine's strategies are not consulted."""
    sku = Sku(current=2000, cost=1000)
    before = price(spec(CostPlus(50.0), guardrails=GuardrailSpec(max_change_percent=10.0)), sku)
    (trace,) = stored(trace_rows(before.engine, before.inputs, before.outcome, [0]))
    after = price(spec(CostPlus(10.0)), sku)
    rendered = render(trace)
    assert rendered == explain_rows(before.engine, before.inputs, before.outcome, [0])[0]
    assert rendered != explain_rows(after.engine, after.inputs, after.outcome, [0])[0]
    assert rendered["sentences"] == [
        "Cost plus 50 %: cost 10.00 gives 15.00.",
        "The maximum change per run (±10 %) raised it from 15.00 to 18.00.",
        "Recommended 18.00 instead of 20.00 (-10.00 %).",
    ]


def test_a_trace_of_another_version_is_refused_clearly() -> None:
    priced = price(spec(KeepPrice()), Sku(current=1000))
    (trace,) = stored(trace_rows(priced.engine, priced.inputs, priced.outcome, [0]))
    with pytest.raises(FailedPrecondition, match="trace version 2"):
        render({**trace, "trace": 2})
