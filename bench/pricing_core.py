"""The vectorised pricing core on 1,000,000 synthetic skus: strategy chains, guardrails and endings.

Five strategies share the skus: match lowest and beat lowest (a competitor subset, an age limit) falling back
to cost plus, price index at 98 % of the median, cost plus with bounds, and optimise profit; every one with
guardrails (margin, max change) and price endings, k = 5 competitor prices per sku, some unknown costs,
MAPs, bounds, stale prices and unreliable models. Prints the median compute time of several runs for rows
grouped by strategy (zero-copy slices) and interleaved (gathered), the one-off cost of building and
checking the inputs, and the cost of explaining the changed rows of a 1,200-sku run.

    .venv/bin/python bench/pricing_core.py [--skus 1000000] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.pricing.domain.endings import PriceEnding, PriceEndings
from services.pricing.domain.engine import PricingEngine, PricingInputs, PricingOutcome
from services.pricing.domain.explanation import explain_rows
from services.pricing.domain.guardrails import GuardrailSpec
from services.pricing.domain.strategies import (
    BeatLowest,
    CostPlus,
    MatchLowest,
    OptimiseProfit,
    PriceIndex,
    StrategySpec,
)

COMPETITORS_PER_SKU = 5
BUDGET_MS_PER_MILLION = 10
DAY = 86_400.0
ENDINGS = PriceEndings(
    (
        PriceEnding(0, minor_ending=99),
        PriceEnding(1_000, minor_ending=95),
        PriceEnding(1_000, minor_ending=99),
        PriceEnding(10_000, whole_digit=9),
    )
)


def strategies() -> list[StrategySpec]:
    guarded = GuardrailSpec(min_margin=0.15, max_change_percent=10.0, endings=ENDINGS)
    return [
        StrategySpec(
            "match lowest", (MatchLowest(), CostPlus(25.0)), max_market_age_seconds=2 * DAY, guardrails=guarded
        ),
        StrategySpec(
            "beat lowest of three",
            (BeatLowest(percent=1.0), CostPlus(25.0)),
            competitors=frozenset({0, 1, 2}),
            max_market_age_seconds=2 * DAY,
            guardrails=guarded,
        ),
        StrategySpec("index 98", (PriceIndex(98.0),), guardrails=guarded),
        StrategySpec(
            "cost plus",
            (CostPlus(30.0),),
            guardrails=GuardrailSpec(min_price_minor=150, max_price_minor=500_000, endings=ENDINGS),
        ),
        StrategySpec(
            "optimise profit",
            (OptimiseProfit(), CostPlus(20.0)),
            guardrails=GuardrailSpec(min_margin=0.1, max_change_percent=5.0, max_change_minor=2_000, endings=ENDINGS),
        ),
    ]


def synthetic_columns(n: int, grouped: bool, seed: int = 7) -> dict[str, NDArray[Any]]:
    rng = np.random.default_rng(seed)
    current = np.rint(np.exp(rng.normal(np.log(2_500), 1.0, n))).clip(100, 10_000_000)
    cost = np.rint(current * rng.uniform(0.45, 0.8, n))
    cost[rng.random(n) < 0.05] = np.nan
    map_price = np.where(rng.random(n) < 0.1, np.rint(current * 0.9), np.nan)
    max_price = np.where(rng.random(n) < 0.05, np.rint(current * 1.05), np.nan)
    min_price = np.where(rng.random(n) < 0.05, np.rint(current * 0.7), np.nan)
    k = COMPETITORS_PER_SKU
    market = np.rint(current[:, None] * rng.normal(1.0, 0.12, (n, k))).clip(1, None)
    market[rng.random((n, k)) < 0.2] = np.nan
    competitor = np.argsort(rng.random((n, 8)), axis=1)[:, :k].astype(np.int32)
    age = rng.exponential(DAY, (n, k))
    elasticity = rng.normal(-2.0, 0.8, n)
    elasticity[rng.random(n) < 0.1] = np.nan
    strategy = rng.integers(0, len(strategies()), n)
    if grouped:
        strategy.sort()
    return {
        "current_price": current,
        "strategy": strategy,
        "cost": cost,
        "map_price": map_price,
        "min_price": min_price,
        "max_price": max_price,
        "market_price": market,
        "market_competitor": competitor,
        "market_age_seconds": age,
        "elasticity": elasticity,
        "elasticity_reliable": rng.random(n) < 0.8,
        "elasticity_se": rng.uniform(0.1, 0.6, n),
    }


def timed(call: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def report(label: str, times: list[float], rows: int) -> None:
    median = statistics.median(times)
    per_million = median * 1e3 * 1_000_000 / rows
    print(
        f"{label:<34} median {median * 1e3:8.1f} ms  (min {min(times) * 1e3:7.1f})  "
        f"{per_million:7.1f} ms per 1M  {rows / median / 1e6:6.2f} M rows/s"
    )


def summary(outcome: PricingOutcome) -> str:
    steps: NDArray[np.int64] = np.bincount(outcome.chain_step, minlength=3)
    return (
        f"changed {int(outcome.changed.sum()):,}  conflicts {int(outcome.conflict.sum()):,}  "
        f"steps used {steps.tolist()}  endings skipped {int((outcome.ending == 2).sum()):,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skus", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    engine = PricingEngine(strategies(), currency_exponent=2)
    print(f"{args.skus:,} skus, {COMPETITORS_PER_SKU} competitor prices each, {len(engine.strategies)} strategies")
    print(f"architecture budget: {BUDGET_MS_PER_MILLION} ms of compute per 1M skus")

    for grouped in (True, False):
        label = "grouped by strategy" if grouped else "interleaved strategies"
        columns = synthetic_columns(args.skus, grouped)
        started = time.perf_counter()
        inputs = PricingInputs.build(**columns)
        build = time.perf_counter() - started
        engine.price(inputs)  # warm-up
        engine.price(inputs)
        report(f"compute, {label}", timed(partial(engine.price, inputs), args.runs), args.skus)
        print(f"  {summary(engine.price(inputs))}")
        print(f"  once per run, not in the figure above: checking and sorting the inputs took {build * 1e3:.0f} ms")

    run = PricingInputs.build(**synthetic_columns(1_200, grouped=False, seed=11))
    outcome = engine.price(run)
    changed = np.flatnonzero(outcome.changed)
    explain_rows(engine, run, outcome, changed[:10])
    times = timed(lambda: explain_rows(engine, run, outcome, changed), 3)
    print(
        f"explain {len(changed):,} changed rows of a 1,200-sku run: median {statistics.median(times) * 1e3:.1f} ms "
        f"({statistics.median(times) / max(len(changed), 1) * 1e6:.0f} µs per row)"
    )


if __name__ == "__main__":
    main()
