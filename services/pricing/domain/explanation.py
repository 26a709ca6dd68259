"""Why a row got its price: a JSON-ready record of inputs, chain, guardrails, conflicts and ending, plus sentences.

Built for one row at a time (every changed row of a run), from the same inputs and outcome the engine used;
money is in integer minor units, and formatted with the currency exponent in the sentences.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from services.pricing.domain.endings import EndingStatus
from services.pricing.domain.engine import PricingEngine, PricingInputs, PricingOutcome
from services.pricing.domain.guardrails import Guardrail, GuardrailSpec, guardrails_in, rule_bounds
from services.pricing.domain.market import Reference, kept
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
    StrategySpec,
)

Json = dict[str, "Json"] | list["Json"] | str | int | float | bool | None

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


def _minor(value: float) -> int | None:
    return None if math.isnan(value) else int(value)


def _percent(value: float) -> str:
    return f"{value:g} %"


class _Row:
    """One row's inputs as Python numbers, with the sentence helpers that need the currency."""

    def __init__(self, engine: PricingEngine, inputs: PricingInputs, row: int) -> None:
        self.exponent = engine.currency_exponent
        self.spec: StrategySpec = engine.strategies[int(inputs.strategy[row])]
        self.current = int(inputs.current_price[row])
        self.cost = float(inputs.cost[row])
        self.elasticity = float(inputs.elasticity[row])
        self.se = float(inputs.elasticity_se[row])
        self.reliable = bool(inputs.elasticity_reliable[row])
        count = int(inputs.market_count[row])
        ids = inputs.market_competitor[row, :count]
        ages = inputs.market_age_seconds[row, :count]
        usable = kept(ids[:, None], ages[:, None], self.spec.competitors, self.spec.max_market_age_seconds)
        self.market = [
            (int(ids[j]), int(inputs.market_price[row, j]), float(ages[j]), usable is None or bool(usable[j, 0]))
            for j in range(count)
        ]

    def money(self, amount: float) -> str:
        return format_minor(int(amount), self.exponent)


def explain(
    engine: PricingEngine,
    inputs: PricingInputs,
    outcome: PricingOutcome,
    row: int,
    *,
    competitor_names: Mapping[int, str] | None = None,
) -> dict[str, Json]:
    """The explanation of one row of `outcome`, which `engine` computed from `inputs`."""
    facts = _Row(engine, inputs, row)
    names = competitor_names or {}
    spec, step = facts.spec, int(outcome.chain_step[row])
    rule = spec.steps[step]
    strategy_price = int(outcome.strategy_price[row])
    recommended = int(outcome.recommended[row])
    sentences: list[Json] = []

    skipped: list[Json] = []
    for index in range(step):
        reasons = SkipReason(int(outcome.skip_reasons[row, index]))
        codes: list[Json] = [reason.name.lower() for reason in SkipReason if reason in reasons and reason.name]
        skipped.append({"step": index, "rule": spec.steps[index].kind, "reasons": codes})
        sentences.append(f"Skipped {_rule_title(spec.steps[index])}: {_skip_text(reasons, spec)}.")
    used = [entry for entry in facts.market if entry[3]]
    sentences.append(_rule_sentence(rule, facts, used, names, strategy_price, outcome, row))

    bounds = _bounds_of(spec.guardrails, inputs, row)
    moves: list[Json] = []
    running = strategy_price
    for guardrail in Guardrail:
        delta = int(outcome.guardrail_delta[row, guardrail])
        if not delta:
            continue
        moves.append({"guardrail": guardrail.name.lower(), "delta": delta, "from": running, "to": running + delta})
        if guardrail is not Guardrail.ENDING:
            verb = "raised" if delta > 0 else "lowered"
            detail = _guardrail_detail(guardrail, spec.guardrails)
            sentences.append(
                f"{GUARDRAIL_NAMES[guardrail]}{detail} {verb} it from {facts.money(running)} "
                f"to {facts.money(running + delta)}."
            )
        running += delta

    lost, won = int(outcome.conflict_lost[row]), int(outcome.conflict_won[row])
    for loser in guardrails_in(lost):
        winners = [rule for rule in guardrails_in(won) if _beats(rule, loser, bounds)] or guardrails_in(won)
        outrank = "outranks" if len(winners) == 1 else "outrank"
        sentences.append(
            f"Conflict: {_lower_first(GUARDRAIL_NAMES[loser])} ({_bound_text(loser, bounds, facts)}) gave way to "
            f"{' and '.join(_guardrail_phrase(w, bounds, facts) for w in winners)}, which {outrank} it."
        )

    floor, ceiling = float(outcome.floor[row]), float(outcome.ceiling[row])
    status = EndingStatus(int(outcome.ending[row]))
    ending_delta = int(outcome.guardrail_delta[row, Guardrail.ENDING])
    ending_sentence = _ending_sentence(status, ending_delta, recommended, floor, ceiling, facts)
    if ending_sentence:
        sentences.append(ending_sentence)
    sentences.append(_final_sentence(facts, recommended))

    return {
        "inputs": _inputs(facts, inputs, row, names, used),
        "strategy": {"name": spec.name, "rule": rule.kind, "step": step, "price": strategy_price},
        "skipped": skipped,
        "guardrails": moves,
        "interval": {"floor": int(floor), "ceiling": None if math.isinf(ceiling) else int(ceiling)},
        "conflicts": {
            "lost": [g.name.lower() for g in guardrails_in(lost)],
            "won": [g.name.lower() for g in guardrails_in(won)],
        },
        "ending": {"status": status.name.lower(), "delta": ending_delta},
        "recommended_price": recommended,
        "changed": bool(outcome.changed[row]),
        "sentences": sentences,
    }


def _inputs(
    facts: _Row, inputs: PricingInputs, row: int, names: Mapping[int, str], used: list[tuple[int, int, float, bool]]
) -> dict[str, Json]:
    interval: Json = None
    if not math.isnan(facts.se) and not math.isnan(facts.elasticity):
        interval = [facts.elasticity - Z_95 * facts.se, facts.elasticity + Z_95 * facts.se]
    competitors: list[Json] = [
        {
            "competitor_id": competitor,
            "name": names.get(competitor, f"competitor {competitor}"),
            "price": price,
            "age_seconds": age,
            "used": usable,
        }
        for competitor, price, age, usable in facts.market
    ]
    return {
        "current_price": facts.current,
        "cost": _minor(facts.cost),
        "map_price": _minor(float(inputs.map_price[row])),
        "min_price": _minor(float(inputs.min_price[row])),
        "max_price": _minor(float(inputs.max_price[row])),
        "competitor_prices": competitors,
        "competitor_prices_used": len(used),
        "elasticity": None if math.isnan(facts.elasticity) else facts.elasticity,
        "elasticity_standard_error": None if math.isnan(facts.se) else facts.se,
        "elasticity_interval_95": interval,
        "model_reliable": facts.reliable,
    }


def _rule_title(rule: Rule) -> str:
    return rule.kind.replace("_", " ")


def _skip_text(reasons: SkipReason, spec: StrategySpec) -> str:
    max_age = format_age(spec.max_market_age_seconds or 0.0)
    parts = [SKIP_SENTENCES[reason].format(max_age=max_age) for reason in SkipReason if reason in reasons]
    return "; ".join(parts)


def _market_text(used: list[tuple[int, int, float, bool]], names: Mapping[int, str], facts: _Row) -> str:
    listed = "; ".join(
        f"{names.get(competitor, f'competitor {competitor}')} {facts.money(price)}, {format_age(age)} old"
        for competitor, price, age, _ in used
    )
    plural = "price" if len(used) == 1 else "prices"
    return f"{len(used)} competitor {plural} ({listed})"


def _reference_value(which: Reference, used: list[tuple[int, int, float, bool]]) -> float:
    prices = sorted(price for _, price, _, _ in used)
    if which is Reference.LOWEST:
        return prices[0]
    if which is Reference.MEAN:
        return sum(prices) / len(prices)
    middle = len(prices) // 2
    return prices[middle] if len(prices) % 2 else (prices[middle - 1] + prices[middle]) / 2


def _rule_sentence(
    rule: Rule,
    facts: _Row,
    used: list[tuple[int, int, float, bool]],
    names: Mapping[int, str],
    price: int,
    outcome: PricingOutcome,
    row: int,
) -> str:
    money = facts.money
    if isinstance(rule, KeepPrice):
        return f"Kept the current price {money(facts.current)}."
    if isinstance(rule, CostPlus):
        return f"Cost plus {_percent(rule.markup_percent)}: cost {money(facts.cost)} gives {money(price)}."
    if isinstance(rule, COMPETITOR_RULES):
        market = _market_text(used, names, facts)
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
    window = f"{money(outcome.floor[row])}-{money(outcome.ceiling[row])}"
    elasticity = f"elasticity {facts.elasticity:.2f}"
    if not math.isnan(facts.se):
        low, high = facts.elasticity - Z_95 * facts.se, facts.elasticity + Z_95 * facts.se
        elasticity += f" (95 % interval {low:.2f} to {high:.2f})"
    if isinstance(rule, OptimiseProfit):
        if facts.elasticity < -1:
            optimum = facts.cost * facts.elasticity / (1 + facts.elasticity)
            return (
                f"Profit is highest at {money(round(optimum))} for {elasticity} and cost {money(facts.cost)}; "
                f"within the allowed {window} that is {money(price)}."
            )
        return (
            f"Demand is inelastic ({elasticity}): profit rises with the price, "
            f"so the top of the allowed {window}: {money(price)}."
        )
    assert isinstance(rule, OptimiseRevenue)
    if facts.elasticity == -1:
        return f"Revenue does not depend on the price at {elasticity}: kept {money(price)}."
    end = "top" if facts.elasticity > -1 else "bottom"
    direction = "rises" if facts.elasticity > -1 else "falls"
    return f"Revenue {direction} with the price at {elasticity}: the {end} of the allowed {window}, {money(price)}."


def _guardrail_detail(guardrail: Guardrail, spec: GuardrailSpec) -> str:
    if guardrail is Guardrail.MARGIN_FLOOR and spec.min_margin is not None:
        return f" ({_percent(round(spec.min_margin * 100, 6))})"
    if guardrail is Guardrail.MAX_CHANGE and spec.max_change_percent is not None:
        return f" (±{_percent(spec.max_change_percent)})"
    return ""


def _bounds_of(spec: GuardrailSpec, inputs: PricingInputs, row: int) -> dict[Guardrail, tuple[float, float]]:
    """Each rule's (lower, upper) bound for this row, from the engine's own rule_bounds."""
    selected = slice(row, row + 1)
    bounds = rule_bounds(
        spec,
        inputs.current_price[selected],
        inputs.cost[selected],
        inputs.map_price[selected],
        inputs.min_price[selected],
        inputs.max_price[selected],
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


def _bound_text(guardrail: Guardrail, bounds: dict[Guardrail, tuple[float, float]], facts: _Row) -> str:
    low, high = bounds.get(guardrail, (math.nan, math.nan))
    parts = [f"at least {facts.money(low)}" if np.isfinite(low) else ""]
    parts.append(f"at most {facts.money(high)}" if np.isfinite(high) else "")
    return ", ".join(part for part in parts if part)


def _guardrail_phrase(guardrail: Guardrail, bounds: dict[Guardrail, tuple[float, float]], facts: _Row) -> str:
    return f"{_lower_first(GUARDRAIL_NAMES[guardrail])} ({_bound_text(guardrail, bounds, facts)})"


def _lower_first(text: str) -> str:
    return text if text.startswith("MAP") else text[0].lower() + text[1:]


def _ending_sentence(
    status: EndingStatus, delta: int, recommended: int, floor: float, ceiling: float, facts: _Row
) -> str:
    if status is EndingStatus.APPLIED and delta:
        return f"The price ending moved it from {facts.money(recommended - delta)} to {facts.money(recommended)}."
    if status is EndingStatus.SKIPPED_GUARDRAIL:
        top = "no maximum" if math.isinf(ceiling) else facts.money(ceiling)
        return (
            f"No price ending fits between {facts.money(floor)} and {top} without crossing a guardrail; "
            f"left at {facts.money(recommended)}."
        )
    if status is EndingStatus.NOT_APPLICABLE:
        return "The endings configured for this price range need minor units this currency does not have."
    return ""


def _final_sentence(facts: _Row, recommended: int) -> str:
    if recommended == facts.current:
        return f"The price stays at {facts.money(recommended)}."
    change = (recommended - facts.current) / facts.current * 100
    return f"Recommended {facts.money(recommended)} instead of {facts.money(facts.current)} ({change:+.2f} %)."


def explain_rows(
    engine: PricingEngine,
    inputs: PricingInputs,
    outcome: PricingOutcome,
    rows: Any,
    *,
    competitor_names: Mapping[int, str] | None = None,
) -> list[dict[str, Json]]:
    """explain() for each of `rows` (e.g. np.flatnonzero(outcome.changed))."""
    return [explain(engine, inputs, outcome, int(row), competitor_names=competitor_names) for row in rows]
