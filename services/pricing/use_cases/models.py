"""Demand models: refitted by a job from the sales ledger (over gRPC), read per sku."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import numpy as np

from runtime.auth import Principal
from runtime.clock import utcnow
from runtime.errors import DomainError, NotFound
from runtime.pagination import Page, decode_token, encode_token, page_size
from services.pricing.domain.demand import DailySales, daily_series, epoch_day, estimate_elasticities
from services.pricing.domain.records import DemandModelRecord, Run, RunState
from services.pricing.repository import Repositories, RunProgress
from services.pricing.upstream import CatalogProduct, SalesDay, Upstream
from services.pricing.use_cases.common import READ_ROLE, Clock, millis
from services.pricing.use_cases.reprice import RunResult, creator_of

SERIES_BATCH = 1_000


def root_category(category_id: str, parents: Mapping[str, str]) -> str:
    """Skus are pooled within their top-level category: leaves hold too few skus for a stable mean."""
    current, seen = category_id, 0
    while current and parents.get(current) and seen <= len(parents):
        current = parents[current]
        seen += 1
    return current


def sales_of(product: CatalogProduct, category_id: str, days: list[SalesDay], first: date, last: date) -> DailySales:
    own = [day for day in days if day.unit_price.currency == product.price.currency]
    return daily_series(
        product.sku,
        category_id,
        sale_days=np.array([epoch_day(day.day) for day in own], dtype=np.int64),
        quantities=np.array([day.units for day in own], dtype=np.int64),
        unit_prices=np.array([day.unit_price.amount_minor for day in own], dtype=np.float64),
        first_day=epoch_day(first),
        last_day=epoch_day(last),
        list_price=float(product.price.amount_minor),
    )


class DemandModels:
    def __init__(self, repositories: Repositories) -> None:
        self._models = repositories.models

    async def get(self, principal: Principal, sku: str) -> DemandModelRecord:
        principal.require(READ_ROLE)
        found = await self._models.get_many(principal.organization_id, [sku])
        if sku not in found:
            raise NotFound(f"no demand model for sku {sku!r}: refit the models first", field="sku")
        return found[sku]

    async def list_models(
        self, principal: Principal, *, page_size_requested: int, page_token: str
    ) -> Page[DemandModelRecord]:
        principal.require(READ_ROLE)
        limit = page_size(page_size_requested)
        after = str(decode_token(page_token).get("after", ""))
        found = await self._models.find(principal.organization_id, after_sku=after, limit=limit + 1)
        if len(found) <= limit:
            return Page(found, "")
        return Page(found[:limit], encode_token({"after": found[limit - 1].sku}))


class RefitExecutor:
    """The worker's side of a refit: every active product's elasticity from the last `days` full days."""

    def __init__(
        self,
        repositories: Repositories,
        upstream: Upstream,
        *,
        worker_id: str,
        lease: timedelta = timedelta(seconds=120),
        clock: Clock = utcnow,
    ) -> None:
        self._repositories = repositories
        self._runs = repositories.runs
        self._upstream = upstream
        self._worker_id = worker_id
        self._lease = lease
        self._clock = clock

    async def execute(self, organization_id: str, run_id: str) -> RunResult | None:
        now = self._clock()
        run = await self._runs.claim(
            organization_id, run_id, owner=self._worker_id, lease_until=now + self._lease, now=now
        )
        if run is None:
            return None
        progress = RunProgress(0, 0, 0, 0)
        state, error = RunState.SUCCEEDED, ""
        try:
            progress = await self._refit(run)
        except DomainError as failure:
            state, error = RunState.FAILED, failure.message
        except BaseException:
            await self._runs.heartbeat(
                organization_id, run_id, owner=self._worker_id, lease_until=self._clock(), progress=progress
            )
            raise
        await self._runs.finish(
            organization_id,
            run_id,
            owner=self._worker_id,
            state=state,
            error=error,
            progress=progress,
            end_time=millis(self._clock()),
        )
        return RunResult(state, progress)

    async def _refit(self, run: Run) -> RunProgress:
        principal = creator_of(run)
        last = self._clock().date() - timedelta(days=1)
        first = last - timedelta(days=int(run.scope["days"]) - 1)
        parents = await self._upstream.category_parents(principal)
        products = [product async for page in self._upstream.products(principal) for product in page]
        series: list[DailySales] = []
        for start in range(0, len(products), SERIES_BATCH):
            chunk = products[start : start + SERIES_BATCH]
            sales = await self._upstream.demand_series(principal, [product.sku for product in chunk], first, last)
            series.extend(
                sales_of(product, root_category(product.category_id, parents), sales.get(product.sku, []), first, last)
                for product in chunk
            )
            progress = RunProgress(len(series), len(products), 0, 0)
            if not await self._runs.heartbeat(
                run.organization_id,
                run.id,
                owner=self._worker_id,
                lease_until=self._clock() + self._lease,
                progress=progress,
            ):
                return progress
        pooled = estimate_elasticities(series)
        fit_time = millis(self._clock())
        days = {item.sku: len(item.days) for item in series}
        await self._repositories.models.put_many(
            [
                DemandModelRecord(
                    organization_id=run.organization_id,
                    sku=model.sku,
                    category_id=model.category_id,
                    elasticity=model.elasticity,
                    standard_error=model.standard_error,
                    ci_low=model.ci_low,
                    ci_high=model.ci_high,
                    source=model.source,
                    reliable=model.reliable,
                    reason=model.reason,
                    days=days.get(model.sku, model.n_days),
                    fit_time=fit_time,
                )
                for model in pooled.models
            ]
        )
        # A refit stores models, not recommendations: its `recommended` stays 0.
        return RunProgress(len(products), len(products), 0, 0)
