"""Simulation: price a scope with its assigned strategies (or one chosen strategy) without storing or
applying anything, and predict units, revenue and profit per day against today from the demand models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from runtime.auth import Principal
from runtime.clock import utcnow
from runtime.errors import FailedPrecondition, InvalidArgument
from runtime.money import currency_exponent
from services.pricing.domain.simulation import Estimate, simulate
from services.pricing.repository import Repositories
from services.pricing.upstream import Upstream
from services.pricing.use_cases.common import ANALYSE_ROLE, Clock
from services.pricing.use_cases.pricing_pass import PricedGroup, load_scope, price_products, validate_scope

# Today's demand is the average of these last full days of sales.
BASELINE_DAYS = 28
SEED = 20_190_2161


@dataclass(frozen=True, slots=True)
class SimulationReport:
    products: int
    changed: int
    raised: int
    lowered: int
    change_percent_quantiles: tuple[float, ...]
    currency: str
    predicted_products: int
    excluded: int
    # Per day, in major units of `currency` for money.
    units: Estimate
    revenue: Estimate
    profit: Estimate


class Simulations:
    def __init__(self, repositories: Repositories, upstream: Upstream, *, clock: Clock = utcnow) -> None:
        self._repositories = repositories
        self._upstream = upstream
        self._clock = clock

    async def simulate(
        self, principal: Principal, scope: Mapping[str, Any], strategy_ids: Sequence[str]
    ) -> SimulationReport:
        principal.require(ANALYSE_ROLE)
        if len(strategy_ids) > 1:
            raise InvalidArgument(
                "simulate one strategy over the scope, or none for the assignments", field="strategy_ids"
            )
        products = await load_scope(self._upstream, principal, validate_scope(scope))
        priced = await price_products(
            principal, products, repositories=self._repositories, upstream=self._upstream, strategy_ids=strategy_ids
        )
        if not priced.groups:
            raise FailedPrecondition("no product in scope has a strategy that can price it", field="scope")
        changes = np.concatenate(
            [
                (group.outcome.recommended - group.inputs.current_price) / group.inputs.current_price * 100
                for group in priced.groups
            ]
        )
        main = max(priced.groups, key=lambda group: len(group.products))
        units, revenue, profit, predicted, excluded = await self._predict(principal, main)
        other_currencies = priced.priced - len(main.products)
        return SimulationReport(
            products=len(products),
            changed=int(np.count_nonzero(changes)),
            raised=int(np.count_nonzero(changes > 0)),
            lowered=int(np.count_nonzero(changes < 0)),
            change_percent_quantiles=tuple(float(value) for value in np.percentile(changes, [5, 25, 50, 75, 95])),
            currency=main.currency,
            predicted_products=predicted,
            excluded=excluded + other_currencies + (len(products) - priced.priced),
            units=units,
            revenue=revenue,
            profit=profit,
        )

    async def _predict(self, principal: Principal, group: PricedGroup) -> tuple[Estimate, Estimate, Estimate, int, int]:
        last = self._clock().date() - timedelta(days=1)
        first = last - timedelta(days=BASELINE_DAYS - 1)
        skus = [product.sku for product in group.products]
        sales = await self._upstream.demand_series(principal, skus, first, last)
        baseline = np.array(
            [
                sum(day.units for day in sales.get(sku, []) if day.unit_price.currency == group.currency)
                / BASELINE_DAYS
                for sku in skus
            ]
        )
        cost = group.inputs.cost
        known_cost = np.isfinite(cost)
        result = simulate(
            current_price=group.inputs.current_price,
            new_price=group.outcome.recommended.astype(np.float64),
            baseline_units=baseline,
            unit_cost=np.where(known_cost, cost, 0.0),
            elasticity=group.inputs.elasticity,
            standard_error=group.inputs.elasticity_se,
            # Without a cost there is no profit to predict: such products are left out of every total.
            reliable=group.inputs.elasticity_reliable & known_cost,
            rng=np.random.default_rng(SEED),
        )
        scale = 10.0 ** -currency_exponent(group.currency)

        def money(estimate: Estimate) -> Estimate:
            return Estimate(
                estimate.today * scale, estimate.predicted * scale, estimate.low * scale, estimate.high * scale
            )

        return result.units, money(result.revenue), money(result.profit), result.predicted_count, result.excluded_count
