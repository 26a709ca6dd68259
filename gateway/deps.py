"""FastAPI dependencies: the app's backends, and the authenticated caller with the role a route needs.

Credentials are read from the headers here rather than through FastAPI's security classes: one
dependency per request instead of three. gateway.openapi documents the credentials each route takes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from gateway.auth import presented_credential
from gateway.backends import GatewayState, Stubs
from runtime.auth import Principal, Role
from runtime.clients import auth_metadata


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller, with the stubs and metadata to call the services on its behalf."""

    principal: Principal
    # Presents the caller's own credential to the service, which checks it again.
    metadata: tuple[tuple[str, str], ...]
    stubs: Stubs
    deadline: float
    long_deadline: float


async def gateway_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


# The dependencies that authenticate; gateway.openapi marks the routes that use one as needing credentials.
_CREDENTIAL_DEPENDENCIES: set[Callable[..., object]] = set()


def caller_with(role: Role) -> Callable[[Request], Awaitable[Caller]]:
    async def authenticated_caller(request: Request) -> Caller:
        headers = request.headers
        credential = presented_credential(headers.get("authorization"), headers.get("x-api-key"))
        backends: GatewayState = request.app.state.gateway
        principal = await backends.authenticator.authenticate(credential)
        principal.require(role)
        return Caller(principal, auth_metadata(credential), backends.stubs, backends.deadline, backends.long_deadline)

    _CREDENTIAL_DEPENDENCIES.add(authenticated_caller)
    return authenticated_caller


def requires_credentials(route: APIRoute) -> bool:
    return any(dependency.call in _CREDENTIAL_DEPENDENCIES for dependency in route.dependant.dependencies)


Backends = Annotated[GatewayState, Depends(gateway_state)]
Viewer = Annotated[Caller, Depends(caller_with(Role.VIEWER))]
Analyst = Annotated[Caller, Depends(caller_with(Role.ANALYST))]
PricingManager = Annotated[Caller, Depends(caller_with(Role.PRICING_MANAGER))]
Admin = Annotated[Caller, Depends(caller_with(Role.ADMIN))]
