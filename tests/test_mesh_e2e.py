"""The acceptance walk of the mesh: real identity, product and gateway processes, over REST."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from typing import Any

import httpx
import pytest

from omnipricex.identity.v1 import identity_pb2, identity_pb2_grpc
from runtime.clients import open_channel
from runtime.testing.mesh import Mesh
from tests.conftest import login

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


def new_product(sku: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": sku,
        "title": "Test kettle 1.7 l",
        "brand": "Acme",
        "currency": "EUR",
        "cost": "10.00",
        "price": "19.99",
        "stock": 5,
    }
    body.update(overrides)
    return body


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["title"]
    return problem


def create_organization(mesh: Mesh, email: str, password: str) -> None:
    async def call() -> None:
        settings = mesh.settings
        channel = open_channel(settings.identity_address, settings)
        try:
            await identity_pb2_grpc.OrganizationServiceStub(channel).CreateOrganization(
                identity_pb2.CreateOrganizationRequest(
                    name=f"Rival {email}", owner_email=email, owner_password=password
                ),
                metadata=(("x-bootstrap-token", settings.require_bootstrap_token()),),
                timeout=10,
            )
        finally:
            await channel.close()

    asyncio.run(call())


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"authorization": f"Bearer {tokens['access_token']}"}


def test_login_returns_tokens(http: httpx.Client) -> None:
    tokens = login(http, "admin@demo.local", "correct-horse-battery")
    assert tokens["token_type"].lower() == "bearer"
    assert tokens["access_token"]
    assert tokens["refresh_token"]
    assert int(tokens["expires_in"]) > 0


def test_wrong_password_is_401_problem(http: httpx.Client) -> None:
    response = http.post("/v1/auth/token", json={"email": "admin@demo.local", "password": "wrong-password-123"})
    assert_problem(response, 401)


def test_first_page_of_demo_products(http: httpx.Client, admin: dict[str, str]) -> None:
    response = http.get("/v1/products", params={"limit": 50}, headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["items"]) == 50
    assert body["next_cursor"]
    skus = [item["sku"] for item in body["items"]]
    assert skus == sorted(skus)
    second = http.get("/v1/products", params={"limit": 50, "cursor": body["next_cursor"]}, headers=admin).json()
    assert len(second["items"]) == 50
    assert not set(skus) & {item["sku"] for item in second["items"]}


def test_product_lifecycle(http: httpx.Client, admin: dict[str, str]) -> None:
    sku = f"E2E-{uuid.uuid4().hex[:8]}"
    created = http.post("/v1/products", json=new_product(sku), headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["price"] == "19.99"
    assert http.post("/v1/products", json=new_product(sku), headers=admin).status_code == 409

    fetched = http.get(f"/v1/products/{sku}", headers=admin)
    assert fetched.status_code == 200
    assert fetched.json()["title"] == "Test kettle 1.7 l"

    patched = http.patch(f"/v1/products/{sku}", json={"price": "17.49", "reason": "match market"}, headers=admin)
    assert patched.status_code == 200, patched.text
    assert patched.json()["price"] == "17.49"
    assert patched.json()["title"] == "Test kettle 1.7 l"

    events = http.get("/v1/price-events", params={"sku": sku}, headers=admin).json()["items"]
    assert [e["new_price"] for e in events][:2] == ["17.49", "19.99"]
    assert events[0]["reason"] == "match market"

    archived = http.post(f"/v1/products/{sku}/archive", json={"reason": "discontinued"}, headers=admin)
    assert archived.status_code == 200, archived.text
    assert archived.json()["status"] == "archived"
    listed = http.get("/v1/products", params={"q": "kettle 1.7", "limit": 1000}, headers=admin).json()["items"]
    assert sku not in {item["sku"] for item in listed}


def test_unknown_product_is_404_problem(http: httpx.Client, admin: dict[str, str]) -> None:
    assert_problem(http.get("/v1/products/does-not-exist", headers=admin), 404)


def test_no_token_is_401(http: httpx.Client) -> None:
    problem = assert_problem(http.get("/v1/products"), 401)
    assert problem["status"] == 401
    assert_problem(http.get("/v1/products", headers={"authorization": "Bearer not-a-token"}), 401)


def test_viewer_cannot_write(http: httpx.Client, admin: dict[str, str]) -> None:
    email = f"viewer-{uuid.uuid4().hex[:6]}@demo.local"
    created = http.post(
        "/v1/users", json={"email": email, "password": "viewer-password-1", "role": "viewer"}, headers=admin
    )
    assert created.status_code == 201, created.text
    viewer = bearer(login(http, email, "viewer-password-1"))
    assert http.get("/v1/products", params={"limit": 1}, headers=viewer).status_code == 200
    assert_problem(http.post("/v1/products", json=new_product("VIEWER-1"), headers=viewer), 403)
    assert_problem(http.patch("/v1/products/DEMO-000001", json={"price": "1.00"}, headers=viewer), 403)
    assert_problem(
        http.post("/v1/users", json={"email": "x@y.z", "password": "p" * 12, "role": "owner"}, headers=viewer), 403
    )


def test_other_organisation_sees_nothing(mesh: Mesh, http: httpx.Client, admin: dict[str, str]) -> None:
    email = f"rival-{uuid.uuid4().hex[:6]}@rival.example"
    create_organization(mesh, email, "rival-password-1")
    rival = bearer(login(http, email, "rival-password-1"))
    assert http.get("/v1/products", headers=rival).json()["items"] == []
    assert_problem(http.get("/v1/products/DEMO-000001", headers=rival), 404)
    assert_problem(http.patch("/v1/products/DEMO-000001", json={"price": "1.00"}, headers=rival), 404)
    assert_problem(http.post("/v1/products/DEMO-000001/archive", json={}, headers=rival), 404)
    # the same sku in the rival's catalog is its own product
    assert http.post("/v1/products", json=new_product("DEMO-000001", price="1.00"), headers=rival).status_code == 201
    assert http.get("/v1/products/DEMO-000001", headers=admin).json()["price"] != "1.00"
    assert (
        http.get("/v1/price-events", params={"sku": "DEMO-000001"}, headers=rival).json()["items"][0]["new_price"]
        == "1.00"
    )


def test_bulk_upsert_of_ten_thousand_is_idempotent(http: httpx.Client, admin: dict[str, str]) -> None:
    run = uuid.uuid4().hex[:6]
    products = [new_product(f"BULK-{run}-{i:05d}", title=f"Bulk item {i} ✓ café") for i in range(10_000)]
    first = http.post("/v1/products/bulk-upsert", json={"products": products, "reason": "import"}, headers=admin)
    assert first.status_code == 200, first.text[:500]
    assert first.json()["created"] == 10_000
    again = http.post("/v1/products/bulk-upsert", json={"products": products, "reason": "import"}, headers=admin)
    assert again.status_code == 200
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 10_000}


def test_bulk_batch_with_one_bad_row_writes_nothing(http: httpx.Client, admin: dict[str, str]) -> None:
    run = uuid.uuid4().hex[:6]
    products = [new_product(f"BAD-{run}-{i}") for i in range(50)]
    products[17]["price"] = "-3.00"
    problem = assert_problem(http.post("/v1/products/bulk-upsert", json={"products": products}, headers=admin), 422)
    assert [e["row"] for e in problem["errors"]] == [17]
    assert http.get(f"/v1/products/BAD-{run}-0", headers=admin).status_code == 404

    duplicated = [new_product(f"DUP-{run}"), new_product(f"DUP-{run}")]
    problem = assert_problem(http.post("/v1/products/bulk-upsert", json={"products": duplicated}, headers=admin), 422)
    assert problem["errors"]
    assert http.get(f"/v1/products/DUP-{run}", headers=admin).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        new_product("BADIN-1", price="-1.00"),
        new_product("BADIN-2", currency="XYZ"),
        new_product("BADIN-3", title="x" * 1_000_000),
        new_product("BADIN-4", price=19.99),
        new_product("BADIN-5", price="19.999"),
        new_product("BADIN-6", stock=-1),
        new_product("bad sku with spaces"),
        {"sku": "BADIN-7"},
    ],
    ids=[
        "negative-price",
        "unknown-currency",
        "1mb-title",
        "float-price",
        "sub-cent",
        "negative-stock",
        "bad-sku",
        "missing",
    ],
)
def test_bad_input_is_4xx_and_writes_nothing(http: httpx.Client, admin: dict[str, str], body: dict[str, Any]) -> None:
    response = http.post("/v1/products", json=body, headers=admin)
    assert 400 <= response.status_code < 500, response.text[:300]
    assert response.headers["content-type"].startswith(PROBLEM)
    if isinstance(body.get("sku"), str) and " " not in body["sku"]:
        assert http.get(f"/v1/products/{body['sku']}", headers=admin).status_code == 404


def test_malformed_json_is_4xx_problem(http: httpx.Client, admin: dict[str, str]) -> None:
    response = http.post(
        "/v1/products", content=b'{"sku": "X", ', headers={**admin, "content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith(PROBLEM)


def test_unicode_round_trips(http: httpx.Client, admin: dict[str, str]) -> None:
    sku = f"UNI-{uuid.uuid4().hex[:6]}"
    title = "Kaffeemühle «Ölmühle» 咖啡 ☕ — test"
    assert http.post("/v1/products", json=new_product(sku, title=title), headers=admin).status_code == 201
    assert http.get(f"/v1/products/{sku}", headers=admin).json()["title"] == title


def test_refresh_token_reuse_revokes_the_family(http: httpx.Client) -> None:
    first = login(http, "admin@demo.local", "correct-horse-battery")
    rotated = http.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    newest = rotated.json()["refresh_token"]
    assert_problem(http.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}), 401)
    assert_problem(http.post("/v1/auth/refresh", json={"refresh_token": newest}), 401)
    # a refresh token is never an access token
    assert_problem(http.get("/v1/products", headers={"authorization": f"Bearer {newest}"}), 401)


def test_api_key_lifecycle(http: httpx.Client, admin: dict[str, str]) -> None:
    created = http.post("/v1/api-keys", json={"name": "feed", "role": "viewer"}, headers=admin)
    assert created.status_code == 201, created.text
    secret, key_id = created.json()["secret"], created.json()["api_key"]["id"]
    listed = http.get("/v1/api-keys", headers=admin).json()["items"]
    assert secret not in str(listed)
    assert http.get("/v1/products", params={"limit": 1}, headers={"x-api-key": secret}).status_code == 200
    assert_problem(http.post("/v1/products", json=new_product("KEY-1"), headers={"x-api-key": secret}), 403)
    assert http.delete(f"/v1/api-keys/{key_id}", headers=admin).status_code in (200, 204)
    # the gateway and services cache a resolved key for at most api_key_cache_seconds
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if http.get("/v1/products", headers={"x-api-key": secret}).status_code == 401:
            break
        time.sleep(0.5)
    assert_problem(http.get("/v1/products", headers={"x-api-key": secret}), 401)


def test_changes_are_audited(http: httpx.Client, admin: dict[str, str]) -> None:
    sku = f"AUD-{uuid.uuid4().hex[:6]}"
    assert http.post("/v1/products", json=new_product(sku), headers=admin).status_code == 201
    entries = http.get("/v1/audit-entries", headers=admin).json()["items"]
    assert any(sku in e["resource"] and e["action"].endswith("CreateProduct") for e in entries)


def test_csv_export_and_import_round_trip(http: httpx.Client, admin: dict[str, str]) -> None:
    exported = http.get("/v1/products/export", headers=admin)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.splitlines()[0].startswith("sku,")
    reimported = http.post(
        "/v1/products/import", content=exported.content, headers={**admin, "content-type": "text/csv"}
    )
    assert reimported.status_code == 200, reimported.text[:500]
    assert reimported.json()["created"] == 0
    assert reimported.json()["updated"] == 0


def test_dead_product_service_fails_readiness_and_recovers(
    mesh: Mesh, http: httpx.Client, admin: dict[str, str]
) -> None:
    assert http.get("/readyz").status_code == 200
    mesh.stop("product", signal.SIGKILL)
    try:
        assert_problem(http.get("/readyz"), 503)
        started = time.monotonic()
        assert_problem(http.get("/v1/products/DEMO-000001", headers=admin), 503)
        assert time.monotonic() - started < mesh.settings.rpc_deadline_seconds + 1
        assert http.get("/healthz").status_code == 200
    finally:
        mesh.start("product")
        mesh.wait_ready()
    assert http.get("/v1/products/DEMO-000001", headers=admin).status_code == 200


def test_other_organisation_cannot_reach_anything_of_the_first(
    mesh: Mesh, http: httpx.Client, admin: dict[str, str]
) -> None:
    """Every route, called by another organisation's owner, on the demo organisation's resources."""
    email = f"rival-{uuid.uuid4().hex[:6]}@rival.example"
    create_organization(mesh, email, "rival-password-1")
    rival = bearer(login(http, email, "rival-password-1"))
    demo_category = http.get("/v1/categories", headers=admin).json()["items"][0]["id"]
    demo_user = next(
        u for u in http.get("/v1/users", headers=admin).json()["items"] if u["email"] == "admin@demo.local"
    )
    demo_key = http.post("/v1/api-keys", json={"name": "ops", "role": "viewer"}, headers=admin).json()["api_key"]["id"]

    assert http.get("/v1/categories", headers=rival).json()["items"] == []
    assert_problem(http.patch(f"/v1/categories/{demo_category}", json={"name": "Mine"}, headers=rival), 404)
    assert_problem(http.delete(f"/v1/categories/{demo_category}", headers=rival), 404)
    assert "DEMO-" not in http.get("/v1/products/export", headers=rival).text
    assert http.get("/v1/products", params={"brand": "Sony"}, headers=rival).json()["items"] == []
    assert http.get("/v1/price-events", headers=rival).json()["items"] == []

    upserted = http.post("/v1/products/bulk-upsert", json={"products": [new_product("DEMO-000002")]}, headers=rival)
    assert upserted.json()["created"] == 1, "the rival's DEMO-000002 is its own new product"
    csv = "sku,title,currency,price\nDEMO-000003,Rival kettle,EUR,1.00\n"
    imported = http.post("/v1/products/import", content=csv.encode(), headers={**rival, "content-type": "text/csv"})
    assert imported.status_code == 200, imported.text
    assert imported.json()["created"] == 1
    assert http.get("/v1/products/DEMO-000003", headers=admin).json()["title"] != "Rival kettle"

    users = http.get("/v1/users", headers=rival).json()["items"]
    assert [u["email"] for u in users] == [email]
    assert_problem(http.patch(f"/v1/users/{demo_user['id']}", json={"role": "viewer"}, headers=rival), 404)
    assert_problem(http.post(f"/v1/users/{demo_user['id']}/disable", headers=rival), 404)
    assert demo_key not in str(http.get("/v1/api-keys", headers=rival).json())
    assert_problem(http.delete(f"/v1/api-keys/{demo_key}", headers=rival), 404)
    assert all(
        e["organization_id"] != demo_user["organization_id"]
        for e in http.get("/v1/audit-entries", headers=rival).json()["items"]
    )
    assert http.get("/v1/me", headers=admin).status_code == 200
