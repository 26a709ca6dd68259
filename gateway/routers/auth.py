"""/v1/auth/* and /v1/me → omnipricex.identity.v1.AuthService and UserService."""

from __future__ import annotations

from fastapi import APIRouter, Response

from gateway.deps import Backends, Viewer
from gateway.openapi import PROTECTED, PUBLIC, problems
from gateway.responses import JsonResponse
from gateway.schemas.identity import LoginBody, Me, RefreshBody, Tokens
from gateway.translate.identity import me_json, tokens_json
from omnipricex.identity.v1 import identity_pb2

router = APIRouter(prefix="/v1", tags=["auth"], default_response_class=JsonResponse)
# Tokens must never be cached by a browser or proxy (RFC 6749 §5.1).
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.post(
    "/auth/token",
    response_model=Tokens,
    responses={**PUBLIC, **problems(401)},
    summary="Log in with email and password",
    description="Returns a short-lived access token and a single-use refresh token.",
)
async def login(body: LoginBody, backends: Backends) -> Response:
    response = await backends.stubs.auth.Login(
        identity_pb2.LoginRequest(email=body.email, password=body.password), timeout=backends.deadline
    )
    return JsonResponse(tokens_json(response.tokens), headers=_NO_STORE)


@router.post(
    "/auth/refresh",
    response_model=Tokens,
    responses={**PUBLIC, **problems(401)},
    summary="Exchange a refresh token for new tokens",
    description="The refresh token is retired; presenting it again revokes every token of its login.",
)
async def refresh(body: RefreshBody, backends: Backends) -> Response:
    response = await backends.stubs.auth.RefreshToken(
        identity_pb2.RefreshTokenRequest(refresh_token=body.refresh_token), timeout=backends.deadline
    )
    return JsonResponse(tokens_json(response.tokens), headers=_NO_STORE)


@router.post(
    "/auth/logout",
    status_code=204,
    response_class=Response,
    responses=PROTECTED,
    summary="Log out: revoke the refresh token and every token refreshed from the same login",
)
async def logout(body: RefreshBody, caller: Viewer) -> Response:
    await caller.stubs.auth.Logout(
        identity_pb2.LogoutRequest(refresh_token=body.refresh_token),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return Response(status_code=204)


@router.get("/me", response_model=Me, responses=PROTECTED, summary="Who the credentials belong to")
async def me(caller: Viewer) -> Response:
    response = await caller.stubs.users.GetCurrentUser(
        identity_pb2.GetCurrentUserRequest(), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse(me_json(response))
