"""Products through the gateway: translation both ways, money strings, merge patches, bulk and CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from gateway.schemas.products import PriceEvent, Product
from gateway.tests.conftest import ORG_A, Mesh
from gateway.tests.standin_services import MAX_TITLE_LENGTH
from gateway.tests.support import assert_conforms, assert_problem, product_body
from omnipricex.common.v1 import money_pb2
from runtime.auth import Role


@pytest.fixture
def writer(mesh: Mesh) -> dict[str, str]:
    return mesh.auth(Role.PRICING_MANAGER)


async def create(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = await client.post("/v1/products", json=product_body(**fields), headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_create_translates_both_ways(mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    response = await client.post("/v1/products", json=product_body(), headers=writer)

    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/v1/products/SKU-1"
    body = response.json()
    assert_conforms(Product, body)
    assert body | {"create_time": None, "update_time": None} == {
        **product_body(),
        "category_id": None,
        "status": "active",
        "create_time": None,
        "update_time": None,
    }
    assert body["create_time"].endswith("Z")
    stored = mesh.products.products[ORG_A, "SKU-1"]
    assert stored.price == money_pb2.Money(amount_minor=2999, currency="EUR")
    assert stored.cost == money_pb2.Money(amount_minor=1240, currency="EUR")
    assert stored.map_price == money_pb2.Money(amount_minor=2499, currency="EUR")
    assert dict(stored.attributes) == {"colour": "steel"}

    got = await client.get("/v1/products/SKU-1", headers=mesh.auth(Role.VIEWER))
    assert got.status_code == 200
    assert got.json() == body


async def test_money_is_exact_in_every_currency(mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    yen = await create(client, writer, sku="JP-1", currency="JPY", price="1980", cost="700", map_price=None)
    dinar = await create(client, writer, sku="KW-1", currency="KWD", price="12.345", cost=None, map_price=None)
    cents = await create(client, writer, sku="EU-1", price="0.30", cost="0.10", map_price=None)

    assert (yen["price"], dinar["price"], cents["price"], cents["cost"]) == ("1980", "12.345", "0.30", "0.10")
    assert mesh.products.products[ORG_A, "JP-1"].price.amount_minor == 1980
    assert mesh.products.products[ORG_A, "KW-1"].price.amount_minor == 12345
    assert dinar["cost"] is None


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"price": 19.99}, "price", "not JSON numbers"),
        ({"price": 20}, "price", "not JSON numbers"),
        ({"price": "-1.00"}, "price", "pattern"),
        ({"price": "1e3"}, "price", "pattern"),
        ({"price": "19.999"}, "price", "more decimals"),
        ({"currency": "JPY", "price": "5.5", "cost": None, "map_price": None}, "price", "more decimals"),
        ({"currency": "XYZ"}, "currency", "unknown currency"),
        ({"currency": "eur"}, "currency", "ISO 4217"),
        ({"stock": "12"}, "stock", "integer"),
        ({"status": "deleted"}, "status", "active"),
    ],
)
async def test_bad_input_is_refused_and_nothing_written(
    fields: dict[str, Any], field: str, says: str, mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    response = await client.post("/v1/products", json=product_body(**fields), headers=writer)

    body = assert_problem(response, 422)
    matching = [error for error in body["errors"] if error["field"] == field]
    assert matching, body
    assert says in matching[0]["message"]
    assert mesh.products.products == {}


async def test_a_megabyte_title_is_refused_by_the_service(
    mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    response = await client.post("/v1/products", json=product_body(title="x" * 1_000_000), headers=writer)

    body = assert_problem(response, 400)
    assert body["grpc_code"] == "INVALID_ARGUMENT"
    assert body["errors"] == [{"field": "title", "message": f"title is longer than {MAX_TITLE_LENGTH} characters"}]
    assert mesh.products.products == {}


async def test_unicode_round_trips(mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    title = "Wasserkocher \u2013 Edelstahl 1,7 l \u00b7 水壺 🫖"
    created = await create(client, writer, title=title, attributes={"Farbe": "Grün"})
    assert created["title"] == title
    assert mesh.products.products[ORG_A, "SKU-1"].title == title
    got = await client.get("/v1/products/SKU-1", headers=writer)
    assert got.json()["attributes"] == {"Farbe": "Grün"}


async def test_duplicate_create_is_409(client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    await create(client, writer)
    body = assert_problem(await client.post("/v1/products", json=product_body(), headers=writer), 409)
    assert body["grpc_code"] == "ALREADY_EXISTS"


async def test_missing_product_is_404_problem(mesh: Mesh, client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/products/does-not-exist", headers=mesh.auth(Role.VIEWER)), 404)
    assert body["grpc_code"] == "NOT_FOUND"


async def test_list_pages_with_a_cursor(mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    for index in range(5):
        await create(client, writer, sku=f"SKU-{index}")
    viewer = mesh.auth(Role.VIEWER)

    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await client.get("/v1/products", params=params, headers=viewer)
        assert page.status_code == 200
        assert set(page.json()) == {"items", "next_cursor"}
        for item in page.json()["items"]:
            assert_conforms(Product, item)
        seen += [item["sku"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"SKU-{index}" for index in range(5)]


async def test_list_filters_reach_the_service(mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    await create(client, writer, sku="CHEAP", price="9.99", map_price=None)
    await create(client, writer, sku="DEAR", price="99.00")
    params = {
        "brand": "Boilex",
        "q": "kettle",
        "min_price": "10",
        "max_price": "100.00",
        "currency": "EUR",
        "in_stock": "true",
        "category_id": "",
    }

    response = await client.get("/v1/products", params=params, headers=writer)

    assert [item["sku"] for item in response.json()["items"]] == ["DEAR"]
    sent = mesh.products.last_list
    assert sent is not None
    assert sent.filter.min_price == money_pb2.Money(amount_minor=1000, currency="EUR")
    assert sent.filter.max_price == money_pb2.Money(amount_minor=10000, currency="EUR")
    assert (sent.filter.brand, sent.filter.title_query, sent.filter.in_stock) == ("Boilex", "kettle", True)
    assert sent.page.page_size == 50


async def test_price_bounds_need_a_currency(mesh: Mesh, client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/products", params={"min_price": "10"}, headers=mesh.auth(Role.VIEWER))
    body = assert_problem(response, 422)
    assert body["errors"][0] | {"message": ""} == {"in": "query", "field": "currency", "message": ""}


async def test_patch_sends_exactly_the_keys_present(
    mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await create(client, writer)

    response = await client.patch(
        "/v1/products/SKU-1", json={"title": "Kettle 2", "price": "31.50", "reason": "competitor"}, headers=writer
    )

    assert response.status_code == 200, response.text
    assert (response.json()["title"], response.json()["price"]) == ("Kettle 2", "31.50")
    assert response.json()["brand"] == "Boilex"
    sent = mesh.products.last_update
    assert sent is not None
    assert list(sent.update_mask.paths) == ["title", "price"]
    assert sent.product.price == money_pb2.Money(amount_minor=3150, currency="EUR")
    assert sent.reason == "competitor"


async def test_patch_null_removes_optional_values(
    mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await create(client, writer)

    response = await client.patch(
        "/v1/products/SKU-1", json={"map_price": None, "brand": None, "attributes": None}, headers=writer
    )

    assert response.status_code == 200, response.text
    assert (response.json()["map_price"], response.json()["brand"], response.json()["attributes"]) == (None, "", {})
    sent = mesh.products.last_update
    assert sent is not None
    assert sorted(sent.update_mask.paths) == ["attributes", "brand", "map_price"]
    assert not sent.product.HasField("map_price")


async def test_patch_can_move_every_amount_to_another_currency(
    mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await create(client, writer)

    response = await client.patch(
        "/v1/products/SKU-1",
        json={"currency": "USD", "cost": "13.00", "price": "32.00", "map_price": None},
        headers=writer,
    )

    assert response.status_code == 200, response.text
    assert (response.json()["currency"], response.json()["price"], response.json()["cost"]) == ("USD", "32.00", "13.00")
    sent = mesh.products.last_update
    assert sent is not None
    assert list(sent.update_mask.paths) == ["cost", "price", "map_price"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"currency": "USD"}, "currency"),
        ({"title": None}, "title"),
        ({"price": None}, "price"),
        ({"sku": "OTHER"}, "sku"),
        ({"price": 31.5}, "price"),
        ({"price": "31.505"}, "price"),
    ],
)
async def test_bad_patches_are_refused(
    patch: dict[str, Any], field: str, mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await create(client, writer)
    mesh.products.last_update = None

    body = assert_problem(await client.patch("/v1/products/SKU-1", json=patch, headers=writer), 422)

    assert [error["field"] for error in body["errors"]] == [field]
    assert mesh.products.last_update is None


async def test_patch_of_a_missing_product_is_404(client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    assert_problem(await client.patch("/v1/products/NOPE", json={"price": "1.00"}, headers=writer), 404)
    assert_problem(await client.patch("/v1/products/NOPE", json={"title": "x"}, headers=writer), 404)


async def test_merge_patch_media_type_is_accepted(client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    await create(client, writer)
    response = await client.patch(
        "/v1/products/SKU-1",
        content=orjson.dumps({"stock": 3}),
        headers={**writer, "Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["stock"] == 3


async def test_archive_hides_from_default_listing(
    mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    await create(client, writer)

    archived = await client.post("/v1/products/SKU-1/archive", json={"reason": "discontinued"}, headers=writer)
    without_body = await client.post("/v1/products/SKU-1/archive", headers=writer)

    assert archived.status_code == 200
    assert archived.json()["status"] == "archived"
    assert without_body.status_code == 200
    assert (await client.get("/v1/products", headers=writer)).json()["items"] == []
    listed = await client.get("/v1/products", params={"status": "archived"}, headers=writer)
    assert [item["sku"] for item in listed.json()["items"]] == ["SKU-1"]


async def test_bulk_upsert_is_idempotent(mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    rows = [product_body(f"B-{index}") for index in range(3)]

    first = await client.post("/v1/products/bulk-upsert", json={"products": rows, "reason": "import"}, headers=writer)
    again = await client.post("/v1/products/bulk-upsert", json={"products": rows}, headers=writer)
    rows[0]["price"] = "30.99"
    changed = await client.post("/v1/products/bulk-upsert", json={"products": rows}, headers=writer)

    assert first.json() == {"created": 3, "updated": 0, "unchanged": 0}
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 3}
    assert changed.json() == {"created": 0, "updated": 1, "unchanged": 2}


async def test_bulk_row_errors_from_the_service_write_nothing(
    mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    rows = [product_body("B-1"), product_body("B-2"), product_body("B-1")]

    response = await client.post("/v1/products/bulk-upsert", json={"products": rows}, headers=writer)

    body = assert_problem(response, 422)
    assert body["type"] == "urn:omnipricex:problem:rows-refused"
    assert body["errors"] == [{"row": 2, "sku": "B-1", "field": "sku", "message": "duplicate sku"}]
    assert mesh.products.products == {}


async def test_bulk_rows_the_gateway_refuses_are_reported_by_row(
    mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    rows = [product_body("B-0"), product_body("B-1", price=29.99), product_body("B-2", cost="1.001")]

    response = await client.post("/v1/products/bulk-upsert", json={"products": rows}, headers=writer)
    body = assert_problem(response, 422)
    assert [(error["row"], error["sku"], error["field"]) for error in body["errors"]] == [(1, "B-1", "price")]

    rows[1]["price"] = "29.99"
    response = await client.post("/v1/products/bulk-upsert", json={"products": rows}, headers=writer)
    body = assert_problem(response, 422)
    assert [(error["row"], error["sku"], error["field"]) for error in body["errors"]] == [(2, "B-2", "cost")]
    assert mesh.products.products == {}


async def test_bulk_refuses_more_than_ten_thousand_rows(client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    row = {"sku": "X", "title": "x", "currency": "EUR", "price": "1.00"}
    body = assert_problem(
        await client.post("/v1/products/bulk-upsert", json={"products": [row] * 10_001}, headers=writer), 422
    )
    assert body["errors"][0]["field"] == "products"


async def test_csv_import_and_export(mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    csv = "sku,title,currency,price\nC-1,Mug,EUR,4.50\nC-2,Plate,EUR,7.00\n"

    imported = await client.post(
        "/v1/products/import",
        params={"reason": "catalog sync"},
        content=csv.encode(),
        headers={**writer, "Content-Type": "text/csv; charset=utf-8"},
    )
    exported = await client.get("/v1/products/export", headers=mesh.auth(Role.VIEWER))

    assert imported.json() == {"created": 2, "updated": 0, "unchanged": 0}
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in exported.headers["content-disposition"]
    assert exported.text.splitlines() == ["sku,title,currency,price", "C-1,Mug,EUR,4.50", "C-2,Plate,EUR,7.00"]


async def test_csv_import_refusals(mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    as_json = await client.post("/v1/products/import", json={"csv": "sku"}, headers=writer)
    assert_problem(as_json, 415)

    bad_row = "sku,title,currency,price\nC-1,Mug,EUR,4.50\nC-2,,EUR,7.00\n"
    response = await client.post(
        "/v1/products/import", content=bad_row.encode(), headers={**writer, "Content-Type": "text/csv"}
    )
    body = assert_problem(response, 422)
    assert body["errors"] == [{"row": 1, "sku": "C-2", "field": "title", "message": "title is required"}]
    assert mesh.products.products == {}


async def test_price_events_newest_first(mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    await create(client, writer)
    await client.patch("/v1/products/SKU-1", json={"price": "27.00"}, headers=writer)

    response = await client.get("/v1/price-events", params={"sku": "SKU-1"}, headers=mesh.auth(Role.VIEWER))

    items = response.json()["items"]
    for item in items:
        assert_conforms(PriceEvent, item)
    assert [(item["old_price"], item["new_price"]) for item in items] == [("29.99", "27.00"), (None, "29.99")]
    assert response.json()["next_cursor"] is None


async def chunks(total: int, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


async def test_bodies_over_the_limit_are_413(mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]) -> None:
    big = orjson.dumps(product_body(title="x" * (3 * 1024 * 1024)))
    json_headers = {**writer, "Content-Type": "application/json"}

    declared = await client.post("/v1/products", content=big, headers=json_headers)
    streamed = await client.post("/v1/products", content=chunks(3 * 1024 * 1024), headers=json_headers)

    for response in (declared, streamed):
        body = assert_problem(response, 413)
        assert body["type"] == "urn:omnipricex:problem:body-too-large"
    assert mesh.products.products == {}


async def test_bulk_bodies_may_be_larger_up_to_their_own_limit(
    mesh: Mesh, client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    rows = [product_body(f"B-{index}", attributes={"notes": "n" * 1000}) for index in range(3000)]
    body = orjson.dumps({"products": rows})
    assert len(body) > 3 * 1024 * 1024
    headers = {**writer, "Content-Type": "application/json"}

    accepted = await client.post("/v1/products/bulk-upsert", content=body, headers=headers)
    too_big = await client.post("/v1/products/bulk-upsert", content=chunks(33 * 1024 * 1024), headers=headers)

    assert accepted.json() == {"created": 3000, "updated": 0, "unchanged": 0}
    assert_problem(too_big, 413)
