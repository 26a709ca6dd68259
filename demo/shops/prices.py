"""What a demo shop charges for a product in a time bucket: a pure function of (shop, product, bucket).

Nothing is stored: each bucket, a share of products "changes price" (a hash of shop, product and bucket
says so) and keeps that price until its next change; likewise for stock. Looking back for the last change
is bounded, because every ANCHOR_EVERY-th bucket counts as a change too (staggered per product, so no
bucket moves every price at once).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from demo.shops.assortment import ShopItem
from demo.shops.specs import ShopSpec

# Per bucket: the share of products whose price moves, and whose stock state is redrawn.
PRICE_CHANGE_SHARE = 0.15
STOCK_CHANGE_SHARE = 0.04
# A price move is a drift of up to ± this much around the product's position…
DRIFT = 0.04
# …or, this often, a promotion 12-20 % below it (shown with the regular price struck through).
PROMO_SHARE = 0.1
ANCHOR_EVERY = 48
# Share of products that show a recommended retail price above their price when not on promotion.
RRP_SHARE = 0.15
INSTALMENT_MONTHS = 24


@dataclass(frozen=True, slots=True)
class ShopOffer:
    price_minor: int
    currency: str
    # The struck-through price beside it (regular price during a promotion, or an RRP); None when none is shown.
    was_minor: int | None
    in_stock: bool
    shipping_minor: int

    @property
    def instalment_minor(self) -> int:
        """Monthly instalment over INSTALMENT_MONTHS, rounded up to the cent."""
        return -(-self.price_minor // INSTALMENT_MONTHS)


def unit(*parts: object) -> float:
    """A uniform number in [0, 1) determined by `parts` alone (stable across runs and machines)."""
    digest = hashlib.blake2b("|".join(str(part) for part in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def last_change(shop: str, item: int, stream: str, bucket: int, share: float) -> int:
    """The latest bucket at or before `bucket` in which `stream` (price or stock) changed for this product."""
    phase = int(unit(shop, item, stream, "phase") * ANCHOR_EVERY)
    for candidate in range(bucket, bucket - ANCHOR_EVERY, -1):
        if (candidate + phase) % ANCHOR_EVERY == 0 or unit(shop, item, stream, candidate) < share:
            return candidate
    raise AssertionError("unreachable: an anchor bucket lies within ANCHOR_EVERY buckets")


def price_point(amount_minor: float, cents: int, *, at_most: bool = False) -> int:
    """A shop price near `amount_minor` (or the highest one not above it): ten-cent steps ending in the last digit
    of `cents` under 100, whole units ending in `cents` from 100 on."""
    if amount_minor < 10_000:
        step, offset = 10, cents % 10
    else:
        step, offset = 100, cents
    steps = (amount_minor - offset) / step
    whole = int(steps // 1) if at_most else round(steps)
    return max(offset if offset > 0 else step, whole * step + offset)


def offer_at(spec: ShopSpec, item: ShopItem, bucket: int) -> ShopOffer:
    position = unit(spec.key, item.id, "position")
    shape = unit(spec.key, item.id, "shape")
    change = last_change(spec.key, item.id, "price", bucket, PRICE_CHANGE_SHARE)
    drift = 1 + DRIFT * (2 * unit(spec.key, item.id, "drift", change) - 1)
    below_map = item.map_minor is not None and position < spec.below_map_share
    if below_map:
        assert item.map_minor is not None
        regular = price_point(item.map_minor * (0.88 + 0.06 * shape) * drift, spec.cents, at_most=True)
    elif position >= 1 - spec.undercut_share:
        regular = price_point(item.base_minor * (0.8 + 0.08 * shape) * drift, spec.cents)
    else:
        ratio = spec.price_ratio + spec.spread * (2 * shape - 1)
        regular = price_point(item.base_minor * ratio * drift, spec.cents)
    price, was = regular, None
    if unit(spec.key, item.id, "promo", change) < PROMO_SHARE:
        depth = 0.8 + 0.08 * unit(spec.key, item.id, "depth", change)
        price = price_point(regular * depth, spec.cents, at_most=True)
        was = regular if regular > price else None
    elif unit(spec.key, item.id, "rrp") < RRP_SHARE:
        rrp = price_point(item.base_minor * 1.15, spec.cents)
        was = rrp if rrp > price else None
    stock_change = last_change(spec.key, item.id, "stock", bucket, STOCK_CHANGE_SHARE)
    in_stock = unit(spec.key, item.id, "in-stock", stock_change) >= spec.out_of_stock_share
    shipping = next(fee for start, fee in reversed(spec.shipping) if price >= start)
    return ShopOffer(price, spec.currency, was, in_stock, shipping)
