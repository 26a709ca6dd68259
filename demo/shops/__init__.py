"""Demo competitor shops on loopback: four shops with deliberately different markup, built from the demo catalog.

`python -m demo.shops` serves them all from one process (shop i of SHOPS on base port + i); tests and
benchmarks use `running_shops` (async) or `shops_in_thread`. Prices move with the clock in time buckets,
and a loopback-only admin API under /__demo/ ticks time, switches layouts and simulates outages.
"""

from demo.shops.assortment import ShopCategory, ShopItem
from demo.shops.presets import (
    CompetitorPreset,
    SourcePreset,
    allow_hosts,
    competitor_presets,
    shop_base_urls,
)
from demo.shops.prices import ShopOffer, offer_at
from demo.shops.server import RunningShops, running_shops, shops_in_thread
from demo.shops.shop import Shop
from demo.shops.specs import SHOPS, ShopSpec, shop_spec

__all__ = [
    "SHOPS",
    "CompetitorPreset",
    "RunningShops",
    "Shop",
    "ShopCategory",
    "ShopItem",
    "ShopOffer",
    "ShopSpec",
    "SourcePreset",
    "allow_hosts",
    "competitor_presets",
    "offer_at",
    "running_shops",
    "shop_base_urls",
    "shop_spec",
    "shops_in_thread",
]
