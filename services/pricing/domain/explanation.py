"""Why a row got its price, for people: a row's trace (trace.py) rendered as JSON with the inputs, chain,
guardrails, conflicts and ending, plus sentences.

Money is in integer minor units in the JSON, and formatted with the currency exponent in the sentences.
Rendering reads nothing but the trace, so it runs when a recommendation is read, for the rows asked for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from services.pricing.domain.endings import EndingStatus
from services.pricing.domain.engine import PricingEngine, PricingInputs, PricingOutcome
from services.pricing.domain.guardrails import Guardrail, GuardrailSpec, guardrails_in, rule_bounds
from services.pricing.domain.market import Reference
from services.pricing.domain.strategies import (
    COMPETITOR_RULES,
    BeatLowest,
    CostPlus,
    KeepPrice,
    KeepWithinBand,
    MatchLowest,
    MatchMedian,
    OptimiseProfit,
    OptimiseRevenue,
    PriceIndex,
    Rule,
    SkipReason,
)
from services.pricing.domain.trace import check_version, snapshot_parts, trace_rows

Json = dict[str, "Json"] | list["Json"] | str | int | float | bool | None
# A competitor price as the trace keeps it: competitor id, name, price, age in seconds, used.
Entry = Sequence[Any]

Z_95 = 1.959963984540054

SKIP_SENTENCES = {
    SkipReason.MISSING_COST: "the cost is unknown",
    SkipReason.NO_COMPETITOR_PRICE: "no competitor price from the chosen competitors",
    SkipReason.STALE_MARKET_DATA: "every competitor price is older than {max_age}",
    SkipReason.MODEL_UNRELIABLE: "the demand model is unreliable",
    SkipReason.MISSING_ELASTICITY: "there is no elasticity estimate",
    SkipReason.NONPOSITIVE_PRICE: "its price would be below one minor unit",
}
GUARDRAIL_NAMES = {
    Guardrail.MARGIN_FLOOR: "The minimum margin",
    Guardrail.COST_FLOOR: "The cost floor",
    Guardrail.MAP: "MAP",
    Guardrail.MIN_PRICE: "The minimum price",
    Guardrail.MAX_PRICE: "The maximum price",
    Guardrail.MAX_CHANGE: "The maximum change per run",
    Guardrail.ENDING: "The price ending",
}


def format_minor(amount: int, exponent: int) -> str:
    """19.99 from 1999 minor units at exponent 2; exact, no float."""
    sign = "-" if amount < 0 else ""
    if exponent == 0:
        return f"{sign}{abs(amount)}"
    whole, fraction = divmod(abs(amount), 10**exponent)
    return f"{sign}{whole}.{fraction:0{exponent}d}"


def format_age(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def _percent(value: float) -> str:
    return f"{value:g} %"


class _Facts:
    """One trace's values as named Python numbers, with the money formatting of its currency."""

    def __init__(self, trace: Mapping[str, Any]) -> None:
        check_version(trace)
        self.exponent: int = trace["currency_exponent"]
        self.name, self.steps, self.max_age, self.guardrails = snapshot_parts(trace["strategy"])
        self.current: int
        self.cost: int | None
        self.current, self.cost, self.map_price, self.min_price, self.max_price = trace["product"]
        self.elasticity: float | None
        self.se: float | None
        self.elasticity, self.se, self.reliable = trace["model"]
        self.market: Sequence[Entry] = trace["market"]
        self.step: int
        self.strategy_price: int
        self.recommended: int
        self.floor: int
        self.ceiling: int | None
        (
            self.step,
            self.strategy_price,
            self.recommended,
            self.floor,
            self.ceiling,
            self.ending,
            self.lost,
            self.won,
            self.changed,
        ) = trace["outcome"]
        self.skipped: Sequence[int] = trace["skipped"]
        self.deltas: Sequence[int] = trace["deltas"]

    def money(self, amount: float) -> str:
        return format_minor(int(amount), self.exponent)


def render(trace: Mapping[str, Any]) -> dict[str, Json]:
    """The explanation of the row that `trace` was taken from."""
    facts = _Facts(trace)
    rule = facts.steps[facts.step]
    sentences: list[Json] = []

    skipped: list[Json] = []
    for index, bits in enumerate(facts.skipped):
        reasons = SkipReason(bits)
        codes: list[Json] = [reason.name.lower() for reason in SkipReason if reason in reasons and reason.name]
        skipped.append({"step": index, "rule": facts.steps[index].kind, "reasons": codes})
        sentences.append(f"Skipped {_rule_title(facts.steps[index])}: {_skip_text(reasons, facts.max_age)}.")
    used = [entry for entry in facts.market if entry[4]]
    sentences.append(_rule_sentence(rule, facts, used))

    moves: list[Json] = []
    running = facts.strategy_price
    for guardrail in Guardrail:
        delta = facts.deltas[guardrail]
        if not delta:
            continue
        moves.append({"guardrail": guardrail.name.lower(), "delta": delta, "from": running, "to": running + delta})
        if guardrail is not Guardrail.ENDING:
            verb = "raised" if delta > 0 else "lowered"
            detail = _guardrail_detail(guardrail, facts.guardrails)
            sentences.append(
                f"{GUARDRAIL_NAMES[guardrail]}{detail} {verb} it from {facts.money(running)} "
                f"to {facts.money(running + delta)}."
            )
        running += delta

    if facts.lost:
        bounds = _bounds_of(facts)
        for loser in guardrails_in(facts.lost):
            winners = [w for w in guardrails_in(facts.won) if _beats(w, loser, bounds)] or guardrails_in(facts.won)
            outrank = "outranks" if len(winners) == 1 else "outrank"
            sentences.append(
                f"Conflict: {_lower_first(GUARDRAIL_NAMES[loser])} ({_bound_text(loser, bounds, facts)}) gave way to "
                f"{' and '.join(_guardrail_phrase(w, bounds, facts) for w in winners)}, which {outrank} it."
            )

    status = EndingStatus(facts.ending)
    ending_delta = facts.deltas[Guardrail.ENDING]
    ending_sentence = _ending_sentence(status, ending_delta, facts)
    if ending_sentence:
        sentences.append(ending_sentence)
    sentences.append(_final_sentence(facts))

    return {
        "inputs": _inputs(facts, used),
        "strategy": {"name": facts.name, "rule": rule.kind, "step": facts.step, "price": facts.strategy_price},
        "skipped": skipped,
        "guardrails": moves,
        "interval": {"floor": facts.floor, "ceiling": facts.ceiling},
        "conflicts": {
            "lost": [g.name.lower() for g in guardrails_in(facts.lost)],
            "won": [g.name.lower() for g in guardrails_in(facts.won)],
        },
        "ending": {"status": status.name.lower(), "delta": ending_delta},
        "recommended_price": facts.recommended,
        "changed": facts.changed,
        "sentences": sentences,
    }


def explain_rows(
    engine: PricingEngine,
    inputs: PricingInputs,
    outcome: PricingOutcome,
    rows: ArrayLike,
    *,
    competitor_names: Mapping[int, str] | None = None,
) -> list[dict[str, Json]]:
    """The explanations of `rows` of `outcome`, which `engine` computed from `inputs`: traced, then rendered."""
    return [render(trace) for trace in trace_rows(engine, inputs, outcome, rows, competitor_names=competitor_names)]


def _inputs(facts: _Facts, used: list[Entry]) -> dict[str, Json]:
    interval: Json = None
    if facts.se is not None and facts.elasticity is not None:
        interval = [facts.elasticity - Z_95 * facts.se, facts.elasticity + Z_95 * facts.se]
    competitors: list[Json] = [
        {"competitor_id": competitor, "name": name, "price": price, "age_seconds": age, "used": usable}
        for competitor, name, price, age, usable in facts.market
    ]
    return {
        "current_price": facts.current,
        "cost": facts.cost,
        "map_price": facts.map_price,
        "min_price": facts.min_price,
        "max_price": facts.max_price,
        "competitor_prices": competitors,
        "competitor_prices_used": len(used),
        "elasticity": facts.elasticity,
        "elasticity_standard_error": facts.se,
        "elasticity_interval_95": interval,
        "model_reliable": facts.reliable,
    }


def _rule_title(rule: Rule) -> str:
    return rule.kind.replace("_", " ")


def _skip_text(reasons: SkipReason, max_age_seconds: float | None) -> str:
    max_age = format_age(max_age_seconds or 0.0)
    parts = [SKIP_SENTENCES[reason].format(max_age=max_age) for reason in SkipReason if reason in reasons]
    return "; ".join(parts)


def _market_text(used: list[Entry], facts: _Facts) -> str:
    listed = "; ".join(f"{name} {facts.money(price)}, {format_age(age)} old" for _, name, price, age, _ in used)
    plural = "price" if len(used) == 1 else "prices"
    return f"{len(used)} competitor {plural} ({listed})"


def _reference_value(which: Reference, used: list[Entry]) -> float:
    prices: list[int] = sorted(entry[2] for entry in used)
    if which is Reference.LOWEST:
        return float(prices[0])
    if which is Reference.MEAN:
        return sum(prices) / len(prices)
    middle = len(prices) // 2
    return prices[middle] if len(prices) % 2 else (prices[middle - 1] + prices[middle]) / 2


def _rule_sentence(rule: Rule, facts: _Facts, used: list[Entry]) -> str:
    money, price = facts.money, facts.strategy_price
    if isinstance(rule, KeepPrice):
        return f"Kept the current price {money(facts.current)}."
    if isinstance(rule, CostPlus):
        assert facts.cost is not None
        return f"Cost plus {_percent(rule.markup_percent)}: cost {money(facts.cost)} gives {money(price)}."
    if isinstance(rule, COMPETITOR_RULES):
        market = _market_text(used, facts)
        # Shown to the minor unit: a median of two prices may lie half a unit between them.
        reference = money(round(_reference_value(rule.reference, used)))
        if isinstance(rule, MatchLowest):
            return f"Matched the lowest of {market}: {money(price)}."
        if isinstance(rule, MatchMedian):
            return f"Matched the median of {market} ({reference}): {money(price)}."
        if isinstance(rule, BeatLowest):
            by = money(rule.amount_minor) if rule.amount_minor is not None else _percent(rule.percent or 0.0)
            return f"Beat the lowest of {market} by {by}: {money(price)}."
        if isinstance(rule, PriceIndex):
            index = _percent(rule.index_percent)
            return f"Priced at {index} of the {rule.reference} of {market} ({reference}): {money(price)}."
        assert isinstance(rule, KeepWithinBand)
        band = f"{_percent(rule.low_percent)}-{_percent(rule.high_percent)} of the median of {market} ({reference})"
        if price == facts.current:
            return f"The current price {money(price)} is within {band}: kept."
        return f"Moved the current price {money(facts.current)} into {band}: {money(price)}."
    # The optimising rules only price rows with an elasticity, and always within a change limit.
    assert facts.elasticity is not None
    assert facts.ceiling is not None
    elasticity_value = facts.elasticity
    window = f"{money(facts.floor)}-{money(facts.ceiling)}"
    elasticity = f"elasticity {elasticity_value:.2f}"
    if facts.se is not None:
        low, high = elasticity_value - Z_95 * facts.se, elasticity_value + Z_95 * facts.se
        elasticity += f" (95 % interval {low:.2f} to {high:.2f})"
    if isinstance(rule, OptimiseProfit):
        if elasticity_value < -1:
            assert facts.cost is not None
            optimum = facts.cost * elasticity_value / (1 + elasticity_value)
            return (
                f"Profit is highest at {money(round(optimum))} for {elasticity} and cost {money(facts.cost)}; "
                f"within the allowed {window} that is {money(price)}."
            )
        return (
            f"Demand is inelastic ({elasticity}): profit rises with the price, "
            f"so the top of the allowed {window}: {money(price)}."
        )
    assert isinstance(rule, OptimiseRevenue)
    if elasticity_value == -1:
        return f"Revenue does not depend on the price at {elasticity}: kept {money(price)}."
    end = "top" if elasticity_value > -1 else "bottom"
    direction = "rises" if elasticity_value > -1 else "falls"
    return f"Revenue {direction} with the price at {elasticity}: the {end} of the allowed {window}, {money(price)}."


def _guardrail_detail(guardrail: Guardrail, spec: GuardrailSpec) -> str:
    if guardrail is Guardrail.MARGIN_FLOOR and spec.min_margin is not None:
        return f" ({_percent(round(spec.min_margin * 100, 6))})"
    if guardrail is Guardrail.MAX_CHANGE and spec.max_change_percent is not None:
        return f" (±{_percent(spec.max_change_percent)})"
    return ""


def _bounds_of(facts: _Facts) -> dict[Guardrail, tuple[float, float]]:
    """Each rule's (lower, upper) bound for the row, from the engine's own rule_bounds."""

    def column(value: int | None) -> np.ndarray[Any, np.dtype[np.float64]]:
        return np.array([math.nan if value is None else float(value)])

    bounds = rule_bounds(
        facts.guardrails,
        column(facts.current),
        column(facts.cost),
        column(facts.map_price),
        column(facts.min_price),
        column(facts.max_price),
    )
    result = {rule: (float(bound[0]), math.inf) for rule, bound in bounds.floors()}
    if bounds.max_price is not None:
        result[Guardrail.MAX_PRICE] = (-math.inf, float(bounds.max_price[0]))
    if bounds.change is not None:
        result[Guardrail.MAX_CHANGE] = (float(bounds.change[0][0]), float(bounds.change[1][0]))
    return result


def _beats(winner: Guardrail, loser: Guardrail, bounds: dict[Guardrail, tuple[float, float]]) -> bool:
    low, high = bounds.get(winner, (math.nan, math.nan))
    loser_low, loser_high = bounds.get(loser, (math.nan, math.nan))
    return bool(low > loser_high or high < loser_low)


def _bound_text(guardrail: Guardrail, bounds: dict[Guardrail, tuple[float, float]], facts: _Facts) -> str:
    low, high = bounds.get(guardrail, (math.nan, math.nan))
    parts = [f"at least {facts.money(low)}" if math.isfinite(low) else ""]
    parts.append(f"at most {facts.money(high)}" if math.isfinite(high) else "")
    return ", ".join(part for part in parts if part)


def _guardrail_phrase(guardrail: Guardrail, bounds: dict[Guardrail, tuple[float, float]], facts: _Facts) -> str:
    return f"{_lower_first(GUARDRAIL_NAMES[guardrail])} ({_bound_text(guardrail, bounds, facts)})"


def _lower_first(text: str) -> str:
    return text if text.startswith("MAP") else text[0].lower() + text[1:]


def _ending_sentence(status: EndingStatus, delta: int, facts: _Facts) -> str:
    recommended = facts.recommended
    if status is EndingStatus.APPLIED and delta:
        return f"The price ending moved it from {facts.money(recommended - delta)} to {facts.money(recommended)}."
    if status is EndingStatus.SKIPPED_GUARDRAIL:
        top = "no maximum" if facts.ceiling is None else facts.money(facts.ceiling)
        return (
            f"No price ending fits between {facts.money(facts.floor)} and {top} without crossing a guardrail; "
            f"left at {facts.money(recommended)}."
        )
    if status is EndingStatus.NOT_APPLICABLE:
        return "The endings configured for this price range need minor units this currency does not have."
    return ""


def _final_sentence(facts: _Facts) -> str:
    recommended, current = facts.recommended, facts.current
    if recommended == current:
        return f"The price stays at {facts.money(recommended)}."
    change = (recommended - current) / current * 100
    return f"Recommended {facts.money(recommended)} instead of {facts.money(current)} ({change:+.2f} %)."
