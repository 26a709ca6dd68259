"""Outbound gRPC: every call carries a deadline, trace context, and the caller's credential."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from runtime.settings import Settings
from runtime.telemetry import client_interceptors


class DeadlineInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Gives every unary call the configured deadline unless the caller chose one (long bulk calls do)."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        if details.timeout is None:
            details = grpc.aio.ClientCallDetails(
                details.method, self._seconds, details.metadata, details.credentials, details.wait_for_ready
            )
        return await continuation(details, request)


def _retry_config(read_services: Sequence[str]) -> str:
    # Only reads are retried, and only when the server was unreachable: writes must never run twice.
    names = [{"service": name} for name in read_services]
    return json.dumps(
        {
            "methodConfig": [
                {
                    "name": names,
                    "retryPolicy": {
                        "maxAttempts": 3,
                        "initialBackoff": "0.05s",
                        "maxBackoff": "0.5s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ]
        }
    )


def open_channel(address: str, settings: Settings, *, read_only_services: Sequence[str] = ()) -> grpc.aio.Channel:
    options: list[tuple[str, Any]] = [
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
        # Reconnect quickly after a service restarts instead of waiting out a long backoff.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ]
    if read_only_services:
        options += [("grpc.enable_retries", 1), ("grpc.service_config", _retry_config(read_only_services))]
    interceptors = [DeadlineInterceptor(settings.rpc_deadline_seconds), *client_interceptors()]
    return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)


def auth_metadata(credential: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {credential}"),)
