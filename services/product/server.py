"""Builds the product service's repositories and use cases from settings and serves them over gRPC."""

from __future__ import annotations

import grpc

from omnipricex.product.v1 import product_pb2, product_pb2_grpc
from runtime.clients import open_channel
from runtime.grpc_server import ServiceDefinition, serve
from runtime.identity_client import RemoteAuditSink, remote_authenticator
from runtime.logging import configure_logging
from runtime.settings import Settings, get_settings
from runtime.storage.mongo import connect
from services.product.repository import Repositories
from services.product.repository.mongo import open_mongo_repositories
from services.product.repository.sqlite import open_sqlite_repositories
from services.product.servicer import CategoryServicer, ProductServicer
from services.product.use_cases import CategoryTree, ProductCatalog

SERVICE = "product"
SERVICE_NAMES = tuple(
    product_pb2.DESCRIPTOR.services_by_name[name].full_name for name in ("ProductService", "CategoryService")
)


def build_definition(repositories: Repositories) -> ServiceDefinition:
    """The product service as the shared bootstrap serves it; stopping it closes the repositories."""
    catalog = ProductCatalog(repositories)
    tree = CategoryTree(repositories)

    def register(server: grpc.aio.Server) -> None:
        product_pb2_grpc.add_ProductServiceServicer_to_server(ProductServicer(catalog), server)
        product_pb2_grpc.add_CategoryServiceServicer_to_server(CategoryServicer(tree), server)

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
            address=settings.product_address,
            metrics_port=settings.product_metrics_port,
            authenticator=remote_authenticator(settings, identity),
            audit_sink=RemoteAuditSink(identity, deadline_seconds=settings.rpc_deadline_seconds),
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
        )
    finally:
        await identity.close()
