"""Executing a reprice run (the worker's side): price the scope in one vectorised pass, store only the
changed prices as recommendations with the traces their explanations are read from, auto-apply what the
policy allows.

Idempotent on the run id: a worker takes the run through its row's atomic claim, recommendations are
upserts on (run, sku), and a run found finished is left alone, so a redelivered or re-queued task
never duplicates anything and a run whose worker died is finished by the next one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
from numpy.typing import NDArray

from runtime.auth import CredentialKind, Principal, Role
from runtime.clock import utcnow
from runtime.errors import DomainError
from runtime.ids import new_id
from runtime.logging import get_logger
from runtime.money import Money
from services.pricing.domain.records import (
    Quote,
    Recommendation,
    RecommendationState,
    Run,
    RunMode,
    RunState,
    StoredStrategy,
)
from services.pricing.domain.trace import trace_rows
from services.pricing.repository import Repositories, RunProgress
from services.pricing.strategy_config import auto_apply_of
from services.pricing.upstream import CatalogProduct, PriceToApply, Upstream
from services.pricing.use_cases.common import Clock, millis
from services.pricing.use_cases.pricing_pass import PricedGroup, PricingPass, load_scope, price_products

_log = get_logger(__name__)
STORE_BATCH = 5_000
QUOTE_BATCH = 5_000


class LeaseLost(Exception):
    """Another worker took the run over (this one was presumed dead); stop without writing more."""


@dataclass(frozen=True, slots=True)
class RunResult:
    state: RunState
    progress: RunProgress


class PhaseClock:
    """Logs how long each phase of a run took, so a slow run says where its time went."""

    def __init__(self, run_id: str) -> None:
        self._run_id = run_id
        self._last = time.perf_counter()

    def done(self, phase: str, rows: int) -> None:
        now = time.perf_counter()
        _log.info("reprice phase", run_id=self._run_id, phase=phase, rows=rows, seconds=round(now - self._last, 3))
        self._last = now


def change_percent(current: Money, recommended: Money) -> str:
    change = (Decimal(recommended.amount_minor) - current.amount_minor) / current.amount_minor * 100
    return str(change.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))


def creator_of(run: Run) -> Principal:
    """The run acts in its creator's name: auto-applied prices name them in the catalog's history."""
    return Principal(run.organization_id, run.created_by, Role(run.creator_role), CredentialKind.ACCESS_TOKEN)


class RepriceExecutor:
    def __init__(
        self,
        repositories: Repositories,
        upstream: Upstream,
        *,
        worker_id: str,
        lease: timedelta = timedelta(seconds=60),
        clock: Clock = utcnow,
        ids: Callable[[], str] = lambda: new_id("rec_"),
    ) -> None:
        self._repositories = repositories
        self._runs = repositories.runs
        self._upstream = upstream
        self._worker_id = worker_id
        self._lease = lease
        self._clock = clock
        self._ids = ids

    async def execute(self, organization_id: str, run_id: str) -> RunResult | None:
        """Run the reprice if it is this worker's to run; None when it is finished or held by another."""
        now = self._clock()
        run = await self._runs.claim(
            organization_id, run_id, owner=self._worker_id, lease_until=now + self._lease, now=now
        )
        if run is None:
            return None
        progress = RunProgress(0, run.total, 0, 0)
        try:
            progress = await self._reprice(run, progress)
        except LeaseLost:
            _log.warning("reprice run taken over by another worker", run_id=run_id)
            return None
        except DomainError as error:
            # Bad data or a refused scope will not get better by retrying: the run fails with the reason.
            await self._finish(run, RunState.FAILED, error.message, progress)
            return RunResult(RunState.FAILED, progress)
        except BaseException:
            # Give the run back at once so a retry (or another worker) need not wait out the lease.
            await self._runs.heartbeat(
                organization_id, run_id, owner=self._worker_id, lease_until=self._clock(), progress=progress
            )
            raise
        await self._finish(run, RunState.SUCCEEDED, "", progress)
        return RunResult(RunState.SUCCEEDED, progress)

    async def _finish(self, run: Run, state: RunState, error: str, progress: RunProgress) -> None:
        await self._runs.finish(
            run.organization_id,
            run.id,
            owner=self._worker_id,
            state=state,
            error=error,
            progress=progress,
            end_time=millis(self._clock()),
        )

    async def _heartbeat(self, run: Run, progress: RunProgress) -> None:
        alive = await self._runs.heartbeat(
            run.organization_id,
            run.id,
            owner=self._worker_id,
            lease_until=self._clock() + self._lease,
            progress=progress,
        )
        if not alive:
            raise LeaseLost(run.id)

    async def _reprice(self, run: Run, progress: RunProgress) -> RunProgress:
        principal = creator_of(run)
        clock = PhaseClock(run.id)
        products = await load_scope(self._upstream, principal, run.scope)
        progress = RunProgress(0, len(products), 0, 0)
        await self._heartbeat(run, progress)
        clock.done("load catalog", len(products))
        await self._refresh_quotes(run.organization_id, products)
        clock.done("refresh quotes", len(products))
        priced = await price_products(principal, products, repositories=self._repositories, upstream=self._upstream)
        clock.done("load market and models, compute", priced.priced)
        skipped = len(products) - priced.priced
        progress = RunProgress(skipped, len(products), 0, 0)
        await self._heartbeat(run, progress)
        now = millis(self._clock())
        for group in priced.groups:
            progress = await self._store_group(run, priced, group, now, progress)
        clock.done("trace and store changed", progress.recommended)
        if run.mode is RunMode.AUTO:
            progress = await self._auto_apply(run, principal, progress)
            clock.done("auto-apply", progress.auto_applied)
        return progress

    async def _refresh_quotes(self, organization_id: str, products: Sequence[CatalogProduct]) -> None:
        """Quotes follow the catalog: a price changed outside OmniPriceX is quoted without an explanation."""
        for start in range(0, len(products), QUOTE_BATCH):
            chunk = products[start : start + QUOTE_BATCH]
            known = await self._repositories.quotes.get_many(organization_id, [product.sku for product in chunk])
            stale = [
                Quote(organization_id, product.sku, product.price, "")
                for product in chunk
                if (quote := known.get(product.sku)) is None or quote.price != product.price
            ]
            await self._repositories.quotes.put_many(stale)

    async def _store_group(
        self, run: Run, priced: PricingPass, group: PricedGroup, now: datetime, progress: RunProgress
    ) -> RunProgress:
        changed = np.flatnonzero(group.outcome.changed)
        unchanged = len(group.products) - len(changed)
        progress = RunProgress(progress.processed + unchanged, progress.total, progress.recommended, 0)
        for start in range(0, len(changed), STORE_BATCH):
            batch = self._recommendations(run, priced, group, changed[start : start + STORE_BATCH], now)
            await self._repositories.recommendations.put_many(batch)
            progress = RunProgress(
                progress.processed + len(batch), progress.total, progress.recommended + len(batch), 0
            )
            await self._heartbeat(run, progress)
        return progress

    def _recommendations(
        self, run: Run, priced: PricingPass, group: PricedGroup, rows: NDArray[np.intp], now: datetime
    ) -> list[Recommendation]:
        inputs, outcome = group.inputs, group.outcome
        traces = trace_rows(group.engine, inputs, outcome, rows, competitor_names=priced.competitor_names)
        strategy_ids = [strategy.id for strategy in group.strategies]
        return [
            Recommendation(
                organization_id=run.organization_id,
                id=self._ids(),
                run_id=run.id,
                sku=group.products[row].sku,
                current_price=group.products[row].price,
                recommended_price=Money(recommended, group.currency),
                strategy_id=strategy_ids[strategy],
                state=RecommendationState.PENDING,
                conflict=lost != 0,
                model_reliable=reliable,
                decided_by="",
                decision_reason="",
                apply_error="",
                create_time=now,
                decide_time=None,
                explanation=trace,
            )
            for row, strategy, recommended, lost, reliable, trace in zip(
                rows.tolist(),
                inputs.strategy[rows].tolist(),
                outcome.recommended[rows].tolist(),
                outcome.conflict_lost[rows].tolist(),
                inputs.elasticity_reliable[rows].tolist(),
                traces,
                strict=True,
            )
        ]

    async def _auto_apply(self, run: Run, principal: Principal, progress: RunProgress) -> RunProgress:
        """Apply the pending recommendations of this run that their strategy's auto-apply policy allows."""
        recommendations = self._repositories.recommendations
        strategies: dict[str, StoredStrategy] = {}
        after: tuple[str, str] | None = None
        while True:
            page = await recommendations.find(
                run.organization_id, run_id=run.id, state=RecommendationState.PENDING, sku=None, after=after, limit=1000
            )
            if not page:
                return progress
            after = (page[-1].run_id, page[-1].sku)
            wanted = {rec.strategy_id for rec in page} - set(strategies)
            strategies.update(await self._repositories.strategies.get_many(run.organization_id, wanted))
            eligible = [rec for rec in page if _allowed(rec, strategies.get(rec.strategy_id))]
            applied = await apply_recommendations(
                self._repositories,
                self._upstream,
                principal,
                eligible,
                decided_by=f"auto:{run.created_by}",
                reason=f"auto-applied by run {run.id}",
                time=millis(self._clock()),
                from_state=RecommendationState.PENDING,
            )
            progress = RunProgress(
                progress.processed, progress.total, progress.recommended, progress.auto_applied + applied
            )
            await self._heartbeat(run, progress)


def _allowed(recommendation: Recommendation, strategy: StoredStrategy | None) -> bool:
    if strategy is None or recommendation.conflict:
        return False
    policy = auto_apply_of(strategy.config)
    if not policy.enabled:
        return False
    if policy.require_reliable_model and not recommendation.model_reliable:
        return False
    change = abs(Decimal(change_percent(recommendation.current_price, recommendation.recommended_price)))
    return change <= Decimal(str(policy.max_change_percent))


async def apply_recommendations(
    repositories: Repositories,
    upstream: Upstream,
    principal: Principal,
    recommendations: Sequence[Recommendation],
    *,
    decided_by: str,
    reason: str,
    time: datetime,
    from_state: RecommendationState,
) -> int:
    """Write the recommended prices to the catalog in the principal's name; applied ones become APPLIED
    and quote their explanation, refused ones keep their state with the reason. How many were applied."""
    if not recommendations:
        return 0
    outcome = await upstream.apply_prices(
        principal,
        [
            PriceToApply(
                sku=rec.sku,
                expected_price=rec.current_price,
                new_price=rec.recommended_price,
                reason=f"{reason}: recommendation {rec.id} of run {rec.run_id}",
            )
            for rec in recommendations
        ],
    )
    by_sku = {rec.sku: rec for rec in recommendations}
    applied = [by_sku[sku] for sku in outcome.applied if sku in by_sku]
    store = repositories.recommendations
    await store.decide(
        principal.organization_id,
        [rec.id for rec in applied],
        from_states=[from_state],
        to_state=RecommendationState.APPLIED,
        decided_by=decided_by,
        reason=reason,
        apply_error="",
        time=time,
    )
    for sku, message in outcome.refused.items():
        rec = by_sku[sku]
        await store.decide(
            principal.organization_id,
            [rec.id],
            from_states=[from_state],
            to_state=from_state,
            decided_by=decided_by,
            reason=reason,
            apply_error=message,
            time=time,
        )
    await repositories.quotes.put_many(
        [Quote(principal.organization_id, rec.sku, rec.recommended_price, rec.id) for rec in applied]
    )
    return len(applied)
