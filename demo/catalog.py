"""A deterministic demo catalog: the category tree of demo.taxonomy and products built from it.

Products come in models (one brand, series and product line) offered in variants (colours, sizes,
capacities); every variant is its own SKU with its own GTIN. The same count and seed always give the same
catalog, on any machine.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from demo.gtin import GtinAllocator
from demo.price_points import CENT_ENDINGS, CentEnding, nearest_price_point, price_point_at_most
from demo.taxonomy import BUDGET_BRANDS, HOUSE_BRANDS, LEAVES, PREMIUM_BRANDS, LeafSpec
from runtime.money import Money

CURRENCY = "EUR"
SKU_PREFIX = "DEMO-"
# Shares, in per cent of models: how often retail uses each cent ending, and how often a brand sets a
# minimum advertised price, a model is still a draft, or a variant is out of stock.
_ENDING_WEIGHTS = (60, 25, 15)
_MAP_PERCENT = 20
_DRAFT_PERCENT = 3
_OUT_OF_STOCK_PERCENT = 8
# How far below the price a brand's minimum advertised price sits, in per cent.
_MAP_DISCOUNT_PERCENT = (5, 15)

ProductStatus = Literal["active", "draft"]


@dataclass(frozen=True, slots=True)
class DemoCategory:
    id: str
    name: str
    # None for a root category.
    parent_id: str | None


@dataclass(frozen=True, slots=True)
class DemoProduct:
    sku: str
    title: str
    brand: str
    gtin: str
    mpn: str
    category_id: str
    currency: str
    cost_minor: int
    price_minor: int
    # Minimum advertised price; None when the brand sets none.
    map_minor: int | None
    stock: int
    attributes: dict[str, str]
    status: ProductStatus

    @property
    def cost(self) -> Money:
        return Money(self.cost_minor, self.currency)

    @property
    def price(self) -> Money:
        return Money(self.price_minor, self.currency)

    @property
    def map_price(self) -> Money | None:
        return None if self.map_minor is None else Money(self.map_minor, self.currency)


@dataclass(frozen=True, slots=True)
class DemoCatalog:
    # Parents before their children.
    categories: tuple[DemoCategory, ...]
    # Ordered by sku.
    products: tuple[DemoProduct, ...]

    @property
    def leaf_category_ids(self) -> frozenset[str]:
        parents = {category.parent_id for category in self.categories}
        return frozenset(category.id for category in self.categories if category.id not in parents)

    def root_id(self, category_id: str) -> str:
        """The root category above `category_id` (itself when it is a root)."""
        parent_of = {category.id: category.parent_id for category in self.categories}
        while (parent := parent_of[category_id]) is not None:
            category_id = parent
        return category_id


def generate_catalog(count: int = 1200, seed: int = 7) -> DemoCatalog:
    """`count` products over the whole demo category tree; the same arguments always give the same catalog."""
    if count < 0:
        raise ValueError(f"count must be zero or more, got {count}")
    rng = random.Random(seed)
    categories, leaf_ids = _category_tree(LEAVES)
    models: list[_Model] = []
    model_numbers = _ModelNumbers(rng)
    for spec, leaf_id, quota in zip(LEAVES, leaf_ids, _quotas(count, [spec.weight for spec in LEAVES]), strict=True):
        designer = _ModelDesigner(spec, leaf_id, rng, model_numbers)
        while quota > 0:
            model = designer.next_model(max_variants=quota)
            models.append(model)
            quota -= len(model.variants)
    # Shelve models in no particular category order, keeping each model's variants on consecutive SKUs.
    rng.shuffle(models)
    gtins = GtinAllocator(rng)
    products: list[DemoProduct] = []
    for model in models:
        products.extend(_products_of(model, len(products) + 1, rng, gtins))
    return DemoCatalog(categories, tuple(products))


def _slug(text: str) -> str:
    """ASCII, lower case, words joined by hyphens: "Home & Kitchen" -> "home-kitchen"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _category_tree(leaves: Sequence[LeafSpec]) -> tuple[tuple[DemoCategory, ...], list[str]]:
    """Every category on the leaves' paths, parents first, and the id of each leaf in order."""
    categories: dict[str, DemoCategory] = {}
    leaf_ids: list[str] = []
    for spec in leaves:
        parent_id: str | None = None
        for depth, name in enumerate(spec.path, start=1):
            category_id = "cat-" + "-".join(_slug(part) for part in spec.path[:depth])
            categories.setdefault(category_id, DemoCategory(category_id, name, parent_id))
            parent_id = category_id
        assert parent_id is not None
        leaf_ids.append(parent_id)
    return tuple(categories.values()), leaf_ids


def _quotas(count: int, weights: Sequence[int]) -> list[int]:
    """`count` split in proportion to `weights` (largest remainder, ties to the earlier leaf)."""
    total = sum(weights)
    quotas = [count * weight // total for weight in weights]
    by_remainder = sorted(range(len(weights)), key=lambda index: (-(count * weights[index] % total), index))
    for index in by_remainder[: count - sum(quotas)]:
        quotas[index] += 1
    return quotas


@dataclass(frozen=True, slots=True)
class _Variant:
    attributes: dict[str, str]
    title_suffix: str
    mpn_suffix: str
    price_minor: int


@dataclass(frozen=True, slots=True)
class _Model:
    leaf_id: str
    brand: str
    title: str
    mpn: str
    attributes: dict[str, str]
    margin_bps: int
    ending: CentEnding
    # Per cent below the price of the minimum advertised price; None when the brand sets none.
    map_discount_percent: int | None
    status: ProductStatus
    variants: tuple[_Variant, ...]


class _ModelNumbers:
    """Manufacturer model numbers, unique per brand across all its categories."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._taken: dict[str, set[int]] = {}

    def next_for(self, brand: str) -> str:
        taken = self._taken.setdefault(brand, set())
        number = self._rng.randint(1000, 9999)
        while number in taken:
            number += 1
        taken.add(number)
        letters = re.sub(r"[^A-Z]", "", unicodedata.normalize("NFKD", brand).upper())
        return f"{letters[:3]}{number}"


class _ModelDesigner:
    """Invents the models of one leaf category: brand, name, price position, margin and variants."""

    def __init__(self, spec: LeafSpec, leaf_id: str, rng: random.Random, model_numbers: _ModelNumbers) -> None:
        self._spec = spec
        self._leaf_id = leaf_id
        self._rng = rng
        self._model_numbers = model_numbers
        self._generations: Counter[tuple[str, str, str]] = Counter()

    def next_model(self, max_variants: int) -> _Model:
        spec, rng = self._spec, self._rng
        brand, series, line = rng.choice(spec.brands), rng.choice(spec.series), rng.choice(spec.lines)
        self._generations[brand, series, line] += 1
        generation = self._generations[brand, series, line]
        name = series if generation == 1 else f"{series} {generation}"
        fixed = {attribute: rng.choice(values) for attribute, values in spec.fixed.items()}
        ending = rng.choices(CENT_ENDINGS, weights=_ENDING_WEIGHTS)[0]
        entry_price = self._entry_price(brand)
        variants = self._variants(entry_price, ending, fixed.get("colour"))[:max_variants]
        has_map = brand not in HOUSE_BRANDS and rng.randrange(100) < _MAP_PERCENT
        return _Model(
            leaf_id=self._leaf_id,
            brand=brand,
            title=f"{brand} {name} {line}",
            mpn=self._model_numbers.next_for(brand),
            attributes=fixed,
            margin_bps=rng.randint(spec.margin_pct[0] * 100, spec.margin_pct[1] * 100),
            ending=ending,
            map_discount_percent=rng.randint(*_MAP_DISCOUNT_PERCENT) if has_map else None,
            status="draft" if rng.randrange(100) < _DRAFT_PERCENT else "active",
            variants=variants,
        )

    def _entry_price(self, brand: str) -> int:
        """Price of the entry variant before rounding: premium brands sit high in the range, budget ones low."""
        low, high = (euros * 100 for euros in self._spec.price_eur)
        position = self._rng.random()
        if brand in PREMIUM_BRANDS:
            position = 0.45 + 0.55 * position
        elif brand in BUDGET_BRANDS:
            position = 0.5 * position
        else:
            position = 0.1 + 0.75 * position
        # Prices spread evenly on a log scale, as retail assortments do.
        return round(low * math.exp(math.log(high / low) * position))

    def _variants(self, entry_price: int, ending: CentEnding, colour: str | None) -> tuple[_Variant, ...]:
        offered = [self._offered_values(axis.values, axis.picks, axis.ordered) for axis in self._spec.axes]
        variants = []
        for choice in itertools.product(*offered):
            amount = entry_price
            attributes: dict[str, str] = {}
            for axis, index in zip(self._spec.axes, choice, strict=True):
                attributes[axis.attribute] = axis.values[index]
                if axis.price_permille is not None:
                    amount = amount * axis.price_permille[index] // 1000
            suffix = [colour] if colour is not None else []
            variants.append(
                _Variant(
                    attributes=attributes,
                    title_suffix=", ".join([*suffix, *attributes.values()]),
                    mpn_suffix="".join(f"{index:02d}" for index in choice),
                    price_minor=nearest_price_point(amount, ending),
                )
            )
        return tuple(variants)

    def _offered_values(self, values: Sequence[str], picks: tuple[int, int], ordered: bool) -> list[int]:
        """Indexes of the values one model comes in: a consecutive run for sizes, any mix for colours."""
        how_many = min(self._rng.randint(*picks), len(values))
        if ordered:
            start = self._rng.randrange(len(values) - how_many + 1)
            return list(range(start, start + how_many))
        return sorted(self._rng.sample(range(len(values)), how_many))


def _products_of(model: _Model, first_index: int, rng: random.Random, gtins: GtinAllocator) -> list[DemoProduct]:
    """One product per variant of `model`, on consecutive SKUs from `first_index`."""
    products = []
    for index, variant in enumerate(model.variants, start=first_index):
        price = variant.price_minor
        cost = price * (10_000 - model.margin_bps) // 10_000
        products.append(
            DemoProduct(
                sku=f"{SKU_PREFIX}{index:06d}",
                title=f"{model.title}, {variant.title_suffix}" if variant.title_suffix else model.title,
                brand=model.brand,
                gtin=gtins.next_for(model.brand),
                mpn=f"{model.mpn}-{variant.mpn_suffix}" if variant.mpn_suffix else model.mpn,
                category_id=model.leaf_id,
                currency=CURRENCY,
                cost_minor=cost,
                price_minor=price,
                map_minor=_map_price(price, cost, model),
                stock=_stock(price, rng),
                attributes={**model.attributes, **variant.attributes},
                status=model.status,
            )
        )
    return products


def _map_price(price: int, cost: int, model: _Model) -> int | None:
    """A price point some per cent below the price; the price itself when that would undercut cost."""
    if model.map_discount_percent is None:
        return None
    floor = price_point_at_most(price - price * model.map_discount_percent // 100, model.ending)
    return floor if floor is not None and floor >= cost else price


def _stock(price: int, rng: random.Random) -> int:
    """Units on hand: some variants sold out, cheap ones stocked deep, big-ticket ones a few at a time."""
    if rng.randrange(100) < _OUT_OF_STOCK_PERCENT:
        return 0
    if price < 2_000:
        return rng.randint(10, 400)
    if price < 10_000:
        return rng.randint(3, 150)
    if price < 50_000:
        return rng.randint(1, 60)
    return rng.randint(1, 20)
