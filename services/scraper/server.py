"""Builds the scraper service's repositories and use cases from settings and serves them over gRPC."""

from __future__ import annotations

import grpc

from omnipricex.scraper.v1 import scraper_pb2, scraper_pb2_grpc
from runtime.clients import open_channel
from runtime.grpc_server import ServiceDefinition, serve
from runtime.identity_client import RemoteAuditSink, remote_authenticator
from runtime.logging import configure_logging
from runtime.settings import get_settings
from services.scraper.repository import Repositories
from services.scraper.repository.opening import SERVICE, open_repositories
from services.scraper.servicer import CrawlJobServicer, SourceServicer
from services.scraper.tasks import CeleryCrawlQueue, app
from services.scraper.upstream import CompetitorUpstream
from services.scraper.use_cases import CompetitorLookup, Crawls, JobQueue, Sources

SERVICE_NAMES = tuple(
    scraper_pb2.DESCRIPTOR.services_by_name[name].full_name for name in ("SourceService", "CrawlJobService")
)


def build_definition(repositories: Repositories, competitors: CompetitorLookup, queue: JobQueue) -> ServiceDefinition:
    """The scraper service as the shared bootstrap serves it; stopping it closes the repositories."""

    def register(server: grpc.aio.Server) -> None:
        scraper_pb2_grpc.add_SourceServiceServicer_to_server(SourceServicer(Sources(repositories, competitors)), server)
        scraper_pb2_grpc.add_CrawlJobServiceServicer_to_server(CrawlJobServicer(Crawls(repositories, queue)), server)

    return ServiceDefinition(name=SERVICE, service_names=SERVICE_NAMES, register=register, on_stop=repositories.close)


async def main() -> None:
    settings = get_settings()
    configure_logging(settings, SERVICE)
    repositories = await open_repositories(settings)
    identity = open_channel(settings.identity_address, settings)
    upstream = CompetitorUpstream(settings)
    try:
        await serve(
            build_definition(repositories, upstream, CeleryCrawlQueue(app)),
            address=settings.scraper_address,
            metrics_port=settings.scraper_metrics_port,
            authenticator=remote_authenticator(settings, identity),
            audit_sink=RemoteAuditSink(identity, deadline_seconds=settings.rpc_deadline_seconds),
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
        )
    finally:
        await upstream.close()
        await identity.close()
