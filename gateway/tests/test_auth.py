"""Credentials, roles and tenancy at the gateway; login, refresh, logout and /v1/me."""

from __future__ import annotations

import httpx
import jwt
import pytest

from gateway.schemas.identity import Me, Tokens
from gateway.tests.conftest import ORG_A, ORG_B, Mesh
from gateway.tests.support import assert_conforms, assert_problem, product_body
from runtime.auth import AccessTokens, Role


async def test_no_credentials_is_401_with_a_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/products")
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="omnipricex"'
    assert "credentials are required" in body["detail"]


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer " + jwt.encode({"sub": "x"}, key="", algorithm="none")],
)
async def test_bad_credentials_are_401(authorization: str, client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/products", headers={"Authorization": authorization})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith('Bearer realm="omnipricex"')


async def test_expired_and_foreign_tokens_are_401(mesh: Mesh, client: httpx.AsyncClient) -> None:
    settings = mesh.settings
    expired = AccessTokens(
        settings.require_jwt_secret(), issuer=settings.jwt_issuer, audience=settings.jwt_audience, ttl_seconds=-60
    ).issue(user_id="u", organization_id=ORG_A, role=Role.OWNER)
    foreign = AccessTokens(
        "another-secret-" + "x" * 40, issuer=settings.jwt_issuer, audience=settings.jwt_audience, ttl_seconds=600
    ).issue(user_id="u", organization_id=ORG_A, role=Role.OWNER)
    wrong_audience = AccessTokens(
        settings.require_jwt_secret(), issuer=settings.jwt_issuer, audience="someone-else", ttl_seconds=600
    ).issue(user_id="u", organization_id=ORG_A, role=Role.OWNER)

    for token, reason in ((expired, "expired"), (foreign, "not valid"), (wrong_audience, "Audience")):
        response = await client.get("/v1/products", headers={"Authorization": f"Bearer {token.token}"})
        body = assert_problem(response, 401)
        assert reason in body["detail"]
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_api_key_works_in_either_header(mesh: Mesh, client: httpx.AsyncClient) -> None:
    key = mesh.identity.add_api_key(Role.VIEWER, ORG_A)

    as_header = await client.get("/v1/me", headers={"X-API-Key": key})
    as_bearer = await client.get("/v1/me", headers={"Authorization": f"Bearer {key}"})

    for response in (as_header, as_bearer):
        assert response.status_code == 200, response.text
        assert_conforms(Me, response.json())
        assert response.json()["credential_kind"] == "api_key"
        assert response.json()["user"] is None
        assert response.json()["organization_id"] == ORG_A


async def test_unknown_api_key_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/products", headers={"X-API-Key": "opx_not-a-key"}), 401)


async def test_revoked_api_key_is_refused(mesh: Mesh, client: httpx.AsyncClient) -> None:
    key = mesh.identity.add_api_key(Role.ADMIN, ORG_A)
    assert (await client.get("/v1/products", headers={"X-API-Key": key})).status_code == 200
    key_id = mesh.identity.api_keys[key][0].id

    revoked = await client.delete(f"/v1/api-keys/{key_id}", headers=mesh.auth(Role.ADMIN))
    assert revoked.status_code == 200
    assert revoked.json()["revoke_time"] is not None

    # The gateway may still hold the key in its short cache; the service checks it again and refuses it.
    assert_problem(await client.get("/v1/products", headers={"X-API-Key": key}), 401)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/products", product_body()),
        ("PATCH", "/v1/products/SKU-1", {"title": "x"}),
        ("POST", "/v1/products/SKU-1/archive", {}),
        ("POST", "/v1/products/bulk-upsert", {"products": []}),
        ("POST", "/v1/categories", {"name": "Kitchen"}),
        ("DELETE", "/v1/categories/cat_1", None),
    ],
)
async def test_viewer_cannot_write(method: str, path: str, body: object, mesh: Mesh, client: httpx.AsyncClient) -> None:
    response = await client.request(method, path, json=body, headers=mesh.auth(Role.VIEWER))
    problem = assert_problem(response, 403)
    assert "pricing_manager" in problem["detail"]
    assert mesh.products.products == {}


@pytest.mark.parametrize("path", ["/v1/users", "/v1/api-keys", "/v1/audit-entries"])
async def test_identity_administration_needs_admin(path: str, mesh: Mesh, client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(path, headers=mesh.auth(Role.PRICING_MANAGER)), 403)
    assert (await client.get(path, headers=mesh.auth(Role.ADMIN))).status_code == 200


async def test_organisation_comes_from_the_credentials_only(mesh: Mesh, client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/products", json=product_body(), headers=mesh.auth(Role.PRICING_MANAGER))
    assert created.status_code == 201

    other = mesh.auth(Role.OWNER, ORG_B)
    assert_problem(await client.get("/v1/products/SKU-1", headers=other), 404)
    assert (await client.get("/v1/products", headers=other)).json()["items"] == []
    assert_problem(await client.patch("/v1/products/SKU-1", json={"title": "mine"}, headers=other), 404)
    smuggled = await client.post(
        "/v1/products", json={**product_body("SKU-2"), "organization_id": ORG_A}, headers=other
    )
    assert_problem(smuggled, 422)
    assert set(mesh.products.products) == {(ORG_A, "SKU-1")}


async def test_login_refresh_logout(mesh: Mesh, client: httpx.AsyncClient) -> None:
    mesh.identity.add_user("ana@shop.example", "correct horse battery staple", Role.ANALYST, ORG_A)

    wrong = await client.post("/v1/auth/token", json={"email": "ana@shop.example", "password": "nope"})
    assert_problem(wrong, 401)

    login = await client.post(
        "/v1/auth/token", json={"email": "ana@shop.example", "password": "correct horse battery staple"}
    )
    assert login.status_code == 200, login.text
    assert login.headers["cache-control"] == "no-store"
    tokens = login.json()
    assert_conforms(Tokens, tokens)
    assert tokens["token_type"] == "bearer"

    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200
    assert_conforms(Me, me.json())
    assert me.json()["user"]["email"] == "ana@shop.example"
    assert me.json()["role"] == "analyst"
    assert me.json()["credential_kind"] == "access_token"

    refreshed = await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    assert refreshed.json()["refresh_token"] != tokens["refresh_token"]
    assert_problem(await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401)

    new_tokens = refreshed.json()
    logout = await client.post(
        "/v1/auth/logout",
        json={"refresh_token": new_tokens["refresh_token"]},
        headers={"Authorization": f"Bearer {new_tokens['access_token']}"},
    )
    assert logout.status_code == 204
    assert logout.content == b""
    assert_problem(await client.post("/v1/auth/refresh", json={"refresh_token": new_tokens["refresh_token"]}), 401)


async def test_logout_needs_credentials(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/v1/auth/logout", json={"refresh_token": "rt"}), 401)
