"""Outbound gRPC channels with trace context and the caller's credential.

Every call must pass `timeout=`: a client interceptor that added a default deadline cost ~0.2 ms per
call on grpc.aio's interceptor path, more than the call itself spends in our code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import grpc

from runtime.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from runtime.settings import Settings
from runtime.telemetry import client_interceptors


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
    interceptors = client_interceptors()
    return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors or None)


def auth_metadata(credential: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {credential}"),)


_CALLEE_ERRORS: dict[grpc.StatusCode, type[DomainError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
}


def callee_error(error: grpc.aio.AioRpcError, callee: str) -> DomainError:
    """A downstream service's refusal as our own domain error (its words kept), so it maps to the same status
    for our caller; anything else (deadline, unreachable, internal) is Unavailable naming the callee."""
    kind = _CALLEE_ERRORS.get(error.code(), Unavailable)
    if kind is Unavailable:
        return Unavailable(f"{callee} is not answering right now ({error.code().name.lower()})")
    return kind(error.details() or f"{callee} refused the call")
