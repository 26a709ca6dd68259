"""One pricing pass: load a scope's products, their strategies, market prices and demand models, and run
the vectorised engine once per currency. Reprice runs store what it computes; simulations only report it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runtime.auth import Principal
from runtime.errors import FailedPrecondition, InvalidArgument
from runtime.money import currency_exponent
from services.pricing.domain.assignment import ProductKey, StrategyResolver
from services.pricing.domain.engine import PricingEngine, PricingInputs, PricingOutcome
from services.pricing.domain.records import DemandModelRecord, StoredStrategy
from services.pricing.repository import Repositories
from services.pricing.strategy_config import CurrencyMismatch, spec_from_config
from services.pricing.upstream import CatalogProduct, MarketPrice, Upstream

MAX_SCOPE_SKUS = 10_000
# Reads of pricing's own store (models, running experiments) per query.
STORE_CHUNK = 10_000
# Above this many skus needing a market, paging through every sku with offers beats asking by sku.
WHOLE_MARKET_FROM = 20_000
# The engine keeps this many of the lowest competitor prices per sku; more never changes a lowest,
# median or band decision enough to matter and would widen every market matrix.
MAX_MARKET_COLUMNS = 32
CHUNK = 1_000


def validate_scope(scope: Mapping[str, Any]) -> dict[str, Any]:
    if scope.get("all"):
        return {"all": True}
    if "category_id" in scope:
        category_id = str(scope["category_id"]).strip()
        if not category_id:
            raise InvalidArgument("a category scope names a category", field="scope.category_id")
        return {"category_id": category_id}
    if "skus" in scope:
        skus = list(dict.fromkeys(str(sku) for sku in scope["skus"]))
        if not skus:
            raise InvalidArgument("a sku scope lists at least one sku", field="scope.skus")
        if len(skus) > MAX_SCOPE_SKUS:
            raise InvalidArgument(f"a sku scope lists at most {MAX_SCOPE_SKUS:,} skus", field="scope.skus")
        return {"skus": skus}
    raise InvalidArgument("the scope is all, a category or a list of skus", field="scope")


async def check_scope(upstream: Upstream, principal: Principal, scope: Mapping[str, Any]) -> int | None:
    """Refuse a scope that cannot be priced, as load_scope would, without loading a whole catalog: the
    number of products for a sku list, None (unknown until a worker loads it) for a catalog or category."""
    if "skus" in scope:
        return len(await load_scope(upstream, principal, scope))
    category_id = str(scope.get("category_id", ""))
    if category_id and category_id not in await upstream.category_parents(principal):
        raise InvalidArgument(f"category {category_id!r} does not exist", field="scope.category_id")
    async for page in upstream.products(principal, category_id=category_id, page_size=1):
        if page:
            return None
        break
    where = f"category {category_id!r}" if category_id else "the catalog"
    raise FailedPrecondition(f"{where} has no active products to price", field="scope")


async def load_scope(upstream: Upstream, principal: Principal, scope: Mapping[str, Any]) -> list[CatalogProduct]:
    """The active products in scope; InvalidArgument for unknown categories or skus (another organisation's
    skus are unknown here), FailedPrecondition when nothing is left to price."""
    if "skus" in scope:
        wanted: list[str] = list(scope["skus"])
        products = await upstream.products_by_sku(principal, wanted)
        found = {product.sku for product in products}
        missing = [sku for sku in wanted if sku not in found]
        if missing:
            shown = ", ".join(repr(sku) for sku in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise InvalidArgument(f"no active product with sku {shown}{more}", field="scope.skus")
        return products
    category_id = str(scope.get("category_id", ""))
    if category_id and category_id not in await upstream.category_parents(principal):
        raise InvalidArgument(f"category {category_id!r} does not exist", field="scope.category_id")
    products = [product async for page in upstream.products(principal, category_id=category_id) for product in page]
    if not products:
        where = f"category {category_id!r}" if category_id else "the catalog"
        raise FailedPrecondition(f"{where} has no active products to price", field="scope")
    return products


@dataclass(eq=False)
class PricedGroup:
    """The products of one currency, as the engine priced them."""

    currency: str
    engine: PricingEngine
    inputs: PricingInputs
    outcome: PricingOutcome
    products: list[CatalogProduct]
    # The stored strategy behind each of the engine's strategy indexes.
    strategies: list[StoredStrategy]
    models: list[DemandModelRecord | None]


@dataclass(eq=False)
class PricingPass:
    groups: list[PricedGroup] = field(default_factory=list)
    # Products no assignment applies to, products whose strategy sets amounts in another currency,
    # and products under a running price experiment: none of them is priced.
    unassigned: int = 0
    currency_mismatch: int = 0
    in_experiment: int = 0
    competitor_names: dict[int, str] = field(default_factory=dict)

    @property
    def priced(self) -> int:
        return sum(len(group.products) for group in self.groups)


async def price_products(
    principal: Principal,
    products: Sequence[CatalogProduct],
    *,
    repositories: Repositories,
    upstream: Upstream,
    strategy_ids: Sequence[str] = (),
) -> PricingPass:
    """Price `products` with their assigned strategies, or every one of them with the single strategy in
    `strategy_ids` (what a simulation of one strategy over a scope asks for)."""
    organization_id = principal.organization_id
    result = PricingPass()
    if strategy_ids:
        stored = await repositories.strategies.get_many(organization_id, list(strategy_ids))
        missing = [sid for sid in strategy_ids if sid not in stored]
        if missing:
            raise InvalidArgument(f"strategy {missing[0]!r} does not exist", field="strategy_ids")
        chosen: list[str | None] = [strategy_ids[0]] * len(products)
    else:
        resolver = StrategyResolver(
            await repositories.assignments.list_all(organization_id), await upstream.category_parents(principal)
        )
        chosen = [resolver.strategy_for(ProductKey(p.sku, p.brand, p.category_id)) for p in products]
        stored = await repositories.strategies.get_many(organization_id, {sid for sid in chosen if sid})
    in_experiment: set[str] = set()
    for start in range(0, len(products), STORE_CHUNK):
        chunk_skus = [product.sku for product in products[start : start + STORE_CHUNK]]
        in_experiment |= await repositories.experiments.running_for_skus(organization_id, chunk_skus)

    priced: list[tuple[CatalogProduct, StoredStrategy]] = []
    for product, strategy_id in zip(products, chosen, strict=True):
        strategy = stored.get(strategy_id) if strategy_id else None
        if strategy is None:
            result.unassigned += 1
        elif product.sku in in_experiment:
            result.in_experiment += 1
        else:
            priced.append((product, strategy))
    if not priced:
        return result

    skus = [product.sku for product, _ in priced]
    needs_market = [product.sku for product, strategy in priced if _uses_market(strategy)]
    if len(needs_market) >= WHOLE_MARKET_FROM:
        markets = await upstream.all_market_prices(principal)
    else:
        markets = await upstream.market_prices(principal, needs_market) if needs_market else {}
    names = await upstream.competitor_names(principal) if markets else {}
    columns: dict[str, int] = {}
    models: dict[str, DemandModelRecord] = {}
    for start in range(0, len(skus), STORE_CHUNK):
        models.update(await repositories.models.get_many(organization_id, skus[start : start + STORE_CHUNK]))

    by_currency: dict[str, list[tuple[CatalogProduct, StoredStrategy]]] = defaultdict(list)
    for product, strategy in priced:
        by_currency[product.price.currency].append((product, strategy))
    for currency, rows in sorted(by_currency.items()):
        group = _price_currency(currency, rows, markets, models, columns, result)
        if group is not None:
            result.groups.append(group)
    result.competitor_names = {column: names.get(cid, cid) for cid, column in columns.items()}
    return result


def _uses_market(strategy: StoredStrategy) -> bool:
    market_rules = {"match_lowest", "beat_lowest", "match_median", "price_index", "keep_within_band"}
    return any(rule["kind"] in market_rules for rule in strategy.config["rules"])


def _price_currency(
    currency: str,
    rows: list[tuple[CatalogProduct, StoredStrategy]],
    markets: Mapping[str, list[MarketPrice]],
    models: Mapping[str, DemandModelRecord],
    columns: dict[str, int],
    result: PricingPass,
) -> PricedGroup | None:
    specs: list[StoredStrategy] = []
    index_of: dict[str, int] = {}
    kept: list[tuple[CatalogProduct, int]] = []
    for product, strategy in rows:
        index = index_of.get(strategy.id)
        if index is None:
            for competitor_id in strategy.config["competitor_ids"]:
                columns.setdefault(competitor_id, len(columns))
            try:
                spec_from_config(strategy.name, strategy.config, currency=currency, competitor_index={})
            except CurrencyMismatch:
                index_of[strategy.id] = -1
                result.currency_mismatch += 1
                continue
            index = index_of[strategy.id] = len(specs)
            specs.append(strategy)
        if index < 0:
            result.currency_mismatch += 1
            continue
        kept.append((product, index))
    if not kept:
        return None
    # Rows grouped by strategy: the engine then prices each strategy's rows as one zero-copy slice.
    kept.sort(key=lambda item: item[1])
    for product, _ in kept:
        for price in markets.get(product.sku, ()):
            columns.setdefault(price.competitor_id, len(columns))
    # The engine's specs, now that every competitor has its column.
    engine_specs = [
        spec_from_config(strategy.name, strategy.config, currency=currency, competitor_index=columns)
        for strategy in specs
    ]
    n = len(kept)
    products = [product for product, _ in kept]
    row_models = [models.get(product.sku) for product in products]
    market_price, market_competitor, market_age = _market_matrices(products, markets, columns, currency)

    def minor(values: list[int | None]) -> np.ndarray[Any, np.dtype[np.float64]]:
        return np.array([np.nan if value is None else value for value in values], dtype=np.float64)

    inputs = PricingInputs.build(
        current_price=np.fromiter((p.price.amount_minor for p in products), dtype=np.float64, count=n),
        strategy=np.fromiter((index for _, index in kept), dtype=np.intp, count=n),
        cost=minor([None if p.cost is None else p.cost.amount_minor for p in products]),
        map_price=minor([None if p.map_price is None else p.map_price.amount_minor for p in products]),
        market_price=market_price,
        market_competitor=market_competitor,
        market_age_seconds=market_age,
        # An infinite fit is no model: NaN makes the engine treat it as missing.
        elasticity=np.nan_to_num(
            minor([None if m is None else m.elasticity for m in row_models]),  # type: ignore[misc]
            nan=np.nan,
            posinf=np.nan,
            neginf=np.nan,
        ),
        elasticity_reliable=np.array([m is not None and m.reliable for m in row_models], dtype=np.bool_),
        elasticity_se=minor([None if m is None else m.standard_error for m in row_models]),  # type: ignore[misc]
    )
    engine = PricingEngine(engine_specs, currency_exponent(currency))
    return PricedGroup(currency, engine, inputs, engine.price(inputs), products, specs, row_models)


def _market_matrices(
    products: Sequence[CatalogProduct],
    markets: Mapping[str, list[MarketPrice]],
    columns: Mapping[str, int],
    currency: str,
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(n, k) prices, competitor columns and ages of the in-stock offers in the products' currency.

    Out-of-stock offers are left out: a price nobody can buy at is no market. Prices in another currency
    are left out too, as no exchange rate is assumed.
    """
    usable = [
        [price for price in markets.get(product.sku, ()) if price.in_stock and price.price.currency == currency][
            :MAX_MARKET_COLUMNS
        ]
        for product in products
    ]
    k = max((len(prices) for prices in usable), default=0)
    n = len(products)
    price_matrix = np.full((n, k), np.nan)
    competitor_matrix = np.full((n, k), -1, dtype=np.int32)
    age_matrix = np.full((n, k), np.nan)
    for row, prices in enumerate(usable):
        for column, price in enumerate(prices):
            price_matrix[row, column] = price.price.amount_minor
            competitor_matrix[row, column] = columns[price.competitor_id]
            age_matrix[row, column] = price.age_seconds
    return price_matrix, competitor_matrix, age_matrix
