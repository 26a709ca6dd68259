"""Price experiments: Thompson sampling over a few candidate prices of one sku, one price per day.

Every candidate must lie inside the sku's guardrails (as its assigned strategy sets them) before the
experiment starts. Each day the advance job reads the previous day's units at the shown price from the
sales ledger, updates the posterior, applies the stop rule, and shows the next sampled price through the
catalog, so every price shown is in the catalog's history with the experiment as its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta

import numpy as np

from runtime.auth import CredentialKind, Principal, Role
from runtime.clock import utcnow
from runtime.errors import AlreadyExists, Conflict, FailedPrecondition, InvalidArgument, NotFound
from runtime.ids import new_id
from runtime.logging import get_logger
from runtime.money import Money
from runtime.pagination import Page, decode_token, encode_token, page_size
from services.pricing.domain.experiments import ExperimentReport, PriceExperiment, StopRule
from services.pricing.domain.records import ExperimentRecord, ExperimentState
from services.pricing.repository import Repositories
from services.pricing.upstream import PriceToApply, Upstream
from services.pricing.use_cases.common import MANAGE_ROLE, READ_ROLE, Clock, millis
from services.pricing.use_cases.pricing_pass import price_products

_log = get_logger(__name__)
MIN_CANDIDATES, MAX_CANDIDATES = 2, 6
DEFAULT_STOP_PROBABILITY = 0.95
DEFAULT_MAX_PERIODS = 90
MIN_PERIODS = 14
PERIOD = timedelta(days=1)
REPORT_SEED = 6_102


class Experiments:
    def __init__(
        self,
        repositories: Repositories,
        upstream: Upstream,
        *,
        clock: Clock = utcnow,
        ids: Callable[[], str] = lambda: new_id("exp_"),
        rng: np.random.Generator | None = None,
    ) -> None:
        self._repositories = repositories
        self._store = repositories.experiments
        self._upstream = upstream
        self._clock = clock
        self._ids = ids
        self._rng = rng or np.random.default_rng()

    async def create(
        self,
        principal: Principal,
        sku: str,
        candidates: Sequence[Money],
        *,
        stop_probability: float,
        max_periods: int,
    ) -> ExperimentRecord:
        principal.require(MANAGE_ROLE)
        if not MIN_CANDIDATES <= len(candidates) <= MAX_CANDIDATES:
            raise InvalidArgument(f"give {MIN_CANDIDATES}-{MAX_CANDIDATES} candidate prices", field="candidates")
        if len(set(candidates)) != len(candidates):
            raise InvalidArgument("candidate prices must differ", field="candidates")
        stop_rule = StopRule(
            probability_best=stop_probability or DEFAULT_STOP_PROBABILITY,
            min_periods=MIN_PERIODS,
            max_periods=max_periods or DEFAULT_MAX_PERIODS,
        )
        found = await self._upstream.products_by_sku(principal, [sku])
        if not found:
            raise InvalidArgument(f"no active product with sku {sku!r}", field="sku")
        if await self._store.running_for_skus(principal.organization_id, [sku]):
            raise AlreadyExists(f"sku {sku!r} already has a running experiment", field="sku")
        product = found[0]
        for candidate in candidates:
            if candidate.currency != product.price.currency:
                raise InvalidArgument(
                    f"candidates are in the product's currency {product.price.currency}", field="candidates"
                )
            if candidate.amount_minor <= 0:
                raise InvalidArgument("candidate prices must be greater than zero", field="candidates")
        await self._check_guardrails(principal, sku, candidates)
        sampler = PriceExperiment(
            [float(candidate.amount_minor) for candidate in candidates],
            likelihood="poisson",
            unit_cost=None if product.cost is None else float(product.cost.amount_minor),
            stop_rule=stop_rule,
        )
        first = sampler.choose(self._rng)
        now = millis(self._clock())
        experiment = ExperimentRecord(
            organization_id=principal.organization_id,
            id=self._ids(),
            sku=sku,
            state=ExperimentState.RUNNING,
            candidates=tuple(candidates),
            current_arm=first,
            sampler=sampler.to_dict(),
            stop_probability=stop_rule.probability_best,
            max_periods=stop_rule.max_periods,
            periods=0,
            stop_reason="",
            winner_arm=-1,
            revision=1,
            create_time=now,
            last_period_time=now,
        )
        await self._store.create(experiment)
        await self._show(principal, experiment, product.price)
        return experiment

    async def _check_guardrails(self, principal: Principal, sku: str, candidates: Sequence[Money]) -> None:
        found = await self._upstream.products_by_sku(principal, [sku])
        priced = await price_products(principal, found, repositories=self._repositories, upstream=self._upstream)
        if not priced.groups:
            raise FailedPrecondition(
                f"sku {sku!r} has no strategy, so its guardrails are unknown: assign one first", field="sku"
            )
        outcome = priced.groups[0].outcome
        floor, ceiling = float(outcome.floor[0]), float(outcome.ceiling[0])
        for candidate in candidates:
            if not floor <= candidate.amount_minor <= ceiling:
                raise InvalidArgument(
                    f"candidate {candidate.to_decimal_string()} {candidate.currency} is outside the sku's guardrails "
                    f"({Money(int(floor), candidate.currency).to_decimal_string()} to "
                    + (
                        "no maximum"
                        if not np.isfinite(ceiling)
                        else Money(int(ceiling), candidate.currency).to_decimal_string()
                    )
                    + ")",
                    field="candidates",
                )

    async def _show(self, principal: Principal, experiment: ExperimentRecord, current: Money) -> None:
        price = experiment.candidates[experiment.current_arm]
        outcome = await self._upstream.apply_prices(
            principal,
            [
                PriceToApply(
                    experiment.sku,
                    current,
                    price,
                    f"price experiment {experiment.id}, candidate {experiment.current_arm + 1}",
                )
            ],
        )
        if outcome.refused:
            raise Conflict(f"the catalog refused the experiment's price: {outcome.refused[experiment.sku]}")

    async def get(self, principal: Principal, experiment_id: str) -> tuple[ExperimentRecord, ExperimentReport]:
        principal.require(READ_ROLE)
        experiment = await self._store.get(principal.organization_id, experiment_id)
        if experiment is None:
            raise NotFound(f"experiment {experiment_id!r} does not exist", field="id")
        return experiment, report(experiment)

    async def list_experiments(
        self, principal: Principal, *, page_size_requested: int, page_token: str
    ) -> Page[tuple[ExperimentRecord, ExperimentReport]]:
        principal.require(READ_ROLE)
        limit = page_size(page_size_requested)
        after = str(decode_token(page_token).get("after", ""))
        found = await self._store.find(principal.organization_id, after_id=after, limit=limit + 1)
        items = [(experiment, report(experiment)) for experiment in found[:limit]]
        token = encode_token({"after": found[limit - 1].id}) if len(found) > limit else ""
        return Page(items, token)

    async def stop(self, principal: Principal, experiment_id: str, reason: str) -> ExperimentRecord:
        """Stop it; the price shown last stays in the catalog until someone sets another."""
        principal.require(MANAGE_ROLE)
        experiment, result = await self.get(principal, experiment_id)
        if experiment.state is ExperimentState.STOPPED:
            return experiment
        winner = max(result.candidates, key=lambda candidate: candidate.probability_best).index
        stopped = replace(
            experiment,
            state=ExperimentState.STOPPED,
            stop_reason=f"stopped by {principal.subject_id}" + (f": {reason.strip()[:200]}" if reason.strip() else ""),
            winner_arm=winner,
            revision=experiment.revision + 1,
        )
        await self._store.update(stopped)
        return stopped

    async def advance(self, experiment: ExperimentRecord) -> ExperimentRecord:
        """One period: yesterday's units at the shown price in, the stop rule, then the next price out."""
        now = self._clock()
        if experiment.last_period_time is not None and now - experiment.last_period_time < PERIOD:
            return experiment
        principal = creator_of_experiment(experiment)
        day = (now - PERIOD).date()
        shown = experiment.candidates[experiment.current_arm]
        sales = await self._upstream.demand_series(principal, [experiment.sku], day, day)
        units = sum(point.units for point in sales.get(experiment.sku, []) if point.unit_price == shown)
        sampler = PriceExperiment.from_dict(experiment.sampler)
        sampler.record(experiment.current_arm, 1, units)
        result = sampler.report(np.random.default_rng(REPORT_SEED))
        if result.stopped:
            advanced = replace(
                experiment,
                state=ExperimentState.STOPPED,
                sampler=sampler.to_dict(),
                periods=experiment.periods + 1,
                stop_reason=result.stop_reason or "",
                winner_arm=result.winner if result.winner is not None else -1,
                revision=experiment.revision + 1,
                last_period_time=millis(now),
            )
            await self._store.update(advanced)
            return advanced
        advanced = replace(
            experiment,
            sampler=sampler.to_dict(),
            current_arm=sampler.choose(self._rng),
            periods=experiment.periods + 1,
            revision=experiment.revision + 1,
            last_period_time=millis(now),
        )
        await self._store.update(advanced)
        await self._show(principal, advanced, shown)
        return advanced

    async def advance_all(self) -> int:
        """Advance every running experiment that is due; failures are logged and retried next time."""
        advanced = 0
        for experiment in await self._store.find_running(limit=1_000):
            try:
                await self.advance(experiment)
            except Exception:
                _log.exception("experiment period failed", experiment_id=experiment.id)
                continue
            advanced += 1
        return advanced


def creator_of_experiment(experiment: ExperimentRecord) -> Principal:

    return Principal(
        experiment.organization_id, f"experiment:{experiment.id}", Role.PRICING_MANAGER, CredentialKind.ACCESS_TOKEN
    )


def report(experiment: ExperimentRecord) -> ExperimentReport:
    """The experiment's report, reproducible for a given state (fixed seed for its Monte Carlo)."""
    return PriceExperiment.from_dict(experiment.sampler).report(np.random.default_rng(REPORT_SEED))
