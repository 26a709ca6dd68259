"""The pricing service in-process with the real product, analytics and competitor services beside it,
each on loopback gRPC with its own SQLite file, so tests go through every contract the worker uses.

Identity is the one piece left out: tokens are minted with the shared secret (as identity would) and
audit records are kept in a list. Jobs are queued in a list and run by the test with the executors the
worker uses, so each step can be checked; tests/test_pricing_worker.py runs them in real workers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
from pydantic import SecretStr

from omnipricex.analytics.v1 import analytics_pb2_grpc
from omnipricex.competitor.v1 import competitor_pb2_grpc
from omnipricex.pricing.v1 import pricing_pb2_grpc
from omnipricex.product.v1 import product_pb2_grpc
from runtime.auth import CredentialKind, Principal, Role
from runtime.clients import auth_metadata
from runtime.grpc_server import RunningServer, start_server
from runtime.identity_client import access_tokens
from runtime.settings import Settings
from runtime.testing.auth import RecordingAuditSink, token_authenticator
from services.analytics import server as analytics_server
from services.competitor import server as competitor_server
from services.pricing import server as pricing_server
from services.pricing.domain.records import JobKind
from services.pricing.repository import Repositories
from services.pricing.repository.opening import open_repositories
from services.pricing.upstream import Upstream
from services.pricing.use_cases.models import RefitExecutor
from services.pricing.use_cases.reprice import RepriceExecutor, RunResult
from services.product import server as product_server

ORG_A = "org_a"
ORG_B = "org_b"


@dataclass
class ListQueue:
    """Jobs as the server submits them, for the test to run."""

    jobs: list[tuple[JobKind, str, str]] = field(default_factory=list)

    def submit(self, kind: JobKind, organization_id: str, run_id: str) -> None:
        self.jobs.append((kind, organization_id, run_id))


@dataclass
class PricingMesh:
    settings: Settings
    repositories: Repositories
    upstream: Upstream
    queue: ListQueue
    audit: RecordingAuditSink
    servers: dict[str, RunningServer]
    channels: dict[str, grpc.aio.Channel]

    def metadata(self, role: Role = Role.PRICING_MANAGER, organization_id: str = ORG_A, user: str = "usr_1") -> Any:
        token = access_tokens(self.settings).issue(user_id=user, organization_id=organization_id, role=role)
        return auth_metadata(token.token)

    def principal(self, role: Role = Role.PRICING_MANAGER, organization_id: str = ORG_A) -> Principal:
        return Principal(organization_id, "usr_1", role, CredentialKind.ACCESS_TOKEN)

    @property
    def products(self) -> product_pb2_grpc.ProductServiceAsyncStub:
        return product_pb2_grpc.ProductServiceStub(self.channels["product"])

    @property
    def categories(self) -> product_pb2_grpc.CategoryServiceAsyncStub:
        return product_pb2_grpc.CategoryServiceStub(self.channels["product"])

    @property
    def sales(self) -> analytics_pb2_grpc.SalesServiceAsyncStub:
        return analytics_pb2_grpc.SalesServiceStub(self.channels["analytics"])

    @property
    def competitors(self) -> competitor_pb2_grpc.CompetitorServiceAsyncStub:
        return competitor_pb2_grpc.CompetitorServiceStub(self.channels["competitor"])

    @property
    def offers(self) -> competitor_pb2_grpc.OfferServiceAsyncStub:
        return competitor_pb2_grpc.OfferServiceStub(self.channels["competitor"])

    @property
    def observations(self) -> competitor_pb2_grpc.ObservationServiceAsyncStub:
        return competitor_pb2_grpc.ObservationServiceStub(self.channels["competitor"])

    @property
    def strategies(self) -> pricing_pb2_grpc.StrategyServiceAsyncStub:
        return pricing_pb2_grpc.StrategyServiceStub(self.channels["pricing"])

    @property
    def reprice(self) -> pricing_pb2_grpc.RepriceServiceAsyncStub:
        return pricing_pb2_grpc.RepriceServiceStub(self.channels["pricing"])

    @property
    def models(self) -> pricing_pb2_grpc.DemandModelServiceAsyncStub:
        return pricing_pb2_grpc.DemandModelServiceStub(self.channels["pricing"])

    @property
    def history(self) -> pricing_pb2_grpc.PriceHistoryServiceAsyncStub:
        return pricing_pb2_grpc.PriceHistoryServiceStub(self.channels["pricing"])

    @property
    def simulation(self) -> pricing_pb2_grpc.SimulationServiceAsyncStub:
        return pricing_pb2_grpc.SimulationServiceStub(self.channels["pricing"])

    @property
    def experiments(self) -> pricing_pb2_grpc.ExperimentServiceAsyncStub:
        return pricing_pb2_grpc.ExperimentServiceStub(self.channels["pricing"])

    @property
    def quotes(self) -> pricing_pb2_grpc.QuoteServiceAsyncStub:
        return pricing_pb2_grpc.QuoteServiceStub(self.channels["pricing"])

    async def run_jobs(self, worker_id: str = "test-worker") -> list[RunResult | None]:
        """Run every queued job once, in order, as a worker would."""
        results: list[RunResult | None] = []
        lease = timedelta(seconds=30)
        while self.queue.jobs:
            kind, organization_id, run_id = self.queue.jobs.pop(0)
            executor: RepriceExecutor | RefitExecutor
            if kind is JobKind.REFIT:
                executor = RefitExecutor(self.repositories, self.upstream, worker_id=worker_id, lease=lease)
            else:
                executor = RepriceExecutor(self.repositories, self.upstream, worker_id=worker_id, lease=lease)
            results.append(await executor.execute(organization_id, run_id))
        return results


def mesh_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        jwt_secret=SecretStr("pricing-tests-secret-" + "p" * 40),
        rpc_deadline_seconds=5.0,
    )


@asynccontextmanager
async def pricing_mesh(tmp_path: Path) -> AsyncIterator[PricingMesh]:
    settings = mesh_settings(tmp_path)
    tokens = access_tokens(settings)

    authenticator = token_authenticator(tokens)
    audit = RecordingAuditSink()
    servers: dict[str, RunningServer] = {}
    channels: dict[str, grpc.aio.Channel] = {}
    queue = ListQueue()
    try:
        for name, module in (
            ("product", product_server),
            ("analytics", analytics_server),
            ("competitor", competitor_server),
        ):
            definition = module.build_definition(await module.open_repositories(settings))
            servers[name] = await start_server(
                definition, address="127.0.0.1:0", authenticator=authenticator, audit_sink=audit
            )
        settings = settings.model_copy(
            update={f"{name}_address": f"127.0.0.1:{server.port}" for name, server in servers.items()}
        )
        repositories = await open_repositories(settings)
        upstream = Upstream(settings)
        servers["pricing"] = await start_server(
            await pricing_server.build_definition(await open_repositories(settings), Upstream(settings), queue),
            address="127.0.0.1:0",
            authenticator=authenticator,
            audit_sink=audit,
        )
        for name, server in servers.items():
            channels[name] = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        mesh = PricingMesh(settings, repositories, upstream, queue, audit, servers, channels)
        try:
            yield mesh
        finally:
            await upstream.close()
            await repositories.close()
    finally:
        for channel in channels.values():
            await channel.close()
        for server in servers.values():
            await server.stop(0)
