"""A strategy as people configure it (proto ⇄ stored JSON) and as the engine runs it (StrategySpec).

Configurations are stored as JSON close to the proto: percentages as decimal strings, money as
{"amount_minor", "currency"}. Money amounts (beat by, bounds, maximum change, ending ranges) must share
one currency; a strategy with amounts prices only products in that currency, and the reprice run
reports the others as not priced instead of guessing an exchange rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from google.protobuf.message import Message

from omnipricex.common.v1 import money_pb2
from omnipricex.pricing.v1 import pricing_pb2
from runtime.errors import InvalidArgument
from runtime.money import Money, currency_exponent
from services.pricing.domain.endings import PriceEnding, PriceEndings
from services.pricing.domain.guardrails import GuardrailSpec
from services.pricing.domain.market import Reference
from services.pricing.domain.strategies import (
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
    StrategySpec,
)

DEFAULT_MAX_MARKET_AGE_SECONDS = 7 * 24 * 3600
MAX_COMPETITORS = 100
# Percentages are written by people: a handful of decimals is plenty, more is a typo.
MAX_PERCENT_DIGITS = 12

RULE_KINDS: dict[int, str] = {
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
RULE_NUMBERS = {name: number for number, name in RULE_KINDS.items()}
REFERENCES: dict[int, str] = {
    pricing_pb2.MARKET_REFERENCE_LOWEST: "lowest",
    pricing_pb2.MARKET_REFERENCE_MEDIAN: "median",
    pricing_pb2.MARKET_REFERENCE_MEAN: "mean",
}
REFERENCE_NUMBERS = {name: number for number, name in REFERENCES.items()}


class CurrencyMismatch(Exception):
    """The strategy sets money amounts in another currency than the products it would price."""


@dataclass(frozen=True, slots=True)
class AutoApply:
    enabled: bool
    max_change_percent: float
    require_reliable_model: bool


# --- proto → JSON (validated) ---------------------------------------------------------------------


def _money_json(message: money_pb2.Money) -> dict[str, Any]:
    money = Money(message.amount_minor, message.currency)
    return {"amount_minor": money.amount_minor, "currency": money.currency}


def _optional_money(parent: Message, name: str) -> dict[str, Any] | None:
    return _money_json(getattr(parent, name)) if parent.HasField(name) else None


def _percent(text: str, field: str, *, required: bool) -> str | None:
    text = text.strip()
    if not text:
        if required:
            raise InvalidArgument('a percentage is required here, e.g. "5" or "2.5"', field=field)
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidArgument(f'{text!r} is not a decimal percentage like "2.5"', field=field) from None
    if not value.is_finite() or len(text) > MAX_PERCENT_DIGITS:
        raise InvalidArgument(f'{text!r} is not a decimal percentage like "2.5"', field=field)
    return str(value)


def config_from_proto(strategy: pricing_pb2.Strategy, *, validate: bool = True) -> dict[str, Any]:
    """The stored configuration of a strategy message; InvalidArgument names the first bad field.

    Each field is always checked on its own; `validate=False` skips checking them together, for an update
    whose unmasked fields come from the stored strategy (its use case validates the merged whole)."""
    rules: list[dict[str, Any]] = []
    for index, rule in enumerate(strategy.rules):
        kind = RULE_KINDS.get(rule.kind)
        if kind is None:
            raise InvalidArgument(f"rule {index} has no known kind", field=f"rules[{index}].kind")
        item: dict[str, Any] = {"kind": kind}
        prefix = f"rules[{index}]"
        if kind == "cost_plus":
            item["markup_percent"] = _percent(rule.markup_percent, f"{prefix}.markup_percent", required=True)
        elif kind == "beat_lowest":
            item["beat_amount"] = _optional_money(rule, "beat_amount")
            item["beat_percent"] = _percent(rule.beat_percent, f"{prefix}.beat_percent", required=False)
        elif kind == "price_index":
            item["index_percent"] = _percent(rule.index_percent, f"{prefix}.index_percent", required=True)
            item["reference"] = REFERENCES.get(rule.reference, "median")
        elif kind == "keep_within_band":
            item["band_low_percent"] = _percent(rule.band_low_percent, f"{prefix}.band_low_percent", required=True)
            item["band_high_percent"] = _percent(rule.band_high_percent, f"{prefix}.band_high_percent", required=True)
        rules.append(item)
    competitor_ids = list(dict.fromkeys(item.strip() for item in strategy.competitor_ids))
    if len(competitor_ids) > MAX_COMPETITORS or any(not item or len(item) > 128 for item in competitor_ids):
        raise InvalidArgument(
            f"give up to {MAX_COMPETITORS} competitor ids of 1-128 characters", field="competitor_ids"
        )
    if strategy.max_market_age_seconds < 0:
        raise InvalidArgument("max_market_age_seconds must not be negative", field="max_market_age_seconds")
    guardrails = strategy.guardrails
    auto = strategy.auto_apply
    config: dict[str, Any] = {
        "rules": rules,
        "competitor_ids": competitor_ids,
        "max_market_age_seconds": strategy.max_market_age_seconds or DEFAULT_MAX_MARKET_AGE_SECONDS,
        "guardrails": {
            "min_margin_percent": _percent(
                guardrails.min_margin_percent, "guardrails.min_margin_percent", required=False
            ),
            "min_price": _optional_money(guardrails, "min_price"),
            "max_price": _optional_money(guardrails, "max_price"),
            "max_change_percent": _percent(
                guardrails.max_change_percent, "guardrails.max_change_percent", required=False
            ),
            "max_change_amount": _optional_money(guardrails, "max_change_amount"),
            "endings": [
                {
                    "from_price": _optional_money(ending, "from_price"),
                    "minor_ending": ending.minor_ending if ending.HasField("minor_ending") else None,
                    "whole_digit": ending.whole_digit if ending.HasField("whole_digit") else None,
                }
                for ending in guardrails.endings
            ],
        },
        "auto_apply": {
            "enabled": auto.enabled,
            "max_change_percent": _percent(
                auto.max_change_percent, "auto_apply.max_change_percent", required=auto.enabled
            ),
            "require_reliable_model": auto.require_reliable_model,
        },
    }
    if validate:
        validate_config(config)
    return config


def validate_config(config: Mapping[str, Any]) -> None:
    """Build the engine's spec once, in the strategy's own currency, so every refusal happens now."""
    currency = config_currency(config)
    spec_from_config("validation", config, currency=currency or "EUR", competitor_index={})
    auto = auto_apply_of(config)
    if auto.enabled and not 0 <= auto.max_change_percent <= 100:
        raise InvalidArgument(
            "auto-apply's maximum change is a percentage in 0-100", field="auto_apply.max_change_percent"
        )


def config_currency(config: Mapping[str, Any]) -> str | None:
    """The one currency the configuration's money amounts are in, or None when it has none."""
    guardrails = config["guardrails"]
    amounts = [rule.get("beat_amount") for rule in config["rules"]]
    amounts += [guardrails.get(name) for name in ("min_price", "max_price", "max_change_amount")]
    amounts += [ending.get("from_price") for ending in guardrails.get("endings", [])]
    currencies = {amount["currency"] for amount in amounts if amount}
    if len(currencies) > 1:
        raise InvalidArgument(
            f"a strategy's amounts share one currency; this one mixes {', '.join(sorted(currencies))}",
            field="guardrails",
        )
    return next(iter(currencies), None)


# --- JSON → engine --------------------------------------------------------------------------------


def _float(text: str | None) -> float | None:
    return None if text is None else float(Decimal(text))


def _required_float(text: str | None, field: str) -> float:
    value = _float(text)
    if value is None or not math.isfinite(value):
        raise InvalidArgument("a number is required", field=field)
    return value


def _minor(amount: Mapping[str, Any] | None, currency: str) -> int | None:
    if amount is None:
        return None
    if amount["currency"] != currency:
        raise CurrencyMismatch(f"the strategy's amounts are in {amount['currency']}, not {currency}")
    return int(amount["amount_minor"])


def _rule(item: Mapping[str, Any], currency: str, index: int) -> Rule:
    kind = item["kind"]
    field = f"rules[{index}]"
    if kind == "cost_plus":
        return CostPlus(_required_float(item["markup_percent"], f"{field}.markup_percent"))
    if kind == "match_lowest":
        return MatchLowest()
    if kind == "beat_lowest":
        return BeatLowest(
            amount_minor=_minor(item.get("beat_amount"), currency), percent=_float(item.get("beat_percent"))
        )
    if kind == "match_median":
        return MatchMedian()
    if kind == "price_index":
        return PriceIndex(
            _required_float(item["index_percent"], f"{field}.index_percent"), Reference(item["reference"])
        )
    if kind == "keep_within_band":
        return KeepWithinBand(
            _required_float(item["band_low_percent"], f"{field}.band_low_percent"),
            _required_float(item["band_high_percent"], f"{field}.band_high_percent"),
        )
    if kind == "optimise_profit":
        return OptimiseProfit()
    if kind == "optimise_revenue":
        return OptimiseRevenue()
    if kind == "keep_price":
        return KeepPrice()
    raise InvalidArgument(f"unknown rule kind {kind!r}", field=f"{field}.kind")


def spec_from_config(
    name: str, config: Mapping[str, Any], *, currency: str, competitor_index: Mapping[str, int]
) -> StrategySpec:
    """The engine's spec for products in `currency`; competitor ids become market-matrix column ids.

    CurrencyMismatch when the configuration's amounts are in another currency. Competitors without a
    column get ids past every column, so a strategy watching only absent competitors sees no market
    (rather than, wrongly, every competitor, which an empty set would mean).
    """
    currency_exponent(currency)
    guardrails = config["guardrails"]
    margin = _float(guardrails.get("min_margin_percent"))
    endings = [
        PriceEnding(
            from_minor=_minor(ending.get("from_price"), currency) or 0,
            minor_ending=ending.get("minor_ending"),
            whole_digit=ending.get("whole_digit"),
        )
        for ending in guardrails.get("endings", [])
    ]
    absent = len(competitor_index)
    competitors: set[int] = set()
    for competitor_id in config["competitor_ids"]:
        column = competitor_index.get(competitor_id)
        if column is None:
            column = absent
            absent += 1
        competitors.add(column)
    return StrategySpec(
        name=name,
        rules=tuple(_rule(item, currency, index) for index, item in enumerate(config["rules"])),
        competitors=frozenset(competitors),
        max_market_age_seconds=float(config["max_market_age_seconds"]),
        guardrails=GuardrailSpec(
            min_margin=None if margin is None else margin / 100,
            min_price_minor=_minor(guardrails.get("min_price"), currency),
            max_price_minor=_minor(guardrails.get("max_price"), currency),
            max_change_percent=_float(guardrails.get("max_change_percent")),
            max_change_minor=_minor(guardrails.get("max_change_amount"), currency),
            endings=PriceEndings(tuple(endings)) if endings else None,
        ),
    )


def auto_apply_of(config: Mapping[str, Any]) -> AutoApply:
    auto = config["auto_apply"]
    return AutoApply(
        enabled=bool(auto["enabled"]),
        max_change_percent=_float(auto.get("max_change_percent")) or 0.0,
        require_reliable_model=bool(auto["require_reliable_model"]),
    )


# --- JSON → proto ---------------------------------------------------------------------------------


def _money_message(amount: Mapping[str, Any] | None) -> money_pb2.Money | None:
    return None if amount is None else money_pb2.Money(amount_minor=amount["amount_minor"], currency=amount["currency"])


def fill_proto(config: Mapping[str, Any], message: pricing_pb2.Strategy) -> None:
    for item in config["rules"]:
        rule = message.rules.add(kind=RULE_NUMBERS[item["kind"]])
        rule.markup_percent = item.get("markup_percent") or ""
        beat_amount = _money_message(item.get("beat_amount"))
        if beat_amount is not None:
            rule.beat_amount.CopyFrom(beat_amount)
        rule.beat_percent = item.get("beat_percent") or ""
        rule.index_percent = item.get("index_percent") or ""
        rule.reference = REFERENCE_NUMBERS.get(item.get("reference") or "", 0)  # type: ignore[assignment]
        rule.band_low_percent = item.get("band_low_percent") or ""
        rule.band_high_percent = item.get("band_high_percent") or ""
    message.competitor_ids.extend(config["competitor_ids"])
    message.max_market_age_seconds = int(config["max_market_age_seconds"])
    guardrails = config["guardrails"]
    target = message.guardrails
    target.min_margin_percent = guardrails.get("min_margin_percent") or ""
    target.max_change_percent = guardrails.get("max_change_percent") or ""
    for name in ("min_price", "max_price", "max_change_amount"):
        money = _money_message(guardrails.get(name))
        if money is not None:
            getattr(target, name).CopyFrom(money)
    for ending in guardrails.get("endings", []):
        item = target.endings.add()
        if ending.get("whole_digit") is not None:
            item.whole_digit = ending["whole_digit"]
        else:
            item.minor_ending = ending["minor_ending"]
        money = _money_message(ending.get("from_price"))
        if money is not None:
            item.from_price.CopyFrom(money)
    auto = config["auto_apply"]
    message.auto_apply.enabled = auto["enabled"]
    message.auto_apply.max_change_percent = auto.get("max_change_percent") or ""
    message.auto_apply.require_reliable_model = auto["require_reliable_model"]


def competitor_ids_of(configs: Sequence[Mapping[str, Any]]) -> set[str]:
    return {competitor for config in configs for competitor in config["competitor_ids"]}
