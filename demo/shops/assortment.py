"""What each demo shop sells: a deterministic pick of our demo catalog plus a few products we do not carry."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from demo.catalog import DemoCatalog, DemoProduct
from demo.gtin import gtin_check_digit
from demo.price_points import nearest_price_point
from demo.shops.specs import ShopSpec
from demo.shops.text import GERMAN_CATEGORY_NAMES, german_title, slug
from demo.taxonomy import LEAVES, LeafSpec

# Model names no product of our catalog uses, so the shops' own products never match ours by title.
_FOREIGN_SERIES = ("Zenith", "Orbit", "Quantum", "Vertex", "Lumen", "Halo", "Nimbus", "Aurora", "Krypton", "Solstice")
# GS1 UK prefixes: our catalog's GTINs use German ones (400-440), so the shops' own GTINs never collide.
_FOREIGN_GS1 = range(500, 510)


@dataclass(frozen=True, slots=True)
class ShopCategory:
    slug: str
    name: str
    # Our leaf category it corresponds to.
    category_id: str


@dataclass(frozen=True, slots=True)
class ShopItem:
    id: int
    # Unique within the shop.
    slug: str
    # As the shop writes it.
    title: str
    brand: str
    # What the product page shows; None when this shop does not print it for this product.
    gtin: str | None
    mpn: str | None
    category: ShopCategory
    # The list price the shop's prices derive from, and the brand's minimum advertised price if any.
    base_minor: int
    map_minor: int | None
    # Our sku when the product is in our catalog; None for products we do not carry.
    sku: str | None
    # Time buckets after the shop starts before it is listed; 0 means from the start.
    launch_after: int


@dataclass(frozen=True, slots=True)
class Assortment:
    categories: tuple[ShopCategory, ...]
    # Ordered by id.
    items: tuple[ShopItem, ...]


def build_assortment(spec: ShopSpec, catalog: DemoCatalog) -> Assortment:
    """The same spec and catalog always give the same assortment."""
    rng = random.Random(f"demo-shop:{spec.key}")
    leaf_specs = _leaf_specs(catalog)
    eligible = [leaf for leaf in leaf_specs if catalog.root_id(leaf) in _root_ids(catalog, spec.roots)]
    if not eligible:
        raise ValueError(f"shop {spec.key!r}: the catalog has no leaf category under {spec.roots}")
    chosen = sorted(rng.sample(eligible, min(spec.leaves, len(eligible))), key=eligible.index)
    categories = {leaf: _category(spec, leaf, leaf_specs[leaf]) for leaf in chosen}

    ours = [
        product
        for product in catalog.products
        if product.status == "active" and product.category_id in categories and rng.random() < spec.coverage
    ]
    drafts: list[_Draft] = [_ours(spec, product, categories[product.category_id], leaf_specs, rng) for product in ours]
    foreign = [_foreign(spec, categories[leaf], leaf_specs[leaf], rng) for leaf in _spread(chosen, spec.extras, rng)]
    launching = foreign[len(foreign) - spec.launches :] if spec.launches else []
    listed = drafts + foreign[: len(foreign) - len(launching)]
    rng.shuffle(listed)

    items: list[ShopItem] = []
    taken: set[str] = set()
    schedule = [(draft, 0) for draft in listed] + [(draft, order) for order, draft in enumerate(launching, start=1)]
    for index, (draft, launch_after) in enumerate(schedule):
        item_id = spec.first_id + index
        text = slug(draft.title)
        unique = text if text not in taken else f"{text}-{item_id}"
        taken.add(unique)
        show_gtin = rng.random() < spec.gtin_share
        show_mpn = rng.random() < spec.mpn_share
        items.append(
            ShopItem(
                id=item_id,
                slug=unique,
                title=draft.title,
                brand=draft.brand,
                gtin=draft.gtin if show_gtin else None,
                mpn=draft.mpn if show_mpn else None,
                category=draft.category,
                base_minor=draft.base_minor,
                map_minor=draft.map_minor,
                sku=draft.sku,
                launch_after=launch_after,
            )
        )
    return Assortment(tuple(categories.values()), tuple(items))


@dataclass(frozen=True, slots=True)
class _Draft:
    title: str
    brand: str
    gtin: str
    mpn: str
    category: ShopCategory
    base_minor: int
    map_minor: int | None
    sku: str | None


def _leaf_specs(catalog: DemoCatalog) -> dict[str, LeafSpec]:
    """Our leaf category ids and the taxonomy entry each was built from, matched by their names' path."""
    by_id = {category.id: category for category in catalog.categories}
    by_path = {spec.path: spec for spec in LEAVES}
    found: dict[str, LeafSpec] = {}
    for leaf in sorted(catalog.leaf_category_ids):
        path: list[str] = []
        current: str | None = leaf
        while current is not None:
            path.insert(0, by_id[current].name)
            current = by_id[current].parent_id
        if tuple(path) in by_path:
            found[leaf] = by_path[tuple(path)]
    return found


def _root_ids(catalog: DemoCatalog, names: tuple[str, ...]) -> set[str]:
    return {category.id for category in catalog.categories if category.parent_id is None and category.name in names}


def _category(spec: ShopSpec, leaf: str, leaf_spec: LeafSpec) -> ShopCategory:
    english = leaf_spec.path[-1]
    name = GERMAN_CATEGORY_NAMES.get(english, english) if spec.style == "european" else english
    return ShopCategory(slug=slug(name), name=name, category_id=leaf)


def _spread(leaves: list[str], count: int, rng: random.Random) -> list[str]:
    return [rng.choice(leaves) for _ in range(count)]


def _ours(
    spec: ShopSpec, product: DemoProduct, category: ShopCategory, leaf_specs: dict[str, LeafSpec], rng: random.Random
) -> _Draft:
    return _Draft(
        title=_title(spec, product, leaf_specs[product.category_id], rng),
        brand=product.brand,
        gtin=product.gtin,
        mpn=product.mpn,
        category=category,
        base_minor=product.price_minor,
        map_minor=product.map_minor,
        sku=product.sku,
    )


def _title(spec: ShopSpec, product: DemoProduct, leaf_spec: LeafSpec, rng: random.Random) -> str:
    head, *variants = product.title.split(", ")
    if spec.style == "european":
        line = max((line for line in leaf_spec.lines if head.endswith(f" {line}")), key=len, default="")
        series = head[len(product.brand) + 1 : len(head) - len(line) - 1] if line else head[len(product.brand) + 1 :]
        return german_title(product.brand, series.strip(), line, tuple(variants), reorder=rng.random() < 0.5)
    if spec.style == "javascript" and variants:
        return f"{head} - {' / '.join(variants)}"
    return product.title


def _foreign(spec: ShopSpec, category: ShopCategory, leaf_spec: LeafSpec, rng: random.Random) -> _Draft:
    brand = rng.choice(leaf_spec.brands)
    series = rng.choice(_FOREIGN_SERIES)
    line = rng.choice(leaf_spec.lines)
    title = f"{brand} {series} {line}"
    if spec.style == "european":
        title = german_title(brand, series, line, (), reorder=False)
    low, high = (euros * 100 for euros in leaf_spec.price_eur)
    amount = round(low * math.exp(math.log(high / low) * rng.random()))
    body = f"{rng.choice(_FOREIGN_GS1)}{rng.randrange(10**9):09d}"
    letters = "".join(char for char in brand.upper() if "A" <= char <= "Z")[:3] or "XX"
    return _Draft(
        title=title,
        brand=brand,
        gtin=f"{body}{gtin_check_digit(body)}",
        mpn=f"{letters}X{rng.randrange(10_000, 100_000)}",
        category=category,
        base_minor=nearest_price_point(amount, 99),
        map_minor=None,
        sku=None,
    )
