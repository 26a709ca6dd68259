"""Users, API keys and the audit log through the gateway (admin only)."""

from __future__ import annotations

import httpx

from gateway.schemas.identity import ApiKey, AuditEntry, CreatedApiKey, User
from gateway.tests.conftest import ORG_A, ORG_B, Mesh
from gateway.tests.support import assert_conforms, assert_problem
from omnipricex.identity.v1 import identity_pb2
from runtime.auth import Role


async def test_users(mesh: Mesh, client: httpx.AsyncClient) -> None:
    admin = mesh.auth(Role.ADMIN)
    mesh.identity.add_user("elsewhere@other.example", "pw", Role.OWNER, ORG_B)

    created = await client.post(
        "/v1/users", json={"email": "vic@shop.example", "password": "long enough pw", "role": "viewer"}, headers=admin
    )
    assert created.status_code == 201, created.text
    assert_conforms(User, created.json())
    assert (created.json()["role"], created.json()["organization_id"]) == ("viewer", ORG_A)
    user_id = created.json()["id"]

    promoted = await client.patch(f"/v1/users/{user_id}", json={"role": "pricing_manager"}, headers=admin)
    assert promoted.json()["role"] == "pricing_manager"
    disabled = await client.post(f"/v1/users/{user_id}/disable", headers=admin)
    assert disabled.json()["disabled"] is True

    listed = await client.get("/v1/users", headers=admin)
    assert [user["email"] for user in listed.json()["items"]] == ["vic@shop.example"]
    assert listed.json()["next_cursor"] is None

    duplicate = await client.post(
        "/v1/users", json={"email": "vic@shop.example", "password": "pw", "role": "viewer"}, headers=admin
    )
    assert_problem(duplicate, 409)
    assert_problem(await client.patch(f"/v1/users/{user_id}", json={"role": "emperor"}, headers=admin), 422)
    assert_problem(await client.post("/v1/users/usr_nope/disable", headers=admin), 404)


async def test_api_keys(mesh: Mesh, client: httpx.AsyncClient) -> None:
    admin = mesh.auth(Role.ADMIN)

    created = await client.post("/v1/api-keys", json={"name": "feed sync", "role": "analyst"}, headers=admin)

    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    assert_conforms(CreatedApiKey, created.json())
    assert_conforms(ApiKey, created.json()["api_key"])
    secret = created.json()["secret"]
    me = await client.get("/v1/me", headers={"X-API-Key": secret})
    assert me.json()["role"] == "analyst"
    listed = await client.get("/v1/api-keys", headers=admin)
    assert [key["name"] for key in listed.json()["items"]] == ["feed sync"]
    assert listed.json()["items"][0]["revoke_time"] is None
    assert_problem(await client.delete("/v1/api-keys/key_nope", headers=admin), 404)


async def test_audit_entries(mesh: Mesh, client: httpx.AsyncClient) -> None:
    for actor, org in (("usr_1", ORG_A), ("usr_2", ORG_A), ("usr_3", ORG_B)):
        mesh.identity.audit.append(
            identity_pb2.AuditEntry(
                id=f"aud_{actor}",
                organization_id=org,
                actor_id=actor,
                action="/omnipricex.product.v1.ProductService/UpdateProduct",
                resource="product/SKU-1",
                outcome="OK",
            )
        )
    admin = mesh.auth(Role.ADMIN)

    everything = await client.get("/v1/audit-entries", headers=admin)
    by_actor = await client.get("/v1/audit-entries", params={"actor_id": "usr_1"}, headers=admin)

    assert [entry["actor_id"] for entry in everything.json()["items"]] == ["usr_2", "usr_1"]
    for entry in everything.json()["items"]:
        assert_conforms(AuditEntry, entry)
    assert [entry["actor_id"] for entry in by_actor.json()["items"]] == ["usr_1"]
