"""What explaining the changed prices of a run costs: tracing them, storing them, rendering one on read.

A run traces every changed row (trace.py) and stores it with its recommendation; the sentences are rendered
(explanation.py) only when a recommendation is read. This prices N synthetic skus like bench/pricing_run.py
does (beat the lowest competitor by 1 % for a quarter of them, else cost + 35 %, with margin, MAP, max-change
and ending guardrails), then times, per changed row: tracing, the trace's stored JSON, rendering it, and the
run's store phase (RepriceExecutor building the recommendations and writing them to a fresh SQLite file).

    .venv/bin/python bench/pricing_explanations.py [--skus 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from runtime.auth import Role
from runtime.money import Money
from services.pricing.domain.endings import PriceEnding, PriceEndings
from services.pricing.domain.engine import PricingEngine, PricingInputs
from services.pricing.domain.explanation import render
from services.pricing.domain.guardrails import GuardrailSpec
from services.pricing.domain.records import JobKind, Run, RunMode, RunState, StoredStrategy
from services.pricing.domain.strategies import BeatLowest, CostPlus, StrategySpec
from services.pricing.domain.trace import Trace, trace_rows
from services.pricing.repository import RunProgress
from services.pricing.repository.sqlite import open_sqlite_repositories
from services.pricing.upstream import CatalogProduct
from services.pricing.use_cases.pricing_pass import PricedGroup, PricingPass
from services.pricing.use_cases.reprice import STORE_BATCH, RepriceExecutor

ORGANIZATION = "org_bench"
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def priced_pass(n: int) -> PricingPass:
    rng = np.random.default_rng(5)
    current = rng.integers(500, 50_000, n).astype(np.float64)
    watched = rng.random(n) < 0.25
    spec = StrategySpec(
        "bench",
        (BeatLowest(percent=1.0), CostPlus(35.0)),
        max_market_age_seconds=7 * 86_400.0,
        guardrails=GuardrailSpec(
            min_margin=0.1, max_change_percent=15.0, endings=PriceEndings((PriceEnding(0, minor_ending=99),))
        ),
    )
    inputs = PricingInputs.build(
        current_price=current,
        strategy=np.zeros(n, dtype=np.intp),
        cost=np.floor(current * 0.6),
        map_price=np.where(np.arange(n) % 10 == 0, np.floor(current * 0.9), np.nan),
        market_price=np.where(watched, np.round(current * rng.uniform(0.85, 1.1, n)), np.nan)[:, None],
        market_competitor=np.where(watched, 0, -1).astype(np.int32)[:, None],
        market_age_seconds=np.where(watched, rng.uniform(0, 3_600, n), 0.0)[:, None],
    )
    engine = PricingEngine([spec], 2)
    products = [
        CatalogProduct(f"B-{row:07d}", "", "", Money(int(price), "EUR"), None, None)
        for row, price in enumerate(current.tolist())
    ]
    stored = StoredStrategy(ORGANIZATION, "str_bench", "bench", {}, 1, NOW, NOW)
    group = PricedGroup("EUR", engine, inputs, engine.price(inputs), products, [stored], [None] * n)
    return PricingPass(groups=[group], competitor_names={0: "Bench shop"})


def per_row(label: str, call: Callable[[], object], rows: int) -> float:
    started = time.perf_counter()
    call()
    seconds = time.perf_counter() - started
    print(f"{label}: {seconds * 1e6 / rows:.1f} µs/row ({rows:,} rows, {seconds:.2f} s)")
    return seconds


async def store_phase(priced: PricingPass, folder: Path) -> None:
    repositories = await open_sqlite_repositories(folder / "pricing.sqlite3")
    try:
        run = Run(
            ORGANIZATION, "run_bench", JobKind.REPRICE, {"all": True}, RunMode.SUGGEST, RunState.QUEUED,
            0, 0, 0, 0, "", "usr_bench", int(Role.ADMIN), 0, "", None, NOW, None, None,
        )  # fmt: skip
        await repositories.runs.create(run)
        executor = RepriceExecutor(repositories, _NoUpstream(), worker_id="bench")  # type: ignore[arg-type]
        claimed = await repositories.runs.claim(ORGANIZATION, run.id, owner="bench", lease_until=NOW, now=NOW)
        assert claimed is not None
        started = time.perf_counter()
        progress = RunProgress(0, sum(len(group.products) for group in priced.groups), 0, 0)
        # The run's store phase on its own, without the catalog and market calls that precede it.
        for group in priced.groups:
            progress = await executor._store_group(claimed, priced, group, NOW, progress)
        seconds = time.perf_counter() - started
        print(
            f"store phase (recommendations built with their traces, written in batches of {STORE_BATCH:,}): "
            f"{seconds * 1e6 / progress.recommended:.1f} µs/row ({progress.recommended:,} rows, {seconds:.2f} s)"
        )
    finally:
        await repositories.close()


class _NoUpstream:
    """The store phase never calls the catalog."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skus", type=int, default=100_000)
    args = parser.parse_args()
    priced = priced_pass(args.skus)
    group = priced.groups[0]
    changed = np.flatnonzero(group.outcome.changed)
    batches = [changed[start : start + STORE_BATCH] for start in range(0, len(changed), STORE_BATCH)]

    def trace(rows: np.ndarray[Any, np.dtype[np.intp]]) -> list[Trace]:
        return trace_rows(group.engine, group.inputs, group.outcome, rows, competitor_names=priced.competitor_names)

    # Batch by batch, as a run traces them (holding every trace at once would time the garbage collector).
    per_row("trace", lambda: [len(trace(batch)) for batch in batches], len(changed))
    traces = trace(batches[0])
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    texts: list[str] = []
    per_row("trace → JSON (json, as SQLite stores it)", lambda: texts.extend(map(encoder.encode, traces)), len(traces))
    sample = [json.loads(text) for text in texts[:2_000]]
    rendered: list[object] = []
    per_row("render on read (from stored JSON)", lambda: rendered.extend(map(render, sample)), len(sample))
    trace_bytes = sum(map(len, texts)) / len(texts)
    rendered_bytes = sum(len(encoder.encode(item)) for item in rendered) / len(rendered)
    print(f"stored JSON: {trace_bytes:.0f} bytes/row (the rendered explanation: {rendered_bytes:.0f} bytes/row)")
    with tempfile.TemporaryDirectory(prefix="omnipricex-bench-explanations-") as folder:
        asyncio.run(store_phase(priced, Path(folder)))


if __name__ == "__main__":
    main()
