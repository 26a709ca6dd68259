"""The gateway wired to stand-in services on real loopback gRPC servers, and an HTTP client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from gateway.app import create_app
from gateway.ratelimit import RateLimiter
from gateway.tests.standin_services import (
    IdentityStandin,
    ProductStandin,
    identity_definition,
    product_definition,
    serve_standin,
)
from runtime.auth import Authenticator, Role
from runtime.grpc_server import RunningServer, start_server
from runtime.identity_client import access_tokens
from runtime.settings import Settings
from runtime.testing.auth import RecordingAuditSink
from services.analytics.repository.sqlite import open_sqlite_repositories as open_analytics
from services.analytics.server import build_definition as analytics_definition
from services.competitor.alerts.wiring import build_alerting, open_alert_store
from services.competitor.catalog import GrpcCatalogReader
from services.competitor.repository.sqlite import open_sqlite_repositories as open_competitor
from services.competitor.server import build_definition as competitor_definition
from services.pricing.domain.records import JobKind
from services.pricing.repository.opening import open_repositories as open_pricing
from services.pricing.server import build_definition as pricing_definition
from services.pricing.upstream import Upstream
from services.scraper.repository.sqlite import open_sqlite_repositories as open_scraper
from services.scraper.server import build_definition as scraper_definition
from services.scraper.upstream import CompetitorUpstream

ORG_A = "org_a"
ORG_B = "org_b"


class UnusedJobQueue:
    """The gateway's tests never run jobs; a run created through a real pricing service would fail here."""

    def submit(self, kind: JobKind, organization_id: str, run_id: str) -> None:
        raise AssertionError(f"no job queue in gateway tests ({kind} {run_id})")


class RecordingCrawlQueue:
    """Crawl jobs the real scraper service queued; the gateway's tests never run them."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, str]] = []

    def submit(self, organization_id: str, job_id: str) -> None:
        self.submitted.append((organization_id, job_id))


@dataclass
class Mesh:
    """Stand-in product and identity services on loopback, and the settings that point at them."""

    settings: Settings
    identity: IdentityStandin
    products: ProductStandin
    authenticator: Authenticator
    audit: RecordingAuditSink
    servers: dict[str, RunningServer] = field(default_factory=dict)
    crawl_queue: RecordingCrawlQueue = field(default_factory=RecordingCrawlQueue)
    # Clients the services were given (stopping a service does not close them).
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def token(self, role: Role, organization_id: str = ORG_A, user_id: str = "usr_test") -> str:
        return self.identity.tokens.issue(user_id=user_id, organization_id=organization_id, role=role).token

    def auth(self, role: Role, organization_id: str = ORG_A) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, organization_id)}"}

    async def start_product(self) -> None:
        self.servers["product"] = await serve_standin(
            product_definition(self.products), self.settings.product_address, self.authenticator, self.audit
        )

    async def stop_product(self) -> None:
        await self.servers.pop("product").stop(0)

    async def stop(self) -> None:
        for server in self.servers.values():
            await server.stop(0)
        for close in self.closers:
            await close()


def gateway_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "development",
        "data_dir": tmp_path,
        "jwt_secret": SecretStr("gateway-tests-secret-" + "s" * 40),
        "redis_url": None,
        "rate_limit_per_minute": 100_000,
        "rpc_deadline_seconds": 2.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def start_mesh(settings: Settings) -> Mesh:
    identity = IdentityStandin(access_tokens(settings))
    authenticator = Authenticator(identity.tokens, identity.resolve_api_key, cache_seconds=0)
    audit = RecordingAuditSink()
    identity_server = await serve_standin(identity_definition(identity), "127.0.0.1:0", authenticator, audit)
    product_state = ProductStandin()
    product_server = await serve_standin(product_definition(product_state), "127.0.0.1:0", authenticator, audit)
    # The newer services run for real on SQLite files under data_dir, behind the same stand-in identity.
    analytics_server = await start_server(
        analytics_definition(await open_analytics(settings.sqlite_path("analytics"))),
        address="127.0.0.1:0",
        authenticator=authenticator,
        audit_sink=audit,
    )
    competitor_repositories = await open_competitor(settings.sqlite_path("competitor"))
    catalog = GrpcCatalogReader(settings.model_copy(update={"product_address": f"127.0.0.1:{product_server.port}"}))
    alerting = build_alerting(
        await open_alert_store(settings),
        catalog=catalog,
        competitors=competitor_repositories.competitors,
        allow_hosts=settings.fetch_allow_hosts,
    )
    competitor_server = await start_server(
        competitor_definition(competitor_repositories, catalog=catalog, alerting=alerting),
        address="127.0.0.1:0",
        authenticator=authenticator,
        audit_sink=audit,
    )
    wired = settings.model_copy(
        update={
            "product_address": f"127.0.0.1:{product_server.port}",
            "identity_address": f"127.0.0.1:{identity_server.port}",
            "analytics_address": f"127.0.0.1:{analytics_server.port}",
            "competitor_address": f"127.0.0.1:{competitor_server.port}",
        }
    )
    pricing_server = await start_server(
        await pricing_definition(await open_pricing(wired), Upstream(wired), UnusedJobQueue()),
        address="127.0.0.1:0",
        authenticator=authenticator,
        audit_sink=audit,
    )
    crawl_queue = RecordingCrawlQueue()
    competitor_upstream = CompetitorUpstream(wired)
    scraper_server = await start_server(
        scraper_definition(await open_scraper(settings.sqlite_path("scraper")), competitor_upstream, crawl_queue),
        address="127.0.0.1:0",
        authenticator=authenticator,
        audit_sink=audit,
    )
    wired = wired.model_copy(
        update={
            "pricing_address": f"127.0.0.1:{pricing_server.port}",
            "scraper_address": f"127.0.0.1:{scraper_server.port}",
        }
    )
    return Mesh(
        wired,
        identity,
        product_state,
        authenticator,
        audit,
        {
            "identity": identity_server,
            "product": product_server,
            "analytics": analytics_server,
            "competitor": competitor_server,
            "pricing": pricing_server,
            "scraper": scraper_server,
        },
        crawl_queue=crawl_queue,
        closers=[competitor_upstream.close, catalog.close],
    )


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[Mesh]:
    running = await start_mesh(gateway_settings(tmp_path))
    try:
        yield running
    finally:
        await running.stop()


@asynccontextmanager
async def gateway_client(settings: Settings, *, limiter: RateLimiter | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for a gateway app that opened its own channels to the settings' addresses."""
    app = create_app(settings, limiter=limiter)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield client


@pytest.fixture
async def client(mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client(mesh.settings) as http:
        yield http
