"""Builds the competitor service's repositories and use cases from settings and serves them over gRPC."""

from __future__ import annotations

import grpc

from omnipricex.competitor.v1 import competitor_pb2, competitor_pb2_grpc
from runtime.clients import open_channel
from runtime.grpc_server import ServiceDefinition, serve
from runtime.identity_client import RemoteAuditSink, remote_authenticator
from runtime.logging import configure_logging
from runtime.settings import Settings, get_settings
from runtime.storage.mongo import connect
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


def build_definition(repositories: Repositories) -> ServiceDefinition:
    """The competitor service as the shared bootstrap serves it; stopping it closes the repositories."""
    directory = CompetitorDirectory(repositories)
    catalog = OfferCatalog(repositories)
    log = ObservationLog(repositories)
    board = MarketBoard(repositories)

    def register(server: grpc.aio.Server) -> None:
        competitor_pb2_grpc.add_CompetitorServiceServicer_to_server(CompetitorServicer(directory), server)
        competitor_pb2_grpc.add_OfferServiceServicer_to_server(OfferServicer(catalog), server)
        competitor_pb2_grpc.add_ObservationServiceServicer_to_server(ObservationServicer(log), server)
        competitor_pb2_grpc.add_MarketServiceServicer_to_server(MarketServicer(board), server)

    return ServiceDefinition(name=SERVICE, service_names=SERVICE_NAMES, register=register, on_stop=repositories.close)


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
    try:
        await serve(
            build_definition(repositories),
            address=settings.competitor_address,
            metrics_port=settings.competitor_metrics_port,
            authenticator=remote_authenticator(settings, identity),
            audit_sink=RemoteAuditSink(identity, deadline_seconds=settings.rpc_deadline_seconds),
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
        )
    finally:
        await identity.close()
