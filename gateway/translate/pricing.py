"""Pricing: REST JSON ⇄ omnipricex.pricing.v1 messages."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from google.protobuf import struct_pb2
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

from gateway.schemas.pricing import (
    AutoApply,
    BeatLowestRule,
    CostPlusRule,
    Guardrails,
    KeepWithinBandRule,
    NewAssignment,
    NewExperiment,
    NewRepriceSchedule,
    NewStrategy,
    PriceIndexRule,
    RepriceSchedulePatch,
    Rule,
    Scope,
    StrategyPatch,
)
from gateway.translate.common import amount, money_message, refused, rfc3339
from omnipricex.common.v1 import money_pb2
from omnipricex.pricing.v1 import pricing_pb2
from runtime.money import Money, currency_exponent
from runtime.timestamps import to_timestamp

RULE_KIND_NAMES: dict[pricing_pb2.RuleKind.ValueType, str] = {
    pricing_pb2.RULE_KIND_COST_PLUS: "cost_plus",
    pricing_pb2.RULE_KIND_MATCH_LOWEST: "match_lowest",
    pricing_pb2.RULE_KIND_BEAT_LOWEST: "beat_lowest",
    pricing_pb2.RULE_KIND_MATCH_MEDIAN: "match_median",
    pricing_pb2.RULE_KIND_PRICE_INDEX: "price_index",
    pricing_pb2.RULE_KIND_KEEP_WITHIN_BAND: "keep_within_band",
    pricing_pb2.RULE_KIND_OPTIMISE_PROFIT: "optimise_profit",
    pricing_pb2.RULE_KIND_OPTIMISE_REVENUE: "optimise_revenue",
    pricing_pb2.RULE_KIND_KEEP_PRICE: "keep_price",
}
RULE_KINDS_BY_NAME = {name: value for value, name in RULE_KIND_NAMES.items()}
REFERENCE_NAMES: dict[pricing_pb2.MarketReference.ValueType, str] = {
    pricing_pb2.MARKET_REFERENCE_LOWEST: "lowest",
    pricing_pb2.MARKET_REFERENCE_MEDIAN: "median",
    pricing_pb2.MARKET_REFERENCE_MEAN: "mean",
}
REFERENCES_BY_NAME = {name: value for value, name in REFERENCE_NAMES.items()}
LEVEL_NAMES: dict[pricing_pb2.AssignmentLevel.ValueType, str] = {
    pricing_pb2.ASSIGNMENT_LEVEL_DEFAULT: "default",
    pricing_pb2.ASSIGNMENT_LEVEL_CATEGORY: "category",
    pricing_pb2.ASSIGNMENT_LEVEL_BRAND: "brand",
    pricing_pb2.ASSIGNMENT_LEVEL_PRODUCT: "product",
}
LEVELS_BY_NAME = {name: value for value, name in LEVEL_NAMES.items()}
MODE_NAMES: dict[pricing_pb2.RunMode.ValueType, str] = {
    pricing_pb2.RUN_MODE_SUGGEST: "suggest",
    pricing_pb2.RUN_MODE_AUTO: "auto",
}
MODES_BY_NAME = {name: value for value, name in MODE_NAMES.items()}
RUN_STATE_NAMES: dict[pricing_pb2.RunState.ValueType, str] = {
    pricing_pb2.RUN_STATE_QUEUED: "queued",
    pricing_pb2.RUN_STATE_RUNNING: "running",
    pricing_pb2.RUN_STATE_SUCCEEDED: "succeeded",
    pricing_pb2.RUN_STATE_FAILED: "failed",
}
RECOMMENDATION_STATE_NAMES: dict[pricing_pb2.RecommendationState.ValueType, str] = {
    pricing_pb2.RECOMMENDATION_STATE_PENDING: "pending",
    pricing_pb2.RECOMMENDATION_STATE_APPROVED: "approved",
    pricing_pb2.RECOMMENDATION_STATE_REJECTED: "rejected",
    pricing_pb2.RECOMMENDATION_STATE_APPLIED: "applied",
}
RECOMMENDATION_STATES_BY_NAME = {name: value for value, name in RECOMMENDATION_STATE_NAMES.items()}
EXPERIMENT_STATE_NAMES: dict[pricing_pb2.ExperimentState.ValueType, str] = {
    pricing_pb2.EXPERIMENT_STATE_RUNNING: "running",
    pricing_pb2.EXPERIMENT_STATE_STOPPED: "stopped",
}
QUANTILE_NAMES = ("p5", "p25", "p50", "p75", "p95")
# QuotePricesResponse marks a sku without a price with this amount.
NO_QUOTE = -1


def _optional_text(text: str) -> str | None:
    return text or None


def _optional_time(message: Message, name: str) -> str | None:
    return rfc3339(getattr(message, name)) if message.HasField(name) else None


def _optional_amount(message: Message, name: str) -> str | None:
    return amount(getattr(message, name)) if message.HasField(name) else None


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


# --- strategies ---------------------------------------------------------------------------------------


class _Amounts:
    """Sets a strategy body's decimal amounts as Money in the strategy's one currency, collecting every refusal."""

    def __init__(self, currency: str | None) -> None:
        self._currency = currency
        self._errors: list[Any] = []
        self._given = False

    def put(self, target: Message, name: str, value: str | None, *location: str | int) -> None:
        if value is None:
            return
        self._given = True
        if self._currency is None:
            return
        try:
            getattr(target, name).CopyFrom(money_message(value, self._currency, "body", *location))
        except RequestValidationError as error:
            self._errors.extend(error.errors())

    def check(self, *, currency_sent: bool) -> None:
        errors = list(self._errors)
        if self._given and self._currency is None:
            errors += refused("body", "currency", message="currency is required with amounts").errors()
        if currency_sent and not self._given:
            errors += refused("body", "currency", message="currency applies only together with amounts").errors()
        if errors:
            raise RequestValidationError(errors)


def has_amounts(rules: Sequence[Rule] | None, guardrails: Guardrails | None) -> bool:
    in_rules = any(isinstance(rule, BeatLowestRule) and rule.beat_amount is not None for rule in rules or ())
    if guardrails is None:
        return in_rules
    bounds = (guardrails.min_price, guardrails.max_price, guardrails.max_change_amount)
    ranges = (ending.from_price for ending in guardrails.endings)
    return in_rules or any(value is not None for value in (*bounds, *ranges))


def strategy_currency(strategy: pricing_pb2.Strategy) -> str | None:
    """The one currency of a strategy's amounts, or None when it has none."""
    guardrails = strategy.guardrails
    amounts = [rule.beat_amount for rule in strategy.rules if rule.HasField("beat_amount")]
    amounts += [getattr(guardrails, name) for name in ("min_price", "max_price", "max_change_amount")]
    amounts += [ending.from_price for ending in guardrails.endings if ending.HasField("from_price")]
    return next((money.currency for money in amounts if money.currency), None)


def strategy_message(body: NewStrategy) -> pricing_pb2.Strategy:
    amounts = _Amounts(body.currency)
    message = pricing_pb2.Strategy(
        name=body.name, competitor_ids=body.competitor_ids, max_market_age_seconds=body.max_market_age_seconds
    )
    _set_rules(message, body.rules, amounts)
    _set_guardrails(message.guardrails, body.guardrails, amounts)
    _set_auto_apply(message.auto_apply, body.auto_apply)
    amounts.check(currency_sent=body.currency is not None)
    return message


def patch_needs_currency(patch: StrategyPatch) -> bool:
    """Whether amounts are patched without saying their currency (the strategy's own is then used)."""
    return "currency" not in patch.model_fields_set and has_amounts(patch.rules, patch.guardrails)


def strategy_patch_message(
    strategy_id: str, patch: StrategyPatch, currency: str | None
) -> tuple[pricing_pb2.Strategy, FieldMask]:
    """The strategy fields named by the merge patch, and the field mask made of exactly those keys."""
    fields = patch.model_fields_set
    paths = [name for name in type(patch).model_fields if name in fields and name != "currency"]
    amounts = _Amounts(currency)
    message = pricing_pb2.Strategy(
        id=strategy_id,
        name=patch.name or "",
        competitor_ids=patch.competitor_ids or [],
        max_market_age_seconds=patch.max_market_age_seconds or 0,
    )
    if patch.rules is not None:
        _set_rules(message, patch.rules, amounts)
    if patch.guardrails is not None:
        _set_guardrails(message.guardrails, patch.guardrails, amounts)
    if patch.auto_apply is not None:
        _set_auto_apply(message.auto_apply, patch.auto_apply)
    amounts.check(currency_sent="currency" in fields)
    return message, FieldMask(paths=paths)


def _set_rules(message: pricing_pb2.Strategy, rules: Sequence[Rule], amounts: _Amounts) -> None:
    for index, rule in enumerate(rules):
        item = message.rules.add(kind=RULE_KINDS_BY_NAME[rule.kind])
        if isinstance(rule, CostPlusRule):
            item.markup_percent = rule.markup_percent
        elif isinstance(rule, BeatLowestRule):
            amounts.put(item, "beat_amount", rule.beat_amount, "rules", index, rule.kind, "beat_amount")
            item.beat_percent = rule.beat_percent or ""
        elif isinstance(rule, PriceIndexRule):
            item.index_percent = rule.index_percent
            item.reference = REFERENCES_BY_NAME[rule.reference]
        elif isinstance(rule, KeepWithinBandRule):
            item.band_low_percent = rule.band_low_percent
            item.band_high_percent = rule.band_high_percent


def _set_guardrails(message: pricing_pb2.Guardrails, guardrails: Guardrails, amounts: _Amounts) -> None:
    message.min_margin_percent = guardrails.min_margin_percent or ""
    message.max_change_percent = guardrails.max_change_percent or ""
    for name in ("min_price", "max_price", "max_change_amount"):
        amounts.put(message, name, getattr(guardrails, name), "guardrails", name)
    for index, ending in enumerate(guardrails.endings):
        item = message.endings.add()
        amounts.put(item, "from_price", ending.from_price, "guardrails", "endings", index, "from_price")
        # A oneof: the schema lets exactly one of the two through.
        if ending.minor_ending is not None:
            item.minor_ending = ending.minor_ending
        if ending.whole_digit is not None:
            item.whole_digit = ending.whole_digit


def _set_auto_apply(message: pricing_pb2.AutoApplyPolicy, auto_apply: AutoApply) -> None:
    message.enabled = auto_apply.enabled
    message.max_change_percent = auto_apply.max_change_percent or ""
    message.require_reliable_model = auto_apply.require_reliable_model


def strategy_json(strategy: pricing_pb2.Strategy) -> dict[str, Any]:
    guardrails = strategy.guardrails
    auto_apply = strategy.auto_apply
    return {
        "id": strategy.id,
        "name": strategy.name,
        "currency": strategy_currency(strategy),
        "rules": [_rule_json(rule) for rule in strategy.rules],
        "competitor_ids": list(strategy.competitor_ids),
        "max_market_age_seconds": strategy.max_market_age_seconds,
        "guardrails": {
            "min_margin_percent": _optional_text(guardrails.min_margin_percent),
            "min_price": _optional_amount(guardrails, "min_price"),
            "max_price": _optional_amount(guardrails, "max_price"),
            "max_change_percent": _optional_text(guardrails.max_change_percent),
            "max_change_amount": _optional_amount(guardrails, "max_change_amount"),
            "endings": [_ending_json(ending) for ending in guardrails.endings],
        },
        "auto_apply": {
            "enabled": auto_apply.enabled,
            "max_change_percent": _optional_text(auto_apply.max_change_percent),
            "require_reliable_model": auto_apply.require_reliable_model,
        },
        "create_time": rfc3339(strategy.create_time),
        "update_time": rfc3339(strategy.update_time),
    }


def _ending_json(ending: pricing_pb2.PriceEnding) -> dict[str, Any]:
    # Only the member of the oneof that is set, as the schema has exactly one of them.
    item: dict[str, Any] = {"from_price": _optional_amount(ending, "from_price")}
    which = ending.WhichOneof("ending")
    if which is not None:
        item[which] = getattr(ending, which)
    return item


def _rule_json(rule: pricing_pb2.Rule) -> dict[str, Any]:
    kind = RULE_KIND_NAMES[rule.kind]
    item: dict[str, Any] = {"kind": kind}
    if kind == "cost_plus":
        item["markup_percent"] = rule.markup_percent
    elif kind == "beat_lowest":
        item["beat_amount"] = _optional_amount(rule, "beat_amount")
        item["beat_percent"] = _optional_text(rule.beat_percent)
    elif kind == "price_index":
        item["index_percent"] = rule.index_percent
        item["reference"] = REFERENCE_NAMES.get(rule.reference, "median")
    elif kind == "keep_within_band":
        item["band_low_percent"] = rule.band_low_percent
        item["band_high_percent"] = rule.band_high_percent
    return item


def assignment_message(body: NewAssignment) -> pricing_pb2.Assignment:
    return pricing_pb2.Assignment(
        level=LEVELS_BY_NAME[body.level], target=body.target or "", strategy_id=body.strategy_id
    )


def assignment_json(assignment: pricing_pb2.Assignment) -> dict[str, Any]:
    return {
        "level": LEVEL_NAMES[assignment.level],
        "target": _optional_text(assignment.target),
        "strategy_id": assignment.strategy_id,
    }


# --- runs and recommendations -------------------------------------------------------------------------


def scope_message(scope: Scope) -> pricing_pb2.Scope:
    if scope.skus is not None:
        return pricing_pb2.Scope(skus=pricing_pb2.SkuList(skus=scope.skus))
    if scope.category_id is not None:
        return pricing_pb2.Scope(category_id=scope.category_id)
    return pricing_pb2.Scope(all=True)


def _scope_json(scope: pricing_pb2.Scope) -> dict[str, Any] | None:
    target = scope.WhichOneof("target")
    if target == "skus":
        return {"skus": list(scope.skus.skus)}
    if target == "category_id":
        return {"category_id": scope.category_id}
    if target == "all":
        return {"all": True}
    return None


def run_json(run: pricing_pb2.RepriceRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "scope": _scope_json(run.scope) if run.HasField("scope") else None,
        "mode": MODE_NAMES[run.mode],
        "state": RUN_STATE_NAMES[run.state],
        "processed": run.processed,
        "total": run.total,
        "recommended": run.recommended,
        "auto_applied": run.auto_applied,
        "error": _optional_text(run.error),
        "created_by": run.created_by,
        "attempts": run.attempts,
        "create_time": rfc3339(run.create_time),
        "start_time": _optional_time(run, "start_time"),
        "end_time": _optional_time(run, "end_time"),
        "schedule_id": _optional_text(run.schedule_id),
    }


def schedule_message(body: NewRepriceSchedule) -> pricing_pb2.RepriceSchedule:
    message = pricing_pb2.RepriceSchedule(
        scope=scope_message(body.scope),
        mode=MODES_BY_NAME[body.mode],
        interval_minutes=body.interval_minutes,
        paused=body.paused,
    )
    if body.start_time is not None:
        message.start_time.CopyFrom(to_timestamp(body.start_time))
    return message


def schedule_patch_message(
    schedule_id: str, patch: RepriceSchedulePatch
) -> tuple[pricing_pb2.RepriceSchedule, FieldMask]:
    """The schedule fields named by the merge patch, and the field mask made of exactly those keys."""
    fields = patch.model_fields_set
    message = pricing_pb2.RepriceSchedule(
        id=schedule_id, paused=bool(patch.paused), interval_minutes=patch.interval_minutes or 0
    )
    return message, FieldMask(paths=[name for name in type(patch).model_fields if name in fields])


def schedule_json(schedule: pricing_pb2.RepriceSchedule) -> dict[str, Any]:
    return {
        "id": schedule.id,
        "scope": _scope_json(schedule.scope),
        "mode": MODE_NAMES[schedule.mode],
        "interval_minutes": schedule.interval_minutes,
        "start_time": rfc3339(schedule.start_time),
        "paused": schedule.paused,
        "next_run_time": rfc3339(schedule.next_run_time),
        "last_run_id": _optional_text(schedule.last_run_id),
        "last_run_time": _optional_time(schedule, "last_run_time"),
        "created_by": schedule.created_by,
        "create_time": rfc3339(schedule.create_time),
        "update_time": rfc3339(schedule.update_time),
    }


def recommendation_json(recommendation: pricing_pb2.Recommendation) -> dict[str, Any]:
    has = recommendation.HasField
    return {
        "id": recommendation.id,
        "run_id": recommendation.run_id,
        "sku": recommendation.sku,
        "currency": recommendation.recommended_price.currency,
        "current_price": amount(recommendation.current_price),
        "recommended_price": amount(recommendation.recommended_price),
        "change_percent": recommendation.change_percent,
        "strategy_id": recommendation.strategy_id,
        "state": RECOMMENDATION_STATE_NAMES[recommendation.state],
        "conflict": recommendation.conflict,
        "decided_by": _optional_text(recommendation.decided_by),
        "decision_reason": _optional_text(recommendation.decision_reason),
        "apply_error": _optional_text(recommendation.apply_error),
        "create_time": rfc3339(recommendation.create_time),
        "decide_time": _optional_time(recommendation, "decide_time"),
        "explanation": struct_json(recommendation.explanation) if has("explanation") else None,
    }


def struct_json(struct: struct_pb2.Struct) -> dict[str, Any]:
    return {key: _value_json(value) for key, value in struct.fields.items()}


def _value_json(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return struct_json(value.struct_value)
    if kind == "list_value":
        return [_value_json(item) for item in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        # Struct numbers are doubles; the explanation's integers (minor units, counts) stay integers.
        return int(number) if number.is_integer() else _finite(number)
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None


# --- demand models, price history ---------------------------------------------------------------------


def model_json(model: pricing_pb2.DemandModel) -> dict[str, Any]:
    return {
        "sku": model.sku,
        "category_id": _optional_text(model.category_id),
        "elasticity": _finite(model.elasticity),
        "standard_error": _finite(model.standard_error),
        "ci_low": _finite(model.ci_low),
        "ci_high": _finite(model.ci_high),
        "source": model.source,
        "reliable": model.reliable,
        "reason": _optional_text(model.reason),
        "days": model.days,
        "fit_time": rfc3339(model.fit_time),
    }


def history_json(sku: str, response: pricing_pb2.GetPriceHistoryResponse) -> dict[str, Any]:
    return {
        "sku": sku,
        "points": [
            {
                "price": amount(point.price),
                "currency": point.price.currency,
                "time": rfc3339(point.time),
                "actor_id": point.actor_id,
                "reason": point.reason,
            }
            for point in response.points
        ],
    }


def prior_price_json(sku: str, response: pricing_pb2.GetPriorPriceResponse) -> dict[str, Any]:
    return {
        "sku": sku,
        "currency": response.current_price.currency,
        "current_price": amount(response.current_price),
        "is_reduction": response.is_reduction,
        "reduction_time": _optional_time(response, "reduction_time"),
        "prior_price": _optional_amount(response, "prior_price"),
        "window_start": _optional_time(response, "window_start"),
    }


# --- simulations --------------------------------------------------------------------------------------


def _minor_units(value: float, currency: str) -> str | None:
    """A money estimate in (fractional) minor units, rounded to a whole minor unit at the edge."""
    if not math.isfinite(value):
        return None
    return Money(round(value), currency).to_decimal_string()


def _major_units(value: float, currency: str) -> str | None:
    if not math.isfinite(value):
        return None
    return _minor_units(value * 10 ** currency_exponent(currency), currency)


def _two_decimals(value: float) -> str:
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def _interval_json(interval: pricing_pb2.Interval) -> dict[str, Any]:
    return {"estimate": _finite(interval.estimate), "low": _finite(interval.low), "high": _finite(interval.high)}


def _money_forecast(today: pricing_pb2.Interval, simulated: pricing_pb2.Interval, currency: str) -> dict[str, Any]:
    if not currency:
        return {"today": None, "simulated": {"estimate": None, "low": None, "high": None}}
    return {
        "today": _major_units(today.estimate, currency),
        "simulated": {
            "estimate": _major_units(simulated.estimate, currency),
            "low": _major_units(simulated.low, currency),
            "high": _major_units(simulated.high, currency),
        },
    }


def simulation_json(response: pricing_pb2.SimulateResponse) -> dict[str, Any]:
    quantiles = list(response.change_percent_quantiles)
    currency = response.currency
    return {
        "products": response.products,
        "changed": response.changed,
        "raised": response.raised,
        "lowered": response.lowered,
        "change_percent_quantiles": (
            {name: _two_decimals(value) for name, value in zip(QUANTILE_NAMES, quantiles, strict=True)}
            if len(quantiles) == len(QUANTILE_NAMES)
            else None
        ),
        "currency": currency or None,
        "predicted_products": response.predicted_products,
        "excluded": response.excluded,
        "units": {
            "today": _finite(response.units_today.estimate),
            "simulated": _interval_json(response.units_simulated),
        },
        "revenue": _money_forecast(response.revenue_today, response.revenue_simulated, currency),
        "profit": _money_forecast(response.profit_today, response.profit_simulated, currency),
    }


# --- experiments, quotes ------------------------------------------------------------------------------


def experiment_request(body: NewExperiment) -> pricing_pb2.CreateExperimentRequest:
    candidates: list[money_pb2.Money] = []
    errors: list[Any] = []
    for index, value in enumerate(body.candidates):
        try:
            candidates.append(money_message(value, body.currency, "body", "candidates", index))
        except RequestValidationError as error:
            errors.extend(error.errors())
    if errors:
        raise RequestValidationError(errors)
    return pricing_pb2.CreateExperimentRequest(
        sku=body.sku,
        candidates=candidates,
        stop_probability=body.stop_probability or 0.0,
        max_periods=body.max_periods or 0,
    )


def experiment_json(experiment: pricing_pb2.Experiment) -> dict[str, Any]:
    currency = experiment.arms[0].price.currency if experiment.arms else ""
    return {
        "id": experiment.id,
        "sku": experiment.sku,
        "state": EXPERIMENT_STATE_NAMES[experiment.state],
        "currency": currency,
        "arms": [
            {
                "price": amount(arm.price),
                "periods": arm.periods,
                "units": arm.units,
                "probability_best": arm.probability_best,
                # The sampler works in minor units: so is its revenue.
                "revenue_per_period": {
                    "estimate": _minor_units(arm.revenue_per_period.estimate, currency),
                    "low": _minor_units(arm.revenue_per_period.low, currency),
                    "high": _minor_units(arm.revenue_per_period.high, currency),
                },
            }
            for arm in experiment.arms
        ],
        "current_arm": experiment.current_arm,
        "periods": experiment.periods,
        "stop_reason": _optional_text(experiment.stop_reason),
        "winner_arm": experiment.winner_arm if experiment.winner_arm >= 0 else None,
        "create_time": rfc3339(experiment.create_time),
        "last_period_time": _optional_time(experiment, "last_period_time"),
    }


def quotes_json(skus: Sequence[str], response: pricing_pb2.QuotePricesResponse) -> dict[str, Any]:
    items = []
    for sku, amount_minor, currency, explanation_id in zip(
        skus, response.amount_minor, response.currency, response.explanation_id, strict=True
    ):
        priced = amount_minor != NO_QUOTE
        items.append(
            {
                "sku": sku,
                "price": Money(amount_minor, currency).to_decimal_string() if priced else None,
                "currency": currency if priced else None,
                "explanation_id": explanation_id or None,
            }
        )
    return {"items": items}
