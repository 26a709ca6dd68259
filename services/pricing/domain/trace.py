"""The trace of a priced row: the numbers behind its price, stored with its recommendation and turned into
sentences only when someone reads it (explanation.render).

Traces are built for many rows at once from the engine's inputs and outcome: column gathers and one
conversion to Python values per column, no per-row arithmetic. Each is plain JSON of a few short arrays,
money in integer minor units, null for an unknown value (never NaN) and for a missing upper bound:

    trace              TRACE_VERSION
    currency_exponent  the minor-unit digits of the row's currency
    strategy           [name, steps, max age, guardrails]: what the sentences need of the strategy, so that
                       editing it after the run never changes what an old recommendation says. steps: the
                       chain up to the step that set the price, each [kind, *its parameters in field order];
                       max age: the market age limit in seconds; guardrails: the GUARDRAIL_FIELDS values
    product            [current price, cost, MAP, min price, max price]
    model              [elasticity, its standard error, reliable]
    market             [competitor id, name, price, age in seconds, used] for each competitor price the row
                       had, lowest first; used: from the strategy's competitor set and within its age limit
    outcome            [chain step, strategy price, recommended price, floor, ceiling, EndingStatus,
                        conflict_lost, conflict_won, changed] (see PricingOutcome)
    skipped            the SkipReason bits of each chain step before the one that set the price
    deltas             how far each guardrail moved the price, in Guardrail order
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any, TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray

from runtime.errors import FailedPrecondition
from services.pricing.domain.engine import PricingEngine, PricingInputs, PricingOutcome
from services.pricing.domain.guardrails import GuardrailSpec
from services.pricing.domain.market import Reference, kept
from services.pricing.domain.strategies import RULE_TYPES, Rule, StrategySpec

TRACE_VERSION = 1
# Guardrail parameters the sentences name or bound a conflict with; endings only ever show as their move.
GUARDRAIL_FIELDS = ("min_margin", "min_price_minor", "max_price_minor", "max_change_percent", "max_change_minor")
_RULES_BY_KIND: dict[str, type[Rule]] = {rule.kind: rule for rule in RULE_TYPES}

Scalar = int | float | bool | str | None
# [name, steps, max age, guardrails] (see the module's docstring).
StrategySnapshot = list[Any]


class Trace(TypedDict):
    """A row's trace as built; storage gives the sequences back as lists."""

    trace: int
    currency_exponent: int
    strategy: StrategySnapshot
    product: tuple[int | None, ...]
    model: tuple[float | bool | None, ...]
    market: tuple[tuple[Scalar, ...], ...]
    outcome: tuple[int | bool | None, ...]
    skipped: tuple[int, ...]
    deltas: tuple[int, ...]


def trace_rows(
    engine: PricingEngine,
    inputs: PricingInputs,
    outcome: PricingOutcome,
    rows: ArrayLike,
    *,
    competitor_names: Mapping[int, str] | None = None,
) -> list[Trace]:
    """The traces of `rows` (e.g. np.flatnonzero(outcome.changed)) of `outcome`, which `engine` computed
    from `inputs`; a competitor missing from competitor_names is called "competitor <id>"."""
    rows = np.asarray(rows, dtype=np.intp)
    strategy = inputs.strategy[rows]
    step = outcome.chain_step[rows].astype(np.intp)
    snapshots = _snapshot_table(engine)[strategy, step].tolist()
    product = _rows(
        _minor(inputs.current_price[rows]),
        _minor(inputs.cost[rows]),
        _minor(inputs.map_price[rows]),
        _minor(inputs.min_price[rows]),
        _minor(inputs.max_price[rows]),
    )
    model = _rows(
        _number(inputs.elasticity[rows]), _number(inputs.elasticity_se[rows]), inputs.elasticity_reliable[rows]
    )
    results = _rows(
        step,
        outcome.strategy_price[rows],
        outcome.recommended[rows],
        outcome.floor[rows].astype(np.int64),
        _minor(np.where(np.isinf(outcome.ceiling[rows]), np.nan, outcome.ceiling[rows])),
        outcome.ending[rows],
        outcome.conflict_lost[rows],
        outcome.conflict_won[rows],
        outcome.changed[rows],
    )
    reasons = _rows(*outcome.skip_reasons[rows].T)
    skipped = [bits[:used] for bits, used in zip(reasons, step.tolist(), strict=True)]
    deltas = _rows(*outcome.guardrail_delta[rows].T)
    market = _market(engine, inputs, rows, strategy, competitor_names or {})
    exponent = engine.currency_exponent
    return [
        {
            "trace": TRACE_VERSION,
            "currency_exponent": exponent,
            "strategy": snapshot,
            "product": product_row,
            "model": model_row,
            "market": market_row,
            "outcome": result_row,
            "skipped": skipped_row,
            "deltas": delta_row,
        }
        for snapshot, product_row, model_row, market_row, result_row, skipped_row, delta_row in zip(
            snapshots, product, model, market, results, skipped, deltas, strict=True
        )
    ]


def check_version(trace: Mapping[str, Any]) -> None:
    if trace["trace"] != TRACE_VERSION:
        raise FailedPrecondition(
            f"this explanation was stored as trace version {trace['trace']}; this service reads {TRACE_VERSION}"
        )


def snapshot_parts(snapshot: Sequence[Any]) -> tuple[str, list[Rule], float | None, GuardrailSpec]:
    """The strategy's name, the chain's rules, the market age limit and the guardrails, from a snapshot."""
    name, steps, max_age, guardrails = snapshot
    return (
        name,
        [_rule_of(step) for step in steps],
        max_age,
        GuardrailSpec(**dict(zip(GUARDRAIL_FIELDS, guardrails, strict=True))),
    )


def _rule_json(rule: Rule) -> list[Scalar]:
    return [rule.kind, *(_plain(getattr(rule, field.name)) for field in fields(rule))]


def _plain(value: Scalar | enum.Enum) -> Scalar:
    if isinstance(value, enum.Enum):
        plain: Scalar = value.value
        return plain
    return value


def _rule_of(step: Sequence[Any]) -> Rule:
    kind, *values = step
    rule = _RULES_BY_KIND[kind]
    params = dict(zip((field.name for field in fields(rule)), values, strict=True))
    if "reference" in params:
        params["reference"] = Reference(params["reference"])
    return rule(**params)


def _strategy_snapshot(spec: StrategySpec, steps: int) -> StrategySnapshot:
    """What the sentences of a row priced by spec.steps[steps - 1] need to know of its strategy."""
    return [
        spec.name,
        [_rule_json(rule) for rule in spec.steps[:steps]],
        spec.max_market_age_seconds,
        [getattr(spec.guardrails, name) for name in GUARDRAIL_FIELDS],
    ]


def _snapshot_table(engine: PricingEngine) -> NDArray[np.object_]:
    """[strategy, step]: the snapshot of a row of that strategy priced by that step (rows share them)."""
    table = np.empty((len(engine.strategies), engine.max_steps), dtype=object)
    for index, spec in enumerate(engine.strategies):
        for step in range(len(spec.steps)):
            table[index, step] = _strategy_snapshot(spec, step + 1)
    return table


def _rows(*columns: NDArray[Any]) -> list[tuple[Any, ...]]:
    """Rows of Python values (int, float, bool, None) from equally long columns. Tuples of such values are
    untracked by the garbage collector once it has seen them, so a batch of traces does not make it scan
    the whole heap again and again."""
    return list(zip(*(column.tolist() for column in columns), strict=True))


def _minor(values: NDArray[np.float64]) -> NDArray[Any]:
    """Whole minor units as integers, None where unknown (NaN)."""
    known = ~np.isnan(values)
    if known.all():
        return values.astype(np.int64)
    result = np.full(len(values), None, dtype=object)
    result[known] = values[known].astype(np.int64)
    return result


def _number(values: NDArray[np.float64]) -> NDArray[Any]:
    """The values, None where unknown (NaN)."""
    unknown = np.isnan(values)
    if not unknown.any():
        return values
    result = values.astype(object)
    result[unknown] = None
    return result


def _market(
    engine: PricingEngine,
    inputs: PricingInputs,
    rows: NDArray[np.intp],
    strategy: NDArray[np.intp],
    names: Mapping[int, str],
) -> list[tuple[tuple[Scalar, ...], ...]]:
    """Each row's market entries, marking the prices its strategy's competitor set and age limit let it use."""
    count = inputs.market_count[rows].astype(np.intp)
    k = inputs.market_price.shape[1]
    if not k or not count.any():
        return [()] * len(rows)
    # Each row's known prices come first (PricingInputs sorts them), so this takes them row by row.
    known = np.arange(k) < count[:, None]
    competitor = inputs.market_competitor[rows][known]
    age = inputs.market_age_seconds[rows][known]
    owner = np.repeat(strategy, count)
    used = np.ones(len(competitor), dtype=np.bool_)
    for index in np.unique(owner).tolist():
        spec: StrategySpec = engine.strategies[index]
        mine = owner == index
        keep = kept(competitor[mine], age[mine], spec.competitors, spec.max_market_age_seconds)
        if keep is not None:
            used[mine] = keep
    ids, position = np.unique(competitor, return_inverse=True)
    labels = np.array([names.get(int(cid), f"competitor {cid}") for cid in ids.tolist()], dtype=object)
    entries = _rows(competitor, labels[position], inputs.market_price[rows][known].astype(np.int64), age, used)
    ends = np.cumsum(count)
    return [tuple(entries[start:end]) for start, end in zip((ends - count).tolist(), ends.tolist(), strict=True)]
