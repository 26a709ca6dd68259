"""The shared gRPC bootstrap: auth, error mapping, audit, health, reflection and draining shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from omnipricex.product.v1 import product_pb2, product_pb2_grpc
from runtime.audit import AuditRecord
from runtime.auth import AccessTokens, Authenticator, Principal, Role, current_principal
from runtime.errors import NotFound, Unauthenticated
from runtime.grpc_server import RunningServer, ServiceDefinition, start_server

SECRET = "k" * 64
TOKENS = AccessTokens(SECRET, issuer="omnipricex", audience="omnipricex-api", ttl_seconds=60)
SERVICE = "omnipricex.product.v1.ProductService"


class RecordingSink:
    def __init__(self) -> None:
        self.records: list[tuple[AuditRecord, str]] = []

    async def record(self, records: Sequence[AuditRecord], credential: str) -> None:
        self.records.extend((record, credential) for record in records)


class Catalog(product_pb2_grpc.ProductServiceServicer):
    """Test double of a servicer: just enough behaviour to exercise the interceptors."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def GetProduct(self, request: Any, context: Any) -> product_pb2.GetProductResponse:
        principal = current_principal()
        if request.sku == "slow":
            await self.release.wait()
        if request.sku != "known":
            raise NotFound(f"product {request.sku!r} not found")
        return product_pb2.GetProductResponse(product=product_pb2.Product(sku="known", title=principal.organization_id))

    async def ArchiveProduct(self, request: Any, context: Any) -> product_pb2.ArchiveProductResponse:
        current_principal()
        if request.sku == "boom":
            raise RuntimeError("secret internals")
        return product_pb2.ArchiveProductResponse(product=product_pb2.Product(sku=request.sku))


async def refuse_api_keys(credential: str) -> Principal:
    raise Unauthenticated("unknown API key")


@pytest.fixture
async def server() -> AsyncIterator[tuple[RunningServer, Catalog, RecordingSink]]:
    catalog, sink = Catalog(), RecordingSink()  # type: ignore[abstract]  # the other RPCs stay unimplemented
    definition = ServiceDefinition(
        name="test",
        service_names=(SERVICE,),
        register=lambda s: product_pb2_grpc.add_ProductServiceServicer_to_server(catalog, s),
    )
    running = await start_server(
        definition,
        address="127.0.0.1:0",
        authenticator=Authenticator(TOKENS, refuse_api_keys, cache_seconds=0),
        audit_sink=sink,
    )
    yield running, catalog, sink
    catalog.release.set()
    await running.stop(0)


def metadata(role: Role = Role.ADMIN) -> tuple[tuple[str, str], ...]:
    token = TOKENS.issue(user_id="u1", organization_id="org-1", role=role).token
    return (("authorization", f"Bearer {token}"),)


async def test_calls_need_credentials_and_see_their_principal(server: Any) -> None:
    running, _, _ = server
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = product_pb2_grpc.ProductServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetProduct(product_pb2.GetProductRequest(sku="known"))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as bad_key:
            await stub.GetProduct(product_pb2.GetProductRequest(sku="known"), metadata=(("x-api-key", "opx_1_x"),))
        assert bad_key.value.code() == grpc.StatusCode.UNAUTHENTICATED
        response = await stub.GetProduct(product_pb2.GetProductRequest(sku="known"), metadata=metadata())
        assert response.product.title == "org-1"


async def test_domain_errors_map_to_status_codes_and_internals_stay_hidden(server: Any) -> None:
    running, _, _ = server
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = product_pb2_grpc.ProductServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.GetProduct(product_pb2.GetProductRequest(sku="nope"), metadata=metadata())
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        assert "nope" in (missing.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as crashed:
            await stub.ArchiveProduct(product_pb2.ArchiveProductRequest(sku="boom"), metadata=metadata())
        assert crashed.value.code() == grpc.StatusCode.INTERNAL
        assert "secret" not in (crashed.value.details() or "")


async def test_changes_are_audited_reads_are_not(server: Any) -> None:
    running, _, sink = server
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = product_pb2_grpc.ProductServiceStub(channel)
        await stub.GetProduct(product_pb2.GetProductRequest(sku="known"), metadata=metadata())
        await stub.ArchiveProduct(product_pb2.ArchiveProductRequest(sku="SKU-1"), metadata=metadata())
    assert len(sink.records) == 1
    record, credential = sink.records[0]
    assert (record.organization_id, record.actor_id, record.resource, record.outcome) == (
        "org-1",
        "u1",
        "product/SKU-1",
        "OK",
    )
    assert record.action == f"/{SERVICE}/ArchiveProduct"
    assert credential


async def test_health_and_reflection_are_public(server: Any) -> None:
    running, _, _ = server
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=SERVICE))
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        stream = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        async for answer in stream:
            names = {s.name for s in answer.list_services_response.service}
            assert SERVICE in names
            break


async def test_shutdown_drains_in_flight_calls(server: Any) -> None:
    running, catalog, _ = server
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = product_pb2_grpc.ProductServiceStub(channel)
        in_flight = asyncio.ensure_future(
            stub.GetProduct(product_pb2.GetProductRequest(sku="slow"), metadata=metadata())
        )
        await asyncio.sleep(0.2)
        stopping = asyncio.ensure_future(running.stop(5))
        await asyncio.sleep(0.2)
        catalog.release.set()
        with pytest.raises(grpc.aio.AioRpcError) as finished:
            await in_flight
        # the in-flight call completed with its own answer instead of being cut off
        assert finished.value.code() == grpc.StatusCode.NOT_FOUND
        await stopping
