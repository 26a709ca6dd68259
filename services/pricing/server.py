"""Builds the pricing service's repositories and use cases from settings and serves them over gRPC."""

from __future__ import annotations

import grpc

from omnipricex.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from runtime.clients import open_channel
from runtime.grpc_server import ServiceDefinition, serve
from runtime.identity_client import RemoteAuditSink, remote_authenticator
from runtime.logging import configure_logging
from runtime.settings import get_settings
from services.pricing.quote_book import QuoteBook
from services.pricing.repository import Repositories
from services.pricing.repository.opening import SERVICE, open_repositories
from services.pricing.servicer import (
    DemandModelServicer,
    ExperimentServicer,
    PriceHistoryServicer,
    QuoteServicer,
    RepriceServicer,
    ScheduleServicer,
    SimulationServicer,
    StrategyServicer,
)
from services.pricing.tasks import CeleryJobQueue, app
from services.pricing.upstream import Upstream
from services.pricing.use_cases.experiments import Experiments
from services.pricing.use_cases.history import PriceHistory
from services.pricing.use_cases.models import DemandModels
from services.pricing.use_cases.quotes import Quotes
from services.pricing.use_cases.recommendations import Recommendations
from services.pricing.use_cases.runs import JobQueue, Runs
from services.pricing.use_cases.schedules import Schedules
from services.pricing.use_cases.simulation import Simulations
from services.pricing.use_cases.strategies import Strategies

SERVICE_NAMES = tuple(
    pricing_pb2.DESCRIPTOR.services_by_name[name].full_name
    for name in (
        "StrategyService",
        "RepriceService",
        "ScheduleService",
        "DemandModelService",
        "PriceHistoryService",
        "SimulationService",
        "ExperimentService",
        "QuoteService",
    )
)


async def build_definition(repositories: Repositories, upstream: Upstream, queue: JobQueue) -> ServiceDefinition:
    """The pricing service as the shared bootstrap serves it; stopping it closes what it opened."""
    book = QuoteBook(repositories.quotes)
    await book.start()

    def register(server: grpc.aio.Server) -> None:
        runs = Runs(repositories, upstream, queue)
        pricing_pb2_grpc.add_StrategyServiceServicer_to_server(
            StrategyServicer(Strategies(repositories, upstream)), server
        )
        pricing_pb2_grpc.add_RepriceServiceServicer_to_server(
            RepriceServicer(runs, Recommendations(repositories, upstream)), server
        )
        pricing_pb2_grpc.add_ScheduleServiceServicer_to_server(
            ScheduleServicer(Schedules(repositories, upstream)), server
        )
        pricing_pb2_grpc.add_DemandModelServiceServicer_to_server(
            DemandModelServicer(runs, DemandModels(repositories)), server
        )
        pricing_pb2_grpc.add_PriceHistoryServiceServicer_to_server(PriceHistoryServicer(PriceHistory(upstream)), server)
        pricing_pb2_grpc.add_SimulationServiceServicer_to_server(
            SimulationServicer(Simulations(repositories, upstream)), server
        )
        pricing_pb2_grpc.add_ExperimentServiceServicer_to_server(
            ExperimentServicer(Experiments(repositories, upstream)), server
        )
        pricing_pb2_grpc.add_QuoteServiceServicer_to_server(QuoteServicer(Quotes(book)), server)

    async def stop() -> None:
        await book.stop()
        await upstream.close()
        await repositories.close()

    return ServiceDefinition(name=SERVICE, service_names=SERVICE_NAMES, register=register, on_stop=stop)


async def main() -> None:
    settings = get_settings()
    configure_logging(settings, SERVICE)
    queue = CeleryJobQueue(app)
    repositories = await open_repositories(settings)
    identity = open_channel(settings.identity_address, settings)
    try:
        await serve(
            await build_definition(repositories, Upstream(settings), queue),
            address=settings.pricing_address,
            metrics_port=settings.pricing_metrics_port,
            authenticator=remote_authenticator(settings, identity),
            audit_sink=RemoteAuditSink(identity, deadline_seconds=settings.rpc_deadline_seconds),
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
        )
    finally:
        await identity.close()
