"""Thompson-sampling price experiments: which of a few candidate prices earns most, learnt while selling.

Each candidate price has a posterior for its demand per exposure, updated from what the ledger shows after
each period (record: exposures and units sold at that price):
- "binomial": exposures are visitors and units are purchases, at most one per visitor: conversion rate
  ~ Beta(1 + units, 1 + exposures - units);
- "poisson": only units are known, or a visitor may buy several: units ~ Poisson(rate · exposures), where an
  exposure is one period the price was live (or one visitor); rate ~ Gamma(shape 1 + units, rate
  0.001 + exposures), a prior so weak that every candidate is tried before the data speak.
Each period choose() draws one demand per candidate and picks the price whose draw earns most: revenue, or
profit per unit sold when a unit cost is given. Prices are in any one unit (minor units suit the ledger);
the service checks candidates against the guardrails before creating an experiment.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from runtime.errors import InvalidArgument

MIN_CANDIDATES = 2
MAX_CANDIDATES = 6
REPORT_DRAWS = 20_000
STATE_VERSION = 1
_BETA_PRIOR = (1.0, 1.0)
_GAMMA_PRIOR = (1.0, 1e-3)

Likelihood = Literal["binomial", "poisson"]
Objective = Literal["revenue", "profit"]
StopReason = Literal["confident", "max_periods"]


@dataclass(frozen=True, slots=True)
class StopRule:
    """Stop once one price is best with this probability after `min_periods` periods, or at `max_periods`."""

    probability_best: float = 0.95
    min_periods: int = 14
    max_periods: int = 120

    def __post_init__(self) -> None:
        if not _is_number(self.probability_best) or not 0.5 < self.probability_best < 1:
            raise InvalidArgument("probability_best must be above 0.5 and below 1", field="probability_best")
        if not _is_count(self.min_periods) or self.min_periods < 1:
            raise InvalidArgument("min_periods must be a whole number of at least 1", field="min_periods")
        if not _is_count(self.max_periods) or self.max_periods < self.min_periods:
            raise InvalidArgument("max_periods must be a whole number of at least min_periods", field="max_periods")


@dataclass(frozen=True, slots=True)
class CandidateReport:
    index: int
    price: float
    periods: int
    exposures: int
    units: int
    probability_best: float
    # Posterior mean and 95 % interval per period, at the experiment's mean exposures per period.
    units_per_period: float
    revenue_per_period: float
    revenue_low: float
    revenue_high: float
    # None without a unit cost.
    profit_per_period: float | None
    profit_low: float | None
    profit_high: float | None


@dataclass(frozen=True, slots=True)
class ExperimentReport:
    objective: Objective
    periods: int
    exposures_per_period: float
    candidates: tuple[CandidateReport, ...]
    stopped: bool
    # Why it stopped; None while running.
    stop_reason: StopReason | None
    # Index of the winning candidate once stopped: the one most probably best.
    winner: int | None


class PriceExperiment:
    """The state of one experiment; record() and choose() change and read it, to_dict() stores it."""

    def __init__(
        self,
        prices: Sequence[float],
        *,
        likelihood: Likelihood,
        unit_cost: float | None = None,
        stop_rule: StopRule | None = None,
    ) -> None:
        self.prices = _checked_prices(prices)
        if likelihood not in ("binomial", "poisson"):
            raise InvalidArgument(f"likelihood must be 'binomial' or 'poisson', got {likelihood!r}", field="likelihood")
        self.likelihood: Likelihood = likelihood
        self.unit_cost = _checked_cost(unit_cost, self.prices)
        self.stop_rule = stop_rule or StopRule()
        count = len(self.prices)
        self.periods = np.zeros(count, dtype=np.int64)
        self.exposures = np.zeros(count, dtype=np.int64)
        self.units = np.zeros(count, dtype=np.int64)

    @property
    def objective(self) -> Objective:
        return "revenue" if self.unit_cost is None else "profit"

    @property
    def total_periods(self) -> int:
        return int(self.periods.sum())

    def record(self, candidate: int, exposures: int, units: int) -> None:
        """One period at candidate `candidate`'s price: `exposures` (visitors, or periods live) and units sold."""
        if not _is_count(candidate) or candidate >= len(self.prices):
            raise InvalidArgument(
                f"candidate must be 0 to {len(self.prices) - 1}, got {candidate!r}", field="candidate"
            )
        if not _is_count(exposures):
            raise InvalidArgument(f"exposures must be a whole number ≥ 0, got {exposures!r}", field="exposures")
        if not _is_count(units):
            raise InvalidArgument(f"units must be a whole number ≥ 0, got {units!r}", field="units")
        if units > 0 and exposures == 0:
            raise InvalidArgument("units were sold without any exposure", field="exposures")
        if self.likelihood == "binomial" and units > exposures:
            raise InvalidArgument(
                f"{units} purchases from {exposures} visitors: a binomial experiment counts at most one per visitor",
                field="units",
            )
        self.periods[candidate] += 1
        self.exposures[candidate] += exposures
        self.units[candidate] += units

    def choose(self, rng: np.random.Generator) -> int:
        """The candidate to sell at next period: the best under one draw from every posterior."""
        return int(np.argmax(self._value_per_exposure(self._draws(rng, 1)[0])))

    def report(self, rng: np.random.Generator, draws: int = REPORT_DRAWS) -> ExperimentReport:
        """Probability best, units, revenue (and profit) per period of every candidate, and whether to stop."""
        demand = self._draws(rng, draws)
        best = np.argmax(self._value_per_exposure(demand), axis=1)
        probability = np.bincount(best, minlength=len(self.prices)) / draws
        units = demand * self.exposures_per_period
        revenue = _Summary.of(units * self.prices)
        profit = None if self.unit_cost is None else _Summary.of(units * (self.prices - self.unit_cost))
        candidates = tuple(
            CandidateReport(
                index=index,
                price=float(self.prices[index]),
                periods=int(self.periods[index]),
                exposures=int(self.exposures[index]),
                units=int(self.units[index]),
                probability_best=float(probability[index]),
                units_per_period=float(units[:, index].mean()),
                revenue_per_period=revenue.mean[index],
                revenue_low=revenue.low[index],
                revenue_high=revenue.high[index],
                profit_per_period=None if profit is None else profit.mean[index],
                profit_low=None if profit is None else profit.low[index],
                profit_high=None if profit is None else profit.high[index],
            )
            for index in range(len(self.prices))
        )
        stop_reason = self._stop_reason(float(probability.max()))
        return ExperimentReport(
            objective=self.objective,
            periods=self.total_periods,
            exposures_per_period=self.exposures_per_period,
            candidates=candidates,
            stopped=stop_reason is not None,
            stop_reason=stop_reason,
            winner=None if stop_reason is None else int(np.argmax(probability)),
        )

    @property
    def exposures_per_period(self) -> float:
        """Mean exposures per recorded period (1 before any record)."""
        periods = self.total_periods
        return float(self.exposures.sum()) / periods if periods else 1.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready state."""
        return {
            "version": STATE_VERSION,
            "prices": self.prices.tolist(),
            "likelihood": self.likelihood,
            "unit_cost": self.unit_cost,
            "stop_rule": {
                "probability_best": self.stop_rule.probability_best,
                "min_periods": self.stop_rule.min_periods,
                "max_periods": self.stop_rule.max_periods,
            },
            "periods": self.periods.tolist(),
            "exposures": self.exposures.tolist(),
            "units": self.units.tolist(),
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> PriceExperiment:
        """The experiment to_dict() stored; refuses state that is malformed or inconsistent."""
        try:
            if state["version"] != STATE_VERSION:
                raise InvalidArgument(f"unknown experiment state version {state['version']!r}", field="version")
            rule = state["stop_rule"]
            experiment = cls(
                state["prices"],
                likelihood=state["likelihood"],
                unit_cost=state["unit_cost"],
                stop_rule=StopRule(rule["probability_best"], rule["min_periods"], rule["max_periods"]),
            )
            counts = [_counts(state[name], len(experiment.prices), name) for name in ("periods", "exposures", "units")]
        except (KeyError, TypeError) as error:
            raise InvalidArgument(f"experiment state is malformed: {error!r}", field="state") from None
        periods, exposures, units = counts
        if np.any((units > 0) & (exposures == 0)) or (
            experiment.likelihood == "binomial" and np.any(units > exposures)
        ):
            raise InvalidArgument("experiment state has more units than its exposures allow", field="units")
        experiment.periods, experiment.exposures, experiment.units = periods, exposures, units
        return experiment

    def _draws(self, rng: np.random.Generator, draws: int) -> NDArray[np.float64]:
        """(draws, candidates) samples of demand per exposure from every posterior at once."""
        size = (draws, len(self.prices))
        if self.likelihood == "binomial":
            alpha, beta = _BETA_PRIOR
            return rng.beta(alpha + self.units, beta + self.exposures - self.units, size=size)
        shape, rate = _GAMMA_PRIOR
        return rng.gamma(shape + self.units, 1.0 / (rate + self.exposures), size=size)

    def _value_per_exposure(self, demand: NDArray[np.float64]) -> NDArray[np.float64]:
        margin = self.prices if self.unit_cost is None else self.prices - self.unit_cost
        value: NDArray[np.float64] = demand * margin
        return value

    def _stop_reason(self, best_probability: float) -> StopReason | None:
        periods = self.total_periods
        if periods >= self.stop_rule.max_periods:
            return "max_periods"
        if periods >= self.stop_rule.min_periods and best_probability >= self.stop_rule.probability_best:
            return "confident"
        return None


@dataclass(frozen=True, slots=True)
class _Summary:
    """Per candidate: the mean of its draws and their central 95 % interval."""

    mean: list[float]
    low: list[float]
    high: list[float]

    @classmethod
    def of(cls, draws: NDArray[np.float64]) -> _Summary:
        low, high = np.quantile(draws, (0.025, 0.975), axis=0)
        return cls(draws.mean(axis=0).tolist(), low.tolist(), high.tolist())


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, numbers.Real)


def _is_count(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, numbers.Integral) and int(value) >= 0


def _checked_prices(prices: Sequence[float]) -> NDArray[np.float64]:
    if not MIN_CANDIDATES <= len(prices) <= MAX_CANDIDATES:
        raise InvalidArgument(f"an experiment needs {MIN_CANDIDATES} to {MAX_CANDIDATES} prices", field="prices")
    if not all(_is_number(price) for price in prices):
        raise InvalidArgument("prices must be numbers", field="prices")
    values = np.array(prices, dtype=np.float64)
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise InvalidArgument("prices must be finite and positive", field="prices")
    if len(np.unique(values)) != len(values):
        raise InvalidArgument("prices must be distinct", field="prices")
    return values


def _checked_cost(unit_cost: float | None, prices: NDArray[np.float64]) -> float | None:
    if unit_cost is None:
        return None
    if not _is_number(unit_cost) or not math.isfinite(unit_cost):
        raise InvalidArgument("unit_cost must be a finite number", field="unit_cost")
    if unit_cost < 0:
        raise InvalidArgument("unit_cost must not be negative", field="unit_cost")
    if unit_cost >= prices.max():
        raise InvalidArgument("unit_cost is at or above every price: no candidate earns a profit", field="unit_cost")
    return float(unit_cost)


def _counts(values: Any, count: int, name: str) -> NDArray[np.int64]:
    if not isinstance(values, list) or len(values) != count or not all(_is_count(value) for value in values):
        raise InvalidArgument(f"experiment state {name} must be {count} whole numbers ≥ 0", field=name)
    return np.array(values, dtype=np.int64)
