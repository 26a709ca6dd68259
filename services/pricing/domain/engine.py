"""The pricing engine: strategy chain, guardrails and endings for many skus of one currency in one pass.

Inputs are a struct of arrays (PricingInputs), one row per sku, money in minor units. The engine loops over
the strategies and their chain steps, never over rows. Rows grouped by strategy (strategy index
non-decreasing) are priced in place as zero-copy slices; otherwise each strategy's rows are gathered and
the results scattered back, which costs a copy of every array: callers that can sort by strategy should.
Either way a strategy's rows go through in blocks of BLOCK_ROWS.

Per row, in this order: the guardrails' feasible interval (guardrails.py; the optimising rules search it),
the strategy's chain (strategies.py), the guardrails clamp in their documented order, the ending
(endings.py). The recommended price is a whole number of minor units inside [floor, ceiling].
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from runtime.errors import InvalidArgument
from runtime.money import MAX_AMOUNT_MINOR
from services.pricing.domain.endings import EndingTable
from services.pricing.domain.guardrails import Guardrail, apply_in_order, resolve, rule_bounds
from services.pricing.domain.market import MarketView, Reference, statistic
from services.pricing.domain.strategies import ChainRows, StrategySpec, run_chain

MAX_CURRENCY_EXPONENT = 4
# Rows priced per pass: a strategy's rows go through in blocks of this many, so that NumPy's temporaries
# stay small enough to be reused instead of freshly mapped (page-faulting) for every operation. This loops
# over a handful of blocks (8 for 1M rows), never over rows; it measured 1.6x faster than whole 1M arrays.
BLOCK_ROWS = 1 << 17
MAX_COMPETITORS_PER_ROW = 127
GUARDRAIL_COUNT = len(Guardrail)

FloatArray = NDArray[np.float64]
Scalar = TypeVar("Scalar", bound=np.generic)
Selection = slice | NDArray[np.intp]


@dataclass(frozen=True, eq=False)
class PricingInputs:
    """The skus to price, one row each; money in minor units (float64, NaN = unknown or none).

    Market matrices are (n, k): competitor prices with NaN padding, the competitor id of each (-1 for
    padding) and its age in seconds. On construction every array is checked (InvalidArgument names the
    field) and each row's market entries are sorted by price, ids and ages travelling with their prices;
    the matrices are then stored column-major, which the engine reads one competitor column at a time.
    Use PricingInputs.build to pass lists or other dtypes.
    """

    current_price: FloatArray
    strategy: NDArray[np.intp]
    cost: FloatArray
    map_price: FloatArray
    min_price: FloatArray
    max_price: FloatArray
    market_price: FloatArray
    market_competitor: NDArray[np.int32]
    market_age_seconds: FloatArray
    elasticity: FloatArray
    elasticity_reliable: NDArray[np.bool_]
    # Standard error of each elasticity, NaN when unknown: only explanations read it.
    elasticity_se: FloatArray
    market_count: NDArray[np.int8] = field(init=False)
    # Median and mean of every known market price per row (NaN without one), for strategies that filter none.
    market_median: FloatArray = field(init=False)
    market_mean: FloatArray = field(init=False)

    @classmethod
    def build(
        cls,
        *,
        current_price: ArrayLike,
        strategy: ArrayLike,
        cost: ArrayLike | None = None,
        map_price: ArrayLike | None = None,
        min_price: ArrayLike | None = None,
        max_price: ArrayLike | None = None,
        market_price: ArrayLike | None = None,
        market_competitor: ArrayLike | None = None,
        market_age_seconds: ArrayLike | None = None,
        elasticity: ArrayLike | None = None,
        elasticity_reliable: ArrayLike | None = None,
        elasticity_se: ArrayLike | None = None,
    ) -> PricingInputs:
        """Inputs from any array-likes; an omitted array means unknown / none for every row."""
        current = _floats(current_price, "current_price")
        n = len(current) if current.ndim == 1 else 0
        unknown = np.full(n, np.nan)
        if market_price is None:
            prices = np.empty((n, 0))
            ids: NDArray[Any] = np.empty((n, 0), dtype=np.int32)
            ages = np.empty((n, 0))
        else:
            prices = _floats(market_price, "market_price")
            ids = _integers(market_competitor if market_competitor is not None else [], "market_competitor")
            ages = _floats(market_age_seconds if market_age_seconds is not None else [], "market_age_seconds")
        return cls(
            current_price=current,
            strategy=_integers(strategy, "strategy").astype(np.intp, copy=False),
            cost=unknown if cost is None else _floats(cost, "cost"),
            map_price=unknown if map_price is None else _floats(map_price, "map_price"),
            min_price=unknown if min_price is None else _floats(min_price, "min_price"),
            max_price=unknown if max_price is None else _floats(max_price, "max_price"),
            market_price=prices,
            market_competitor=ids.astype(np.int32, copy=False) if _fits_int32(ids) else ids,
            market_age_seconds=ages,
            elasticity=unknown if elasticity is None else _floats(elasticity, "elasticity"),
            elasticity_reliable=(
                np.zeros(n, dtype=np.bool_)
                if elasticity_reliable is None
                else np.asarray(elasticity_reliable, dtype=np.bool_)
            ),
            elasticity_se=unknown if elasticity_se is None else _floats(elasticity_se, "elasticity_se"),
        )

    def __post_init__(self) -> None:
        current = self.current_price
        if current.ndim != 1 or current.dtype != np.float64:
            raise InvalidArgument("current_price must be a 1-D float64 array", field="current_price")
        n = len(current)
        for name in ("cost", "map_price", "min_price", "max_price", "elasticity", "elasticity_se"):
            _check_shape(getattr(self, name), (n,), np.float64, name)
        _check_shape(self.strategy, (n,), np.intp, "strategy")
        _check_shape(self.elasticity_reliable, (n,), np.bool_, "elasticity_reliable")
        _check_money(current, "current_price", minimum=1, optional=False)
        _check_money(self.cost, "cost", minimum=0)
        _check_money(self.map_price, "map_price", minimum=0)
        _check_money(self.min_price, "min_price", minimum=0)
        _check_money(self.max_price, "max_price", minimum=1)
        if np.any(self.min_price > self.max_price):
            raise InvalidArgument("a product's minimum price is above its maximum price", field="min_price")
        if n and self.strategy.min() < 0:
            raise InvalidArgument("strategy indexes are not negative", field="strategy")
        if np.isinf(self.elasticity).any():
            raise InvalidArgument("an elasticity is infinite: give NaN when unknown", field="elasticity")
        if np.any(self.elasticity_se < 0) or np.isinf(self.elasticity_se).any():
            raise InvalidArgument("standard errors are finite and not negative", field="elasticity_se")
        self._check_market(n)
        for name in _ROW_ARRAYS:
            _freeze(self, name)

    def _check_market(self, n: int) -> None:
        prices, ids, ages = self.market_price, self.market_competitor, self.market_age_seconds
        if prices.ndim != 2 or prices.shape[0] != n or prices.dtype != np.float64:
            raise InvalidArgument("market_price must be an (n, k) float64 matrix", field="market_price")
        k = prices.shape[1]
        if k > MAX_COMPETITORS_PER_ROW:
            raise InvalidArgument(f"at most {MAX_COMPETITORS_PER_ROW} prices per sku", field="market_price")
        _check_shape(ids, (n, k), np.int32, "market_competitor")
        _check_shape(ages, (n, k), np.float64, "market_age_seconds")
        _check_money(prices, "market_price", minimum=1)
        known = ~np.isnan(prices)
        if np.any(known & (ids < 0)):
            raise InvalidArgument("every known competitor price has a competitor id", field="market_competitor")
        if np.any(known & ~(ages >= 0)) or np.isinf(ages).any():
            raise InvalidArgument("every known competitor price has a finite age ≥ 0", field="market_age_seconds")
        order = None if _sorted_rows(prices) else np.argsort(prices, axis=1, kind="stable")
        price_t, id_t, age_t = _column_major(prices, order), _column_major(ids, order), _column_major(ages, order)
        unknown_t = np.isnan(price_t)
        id_t[unknown_t] = -1
        age_t[unknown_t] = 0.0
        object.__setattr__(self, "market_price", price_t.T)
        object.__setattr__(self, "market_competitor", id_t.T)
        object.__setattr__(self, "market_age_seconds", age_t.T)
        count = np.count_nonzero(~unknown_t, axis=0).astype(np.int8)
        object.__setattr__(self, "market_count", count)
        object.__setattr__(self, "market_median", statistic(price_t, count, Reference.MEDIAN))
        object.__setattr__(self, "market_mean", statistic(price_t, count, Reference.MEAN))
        for name in ("market_price", "market_competitor", "market_age_seconds", *_MARKET_SUMMARIES):
            _freeze(self, name)

    def __len__(self) -> int:
        return len(self.current_price)


@dataclass(frozen=True, eq=False)
class PricingOutcome:
    """Per row: the recommendation and everything that explains it (see PricingEngine.price)."""

    recommended: NDArray[np.int64]
    # The chain's price before guardrails, whole minor units.
    strategy_price: NDArray[np.int64]
    # The feasible interval after conflicts; ceiling inf where nothing bounds the price from above.
    floor: FloatArray
    ceiling: FloatArray
    # Index into the strategy's steps (its rules, then keep price) of the step that set the price.
    chain_step: NDArray[np.int8]
    # (n, steps): SkipReason bits of each step before chain_step; 0 elsewhere.
    skip_reasons: NDArray[np.uint8]
    # (n, 7): how far each guardrail moved the price, in Guardrail order (ENDING last).
    guardrail_delta: NDArray[np.int64]
    # Guardrail bitmasks: the rules that do not hold at the recommended price, and those that beat them.
    conflict_lost: NDArray[np.uint8]
    conflict_won: NDArray[np.uint8]
    # EndingStatus per row.
    ending: NDArray[np.uint8]
    changed: NDArray[np.bool_]

    @classmethod
    def allocate(cls, n: int, steps: int) -> PricingOutcome:
        """Outputs for n rows; the per-step and per-guardrail arrays are zeroed, the rest filled by pricing."""
        return cls(
            recommended=np.empty(n, dtype=np.int64),
            strategy_price=np.empty(n, dtype=np.int64),
            floor=np.empty(n),
            ceiling=np.empty(n),
            chain_step=np.empty(n, dtype=np.int8),
            skip_reasons=np.zeros((steps, n), dtype=np.uint8).T,
            guardrail_delta=np.zeros((GUARDRAIL_COUNT, n), dtype=np.int64).T,
            conflict_lost=np.empty(n, dtype=np.uint8),
            conflict_won=np.empty(n, dtype=np.uint8),
            ending=np.empty(n, dtype=np.uint8),
            changed=np.empty(n, dtype=np.bool_),
        )

    def __len__(self) -> int:
        return len(self.recommended)

    @property
    def conflict(self) -> NDArray[np.bool_]:
        flagged: NDArray[np.bool_] = self.conflict_lost != 0
        return flagged

    def scatter(self, rows: NDArray[np.intp], block: PricingOutcome) -> None:
        """Writes a gathered block's outcome back to its rows."""
        for name in _ROW_OUTPUTS:
            getattr(self, name)[rows] = getattr(block, name)
        steps = block.skip_reasons.shape[1]
        self.skip_reasons.T[:steps, rows] = block.skip_reasons.T
        self.guardrail_delta.T[:, rows] = block.guardrail_delta.T

    def rows(self, selection: slice) -> PricingOutcome:
        """Views of a contiguous range of rows."""
        return PricingOutcome(**{name: getattr(self, name)[selection] for name in _OUTCOME_FIELDS})


_OUTCOME_FIELDS = tuple(PricingOutcome.__dataclass_fields__)
_ROW_OUTPUTS = tuple(name for name in _OUTCOME_FIELDS if name not in ("skip_reasons", "guardrail_delta"))


class PricingEngine:
    """Prices skus of one currency with a list of strategies (a row's strategy is an index into it)."""

    def __init__(self, strategies: Sequence[StrategySpec], currency_exponent: int) -> None:
        if isinstance(currency_exponent, bool) or not isinstance(currency_exponent, int):
            raise InvalidArgument("the currency exponent is a whole number", field="currency_exponent")
        if not 0 <= currency_exponent <= MAX_CURRENCY_EXPONENT:
            raise InvalidArgument(f"currency exponent must be 0-{MAX_CURRENCY_EXPONENT}", field="currency_exponent")
        self.strategies = tuple(strategies)
        if not self.strategies or not all(isinstance(spec, StrategySpec) for spec in self.strategies):
            raise InvalidArgument("give at least one StrategySpec", field="strategies")
        self.currency_exponent = currency_exponent
        self.max_steps = max(len(spec.steps) for spec in self.strategies)
        self._endings = [
            None if spec.guardrails.endings is None else EndingTable(spec.guardrails.endings, currency_exponent)
            for spec in self.strategies
        ]

    def price(self, inputs: PricingInputs) -> PricingOutcome:
        """Recommended prices for every row (InvalidArgument if a row names no strategy of this engine)."""
        n = len(inputs)
        outcome = PricingOutcome.allocate(n, self.max_steps)
        if not n:
            return outcome
        strategy = inputs.strategy
        if strategy.max() >= len(self.strategies):
            raise InvalidArgument(f"strategy indexes run 0-{len(self.strategies) - 1}", field="strategy")
        if np.all(strategy[1:] >= strategy[:-1]):
            edges = np.searchsorted(strategy, np.arange(len(self.strategies) + 1))
            for index, (start, stop) in enumerate(itertools.pairwise(edges)):
                for begin in range(int(start), int(stop), BLOCK_ROWS):
                    selection = slice(begin, min(int(stop), begin + BLOCK_ROWS))
                    self._price_block(index, inputs, selection, outcome.rows(selection))
            return outcome
        for index in range(len(self.strategies)):
            rows = np.flatnonzero(strategy == index)
            for begin in range(0, len(rows), BLOCK_ROWS):
                part = rows[begin : begin + BLOCK_ROWS]
                block = PricingOutcome.allocate(len(part), len(self.strategies[index].steps))
                self._price_block(index, inputs, part, block)
                outcome.scatter(part, block)
        return outcome

    def _price_block(self, index: int, inputs: PricingInputs, rows: Selection, out: PricingOutcome) -> None:
        spec = self.strategies[index]
        current, cost = inputs.current_price[rows], inputs.cost[rows]
        bounds = rule_bounds(
            spec.guardrails, current, cost, inputs.map_price[rows], inputs.min_price[rows], inputs.max_price[rows]
        )
        interval = resolve(bounds, len(current))
        out.floor[...] = interval.floor
        out.ceiling[...] = interval.ceiling
        out.conflict_lost[...] = interval.lost
        out.conflict_won[...] = interval.won
        market = None
        if spec.uses_market:
            market = MarketView(
                inputs.market_price.T[:, rows],
                inputs.market_count[rows],
                inputs.market_competitor.T[:, rows],
                inputs.market_age_seconds.T[:, rows],
                spec.competitors,
                spec.max_market_age_seconds,
                median_all=inputs.market_median[rows],
                mean_all=inputs.market_mean[rows],
            )
        model = (inputs.elasticity[rows], inputs.elasticity_reliable[rows]) if spec.uses_model else _NO_MODEL
        chain = ChainRows(current, cost, model[0], model[1], market)
        steps = len(spec.steps)
        price = run_chain(spec, chain, interval.floor, interval.ceiling, out.chain_step, out.skip_reasons.T[:steps])
        np.copyto(out.strategy_price, price, casting="unsafe")
        delta = out.guardrail_delta.T
        price = apply_in_order(bounds, interval, price, delta)
        table = self._endings[index]
        if table is None:
            out.ending[...] = 0
        else:
            price = table.apply(price, interval.floor, interval.ceiling, delta[Guardrail.ENDING], out.ending)
        np.copyto(out.recommended, price, casting="unsafe")
        np.not_equal(price, current, out=out.changed)


_NO_MODEL = (np.empty(0), np.empty(0, dtype=np.bool_))
_ROW_ARRAYS = (
    "current_price",
    "strategy",
    "cost",
    "map_price",
    "min_price",
    "max_price",
    "elasticity",
    "elasticity_reliable",
    "elasticity_se",
)


def _freeze(inputs: PricingInputs, name: str) -> None:
    """Replaces an array by a read-only view: checked inputs stay as checked."""
    view = getattr(inputs, name).view()
    view.flags.writeable = False
    object.__setattr__(inputs, name, view)


def _floats(values: ArrayLike, name: str) -> FloatArray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument("expected numbers", field=name) from None


def _integers(values: ArrayLike, name: str) -> NDArray[Any]:
    array = np.asarray(values)
    if array.size == 0:
        return array.astype(np.int32)
    if array.dtype.kind not in "iu":
        raise InvalidArgument("expected whole numbers", field=name)
    return array


def _fits_int32(ids: NDArray[Any]) -> bool:
    return ids.size == 0 or bool(ids.min() >= -(2**31) and ids.max() < 2**31)


_MARKET_SUMMARIES = ("market_count", "market_median", "market_mean")


def _column_major(matrix: NDArray[Scalar], order: NDArray[np.intp] | None) -> NDArray[Scalar]:
    """A (k, n) C-ordered copy of an (n, k) matrix, each row permuted by `order` when given."""
    rows = matrix if order is None else np.take_along_axis(matrix, order, axis=1)
    return np.array(rows.T, order="C")


def _sorted_rows(prices: FloatArray) -> bool:
    """Whether each row is already ascending with its NaN padding last (then sorting can be skipped)."""
    later_unknown = np.isnan(prices[:, 1:])
    with np.errstate(invalid="ignore"):
        ascending = (prices[:, 1:] >= prices[:, :-1]) | later_unknown
    return bool(ascending.all() and (later_unknown | ~np.isnan(prices[:, :-1])).all())


def _check_shape(array: NDArray[Any], shape: tuple[int, ...], dtype: type[np.generic], name: str) -> None:
    if not isinstance(array, np.ndarray) or array.shape != shape or array.dtype != dtype:
        raise InvalidArgument(f"expected a {np.dtype(dtype).name} array of shape {shape}", field=name)


def _check_money(values: FloatArray, name: str, *, minimum: int, optional: bool = True) -> None:
    """Whole minor units in [minimum, MAX_AMOUNT_MINOR], or NaN when optional."""
    if not optional and np.isnan(values).any():
        raise InvalidArgument("every row needs a value", field=name)
    if np.any(values < minimum) or np.any(values > MAX_AMOUNT_MINOR):
        raise InvalidArgument(f"amounts are whole minor units in {minimum}..{MAX_AMOUNT_MINOR}", field=name)
    if np.any(np.floor(values) != values, where=~np.isnan(values)):
        raise InvalidArgument("amounts are whole minor units", field=name)
