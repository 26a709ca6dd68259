"""Each guardrail, its recorded move, conflicts resolved by priority, and refusals of bad guardrail specs."""

from __future__ import annotations

import pytest

from runtime.errors import InvalidArgument
from services.pricing.domain.guardrails import Guardrail, GuardrailSpec, guardrails_in
from services.pricing.domain.strategies import CostPlus, KeepPrice, MatchLowest
from services.pricing.tests.engine_support import Row, Sku, market, price, price_one, spec


def matched(guardrails: GuardrailSpec, sku: Sku) -> Row:
    """Prices `sku` at its lowest competitor price, then through `guardrails`."""
    return price_one(spec(MatchLowest(), guardrails=guardrails), sku)


def test_margin_floor_is_gross_margin_on_price() -> None:
    # 1000 / (1 - 0.3) = 1428.57…: the first whole price with a 30 % margin is 1429.
    row = matched(GuardrailSpec(min_margin=0.3), Sku(current=1500, cost=1000, market=market(1100)))
    assert (row["price"], row["deltas"]) == (1429, {Guardrail.MARGIN_FLOOR: 329})


def test_float_error_never_costs_a_minor_unit() -> None:
    # 3 / (1 - 0.9) is 30.000000000000007 and 200 * 1.15 is 229.99999999999997 in float64.
    margin = matched(GuardrailSpec(min_margin=0.9), Sku(current=100, cost=3, market=market(20)))
    change = matched(GuardrailSpec(max_change_percent=15.0), Sku(current=200, market=market(500)))
    assert (margin["price"], change["price"]) == (30, 230)


def test_never_below_cost_holds_without_any_spec() -> None:
    row = matched(GuardrailSpec(), Sku(current=1500, cost=1200, market=market(1100)))
    assert (row["price"], row["deltas"]) == (1200, {Guardrail.COST_FLOOR: 100})


def test_map_raises_the_price_and_records_by_how_much() -> None:
    row = matched(GuardrailSpec(), Sku(current=2000, map_price=1800, market=market(1750)))
    assert (row["price"], row["strategy_price"], row["deltas"]) == (1800, 1750, {Guardrail.MAP: 50})


def test_each_floor_is_credited_in_the_order_of_application() -> None:
    # Margin floor 1250 first, then MAP 1800 takes it further.
    sku = Sku(current=2000, cost=1000, map_price=1800, market=market(900))
    row = matched(GuardrailSpec(min_margin=0.2), sku)
    assert row["deltas"] == {Guardrail.MARGIN_FLOOR: 350, Guardrail.MAP: 550}


def test_product_and_strategy_bounds_combine_to_the_tighter() -> None:
    guardrails = GuardrailSpec(min_price_minor=1000, max_price_minor=3000)
    low = matched(guardrails, Sku(current=2000, min_price=1200, market=market(900)))
    high = matched(guardrails, Sku(current=2000, max_price=2500, market=market(2900)))
    assert (low["price"], low["deltas"]) == (1200, {Guardrail.MIN_PRICE: 300})
    assert (high["price"], high["deltas"]) == (2500, {Guardrail.MAX_PRICE: -400})


@pytest.mark.parametrize(
    ("percent", "amount", "expected"), [(10.0, None, 9000), (None, 500, 9500), (10.0, 500, 9500), (3.0, 500, 9700)]
)
def test_max_change_takes_the_tighter_of_percent_and_amount(percent: float, amount: int, expected: int) -> None:
    guardrails = GuardrailSpec(max_change_percent=percent, max_change_minor=amount)
    row = matched(guardrails, Sku(current=10_000, market=market(5_000)))
    assert (row["price"], row["deltas"]) == (expected, {Guardrail.MAX_CHANGE: expected - 5_000})


def test_max_change_limits_rises_too() -> None:
    row = matched(GuardrailSpec(max_change_percent=5.0), Sku(current=999, market=market(2000)))
    # 999 * 1.05 = 1048.95: the last whole price inside is 1048.
    assert row["price"] == 1048


def test_map_above_the_max_bound_is_flagged_and_map_wins() -> None:
    row = matched(GuardrailSpec(max_price_minor=1500), Sku(current=1600, map_price=1800, market=market(1400)))
    assert row["price"] == 1800
    assert guardrails_in(row["lost"]) == [Guardrail.MAX_PRICE]
    assert guardrails_in(row["won"]) == [Guardrail.MAP]


def test_cost_floor_above_the_max_change_is_flagged_and_the_cost_wins() -> None:
    row = matched(GuardrailSpec(max_change_percent=10.0), Sku(current=1000, cost=1500, market=market(900)))
    assert row["price"] == 1500
    assert (row["lost"], row["won"]) == (Guardrail.MAX_CHANGE.bit, Guardrail.COST_FLOOR.bit)
    assert row["deltas"] == {Guardrail.COST_FLOOR: 600}


def test_max_price_below_the_max_change_wins_over_it() -> None:
    row = matched(GuardrailSpec(max_change_percent=10.0), Sku(current=10_000, max_price=8_000, market=market(9_500)))
    assert row["price"] == 8_000
    assert (row["lost"], row["won"]) == (Guardrail.MAX_CHANGE.bit, Guardrail.MAX_PRICE.bit)


def test_a_product_minimum_above_the_strategy_maximum_keeps_the_minimum() -> None:
    row = matched(GuardrailSpec(max_price_minor=1000), Sku(current=1100, min_price=1200, market=market(900)))
    assert row["price"] == 1200
    assert (row["lost"], row["won"]) == (Guardrail.MAX_PRICE.bit, Guardrail.MIN_PRICE.bit)


def test_every_floor_that_beats_the_loser_is_named() -> None:
    sku = Sku(current=1000, cost=1600, map_price=1800, market=market(900))
    row = matched(GuardrailSpec(max_price_minor=1500), sku)
    assert row["price"] == 1800
    assert guardrails_in(row["won"]) == [Guardrail.COST_FLOOR, Guardrail.MAP]


def test_guardrails_apply_to_a_kept_price_too() -> None:
    row = price_one(spec(KeepPrice()), Sku(current=1000, map_price=1100))
    assert (row["price"], row["changed"]) == (1100, True)


def test_moves_add_up_to_the_recommended_price() -> None:
    guardrails = GuardrailSpec(min_margin=0.25, max_change_percent=20.0, min_price_minor=500)
    priced = price(
        spec(MatchLowest(), CostPlus(10.0), guardrails=guardrails),
        Sku(current=1000, cost=900, map_price=1300, market=market(800)),
        Sku(current=1000, cost=700, market=market(2000)),
        Sku(current=1000, cost=100),
    )
    for index in range(3):
        row = priced.row(index)
        assert row["strategy_price"] + sum(row["deltas"].values()) == row["price"]


def test_the_feasible_interval_is_reported() -> None:
    row = matched(GuardrailSpec(max_change_percent=10.0), Sku(current=1000, cost=950, market=market(990)))
    assert (row["floor"], row["ceiling"]) == (950.0, 1100.0)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"min_margin": -0.1}, "min_margin"),
        ({"min_margin": 1.0}, "min_margin"),
        ({"min_price_minor": 2000, "max_price_minor": 1000}, "min_price"),
        ({"min_price_minor": 0}, "min_price"),
        ({"max_price_minor": 1.5}, "max_price"),
        ({"max_change_percent": -1.0}, "max_change_percent"),
        ({"max_change_minor": -5}, "max_change_amount"),
        ({"endings": "x9"}, "endings"),
    ],
)
def test_bad_guardrails_are_refused_naming_the_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        GuardrailSpec(**options)  # type: ignore[arg-type]
    assert caught.value.field == field
