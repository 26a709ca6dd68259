"""Competitor prices of many skus at once: which ones a strategy may use, and their lowest, median and mean.

The matrices are column-major views (k, n) of the engine's (n, k) inputs, each sku's prices sorted ascending
with NaN padding last (PricingInputs sorts them once and keeps each row's median and mean), so a strategy
that uses every price reads the lowest as column 0 and the rest as computed. A price is usable when it is
known, from a competitor in the strategy's set (empty set = every competitor) and no older than the
strategy's max_market_age_seconds; with such a filter, the lowest is a minimum over the columns and the
median a sorting network over the usable prices, both without per-row branches.
"""

from __future__ import annotations

import enum

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
CountArray = NDArray[np.int8]


class Reference(enum.StrEnum):
    LOWEST = "lowest"
    MEDIAN = "median"
    MEAN = "mean"


def kept(
    competitor_t: NDArray[np.int32], age_t: FloatArray, competitors: frozenset[int], max_age: float | None
) -> NDArray[np.bool_] | None:
    """Which entries pass the competitor set and the age limit (padding included); None when every one does."""
    keep = _member(competitor_t, competitors) if competitors else None
    if max_age is not None:
        fresh = age_t <= max_age
        keep = fresh if keep is None else np.logical_and(keep, fresh, out=keep)
    return keep


def _member(ids: NDArray[np.int32], competitors: frozenset[int]) -> NDArray[np.bool_]:
    if len(competitors) > _MAX_COMPARED_IDS:
        found: NDArray[np.bool_] = np.isin(ids, list(competitors))
        return found
    # A few comparisons beat np.isin's sort-based search by far.
    first, *others = sorted(competitors)
    member: NDArray[np.bool_] = ids == first
    for competitor in others:
        member |= ids == competitor
    return member


_MAX_COMPARED_IDS = 8


def _known(count: CountArray, k: int) -> NDArray[np.bool_]:
    """Which entries hold a price: sorted rows put their `count` known prices first."""
    return np.arange(k, dtype=np.int8)[:, None] < count


class MarketView:
    """The usable competitor prices of a block of skus for one competitor set and age limit.

    `median_all` and `mean_all` are the statistics over every known price (PricingInputs computes them
    once); they serve every row when the strategy filters nothing out.
    """

    def __init__(
        self,
        price_t: FloatArray,
        count: CountArray,
        competitor_t: NDArray[np.int32],
        age_t: FloatArray,
        competitors: frozenset[int],
        max_age: float | None,
        *,
        median_all: FloatArray,
        mean_all: FloatArray,
    ) -> None:
        self._price_t, self._competitor_t, self._age_t = price_t, competitor_t, age_t
        self._competitors, self._max_age = competitors, max_age
        self._count_all = count
        self._filtered = price_t.shape[0] > 0 and (bool(competitors) or max_age is not None)
        self._stats: dict[Reference, FloatArray] = {}
        if not self._filtered:
            lowest = price_t[0] if price_t.shape[0] else np.full(len(count), np.nan)
            self._stats = {Reference.LOWEST: lowest, Reference.MEDIAN: median_all, Reference.MEAN: mean_all}

    @property
    def available(self) -> NDArray[np.bool_]:
        """Rows with at least one usable price."""
        if not self._filtered:
            return self._count_all > 0
        return np.isfinite(self.reference(Reference.LOWEST))

    def in_set(self, rows: NDArray[np.intp]) -> NDArray[np.bool_]:
        """Whether these rows have a known price from the competitor set, fresh or not."""
        known = ~np.isnan(self._price_t[:, rows])
        if self._competitors:
            known &= _member(self._competitor_t[:, rows], self._competitors)
        return np.asarray(known.any(axis=0), dtype=np.bool_)

    def reference(self, which: Reference) -> FloatArray:
        """The lowest, median or mean usable price per row; not finite where none is usable."""
        cached = self._stats.get(which)
        if cached is None:
            cached = self._lowest() if which is Reference.LOWEST else self._from_usable(which)
            self._stats[which] = cached
        return cached

    def _usable(self) -> NDArray[np.bool_]:
        keep = kept(self._competitor_t, self._age_t, self._competitors, self._max_age)
        assert keep is not None
        return np.logical_and(keep, _known(self._count_all, len(self._price_t)), out=keep)

    def _lowest(self) -> FloatArray:
        # One competitor column at a time: price / usable is the price or inf (NaN padding stays NaN, which
        # fmin skips), so no row takes a data-dependent branch.
        lowest = np.full(len(self._count_all), np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            for column in range(len(self._price_t)):
                usable = kept(self._competitor_t[column], self._age_t[column], self._competitors, self._max_age)
                assert usable is not None
                np.fmin(lowest, np.divide(self._price_t[column], usable), out=lowest)
        return lowest

    def _from_usable(self, which: Reference) -> FloatArray:
        usable = self._usable()
        count = np.add.reduce(usable, axis=0, dtype=np.int8)
        if which is Reference.MEAN:
            return statistic(self._price_t, count, which, known=usable)
        return statistic(_sorted_columns(_masked(self._price_t, usable)), count, which)


def _masked(price_t: FloatArray, usable: NDArray[np.bool_]) -> FloatArray:
    """The prices with inf for every entry that may not be used (0 * inf is NaN, which fmax ignores)."""
    with np.errstate(invalid="ignore"):
        masked: FloatArray = np.fmax(price_t, np.multiply(~usable, np.inf))
    return masked


def _sorted_columns(values: FloatArray) -> FloatArray:
    """Each column sorted ascending by an odd-even transposition network: k passes of min/max over rows."""
    ordered = values.copy()
    k = len(ordered)
    for round_ in range(k):
        for i in range(round_ % 2, k - 1, 2):
            low = np.minimum(ordered[i], ordered[i + 1])
            np.maximum(ordered[i], ordered[i + 1], out=ordered[i + 1])
            ordered[i] = low
    return ordered


def statistic(
    sorted_t: FloatArray, count: CountArray, which: Reference, *, known: NDArray[np.bool_] | None = None
) -> FloatArray:
    """A statistic of each column's first `count` entries (sorted ascending), or of its `known` entries."""
    k, m = sorted_t.shape
    if k == 0:
        return np.full(m, np.nan)
    if which is Reference.LOWEST:
        lowest: FloatArray = sorted_t[0].copy()
        return lowest
    if which is Reference.MEAN:
        total = np.add.reduce(sorted_t, axis=0, where=_known(count, k) if known is None else known, initial=0.0)
        mean: FloatArray = np.divide(total, count, out=np.full(m, np.nan), where=count > 0)
        return mean
    # Median: rows holding all k prices are a pick of the middle; the others pick by their own count.
    median: FloatArray = (sorted_t[(k - 1) // 2] + sorted_t[k // 2]) * 0.5
    partial = np.flatnonzero(count != k)
    if len(partial):
        used = count[partial].astype(np.intp)
        columns = sorted_t[:, partial]
        below = np.take_along_axis(columns, np.maximum(used - 1, 0)[None] // 2, axis=0)[0]
        above = np.take_along_axis(columns, (used // 2)[None], axis=0)[0]
        median[partial] = np.where(used > 0, (below + above) * 0.5, np.nan)
    return median
