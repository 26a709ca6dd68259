"""Seeds the demo organisation over gRPC: its admin user, category tree, catalog, 180 days of sales,
competitors with fresh prices, two pricing strategies and a first demand-model fit. Safe to re-run."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import grpc

from demo.catalog import DemoCatalog, DemoProduct, generate_catalog
from demo.market import generate_market
from demo.sales import generate_sales
from demo.shops import competitor_presets, shop_base_urls
from omnipricex.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from omnipricex.common.v1 import money_pb2, paging_pb2
from omnipricex.competitor.v1 import alerts_pb2, alerts_pb2_grpc, competitor_pb2, competitor_pb2_grpc
from omnipricex.identity.v1 import identity_pb2, identity_pb2_grpc
from omnipricex.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from omnipricex.product.v1 import product_pb2, product_pb2_grpc
from omnipricex.scraper.v1 import scraper_pb2, scraper_pb2_grpc
from runtime.clients import auth_metadata, open_channel
from runtime.clock import utcnow
from runtime.settings import Settings
from runtime.timestamps import to_timestamp

DEMO_ORGANIZATION = "Demo Retail"
DEMO_ADMIN_EMAIL = "admin@demo.local"
DEMO_CATALOG_SIZE = 1200
BATCH = 1000
LINES_BATCH = 10_000
# Each demo shop lists a few hundred products; a crawl covers one whole shop listing or sitemap.
DEMO_CRAWL_MAX_PAGES = 500
_STATUS = {"active": product_pb2.PRODUCT_STATUS_ACTIVE, "draft": product_pb2.PRODUCT_STATUS_DRAFT}


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    password_is_new: bool
    password_file: Path


def demo_password(settings: Settings) -> DemoLogin:
    """OMNIPRICEX_ADMIN_PASSWORD, or a password generated on first start and kept under data_dir."""
    path = settings.data_dir / "secrets" / "admin_password"
    given = os.environ.get("OMNIPRICEX_ADMIN_PASSWORD")
    if given:
        return DemoLogin(DEMO_ADMIN_EMAIL, given, False, path)
    if path.exists():
        return DemoLogin(DEMO_ADMIN_EMAIL, path.read_text().strip(), False, path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    password = secrets.token_urlsafe(15)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password)
    return DemoLogin(DEMO_ADMIN_EMAIL, password, True, path)


async def seed_demo(settings: Settings, login: DemoLogin) -> int:
    """Create the demo organisation and its data if missing; returns how many products were written."""
    identity = open_channel(settings.identity_address, settings)
    product = open_channel(settings.product_address, settings)
    analytics = open_channel(settings.analytics_address, settings)
    competitor = open_channel(settings.competitor_address, settings)
    pricing = open_channel(settings.pricing_address, settings)
    scraper = open_channel(settings.scraper_address, settings)
    long_deadline = settings.long_rpc_deadline_seconds
    try:
        token = await _admin_token(settings, identity, login)
        catalog = generate_catalog(DEMO_CATALOG_SIZE)
        category_ids = await ensure_categories(product, token, catalog, settings.rpc_deadline_seconds)
        written = await upsert_products(product, token, catalog, category_ids, long_deadline)
        await seed_sales(analytics, token, catalog, long_deadline)
        await seed_market(competitor, token, catalog, long_deadline)
        await seed_pricing(pricing, token, category_ids[catalog.categories[0].id], long_deadline)
        watched = catalog.categories[0]
        await seed_alert_rules(
            competitor, token, settings.rpc_deadline_seconds, watched=(watched.name, category_ids[watched.id])
        )
        await seed_crawl_sources(settings, competitor, scraper, token, catalog, category_ids)
        return written
    finally:
        for channel in (identity, product, analytics, competitor, pricing, scraper):
            await channel.close()


async def seed_sales(channel: grpc.aio.Channel, token: str, catalog: DemoCatalog, deadline: float) -> None:
    """About 180 days of orders up to last midnight, drawn from demand curves with planted elasticities."""
    stub = analytics_pb2_grpc.SalesServiceStub(channel)
    end = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    batch: list[analytics_pb2.OrderLine] = []

    async def flush() -> None:
        response = await stub.IngestOrderLines(
            analytics_pb2.IngestOrderLinesRequest(lines=batch), metadata=auth_metadata(token), timeout=deadline
        )
        if response.errors:
            first = response.errors[0]
            raise RuntimeError(f"demo sales refused at {first.key}: {first.field} {first.message}")
        batch.clear()

    for line in generate_sales(catalog, end=end).lines():
        batch.append(
            analytics_pb2.OrderLine(
                order_id=line.order_id,
                line_no=line.line_no,
                sku=line.sku,
                quantity=line.quantity,
                unit_price=money_pb2.Money(amount_minor=line.unit_price_minor, currency=line.currency),
                time=to_timestamp(line.ordered_at),
                channel=line.channel,
            )
        )
        if len(batch) == LINES_BATCH:
            await flush()
    if batch:
        await flush()


async def seed_market(channel: grpc.aio.Channel, token: str, catalog: DemoCatalog, deadline: float) -> None:
    """Three demo competitors, their offers for our skus and their prices over the last days."""
    metadata = auth_metadata(token)
    competitors = competitor_pb2_grpc.CompetitorServiceStub(channel)
    market = generate_market(catalog, now=utcnow())
    listed = await competitors.ListCompetitors(
        competitor_pb2.ListCompetitorsRequest(page=paging_pb2.PageRequest(page_size=1000)),
        metadata=metadata,
        timeout=deadline,
    )
    ids = {item.name: item.id for item in listed.competitors}
    for name, website in dict.fromkeys((offer.competitor, offer.url.split("/p/")[0]) for offer in market.offers):
        if name not in ids:
            created = await competitors.CreateCompetitor(
                competitor_pb2.CreateCompetitorRequest(
                    competitor=competitor_pb2.Competitor(name=name, website=website, default_currency="EUR")
                ),
                metadata=metadata,
                timeout=deadline,
            )
            ids[name] = created.competitor.id
    offers = competitor_pb2_grpc.OfferServiceStub(channel)
    # The service normalises URLs, so offers are matched to the demo's by position (answers keep request order).
    offer_ids: dict[str, str] = {}
    for start in range(0, len(market.offers), BATCH):
        chunk = market.offers[start : start + BATCH]
        response = await offers.UpsertOffers(
            competitor_pb2.UpsertOffersRequest(
                offers=[
                    competitor_pb2.Offer(
                        competitor_id=ids[offer.competitor], sku=offer.sku, url=offer.url, title=offer.title
                    )
                    for offer in chunk
                ]
            ),
            metadata=metadata,
            timeout=deadline,
        )
        if response.errors:
            raise RuntimeError(f"demo offers refused: {response.errors[0].message}")
        offer_ids.update({offer.url: stored.id for offer, stored in zip(chunk, response.offers, strict=True)})
    observations = competitor_pb2_grpc.ObservationServiceStub(channel)
    rows = [
        competitor_pb2.Observation(
            offer_id=offer_ids[item.url],
            observe_time=to_timestamp(item.time),
            price=money_pb2.Money(amount_minor=item.price_minor, currency=item.currency),
            in_stock=item.in_stock,
            extraction_method=competitor_pb2.EXTRACTION_METHOD_IMPORT,
            confidence=1.0,
        )
        for item in market.observations
    ]
    for start in range(0, len(rows), LINES_BATCH):
        recorded = await observations.RecordObservations(
            competitor_pb2.RecordObservationsRequest(observations=rows[start : start + LINES_BATCH]),
            metadata=metadata,
            timeout=deadline,
        )
        if recorded.errors:
            raise RuntimeError(f"demo observations refused: {recorded.errors[0].message}")


# What a pricing team watches from day one; each can be tuned or disabled through /v1/alert-rules.
_DEMO_ALERT_RULES = (
    ("Undercut by more than 5 %", alerts_pb2.ALERT_KIND_UNDERCUT, "5"),
    ("Reseller below MAP", alerts_pb2.ALERT_KIND_BELOW_MAP, ""),
    ("Competitor out of stock", alerts_pb2.ALERT_KIND_STOCK_CHANGE, ""),
    ("Competitor price moved more than 10 %", alerts_pb2.ALERT_KIND_PRICE_CHANGE, "10"),
    ("Extraction broken", alerts_pb2.ALERT_KIND_EXTRACTION_BROKEN, ""),
)


async def seed_alert_rules(channel: grpc.aio.Channel, token: str, deadline: float, *, watched: tuple[str, str]) -> None:
    """The demo's alert rules, and a watch on new competitor products in one category (name, id)."""
    rules = alerts_pb2_grpc.AlertRuleServiceStub(channel)
    metadata = auth_metadata(token)
    listed = await rules.ListAlertRules(
        alerts_pb2.ListAlertRulesRequest(page=paging_pb2.PageRequest(page_size=1000)),
        metadata=metadata,
        timeout=deadline,
    )
    existing = {rule.name for rule in listed.rules}
    wanted = [
        alerts_pb2.AlertRule(name=name, kind=kind, threshold_percent=threshold)
        for name, kind, threshold in _DEMO_ALERT_RULES
    ]
    wanted.append(
        alerts_pb2.AlertRule(
            name=f"New competitor product in {watched[0]}",
            kind=alerts_pb2.ALERT_KIND_NEW_PRODUCT,
            category_id=watched[1],
        )
    )
    for rule in wanted:
        if rule.name not in existing:
            await rules.CreateAlertRule(
                alerts_pb2.CreateAlertRuleRequest(rule=rule),
                metadata=metadata,
                timeout=deadline,
            )


_SOURCE_KINDS = {
    "product_urls": scraper_pb2.SOURCE_KIND_PRODUCT_URLS,
    "listing": scraper_pb2.SOURCE_KIND_LISTING,
    "sitemap": scraper_pb2.SOURCE_KIND_SITEMAP,
}


async def seed_crawl_sources(
    settings: Settings,
    competitor: grpc.aio.Channel,
    scraper: grpc.aio.Channel,
    token: str,
    catalog: DemoCatalog,
    category_ids: dict[str, str],
) -> None:
    """One competitor per demo shop with its crawl sources (listings per category, sitemaps, watched
    products) on their schedules, and a first crawl of each shop started now so a new user sees one."""
    metadata = auth_metadata(token)
    deadline = settings.rpc_deadline_seconds
    competitors = competitor_pb2_grpc.CompetitorServiceStub(competitor)
    sources = scraper_pb2_grpc.SourceServiceStub(scraper)
    crawls = scraper_pb2_grpc.CrawlJobServiceStub(scraper)
    listed = await competitors.ListCompetitors(
        competitor_pb2.ListCompetitorsRequest(page=paging_pb2.PageRequest(page_size=1000)),
        metadata=metadata,
        timeout=deadline,
    )
    competitor_ids = {item.name: item.id for item in listed.competitors}
    existing = await sources.ListSources(
        scraper_pb2.ListSourcesRequest(page=paging_pb2.PageRequest(page_size=1000)), metadata=metadata, timeout=deadline
    )
    source_names = {item.name for item in existing.sources}
    for preset in competitor_presets(shop_base_urls(settings.demo_shops_base_port), catalog):
        if preset.name not in competitor_ids:
            created = await competitors.CreateCompetitor(
                competitor_pb2.CreateCompetitorRequest(
                    competitor=competitor_pb2.Competitor(
                        name=preset.name, website=preset.website, default_currency=preset.default_currency
                    )
                ),
                metadata=metadata,
                timeout=deadline,
            )
            competitor_ids[preset.name] = created.competitor.id
        first_new: str | None = None
        for source in preset.sources:
            name = f"{preset.name}: {source.name}"
            if name in source_names:
                continue
            created_source = await sources.CreateSource(
                scraper_pb2.CreateSourceRequest(
                    source=scraper_pb2.Source(
                        competitor_id=competitor_ids[preset.name],
                        name=name,
                        kind=_SOURCE_KINDS[source.kind],
                        start_urls=source.start_urls,
                        category_id=category_ids.get(source.category_id or "", ""),
                        schedule_interval_minutes=source.schedule_minutes,
                        max_pages=DEMO_CRAWL_MAX_PAGES,
                        extraction=scraper_pb2.ExtractionSettings(
                            price_selector=source.price_selector or "",
                            title_selector=source.title_selector or "",
                            availability_selector=source.availability_selector or "",
                            product_link_selector=source.product_link_selector or "",
                            next_page_selector=source.next_page_selector or "",
                            product_url_pattern=source.product_url_pattern or "",
                            decimal_separator=source.decimal_separator or "",
                            render_javascript=source.render_javascript,
                        ),
                    )
                ),
                metadata=metadata,
                timeout=deadline,
            )
            first_new = first_new or created_source.source.id
        if first_new is not None:
            await crawls.StartCrawl(
                scraper_pb2.StartCrawlRequest(source_id=first_new),
                metadata=metadata,
                timeout=settings.long_rpc_deadline_seconds,
            )


async def seed_pricing(channel: grpc.aio.Channel, token: str, optimised_category: str, deadline: float) -> None:
    """Two strategies (a market follower as the default, a profit optimiser for one category) and a
    first fit of the demand models, which the worker runs as a job."""
    metadata = auth_metadata(token)
    strategies = pricing_pb2_grpc.StrategyServiceStub(channel)
    listed = await strategies.ListStrategies(pricing_pb2.ListStrategiesRequest(), metadata=metadata, timeout=deadline)
    if listed.strategies:
        return
    endings = [
        pricing_pb2.PriceEnding(minor_ending=99),
        pricing_pb2.PriceEnding(from_price=money_pb2.Money(amount_minor=10_000, currency="EUR"), whole_digit=9),
    ]
    follower = await strategies.CreateStrategy(
        pricing_pb2.CreateStrategyRequest(
            strategy=pricing_pb2.Strategy(
                name="Market follower",
                rules=[
                    pricing_pb2.Rule(kind=pricing_pb2.RULE_KIND_BEAT_LOWEST, beat_percent="1"),
                    pricing_pb2.Rule(kind=pricing_pb2.RULE_KIND_COST_PLUS, markup_percent="35"),
                ],
                max_market_age_seconds=3 * 24 * 3600,
                guardrails=pricing_pb2.Guardrails(min_margin_percent="15", max_change_percent="10", endings=endings),
                auto_apply=pricing_pb2.AutoApplyPolicy(enabled=True, max_change_percent="3"),
            )
        ),
        metadata=metadata,
        timeout=deadline,
    )
    optimiser = await strategies.CreateStrategy(
        pricing_pb2.CreateStrategyRequest(
            strategy=pricing_pb2.Strategy(
                name="Profit optimiser",
                rules=[
                    pricing_pb2.Rule(kind=pricing_pb2.RULE_KIND_OPTIMISE_PROFIT),
                    pricing_pb2.Rule(kind=pricing_pb2.RULE_KIND_COST_PLUS, markup_percent="40"),
                ],
                guardrails=pricing_pb2.Guardrails(min_margin_percent="20", max_change_percent="8", endings=endings),
                auto_apply=pricing_pb2.AutoApplyPolicy(
                    enabled=True, max_change_percent="2", require_reliable_model=True
                ),
            )
        ),
        metadata=metadata,
        timeout=deadline,
    )
    for assignment in (
        pricing_pb2.Assignment(level=pricing_pb2.ASSIGNMENT_LEVEL_DEFAULT, strategy_id=follower.strategy.id),
        pricing_pb2.Assignment(
            level=pricing_pb2.ASSIGNMENT_LEVEL_CATEGORY, target=optimised_category, strategy_id=optimiser.strategy.id
        ),
    ):
        await strategies.SetAssignment(
            pricing_pb2.SetAssignmentRequest(assignment=assignment), metadata=metadata, timeout=deadline
        )
    models = pricing_pb2_grpc.DemandModelServiceStub(channel)
    await models.RefitDemandModels(pricing_pb2.RefitDemandModelsRequest(days=180), metadata=metadata, timeout=deadline)


async def _admin_token(settings: Settings, channel: grpc.aio.Channel, login: DemoLogin) -> str:
    auth = identity_pb2_grpc.AuthServiceStub(channel)
    request = identity_pb2.LoginRequest(email=login.email, password=login.password)
    try:
        return (await auth.Login(request, timeout=settings.rpc_deadline_seconds)).tokens.access_token
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.UNAUTHENTICATED:
            raise
    organizations = identity_pb2_grpc.OrganizationServiceStub(channel)
    try:
        await organizations.CreateOrganization(
            identity_pb2.CreateOrganizationRequest(
                name=DEMO_ORGANIZATION, owner_email=login.email, owner_password=login.password
            ),
            metadata=(("x-bootstrap-token", settings.require_bootstrap_token()),),
            timeout=settings.rpc_deadline_seconds,
        )
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.ALREADY_EXISTS:
            raise SystemExit(
                f"{login.email} exists with another password: set OMNIPRICEX_ADMIN_PASSWORD to it, "
                f"or start from an empty OMNIPRICEX_DATA_DIR"
            ) from None
        raise
    return (await auth.Login(request, timeout=settings.rpc_deadline_seconds)).tokens.access_token


async def ensure_categories(
    channel: grpc.aio.Channel, token: str, catalog: DemoCatalog, deadline: float
) -> dict[str, str]:
    stub = product_pb2_grpc.CategoryServiceStub(channel)
    metadata = auth_metadata(token)
    listed = await stub.ListCategories(product_pb2.ListCategoriesRequest(), metadata=metadata, timeout=deadline)
    existing = listed.categories
    by_path = {(c.parent_id, c.name): c.id for c in existing}
    ids: dict[str, str] = {}
    for category in catalog.categories:  # parents come before their children
        parent = ids.get(category.parent_id, "") if category.parent_id else ""
        found = by_path.get((parent, category.name))
        if found is None:
            created = await stub.CreateCategory(
                product_pb2.CreateCategoryRequest(
                    category=product_pb2.Category(id=category.id, name=category.name, parent_id=parent)
                ),
                metadata=metadata,
                timeout=deadline,
            )
            found = created.category.id
        ids[category.id] = found
    return ids


async def upsert_products(
    channel: grpc.aio.Channel, token: str, catalog: DemoCatalog, category_ids: dict[str, str], deadline: float
) -> int:
    stub = product_pb2_grpc.ProductServiceStub(channel)
    written = 0
    messages = [_product_message(p, category_ids) for p in catalog.products]
    for start in range(0, len(messages), BATCH):
        response = await stub.BulkUpsertProducts(
            product_pb2.BulkUpsertProductsRequest(products=messages[start : start + BATCH], reason="demo seed"),
            metadata=auth_metadata(token),
            timeout=deadline,
        )
        if response.errors:
            first = response.errors[0]
            raise RuntimeError(f"demo catalog refused at row {first.row} ({first.sku}): {first.field} {first.message}")
        written += response.created + response.updated
    return written


def _product_message(product: DemoProduct, category_ids: dict[str, str]) -> product_pb2.Product:
    def money(amount_minor: int) -> money_pb2.Money:
        return money_pb2.Money(amount_minor=amount_minor, currency=product.currency)

    message = product_pb2.Product(
        sku=product.sku,
        title=product.title,
        brand=product.brand,
        gtin=product.gtin,
        mpn=product.mpn,
        category_id=category_ids[product.category_id],
        cost=money(product.cost_minor),
        price=money(product.price_minor),
        stock=product.stock,
        attributes=product.attributes,
        status=_STATUS[product.status],
    )
    if product.map_minor is not None:
        message.map_price.CopyFrom(money(product.map_minor))
    return message
