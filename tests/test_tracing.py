"""Trace context flows gateway → gRPC service and both export spans over OTLP to a collector.

The collector is a protocol-level fake: a gRPC server on loopback implementing OTLP's TraceService.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from cli.seed import DemoLogin, seed_demo
from runtime.testing.mesh import Mesh, running_mesh

pytestmark = pytest.mark.integration


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str]] = []  # (service.name, trace id, span name)

    def Export(self, request: Any, context: Any) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            service = attributes.get("service.name", "")
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append((service, span.trace_id.hex(), span.name))
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture(scope="module")
def collector() -> Iterator[tuple[Collector, int]]:
    from concurrent import futures

    fake = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(fake, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield fake, port
    server.stop(0)


@pytest.fixture(scope="module")
def traced_mesh(tmp_path_factory: pytest.TempPathFactory, collector: tuple[Collector, int]) -> Iterator[Mesh]:
    _, port = collector
    extra = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with running_mesh(tmp_path_factory.mktemp("traced"), extra_env=extra) as mesh:
        asyncio.run(seed_demo(mesh.settings, DemoLogin("admin@demo.local", "traced-password-1", True, Path("unused"))))
        yield mesh


def test_a_rest_call_is_one_trace_across_gateway_and_service(
    traced_mesh: Mesh, collector: tuple[Collector, int]
) -> None:
    fake, _ = collector
    with httpx.Client(base_url=traced_mesh.gateway, timeout=10) as http:
        token = http.post("/v1/auth/token", json={"email": "admin@demo.local", "password": "traced-password-1"}).json()[
            "access_token"
        ]
        fake.spans.clear()
        response = http.get("/v1/products/DEMO-000001", headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 200
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        product_traces = {t for s, t, n in fake.spans if s == "omnipricex-product" and n.endswith("GetProduct")}
        gateway_traces = {t for s, t, _ in fake.spans if s == "omnipricex-gateway"}
        if product_traces & gateway_traces:
            return
        time.sleep(0.2)
    pytest.fail(f"no trace shared by gateway and product service; spans seen: {fake.spans[:20]}")
