"""Server interceptors every service runs: metrics, error mapping, authentication, audit.

Each wraps the unary handler of a method once and caches the result, so the per-call cost is one
dict lookup plus the wrapper itself.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

from runtime.audit import AuditRecord, AuditSink, describe_resource, is_change
from runtime.auth import Authenticator, bind_principal, credential_from_metadata, optional_principal, unbind_principal
from runtime.clock import utcnow
from runtime.errors import DomainError, Unauthenticated, status_for, status_message
from runtime.logging import get_logger
from runtime.telemetry import current_trace_id

Behavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]
_log = get_logger(__name__)

RPC_REQUESTS = Counter("omnipricex_grpc_requests_total", "gRPC calls handled", ["service", "method", "code"])
RPC_LATENCY = Histogram(
    "omnipricex_grpc_request_duration_seconds",
    "gRPC call latency",
    ["service", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
AUDIT_FAILURES = Counter("omnipricex_audit_failures_total", "Audit records that could not be stored")


class _UnaryInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self) -> None:
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method: str = details.method
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            wrapped = grpc.unary_unary_rpc_method_handler(
                self.wrap(method, handler.unary_unary),  # type: ignore[arg-type]
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
            self._wrapped[method] = wrapped
        return wrapped

    def wrap(self, method: str, behavior: Behavior) -> Behavior:
        raise NotImplementedError


def _split(method: str) -> tuple[str, str]:
    service, _, name = method.strip("/").rpartition("/")
    return service, name


class MetricsInterceptor(_UnaryInterceptor):
    def wrap(self, method: str, behavior: Behavior) -> Behavior:
        service, name = _split(method)
        latency = RPC_LATENCY.labels(service, name)

        async def observed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started = time.perf_counter()
            try:
                response = await behavior(request, context)
            except BaseException:
                RPC_REQUESTS.labels(service, name, _code_name(context.code(), grpc.StatusCode.UNKNOWN)).inc()
                raise
            finally:
                latency.observe(time.perf_counter() - started)
            RPC_REQUESTS.labels(service, name, _code_name(context.code(), grpc.StatusCode.OK)).inc()
            return response

        return observed


def _code_name(code: Any, default: grpc.StatusCode) -> str:
    # context.code() is None until a handler sets or aborts with a code.
    return code.name if isinstance(code, grpc.StatusCode) else default.name


class ErrorInterceptor(_UnaryInterceptor):
    """Domain errors become their status code; anything unexpected is logged and hidden as INTERNAL."""

    def wrap(self, method: str, behavior: Behavior) -> Behavior:
        async def mapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            try:
                return await behavior(request, context)
            except DomainError as error:
                await context.abort(status_for(error), status_message(error))
            except grpc.aio.AbortError:
                raise
            except Exception:
                _log.exception("unhandled error", method=method)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")

        return mapped


class AuthInterceptor(_UnaryInterceptor):
    """Sets the caller's principal from `authorization`/`x-api-key` metadata for the call."""

    def __init__(self, authenticator: Authenticator, public_methods: frozenset[str]) -> None:
        super().__init__()
        self._authenticator = authenticator
        self._public = public_methods

    def wrap(self, method: str, behavior: Behavior) -> Behavior:
        public = method in self._public

        async def authenticated(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            credential = credential_from_metadata(context.invocation_metadata() or ())
            if credential is None:
                if not public:
                    raise Unauthenticated("credentials are required: send 'authorization: Bearer <token>'")
                return await behavior(request, context)
            try:
                principal = await self._authenticator.authenticate(credential)
            except Unauthenticated:
                if public:
                    return await behavior(request, context)
                raise
            token = bind_principal(principal)
            try:
                return await behavior(request, context)
            finally:
                unbind_principal(token)

        return authenticated


class AuditInterceptor(_UnaryInterceptor):
    """Records every change an authenticated caller made, or tried to make, in the audit log."""

    def __init__(self, sink: AuditSink) -> None:
        super().__init__()
        self._sink = sink

    def wrap(self, method: str, behavior: Behavior) -> Behavior:
        if not is_change(method):
            return behavior

        async def audited(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            principal = optional_principal()
            if principal is None:
                return await behavior(request, context)
            outcome = "OK"
            try:
                return await behavior(request, context)
            except DomainError as error:
                outcome = status_for(error).name
                raise
            finally:
                record = AuditRecord(
                    organization_id=principal.organization_id,
                    actor_id=principal.subject_id,
                    action=method,
                    resource=describe_resource(method, request),
                    outcome=outcome,
                    trace_id=current_trace_id(),
                    time=utcnow(),
                )
                credential = credential_from_metadata(context.invocation_metadata() or ()) or ""
                try:
                    await self._sink.record([record], credential)
                except Exception:
                    # The change itself is committed; keep the record in the logs rather than fail the call.
                    AUDIT_FAILURES.inc()
                    _log.exception("audit record not stored", audit=str(record))

        return audited
