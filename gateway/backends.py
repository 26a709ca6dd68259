"""The gRPC services behind the gateway: channels, stubs, and the per-app state request handlers use."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2_grpc

from omnipricex.analytics.v1 import analytics_pb2_grpc
from omnipricex.competitor.v1 import alerts_pb2_grpc, competitor_pb2_grpc, review_pb2_grpc
from omnipricex.identity.v1 import identity_pb2_grpc
from omnipricex.pricing.v1 import pricing_pb2_grpc
from omnipricex.product.v1 import product_pb2_grpc
from omnipricex.scraper.v1 import scraper_pb2_grpc
from runtime.auth import Authenticator
from runtime.clients import open_channel
from runtime.identity_client import remote_authenticator
from runtime.settings import Settings

READINESS_DEADLINE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Channels:
    product: grpc.aio.Channel
    identity: grpc.aio.Channel
    analytics: grpc.aio.Channel
    competitor: grpc.aio.Channel
    pricing: grpc.aio.Channel
    scraper: grpc.aio.Channel

    @classmethod
    def open(cls, settings: Settings) -> Channels:
        return cls(
            product=open_channel(settings.product_address, settings),
            identity=open_channel(settings.identity_address, settings),
            analytics=open_channel(settings.analytics_address, settings),
            competitor=open_channel(settings.competitor_address, settings),
            pricing=open_channel(settings.pricing_address, settings),
            scraper=open_channel(settings.scraper_address, settings),
        )

    async def close(self) -> None:
        for channel in (self.product, self.identity, self.analytics, self.competitor, self.pricing, self.scraper):
            await channel.close()


class Stubs:
    def __init__(self, channels: Channels) -> None:
        self.products = product_pb2_grpc.ProductServiceStub(channels.product)
        self.categories = product_pb2_grpc.CategoryServiceStub(channels.product)
        self.auth = identity_pb2_grpc.AuthServiceStub(channels.identity)
        self.users = identity_pb2_grpc.UserServiceStub(channels.identity)
        self.api_keys = identity_pb2_grpc.ApiKeyServiceStub(channels.identity)
        self.audit = identity_pb2_grpc.AuditServiceStub(channels.identity)
        self.sales = analytics_pb2_grpc.SalesServiceStub(channels.analytics)
        self.competitors = competitor_pb2_grpc.CompetitorServiceStub(channels.competitor)
        self.offers = competitor_pb2_grpc.OfferServiceStub(channels.competitor)
        self.observations = competitor_pb2_grpc.ObservationServiceStub(channels.competitor)
        self.market = competitor_pb2_grpc.MarketServiceStub(channels.competitor)
        self.reviews = review_pb2_grpc.ReviewServiceStub(channels.competitor)
        self.alert_rules = alerts_pb2_grpc.AlertRuleServiceStub(channels.competitor)
        self.alerts = alerts_pb2_grpc.AlertServiceStub(channels.competitor)
        self.webhooks = alerts_pb2_grpc.WebhookServiceStub(channels.competitor)
        self.strategies = pricing_pb2_grpc.StrategyServiceStub(channels.pricing)
        self.reprice = pricing_pb2_grpc.RepriceServiceStub(channels.pricing)
        self.schedules = pricing_pb2_grpc.ScheduleServiceStub(channels.pricing)
        self.demand_models = pricing_pb2_grpc.DemandModelServiceStub(channels.pricing)
        self.price_history = pricing_pb2_grpc.PriceHistoryServiceStub(channels.pricing)
        self.simulation = pricing_pb2_grpc.SimulationServiceStub(channels.pricing)
        self.experiments = pricing_pb2_grpc.ExperimentServiceStub(channels.pricing)
        self.quotes = pricing_pb2_grpc.QuoteServiceStub(channels.pricing)
        self.sources = scraper_pb2_grpc.SourceServiceStub(channels.scraper)
        self.crawl_jobs = scraper_pb2_grpc.CrawlJobServiceStub(channels.scraper)
        self.health = {
            "product": health_pb2_grpc.HealthStub(channels.product),
            "identity": health_pb2_grpc.HealthStub(channels.identity),
            "analytics": health_pb2_grpc.HealthStub(channels.analytics),
            "competitor": health_pb2_grpc.HealthStub(channels.competitor),
            "pricing": health_pb2_grpc.HealthStub(channels.pricing),
            "scraper": health_pb2_grpc.HealthStub(channels.scraper),
        }


@dataclass(frozen=True, slots=True)
class GatewayState:
    """What request handlers need, built once per app when it starts."""

    stubs: Stubs
    authenticator: Authenticator
    deadline: float
    long_deadline: float
    readiness_deadline: float

    @classmethod
    def build(cls, settings: Settings, channels: Channels) -> GatewayState:
        deadline = settings.rpc_deadline_seconds
        return cls(
            stubs=Stubs(channels),
            authenticator=remote_authenticator(settings, channels.identity),
            deadline=deadline,
            long_deadline=settings.long_rpc_deadline_seconds,
            readiness_deadline=min(READINESS_DEADLINE_SECONDS, deadline),
        )
