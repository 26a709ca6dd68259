"""Builds identity's repository and use cases from settings and serves them over gRPC."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

import grpc

from omnipricex.identity.v1 import identity_pb2, identity_pb2_grpc
from runtime.grpc_server import ServiceDefinition, serve
from runtime.identity_client import access_tokens
from runtime.logging import configure_logging, get_logger
from runtime.settings import Settings, get_settings
from runtime.storage.mongo import connect
from services.identity.local import LocalAuditSink, LocalAuthenticator
from services.identity.passwords import Passwords
from services.identity.repository import IdentityRepository
from services.identity.repository.mongo import MongoIdentityRepository
from services.identity.repository.sqlite import SqliteIdentityRepository
from services.identity.servicer import ApiKeyServicer, AuditServicer, AuthServicer, OrganizationServicer, UserServicer
from services.identity.use_cases import AuthUseCases, IdentityUseCases, build_use_cases

SERVICE = "identity"
SERVICE_NAMES = tuple(
    identity_pb2.DESCRIPTOR.services_by_name[name].full_name
    for name in ("AuthService", "OrganizationService", "UserService", "ApiKeyService", "AuditService")
)
# Callable without credentials: they are how credentials are obtained or checked in the first place.
# CreateOrganization is guarded by the operator's bootstrap token instead.
PUBLIC_METHODS = frozenset(
    {
        "/omnipricex.identity.v1.AuthService/Login",
        "/omnipricex.identity.v1.AuthService/RefreshToken",
        "/omnipricex.identity.v1.AuthService/Logout",
        "/omnipricex.identity.v1.AuthService/Authenticate",
        "/omnipricex.identity.v1.OrganizationService/CreateOrganization",
    }
)
PURGE_INTERVAL_SECONDS = 3600.0
_log = get_logger(__name__)


def build_definition(
    use_cases: IdentityUseCases, *, on_stop: Callable[[], Awaitable[None]] | None = None
) -> ServiceDefinition:
    def register(server: grpc.aio.Server) -> None:
        identity_pb2_grpc.add_AuthServiceServicer_to_server(AuthServicer(use_cases), server)
        identity_pb2_grpc.add_OrganizationServiceServicer_to_server(OrganizationServicer(use_cases), server)
        identity_pb2_grpc.add_UserServiceServicer_to_server(UserServicer(use_cases), server)
        identity_pb2_grpc.add_ApiKeyServiceServicer_to_server(ApiKeyServicer(use_cases), server)
        identity_pb2_grpc.add_AuditServiceServicer_to_server(AuditServicer(use_cases), server)

    return ServiceDefinition(
        name=SERVICE,
        service_names=SERVICE_NAMES,
        register=register,
        public_methods=PUBLIC_METHODS,
        on_stop=on_stop,
    )


async def open_repository(settings: Settings) -> IdentityRepository:
    """SQLite under data_dir by default; MongoDB when OMNIPRICEX_MONGODB_URI is set."""
    repository: SqliteIdentityRepository | MongoIdentityRepository
    if settings.mongodb_uri is not None:
        client = connect(settings.mongodb_uri.get_secret_value())
        repository = MongoIdentityRepository(client[settings.mongodb_database(SERVICE)], client=client)
    else:
        repository = SqliteIdentityRepository(settings.sqlite_path(SERVICE))
    await repository.open()
    return repository


async def purge_expired_refresh_tokens(auth: AuthUseCases, interval_seconds: float) -> None:
    """Forget dead refresh-token families now and then, so the table only holds live sessions."""
    while True:
        try:
            deleted = await auth.purge_expired_refresh_tokens()
        except Exception:
            _log.exception("refresh token purge failed")
        else:
            if deleted:
                _log.info("expired refresh tokens purged", deleted=deleted)
        await asyncio.sleep(interval_seconds)


async def main() -> None:
    settings = get_settings()
    configure_logging(settings, SERVICE)
    repository = await open_repository(settings)
    tokens = access_tokens(settings)
    use_cases = build_use_cases(
        repository,
        passwords=Passwords(),
        access_tokens=tokens,
        refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
        bootstrap_token=settings.require_bootstrap_token(),
    )
    purge = asyncio.create_task(purge_expired_refresh_tokens(use_cases.auth, PURGE_INTERVAL_SECONDS))

    async def stop() -> None:
        purge.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purge
        await repository.close()

    await serve(
        build_definition(use_cases, on_stop=stop),
        address=settings.identity_address,
        metrics_port=settings.identity_metrics_port,
        authenticator=LocalAuthenticator(tokens, use_cases.auth),
        audit_sink=LocalAuditSink(use_cases.audit),
        shutdown_grace_seconds=settings.shutdown_grace_seconds,
    )
