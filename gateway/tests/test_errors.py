"""The one gRPC → HTTP table, and problem+json for every kind of error."""

from __future__ import annotations

import grpc
import httpx
import pytest
import structlog

from gateway.app import create_app
from gateway.errors import HTTP_STATUS_BY_GRPC_CODE
from gateway.tests.conftest import ORG_A, Mesh
from gateway.tests.standin_services import FAIL_PREFIX, MAX_TITLE_LENGTH
from gateway.tests.support import assert_problem
from omnipricex.product.v1 import product_pb2
from runtime.auth import Role

GRPC_GATEWAY_TABLE = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
}
HIDDEN = {"CANCELLED", "UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"}


def test_table_is_grpc_gateways_for_every_code() -> None:
    assert {code.name: status for code, status in HTTP_STATUS_BY_GRPC_CODE.items()} == GRPC_GATEWAY_TABLE
    assert set(HTTP_STATUS_BY_GRPC_CODE) == set(grpc.StatusCode)


@pytest.mark.parametrize("code", sorted(set(GRPC_GATEWAY_TABLE) - {"OK"}))
async def test_each_status_from_a_service_becomes_its_problem(code: str, mesh: Mesh, client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/products/{FAIL_PREFIX}{code}", headers=mesh.auth(Role.VIEWER))

    body = assert_problem(response, GRPC_GATEWAY_TABLE[code])
    assert body["grpc_code"] == code
    assert body["type"] == "urn:omnipricex:problem:" + code.lower().replace("_", "-")
    if code in HIDDEN:
        assert "stand-in" not in body["detail"], "internal details of a failed call must not leak"
    else:
        assert body["detail"] == f"stand-in failure {code}"
    if code == "UNAUTHENTICATED":
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/nothing-here"), 404)
    assert body["type"] == "about:blank"
    assert "/v1/nothing-here" in body["detail"]


async def test_wrong_method_is_a_405_problem_with_allow(mesh: Mesh, client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/products/SKU-1", headers=mesh.auth(Role.ADMIN))
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET, PATCH"


async def test_malformed_json_is_a_400_problem(mesh: Mesh, client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/products",
        content=b'{"sku": "SKU-1", "title": ',
        headers={**mesh.auth(Role.PRICING_MANAGER), "Content-Type": "application/json"},
    )
    body = assert_problem(response, 400)
    assert body["type"] == "urn:omnipricex:problem:malformed-json"
    assert mesh.products.products == {}


async def test_validation_errors_list_every_field(mesh: Mesh, client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/products",
        json={"sku": "bad sku!", "title": 5, "currency": "EUR", "price": "1.00", "organization_id": "org_b"},
        headers=mesh.auth(Role.PRICING_MANAGER),
    )
    body = assert_problem(response, 422)
    fields = {(error["in"], error["field"]) for error in body["errors"]}
    assert fields == {("body", "sku"), ("body", "title"), ("body", "organization_id")}
    assert all(error["message"] for error in body["errors"])


async def test_query_validation_names_the_parameter(mesh: Mesh, client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/products", params={"limit": 5000}, headers=mesh.auth(Role.VIEWER))
    body = assert_problem(response, 422)
    assert body["errors"][0]["in"] == "query"
    assert body["errors"][0]["field"] == "limit"


async def test_service_field_errors_are_listed(mesh: Mesh, client: httpx.AsyncClient) -> None:
    # The stand-in refuses a long title with InvalidArgument(field="title"), like the real service.
    response = await client.post(
        "/v1/products",
        json={"sku": "SKU-1", "title": "t" * (MAX_TITLE_LENGTH + 1), "currency": "EUR", "price": "1.00"},
        headers=mesh.auth(Role.PRICING_MANAGER),
    )
    body = assert_problem(response, 400)
    assert body["errors"] == [{"field": "title", "message": f"title is longer than {MAX_TITLE_LENGTH} characters"}]


async def test_unexpected_failure_is_a_500_problem_without_internals(mesh: Mesh) -> None:
    # A status number no version of the contract defines: translating it is a bug in the gateway's view.
    mesh.products.products[ORG_A, "WEIRD"] = product_pb2.Product(sku="WEIRD", status=99)  # type: ignore[arg-type]
    app = create_app(mesh.settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            with structlog.testing.capture_logs() as logs:
                response = await client.get("/v1/products/WEIRD", headers=mesh.auth(Role.VIEWER))
    body = assert_problem(response, 500)
    assert "99" not in body["detail"]
    assert [entry["event"] for entry in logs] == ["unhandled error"]


async def test_allow_names_the_methods_of_the_resource_routing_picks(client: httpx.AsyncClient) -> None:
    # /v1/products/bulk-upsert also fits /v1/products/{sku}; routing picks the bulk route for the path.
    bulk = await client.get("/v1/products/bulk-upsert/x")
    options = await client.options("/v1/products/bulk-upsert")
    collection = await client.put("/v1/products")

    assert_problem(bulk, 404)
    assert_problem(options, 405)
    assert options.headers["allow"] == "POST"
    assert collection.headers["allow"] == "GET, POST"
