"""Alerting as the competitor service runs it: storage from settings, the engine, the delivery worker and
the gRPC services, with start/stop for the server's lifecycle."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import grpc

from omnipricex.competitor.v1 import alerts_pb2, alerts_pb2_grpc
from runtime.clock import utcnow
from runtime.netguard import AddressPolicy, Resolver
from runtime.settings import Settings
from runtime.storage.mongo import connect
from services.competitor.alerts.delivery import IDLE_SECONDS, DeliveryWorker, WebhookPoster, default_jitter
from services.competitor.alerts.domain import RETRY_DELAYS
from services.competitor.alerts.engine import AlertEngine, CompetitorLookup
from services.competitor.alerts.repository import AlertStore
from services.competitor.alerts.repository.mongo import open_mongo_alert_store
from services.competitor.alerts.repository.sqlite import open_sqlite_alert_store
from services.competitor.alerts.servicer import AlertRuleServicer, AlertServicer, WebhookServicer
from services.competitor.alerts.use_cases import AlertBoard, AlertRules, Webhooks
from services.competitor.catalog import CatalogReader

ALERT_SERVICE_NAMES = tuple(
    alerts_pb2.DESCRIPTOR.services_by_name[name].full_name
    for name in ("AlertRuleService", "AlertService", "WebhookService")
)


@dataclass
class Alerting:
    store: AlertStore
    # The MarketEventSink to hand to whatever records the market.
    engine: AlertEngine
    worker: DeliveryWorker
    rules: AlertRules
    board: AlertBoard
    webhooks: Webhooks

    def register(self, server: grpc.aio.Server) -> None:
        alerts_pb2_grpc.add_AlertRuleServiceServicer_to_server(AlertRuleServicer(self.rules), server)
        alerts_pb2_grpc.add_AlertServiceServicer_to_server(AlertServicer(self.board), server)
        alerts_pb2_grpc.add_WebhookServiceServicer_to_server(WebhookServicer(self.webhooks), server)

    async def start(self) -> None:
        """Start posting deliveries, those a previous run left pending first."""
        await self.worker.start()

    async def stop(self) -> None:
        """Stop posting (a delivery in flight comes back after its lease) and close the alert store."""
        await self.worker.stop()
        await self.store.close()


def build_alerting(
    store: AlertStore,
    *,
    catalog: CatalogReader,
    competitors: CompetitorLookup,
    allow_hosts: Sequence[str] = (),
    resolver: Resolver | None = None,
    delays: Sequence[timedelta] = RETRY_DELAYS,
    jitter: Callable[[], float] | None = None,
    idle_seconds: float | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Alerting:
    """`allow_hosts` is settings.fetch_allow_hosts; the rest is for tests (name lookups, retry timing, the
    engine's clock, which decides what is too old to alert on)."""
    policy = AddressPolicy.of(allow_hosts)
    worker = DeliveryWorker(
        store,
        WebhookPoster(policy, resolver=resolver),
        delays=delays,
        jitter=jitter or default_jitter,
        idle_seconds=IDLE_SECONDS if idle_seconds is None else idle_seconds,
    )
    return Alerting(
        store=store,
        engine=AlertEngine(store, catalog, competitors, clock=clock, on_notify=worker.poke),
        worker=worker,
        rules=AlertRules(store, competitors, on_notify=worker.poke),
        board=AlertBoard(store),
        webhooks=Webhooks(store, policy, on_notify=worker.poke),
    )


async def open_alert_store(settings: Settings, service: str = "competitor") -> AlertStore:
    """The service's SQLite file under data_dir by default; its MongoDB database when OMNIPRICEX_MONGODB_URI is set."""
    if settings.mongodb_uri is not None:
        client = connect(settings.mongodb_uri.get_secret_value())
        return await open_mongo_alert_store(client[settings.mongodb_database(service)], close=client.close)
    return await open_sqlite_alert_store(settings.sqlite_path(service))
