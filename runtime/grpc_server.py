"""The grpc.aio server bootstrap shared by every service: interceptors, health, reflection, shutdown."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from runtime.audit import AuditSink
from runtime.auth import Authenticator
from runtime.interceptors import AuditInterceptor, AuthInterceptor, ErrorInterceptor, MetricsInterceptor
from runtime.logging import get_logger
from runtime.telemetry import server_interceptors, setup_tracing, shutdown_tracing

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
_log = get_logger(__name__)


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    service_names: tuple[str, ...]
    register: Callable[[grpc.aio.Server], None]
    public_methods: frozenset[str] = frozenset()
    # Background work the service runs while it serves: started once it listens, stopped after it drains.
    on_start: Callable[[], Awaitable[None]] | None = None
    on_stop: Callable[[], Awaitable[None]] | None = None


@dataclass
class RunningServer:
    definition: ServiceDefinition
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int

    async def stop(self, grace: float) -> None:
        """Refuse new calls, let in-flight ones finish within `grace` seconds, then release resources."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        if self.definition.on_stop is not None:
            await self.definition.on_stop()


async def start_server(
    definition: ServiceDefinition,
    *,
    address: str,
    authenticator: Authenticator,
    audit_sink: AuditSink,
) -> RunningServer:
    setup_tracing(definition.name)
    server = grpc.aio.server(
        interceptors=[
            *server_interceptors(),
            MetricsInterceptor(),
            ErrorInterceptor(),
            AuthInterceptor(authenticator, definition.public_methods | {HEALTH_CHECK}),
            AuditInterceptor(audit_sink),
        ],
        options=[
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ("grpc.so_reuseport", 0),
        ],
    )
    definition.register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            *definition.service_names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"{definition.name}: cannot listen on {address}")
    await server.start()
    if definition.on_start is not None:
        await definition.on_start()
    for name in ("", *definition.service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(definition, server, health_servicer, port)


async def serve(
    definition: ServiceDefinition,
    *,
    address: str,
    metrics_port: int,
    authenticator: Authenticator,
    audit_sink: AuditSink,
    shutdown_grace_seconds: float,
) -> None:
    """Run a service until SIGTERM or SIGINT, then drain in-flight calls and stop."""
    if metrics_port:
        start_http_server(metrics_port, addr="127.0.0.1")
    running = await start_server(definition, address=address, authenticator=authenticator, audit_sink=audit_sink)
    _log.info("serving", address=address, port=running.port, metrics_port=metrics_port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    _log.info("stopping", grace_seconds=shutdown_grace_seconds)
    await running.stop(shutdown_grace_seconds)
    shutdown_tracing()
    _log.info("stopped")
