"""Builds the analytics service's repositories and use cases from settings and serves them over gRPC."""

from __future__ import annotations

import grpc

from omnipricex.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from runtime.clients import open_channel
from runtime.grpc_server import ServiceDefinition, serve
from runtime.identity_client import RemoteAuditSink, remote_authenticator
from runtime.logging import configure_logging
from runtime.settings import Settings, get_settings
from runtime.storage.mongo import connect
from services.analytics.repository import Repositories
from services.analytics.repository.mongo import open_mongo_repositories
from services.analytics.repository.sqlite import open_sqlite_repositories
from services.analytics.servicer import SalesServicer
from services.analytics.use_cases import SalesLedger

SERVICE = "analytics"
SERVICE_NAMES = (analytics_pb2.DESCRIPTOR.services_by_name["SalesService"].full_name,)


def build_definition(repositories: Repositories) -> ServiceDefinition:
    """The analytics service as the shared bootstrap serves it; stopping it closes the repositories."""
    ledger = SalesLedger(repositories)

    def register(server: grpc.aio.Server) -> None:
        analytics_pb2_grpc.add_SalesServiceServicer_to_server(SalesServicer(ledger), server)

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
            address=settings.analytics_address,
            metrics_port=settings.analytics_metrics_port,
            authenticator=remote_authenticator(settings, identity),
            audit_sink=RemoteAuditSink(identity, deadline_seconds=settings.rpc_deadline_seconds),
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
        )
    finally:
        await identity.close()
