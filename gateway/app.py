"""The REST gateway: FastAPI routes translated to gRPC calls on the services, and back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from fastapi.routing import APIRoute

from gateway.backends import Channels, GatewayState
from gateway.bodylimit import BodyLimitMiddleware
from gateway.errors import install_error_handlers
from gateway.metrics import HttpMetrics, MetricsMiddleware
from gateway.openapi import install_openapi
from gateway.ratelimit import RateLimiter, RateLimitMiddleware, build_limiter
from gateway.responses import JsonResponse
from gateway.routers import (
    alerts,
    auth,
    categories,
    competitors,
    health,
    identity,
    matching,
    pricing_insights,
    products,
    reprice,
    sales,
    scraper,
    strategies,
)
from runtime.settings import Settings
from runtime.telemetry import tracing_enabled

# Every body but bulk upserts and CSV imports (which allow 32 MiB) stays under this.
DEFAULT_BODY_LIMIT = 2 * 1024 * 1024

DESCRIPTION = """\
REST API of OmniPriceX, a self-hosted dynamic pricing engine.

Authenticate with `Authorization: Bearer <token>` (an access token from `POST /v1/auth/token`, or an API
key) or `X-API-Key: <key>`. The organisation always comes from the credentials. Money amounts are decimal
strings in the product's currency; times are RFC 3339 UTC. Every error is `application/problem+json`
(RFC 9457).
"""


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(settings: Settings, *, channels: Channels | None = None, limiter: RateLimiter | None = None) -> FastAPI:
    """The gateway app. Without `channels` it opens its own to the configured addresses when it starts and
    closes them when it stops; with them, the caller owns them. The app closes `limiter` when it stops."""
    metrics = HttpMetrics()
    rate_limiter = limiter if limiter is not None else build_limiter(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = channels if channels is not None else Channels.open(settings)
        app.state.gateway = GatewayState.build(settings, opened)
        try:
            yield
        finally:
            await rate_limiter.close()
            if channels is None:
                await opened.close()

    app = FastAPI(
        title="OmniPriceX API",
        version=version("omnipricex"),
        description=DESCRIPTION,
        lifespan=lifespan,
        default_response_class=JsonResponse,
        generate_unique_id_function=_operation_id,
        # FastAPI's own OpenTelemetry spans follow the process's tracing switch; metrics are ours.
        telemetry={"tracing": tracing_enabled(), "metrics": False, "logs": False},
    )
    app.state.metrics = metrics
    # The hot reads come first: a request is matched against each route in turn.
    routers = (
        products.router,
        pricing_insights.router,
        categories.router,
        strategies.router,
        reprice.router,
        sales.router,
        competitors.router,
        matching.router,
        alerts.router,
        scraper.router,
        auth.router,
        identity.router,
        health.router,
    )
    for router in routers:
        app.include_router(router)
    routes = [route for router in routers for route in router.routes if isinstance(route, APIRoute)]
    install_error_handlers(app, routes)
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=DEFAULT_BODY_LIMIT,
        limits_by_path={**products.LARGE_BODY_LIMITS, **sales.LARGE_BODY_LIMITS, **competitors.LARGE_BODY_LIMITS},
    )
    app.add_middleware(RateLimitMiddleware, limiter=rate_limiter, login_limit=settings.login_attempts_per_minute)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    install_openapi(app, routes)
    return app
