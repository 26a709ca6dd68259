"""Builds the competitor service's repositories and use cases from settings and serves them over gRPC."""

from __future__ import annotations

import grpc

from omnipricex.competitor.v1 import competitor_pb2, competitor_pb2_grpc
from runtime.clients import open_channel
from runtime.gc_tuning import tune_for_batches
from runtime.grpc_server import ServiceDefinition, serve
from runtime.identity_client import RemoteAuditSink, remote_authenticator
from runtime.logging import configure_logging
from runtime.settings import Settings, get_settings
from runtime.storage.mongo import connect
from services.competitor.alerts.wiring import ALERT_SERVICE_NAMES, Alerting, build_alerting, open_alert_store
from services.competitor.catalog import CatalogReader, GrpcCatalogReader
from services.competitor.ingest_servicer import MATCHING_SERVICE_NAMES, add_matching_services
from services.competitor.repository import Repositories
from services.competitor.repository.mongo import open_mongo_repositories
from services.competitor.repository.sqlite import open_sqlite_repositories
from services.competitor.servicer import CompetitorServicer, MarketServicer, ObservationServicer, OfferServicer
from services.competitor.use_cases import CompetitorDirectory, MarketBoard, ObservationLog, OfferCatalog

SERVICE = "competitor"
SERVICE_NAMES = tuple(
    competitor_pb2.DESCRIPTOR.services_by_name[name].full_name
    for name in ("CompetitorService", "OfferService", "ObservationService", "MarketService")
)


def build_definition(
    repositories: Repositories, *, catalog: CatalogReader | None = None, alerting: Alerting | None = None
) -> ServiceDefinition:
    """The competitor service as the shared bootstrap serves it; stopping it closes the repositories.

    With the catalog reader and alerting it also serves crawl ingestion, the review queue and alerts,
    and every recorded price reaches the alert engine.
    """
    directory = CompetitorDirectory(repositories)
    offers = OfferCatalog(repositories)
    log = ObservationLog(repositories, events=alerting.engine if alerting else None)
    board = MarketBoard(repositories)
    complete = catalog is not None and alerting is not None

    def register(server: grpc.aio.Server) -> None:
        competitor_pb2_grpc.add_CompetitorServiceServicer_to_server(CompetitorServicer(directory), server)
        competitor_pb2_grpc.add_OfferServiceServicer_to_server(OfferServicer(offers), server)
        competitor_pb2_grpc.add_ObservationServiceServicer_to_server(ObservationServicer(log), server)
        competitor_pb2_grpc.add_MarketServiceServicer_to_server(MarketServicer(board), server)
        if catalog is not None and alerting is not None:
            add_matching_services(server, repositories, catalog, alerting.engine)
            alerting.register(server)

    async def stop() -> None:
        if alerting is not None:
            await alerting.stop()
        await repositories.close()

    names = (*SERVICE_NAMES, *MATCHING_SERVICE_NAMES, *ALERT_SERVICE_NAMES) if complete else SERVICE_NAMES
    return ServiceDefinition(
        name=SERVICE,
        service_names=names,
        register=register,
        on_start=alerting.start if alerting is not None else None,
        on_stop=stop,
    )


async def open_repositories(settings: Settings) -> Repositories:
    """SQLite under data_dir by default; MongoDB when OMNIPRICEX_MONGODB_URI is set."""
    if settings.mongodb_uri is not None:
        client = connect(settings.mongodb_uri.get_secret_value())
        return await open_mongo_repositories(client[settings.mongodb_database(SERVICE)], close=client.close)
    return await open_sqlite_repositories(settings.sqlite_path(SERVICE))


async def main() -> None:
    settings = get_settings()
    configure_logging(settings, SERVICE)
    repositories = await open_repositories(settings)
    identity = open_channel(settings.identity_address, settings)
    catalog = GrpcCatalogReader(settings)
    alerting = build_alerting(
        await open_alert_store(settings, SERVICE),
        catalog=catalog,
        competitors=repositories.competitors,
        allow_hosts=settings.fetch_allow_hosts,
    )
    tune_for_batches()
    try:
        await serve(
            build_definition(repositories, catalog=catalog, alerting=alerting),
            address=settings.competitor_address,
            metrics_port=settings.competitor_metrics_port,
            authenticator=remote_authenticator(settings, identity),
            audit_sink=RemoteAuditSink(identity, deadline_seconds=settings.rpc_deadline_seconds),
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
        )
    finally:
        await catalog.close()
        await identity.close()
