"""Deterministic demo sales for the demo catalog: about 180 days of order lines with planted price elasticities.

Every top-level category has a planted elasticity (CATEGORY_ELASTICITIES) and every sku its own, drawn
close to it. Prices move in promotions and price steps so elasticities can be recovered from the sales;
demand has a trend and a weekly pattern: units ~ Poisson(base · (price / catalog price)^elasticity ·
trend · weekday). A few skus sell rarely and a few never change price, so a model has to pool them.

The same catalog, seed and end give the same lines and the same order ids (DEMO-<yyyymmdd>-<n>), so seeding
twice upserts the same rows. A later end gives a different history: seed a ledger once, with one end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from demo.catalog import DemoCatalog
from demo.price_points import CentEnding, nearest_price_point

# Planted price elasticities of demand per top-level category: electronics and toys are bought after
# comparing prices across shops, pet food and beauty staples much less so.
CATEGORY_ELASTICITIES: dict[str, float] = {
    "cat-electronics": -2.4,
    "cat-toys-games": -2.1,
    "cat-sports-outdoors": -1.9,
    "cat-home-kitchen": -1.7,
    "cat-garden-diy": -1.5,
    "cat-fashion": -1.4,
    "cat-beauty-personal-care": -1.1,
    "cat-pet-supplies": -0.8,
}
# Spread of the skus' own elasticities around their category's.
SKU_ELASTICITY_SD = 0.2
DEFAULT_SEED = 11
DEFAULT_DAYS = 180

Channel = Literal["web", "marketplace"]

# Shares of skus that sell only a handful of units (thin data) and that never change price.
_THIN_SHARE = 0.08
_FIXED_PRICE_SHARE = 0.05
_THIN_UNITS_PER_DAY = (0.05, 0.15)
# Typical units per day at the catalog price: 2 for an item of 30 EUR, fewer the dearer it is.
_UNITS_AT_REFERENCE = 2.0
_REFERENCE_PRICE_MINOR = 3_000
_PRICE_EXPONENT = -0.5
_BASE_SPREAD = 0.5
_BASE_UNITS_RANGE = (0.15, 15.0)
# Yearly log growth of demand per sku: most grow a little, some decline.
_TREND_MEAN, _TREND_SD = 0.2, 0.5
# Monday to Sunday; online shops sell most at the weekend.
_WEEKDAY_FACTORS = np.array([0.95, 0.9, 0.92, 0.98, 1.02, 1.1, 1.13])
_WEEKDAY_FACTORS = _WEEKDAY_FACTORS / _WEEKDAY_FACTORS.mean()
# A price holds for 7 to 28 days, then moves: back to the catalog price, into a promotion or a step up.
_SEGMENT_DAYS = (7, 28)
_PRICE_MULTIPLIERS = np.array([1.0, 0.80, 0.85, 0.90, 0.95, 1.05, 1.10, 1.15, 1.20])
_PRICE_MULTIPLIER_WEIGHTS = np.array([0.25, 0.12, 0.12, 0.10, 0.08, 0.08, 0.09, 0.08, 0.08])
# How far, as a share of the price, snapping a moved price to a price point may shift it.
_MAX_SNAP = 0.05
# Order lines: a further unit joins the same line (quantity 2, 3 …) with this probability; a line
# starts a new order with the next probability, else it joins the order before it.
_SAME_LINE_SHARE = 0.2
_NEW_ORDER_SHARE = 0.7
_MARKETPLACE_SHARE = 0.3
# Orders per hour of the UTC day, relative: quiet nights, busy evenings.
_HOURLY_WEIGHTS = np.array(
    [2, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 6, 7, 6, 6, 6, 7, 8, 9, 10, 10, 8, 5, 3],
    dtype=np.float64,
)
_ENDINGS: dict[int, CentEnding] = {99: 99, 95: 95, 49: 49}


@dataclass(frozen=True, slots=True)
class SkuDemand:
    """What was planted for one sku."""

    sku: str
    # The top-level category whose elasticity the sku's was drawn near.
    category_id: str
    elasticity: float
    # Expected units per day at the catalog price on an average weekday, at the end of the history.
    base_units_per_day: float
    trend_per_year: float
    price_moves: bool


@dataclass(frozen=True, slots=True)
class SalesLine:
    order_id: str
    line_no: int
    sku: str
    quantity: int
    unit_price_minor: int
    currency: str
    ordered_at: datetime
    channel: Channel


@dataclass(frozen=True, slots=True, eq=False)
class _LineColumns:
    """Order lines as columns, sorted by time: index of sku and day, quantity, position in order and day."""

    sku_index: NDArray[np.int64]
    day_index: NDArray[np.int64]
    second_of_day: NDArray[np.int64]
    quantity: NDArray[np.int64]
    order_in_day: NDArray[np.int64]
    line_no: NDArray[np.int64]
    marketplace: NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class DemoSales:
    """A generated history: the daily price and units of every sku, and the order lines they came in."""

    first_day: date
    skus: tuple[str, ...]
    currencies: tuple[str, ...]
    # (sku, day): the price offered that day in minor units, and units sold.
    prices_minor: NDArray[np.int64]
    units: NDArray[np.int64]
    _lines: _LineColumns

    @property
    def days(self) -> tuple[date, ...]:
        return tuple(self.first_day + timedelta(days=offset) for offset in range(self.units.shape[1]))

    @property
    def line_count(self) -> int:
        return len(self._lines.quantity)

    def lines(self) -> Iterator[SalesLine]:
        """Every order line, in time order."""
        columns = self._lines
        midnights = [datetime.combine(day, time(), tzinfo=UTC) for day in self.days]
        stamps = [f"DEMO-{day:%Y%m%d}-" for day in self.days]
        prices = self.prices_minor[columns.sku_index, columns.day_index]
        for sku, day, price, second, quantity, order, line_no, marketplace in zip(
            columns.sku_index.tolist(),
            columns.day_index.tolist(),
            prices.tolist(),
            columns.second_of_day.tolist(),
            columns.quantity.tolist(),
            columns.order_in_day.tolist(),
            columns.line_no.tolist(),
            columns.marketplace.tolist(),
            strict=True,
        ):
            yield SalesLine(
                order_id=f"{stamps[day]}{order:06d}",
                line_no=line_no,
                sku=self.skus[sku],
                quantity=quantity,
                unit_price_minor=price,
                currency=self.currencies[sku],
                ordered_at=midnights[day] + timedelta(seconds=second),
                channel="marketplace" if marketplace else "web",
            )


def demand_profiles(catalog: DemoCatalog, seed: int = DEFAULT_SEED) -> tuple[SkuDemand, ...]:
    """The planted demand of every product of `catalog`, in catalog order."""
    rng = np.random.default_rng(_streams(seed)[0])
    products = catalog.products
    roots = _root_ids(catalog)
    unknown = sorted({root for root in roots if root not in CATEGORY_ELASTICITIES})
    if unknown:
        raise ValueError(f"no planted elasticity for top-level categories {unknown}")
    count = len(products)
    category_elasticity = np.array([CATEGORY_ELASTICITIES[root] for root in roots])
    elasticity = category_elasticity + SKU_ELASTICITY_SD * rng.standard_normal(count)
    price = np.array([product.price_minor for product in products], dtype=np.float64)
    typical = _UNITS_AT_REFERENCE * (price / _REFERENCE_PRICE_MINOR) ** _PRICE_EXPONENT
    base = np.clip(typical * np.exp(_BASE_SPREAD * rng.standard_normal(count)), *_BASE_UNITS_RANGE)
    thin = rng.random(count) < _THIN_SHARE
    base = np.where(thin, rng.uniform(*_THIN_UNITS_PER_DAY, size=count), base)
    trend = rng.normal(_TREND_MEAN, _TREND_SD, size=count)
    fixed_price = rng.random(count) < _FIXED_PRICE_SHARE
    return tuple(
        SkuDemand(product.sku, root, float(e), float(b), float(g), not bool(fixed))
        for product, root, e, b, g, fixed in zip(products, roots, elasticity, base, trend, fixed_price, strict=True)
    )


def planted_elasticities(catalog: DemoCatalog, seed: int = DEFAULT_SEED) -> dict[str, float]:
    """The elasticity planted for each sku of `catalog`."""
    return {profile.sku: profile.elasticity for profile in demand_profiles(catalog, seed)}


def generate_sales(
    catalog: DemoCatalog, *, seed: int = DEFAULT_SEED, end: datetime | None = None, days: int = DEFAULT_DAYS
) -> DemoSales:
    """`days` whole UTC days of sales of every product of `catalog`, ending at the UTC midnight at or before
    `end` (default: now); the same arguments always give the same history."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if end is None:
        end = datetime.now(UTC)
    if end.tzinfo is None:
        raise ValueError("end must be a timezone-aware datetime")
    first_day = end.astimezone(UTC).date() - timedelta(days=days)
    profiles = demand_profiles(catalog, seed)
    _, price_stream, sales_stream = _streams(seed)
    prices = _price_schedule(catalog, profiles, days, np.random.default_rng(price_stream))
    rng = np.random.default_rng(sales_stream)
    units = rng.poisson(_expected_units(catalog, profiles, prices, first_day))
    return DemoSales(
        first_day=first_day,
        skus=tuple(product.sku for product in catalog.products),
        currencies=tuple(product.currency for product in catalog.products),
        prices_minor=prices,
        units=units.astype(np.int64),
        _lines=_order_lines(units, rng),
    )


def _streams(seed: int) -> list[np.random.SeedSequence]:
    """Independent streams for the sku profiles, the price schedule and the sales, so each is stable alone."""
    return np.random.SeedSequence(seed).spawn(3)


def _root_ids(catalog: DemoCatalog) -> list[str]:
    parent_of = {category.id: category.parent_id for category in catalog.categories}
    roots: dict[str, str] = {}
    for category_id in parent_of:
        root = category_id
        while (parent := parent_of[root]) is not None:
            root = parent
        roots[category_id] = root
    return [roots[product.category_id] for product in catalog.products]


def _price_schedule(
    catalog: DemoCatalog, profiles: tuple[SkuDemand, ...], days: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    """(sku, day) prices in minor units: runs of 7 to 28 days at the catalog price, a promotion or a step up."""
    count = len(profiles)
    # Enough runs of the shortest length to cover the history after the largest start offset.
    segments = (days + _SEGMENT_DAYS[1]) // _SEGMENT_DAYS[0] + 1
    lengths = rng.integers(_SEGMENT_DAYS[0], _SEGMENT_DAYS[1] + 1, size=(count, segments))
    # The history starts part-way through a run.
    ends = np.cumsum(lengths, axis=1) - rng.integers(0, _SEGMENT_DAYS[1], size=(count, 1))
    choice = rng.choice(len(_PRICE_MULTIPLIERS), size=(count, segments), p=_PRICE_MULTIPLIER_WEIGHTS)
    segment_prices = np.empty((count, segments), dtype=np.int64)
    for row, (product, profile) in enumerate(zip(catalog.products, profiles, strict=True)):
        for column, multiplier in enumerate(_PRICE_MULTIPLIERS[choice[row]].tolist()):
            segment_prices[row, column] = _moved_price(product.price_minor, product.cost_minor, multiplier)
        if not profile.price_moves:
            segment_prices[row] = product.price_minor
    segment_of_day = (ends[:, None, :] <= np.arange(days)[None, :, None]).sum(axis=2)
    return np.take_along_axis(segment_prices, segment_of_day, axis=1)


def _moved_price(price_minor: int, cost_minor: int, multiplier: float) -> int:
    """The price point nearest `multiplier` times the price (a .99 price where the grid of price points is too
    coarse for the move); the price itself when that would undercut cost."""
    if multiplier == 1.0:
        return price_minor
    target = round(price_minor * multiplier)
    moved = nearest_price_point(target, _ENDINGS.get(price_minor % 100, 99))
    if abs(moved - target) > _MAX_SNAP * price_minor:
        moved = max(round(target, -2) - 1, 99)
    return moved if moved > cost_minor else price_minor


def _expected_units(
    catalog: DemoCatalog, profiles: tuple[SkuDemand, ...], prices: NDArray[np.int64], first_day: date
) -> NDArray[np.float64]:
    days = prices.shape[1]
    catalog_price = np.array([product.price_minor for product in catalog.products], dtype=np.float64)
    elasticity = np.array([profile.elasticity for profile in profiles])
    base = np.array([profile.base_units_per_day for profile in profiles])
    trend = np.array([profile.trend_per_year for profile in profiles])
    years_before_end = (np.arange(days) - (days - 1)) / 365.0
    weekday = _WEEKDAY_FACTORS[(first_day.weekday() + np.arange(days)) % 7]
    relative_price = prices / catalog_price[:, None]
    expected: NDArray[np.float64] = (
        base[:, None]
        * relative_price ** elasticity[:, None]
        * np.exp(trend[:, None] * years_before_end[None, :])
        * weekday[None, :]
    )
    return expected


def _order_lines(units: NDArray[np.int64], rng: np.random.Generator) -> _LineColumns:
    """Units split into order lines and the lines of each day grouped into orders, all sorted by time."""
    sku_of_cell, day_of_cell = np.nonzero(units)
    cell_of_unit = np.repeat(np.arange(len(sku_of_cell)), units[sku_of_cell, day_of_cell])
    first_of_cell = np.ones(len(cell_of_unit), dtype=np.bool_)
    first_of_cell[1:] = cell_of_unit[1:] != cell_of_unit[:-1]
    starts_line = first_of_cell | (rng.random(len(cell_of_unit)) >= _SAME_LINE_SHARE)
    quantity = np.bincount(np.cumsum(starts_line) - 1)
    cell_of_line = cell_of_unit[starts_line]
    sku = sku_of_cell[cell_of_line].astype(np.int64)
    day = day_of_cell[cell_of_line].astype(np.int64)
    hour = rng.choice(24, size=len(sku), p=_HOURLY_WEIGHTS / _HOURLY_WEIGHTS.sum())
    second = hour * 3600 + rng.integers(0, 3600, size=len(sku))
    order = np.lexsort((rng.random(len(sku)), second, day))
    sku, day, second, quantity = sku[order], day[order], second[order], quantity[order]
    starts_order = _order_starts(sku, day, rng.random(len(sku)) < _NEW_ORDER_SHARE)
    order_of_line = np.cumsum(starts_order) - 1
    first_line_of_order = np.flatnonzero(starts_order)
    line_no = np.arange(len(sku)) - first_line_of_order[order_of_line] + 1
    # An order's lines share the time of its first line.
    second = second[first_line_of_order][order_of_line]
    order_day = day[first_line_of_order]
    first_order_of_day = np.searchsorted(order_day, order_day, side="left")
    order_in_day = (np.arange(len(order_day)) - first_order_of_day + 1)[order_of_line]
    marketplace = (rng.random(len(order_day)) < _MARKETPLACE_SHARE)[order_of_line]
    return _LineColumns(sku, day, second, quantity, order_in_day, line_no.astype(np.int64), marketplace)


def _order_starts(sku: NDArray[np.int64], day: NDArray[np.int64], drawn: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Which lines start an order: the drawn ones, each day's first, and any that would repeat a sku in its order."""
    starts = drawn.copy()
    if len(starts) == 0:
        return starts
    starts[0] = True
    starts[1:] |= day[1:] != day[:-1]
    while True:
        order_of_line = np.cumsum(starts) - 1
        pairs = order_of_line * (int(sku.max()) + 1) + sku
        _, first_seen = np.unique(pairs, return_index=True)
        repeated = np.ones(len(sku), dtype=np.bool_)
        repeated[first_seen] = False
        if not repeated.any():
            return starts
        starts |= repeated
