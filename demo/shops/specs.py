"""The demo competitor shops: who they are, what they carry and how they price, as plain data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ShopStyle = Literal["json_ld", "microdata", "european", "javascript"]


@dataclass(frozen=True, slots=True)
class ShopSpec:
    # Stable key used in URLs of the admin API, presets and hashes; the shop's port is base + its index in SHOPS.
    key: str
    name: str
    style: ShopStyle
    currency: str
    # Root categories of the demo taxonomy the shop is in, and how many leaf categories under them it lists.
    roots: tuple[str, ...]
    leaves: int
    # Share of our active products in those leaves that it also sells.
    coverage: float
    # Products it sells that our catalog does not have; the last `launches` of them appear one per time
    # bucket after the shop starts ("new product" alerts).
    extras: int
    launches: int
    # Price habit relative to our price: mean ratio and half-width of the per-product spread, the share of
    # products it sells far below us, and the share of MAP-protected products it sells below MAP.
    price_ratio: float
    spread: float
    undercut_share: float
    below_map_share: float
    out_of_stock_share: float
    # Last digit(s) of its prices: prices under 100 end in this digit on ten-cent steps, dearer ones in these cents.
    cents: int
    page_size: int
    # Shipping fee by price band: (from price, fee), both in minor units, ascending.
    shipping: tuple[tuple[int, int], ...]
    # Share of products that show a GTIN, and an MPN, on the page.
    gtin_share: float
    mpn_share: float
    # First shop-local product number.
    first_id: int


SHOPS: tuple[ShopSpec, ...] = (
    ShopSpec(
        key="nova",
        name="Nova Retail",
        style="json_ld",
        currency="EUR",
        roots=("Electronics", "Home & Kitchen"),
        leaves=9,
        coverage=0.8,
        extras=12,
        launches=3,
        price_ratio=0.97,
        spread=0.04,
        undercut_share=0.12,
        below_map_share=0.3,
        out_of_stock_share=0.06,
        cents=99,
        page_size=24,
        shipping=((0, 499), (5_000, 0)),
        gtin_share=0.95,
        mpn_share=1.0,
        first_id=10_001,
    ),
    ShopSpec(
        key="meridian",
        name="Meridian Goods",
        style="microdata",
        currency="EUR",
        roots=("Fashion", "Sports & Outdoors", "Electronics"),
        leaves=9,
        coverage=0.8,
        extras=10,
        launches=2,
        price_ratio=1.03,
        spread=0.05,
        undercut_share=0.05,
        below_map_share=0.1,
        out_of_stock_share=0.1,
        cents=95,
        page_size=24,
        shipping=((0, 395), (10_000, 0)),
        gtin_share=0.7,
        mpn_share=1.0,
        first_id=20_001,
    ),
    ShopSpec(
        key="lindner",
        name="Kaufhaus Lindner",
        style="european",
        currency="EUR",
        roots=("Home & Kitchen", "Garden & DIY", "Toys & Games", "Electronics", "Pet Supplies"),
        leaves=10,
        coverage=0.75,
        extras=10,
        launches=2,
        price_ratio=0.99,
        spread=0.08,
        undercut_share=0.1,
        below_map_share=0.2,
        out_of_stock_share=0.08,
        cents=95,
        page_size=20,
        shipping=((0, 495), (50_000, 2_995)),
        gtin_share=0.6,
        mpn_share=0.6,
        first_id=300_001,
    ),
    ShopSpec(
        key="pixel",
        name="Pixel Bazaar",
        style="javascript",
        currency="EUR",
        roots=("Electronics", "Toys & Games"),
        leaves=8,
        coverage=0.75,
        extras=8,
        launches=2,
        price_ratio=0.95,
        spread=0.06,
        undercut_share=0.15,
        below_map_share=0.25,
        out_of_stock_share=0.12,
        cents=99,
        page_size=24,
        shipping=((0, 299), (2_500, 0)),
        gtin_share=0.8,
        mpn_share=0.9,
        first_id=40_001,
    ),
)


def shop_spec(key: str) -> ShopSpec:
    for spec in SHOPS:
        if spec.key == key:
            return spec
    raise KeyError(f"no demo shop {key!r}; the shops are {', '.join(spec.key for spec in SHOPS)}")
