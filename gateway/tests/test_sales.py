"""The sales ledger through the gateway, backed by the REAL analytics service on a loopback gRPC port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.schemas.sales import Demand, OrderLine
from gateway.tests.conftest import ORG_B, Mesh, gateway_client, gateway_settings, start_mesh
from gateway.tests.support import assert_conforms, assert_problem
from runtime.auth import Role

CSV_HEADER = "order_id,line_no,sku,quantity,unit_price,currency,time,channel\n"


@dataclass
class Sales:
    mesh: Mesh
    http: httpx.AsyncClient

    def auth(self, role: Role, organization_id: str = "org_a") -> dict[str, str]:
        return self.mesh.auth(role, organization_id)

    async def ingest(self, lines: list[dict[str, Any]], role: Role = Role.PRICING_MANAGER) -> httpx.Response:
        return await self.http.post("/v1/sales/order-lines", json={"lines": lines}, headers=self.auth(role))

    async def lines(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.http.get("/v1/sales/order-lines", params=params, headers=self.auth(Role.VIEWER))
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture
async def sales(tmp_path: Path) -> AsyncIterator[Sales]:
    """Stand-in identity and product services, the real analytics service, and the gateway in front of them."""
    mesh = await start_mesh(gateway_settings(tmp_path))
    settings = mesh.settings
    try:
        async with gateway_client(settings) as http:
            yield Sales(mesh, http)
    finally:
        await mesh.stop()


def line_body(order_id: str = "A-1001", line_no: int = 1, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id,
        "line_no": line_no,
        "sku": "KETTLE-1",
        "quantity": 2,
        "unit_price": "29.99",
        "currency": "EUR",
        "time": "2026-03-01T10:30:00.250+01:00",
        "channel": "web",
    }
    body.update(overrides)
    return body


# --- recording ------------------------------------------------------------------------------------


async def test_lines_are_recorded_and_read_back(sales: Sales) -> None:
    response = await sales.ingest(
        [line_body(), line_body("A-1001", 2, quantity=-1, unit_price="1980", currency="JPY", channel="store")]
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"created": 2, "updated": 0, "unchanged": 0}
    items = await sales.lines()
    for item in items:
        assert_conforms(OrderLine, item)
    assert items == [
        {**line_body(), "time": "2026-03-01T09:30:00.250Z"},
        {
            **line_body("A-1001", 2, quantity=-1, unit_price="1980", currency="JPY", channel="store"),
            "time": "2026-03-01T09:30:00.250Z",
        },
    ]
    assert [record.action.rsplit("/", 1)[-1] for record in sales.mesh.audit.records] == ["IngestOrderLines"]


async def test_sending_again_is_idempotent_and_other_values_correct(sales: Sales) -> None:
    lines = [line_body(f"B-{index}") for index in range(3)]

    first = await sales.ingest(lines)
    again = await sales.ingest(lines)
    lines[0]["quantity"] = 5
    corrected = await sales.ingest(lines)

    assert first.json() == {"created": 3, "updated": 0, "unchanged": 0}
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 3}
    assert corrected.json() == {"created": 0, "updated": 1, "unchanged": 2}
    assert [item["quantity"] for item in await sales.lines()] == [5, 2, 2]


async def test_rows_the_service_refuses_are_listed_and_nothing_is_written(sales: Sales) -> None:
    lines = [
        line_body("C-1"),
        line_body("C-2", quantity=0),
        line_body("C-1"),
        line_body("C-3", time="2099-01-01T00:00:00Z"),
    ]

    body = assert_problem(await sales.ingest(lines), 422)

    assert body["type"] == "urn:omnipricex:problem:rows-refused"
    assert body["detail"] == "3 of 4 rows were refused; nothing was written"
    assert [(error["row"], error["key"], error["field"]) for error in body["errors"]] == [
        (1, "C-2/1", "quantity"),
        (2, "C-1/1", "line_no"),
        (3, "C-3/1", "time"),
    ]
    assert await sales.lines() == []


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"unit_price": 29.99}, "lines.0.unit_price", "not JSON numbers"),
        ({"unit_price": "-1.00"}, "lines.0.unit_price", "pattern"),
        ({"unit_price": "29.999"}, "lines.0.unit_price", "more decimals"),
        ({"unit_price": "5.5", "currency": "JPY"}, "lines.0.unit_price", "more decimals"),
        ({"currency": "XYZ"}, "lines.0.currency", "unknown currency"),
        ({"time": "2026-03-01T10:30:00"}, "lines.0.time", "with an offset"),
        ({"time": 1772357400}, "lines.0.time", "RFC 3339"),
        ({"time": "1772357400"}, "lines.0.time", "RFC 3339"),
        ({"order_id": "Bestellung 7"}, "lines.0.order_id", "pattern"),
        ({"sku": "a/b"}, "lines.0.sku", "pattern"),
        ({"channel": "Web"}, "lines.0.channel", "pattern"),
        ({"line_no": 0}, "lines.0.line_no", "greater than or equal to 1"),
        ({"quantity": "2"}, "lines.0.quantity", "integer"),
        ({"quantity": 2**63}, "lines.0.quantity", "less than or equal to"),
        ({"note": "x"}, "lines.0.note", "Extra inputs"),
    ],
)
async def test_bad_input_is_refused_by_the_gateway(
    sales: Sales, overrides: dict[str, Any], field: str, says: str
) -> None:
    body = assert_problem(await sales.ingest([line_body(**overrides)]), 422)

    matching = [error for error in body["errors"] if error["field"] == field]
    assert matching, body
    assert says in matching[0]["message"]
    assert await sales.lines() == []


async def test_unicode_order_ids_are_refused_with_the_row(sales: Sales) -> None:
    body = assert_problem(await sales.ingest([line_body(), line_body("Bestellung-ä")]), 422)
    assert [error["field"] for error in body["errors"]] == ["lines.1.order_id"]


async def test_at_most_ten_thousand_lines_per_call(sales: Sales) -> None:
    body = assert_problem(await sales.ingest([line_body()] * 10_001), 422)
    assert body["errors"][0]["field"] == "lines"


async def test_a_full_batch_passes_the_default_body_limit(sales: Sales) -> None:
    lines = [line_body(f"{index:06d}-" + "x" * 57, sku="S-" + "y" * 62) for index in range(10_000)]
    content = orjson.dumps({"lines": lines})
    assert len(content) > 2 * 1024 * 1024

    response = await sales.http.post(
        "/v1/sales/order-lines",
        content=content,
        headers={**sales.auth(Role.PRICING_MANAGER), "Content-Type": "application/json"},
    )

    assert response.status_code == 200, response.text[:500]
    assert response.json() == {"created": 10_000, "updated": 0, "unchanged": 0}
    too_big = await sales.http.post(
        "/v1/sales/order-lines",
        content=b" " * (32 * 1024 * 1024 + 1),
        headers={**sales.auth(Role.PRICING_MANAGER), "Content-Type": "application/json"},
    )
    assert assert_problem(too_big, 413)["type"] == "urn:omnipricex:problem:body-too-large"


async def test_writes_need_the_pricing_manager_role(sales: Sales) -> None:
    for role in (Role.VIEWER, Role.ANALYST):
        body = assert_problem(await sales.ingest([line_body()], role=role), 403)
        assert body["detail"] == "this needs the pricing_manager role or higher"
    anonymous = await sales.http.post("/v1/sales/order-lines", json={"lines": [line_body()]})
    assert_problem(anonymous, 401)
    assert await sales.lines() == []


async def test_organisations_never_see_each_others_lines(sales: Sales) -> None:
    await sales.ingest([line_body()])
    other = sales.auth(Role.OWNER, ORG_B)

    listed = await sales.http.get("/v1/sales/order-lines", headers=other)
    demand = await sales.http.get(
        "/v1/sales/demand", params={"sku": "KETTLE-1", "start": "2026-03-01", "end": "2026-03-01"}, headers=other
    )

    assert listed.json() == {"items": [], "next_cursor": None}
    assert demand.json() == {"series": [{"sku": "KETTLE-1", "points": []}]}


# --- CSV ------------------------------------------------------------------------------------------


async def test_csv_import(sales: Sales) -> None:
    csv = (
        CSV_HEADER
        + "D-1,1,KETTLE-1,1,29.99,EUR,2026-03-01T09:30:00Z,web\nD-2,1,KETTLE-1,3,27.50,EUR,2026-03-02T09:30:00Z,store\n"
    )
    headers = {**sales.auth(Role.PRICING_MANAGER), "Content-Type": "text/csv; charset=utf-8"}

    first = await sales.http.post("/v1/sales/order-lines:import", content=("\ufeff" + csv).encode(), headers=headers)
    again = await sales.http.post("/v1/sales/order-lines:import", content=csv.encode(), headers=headers)

    assert first.json() == {"created": 2, "updated": 0, "unchanged": 0}
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 2}
    assert [(item["order_id"], item["unit_price"]) for item in await sales.lines()] == [
        ("D-1", "29.99"),
        ("D-2", "27.50"),
    ]


async def test_csv_refusals(sales: Sales) -> None:
    writer = sales.auth(Role.PRICING_MANAGER)
    csv_headers = {**writer, "Content-Type": "text/csv"}

    assert_problem(await sales.http.post("/v1/sales/order-lines:import", json={"csv": "x"}, headers=writer), 415)
    not_csv = await sales.http.post("/v1/sales/order-lines:import", content=b"hello,world\n", headers=csv_headers)
    body = assert_problem(not_csv, 400)
    assert body["errors"][0]["field"] == "csv"
    rows = CSV_HEADER + "D-1,1,KETTLE-1,1,29.99,EUR,2026-03-01T09:30:00Z,web\nD-2,1,KETTLE-1,1,29.99,EUR,soon,web\n"
    body = assert_problem(
        await sales.http.post("/v1/sales/order-lines:import", content=rows.encode(), headers=csv_headers), 422
    )
    assert [(error["row"], error["key"], error["field"]) for error in body["errors"]] == [(1, "D-2/1", "time")]
    assert await sales.lines() == []


# --- reading --------------------------------------------------------------------------------------


async def test_listing_filters_and_pages_with_a_cursor(sales: Sales) -> None:
    lines = [line_body(f"E-{index}", time=f"2026-03-0{1 + index % 3}T12:00:00Z") for index in range(7)]
    lines.append(line_body("F-1", sku="CUP-1", time="2026-03-02T12:00:00Z"))
    await sales.ingest(lines)

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, "start": "2026-03-02T00:00:00+00:00"} | (
            {"cursor": cursor} if cursor else {}
        )
        page = await sales.http.get("/v1/sales/order-lines", params=params, headers=sales.auth(Role.VIEWER))
        assert page.status_code == 200, page.text
        seen += [item["order_id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break

    assert seen == ["E-1", "E-4", "F-1", "E-2", "E-5"]
    by_sku = await sales.lines(sku="CUP-1", end="2026-03-03T00:00:00Z")
    assert [item["order_id"] for item in by_sku] == ["F-1"]
    bad_cursor = await sales.http.get(
        "/v1/sales/order-lines", params={"cursor": "junk"}, headers=sales.auth(Role.VIEWER)
    )
    assert assert_problem(bad_cursor, 400)["errors"] == [
        {"field": "page_token", "message": "page_token is not a token this API issued"}
    ]
    naive = await sales.http.get(
        "/v1/sales/order-lines", params={"start": "2026-03-02T00:00:00"}, headers=sales.auth(Role.VIEWER)
    )
    assert assert_problem(naive, 422)["errors"][0]["field"] == "start"


async def test_demand_per_day_and_unit_price(sales: Sales) -> None:
    await sales.ingest(
        [
            line_body("G-1", quantity=2, unit_price="29.99", time="2026-03-01T08:00:00Z"),
            line_body("G-2", quantity=1, unit_price="29.99", time="2026-03-01T23:59:59.999Z"),
            line_body("G-3", quantity=-1, unit_price="29.99", time="2026-03-01T12:00:00Z"),
            line_body("G-4", quantity=4, unit_price="27.50", time="2026-03-01T12:00:00Z"),
            line_body("G-5", quantity=1, unit_price="32.00", currency="USD", time="2026-03-01T12:00:00Z"),
            line_body("G-6", quantity=3, unit_price="29.99", time="2026-03-02T00:00:00Z"),
            line_body("G-7", sku="CUP-1", quantity=1, unit_price="5", currency="JPY", time="2026-03-03T00:00:00Z"),
        ]
    )

    response = await sales.http.get(
        "/v1/sales/demand",
        params=[
            ("sku", "KETTLE-1"),
            ("sku", "NONE-1"),
            ("sku", "CUP-1"),
            ("start", "2026-03-01"),
            ("end", "2026-03-02"),
        ],
        headers=sales.auth(Role.VIEWER),
    )

    assert response.status_code == 200, response.text
    assert_conforms(Demand, response.json())
    point = {"currency": "EUR", "lines": 1}
    assert response.json()["series"] == [
        {
            "sku": "KETTLE-1",
            "points": [
                {**point, "day": "2026-03-01", "unit_price": "27.50", "units": 4, "revenue": "110.00"},
                {**point, "day": "2026-03-01", "unit_price": "29.99", "units": 2, "revenue": "59.98", "lines": 3},
                {
                    **point,
                    "day": "2026-03-01",
                    "unit_price": "32.00",
                    "currency": "USD",
                    "units": 1,
                    "revenue": "32.00",
                },
                {**point, "day": "2026-03-02", "unit_price": "29.99", "units": 3, "revenue": "89.97"},
            ],
        },
        {"sku": "NONE-1", "points": []},
        {"sku": "CUP-1", "points": []},
    ]


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"start": "2026-03-01", "end": "2026-03-02"}, 422, "sku"),
        ({"sku": "a/b", "start": "2026-03-01", "end": "2026-03-02"}, 422, "sku.0"),
        ({"sku": "K", "start": "2026-02-30", "end": "2026-03-02"}, 422, "start"),
        ({"sku": "K", "start": "1772323200", "end": "2026-03-02"}, 422, "start"),
        ({"sku": "K", "start": "2026-03-01"}, 422, "end"),
        ({"sku": "K", "start": "2026-03-02", "end": "2026-03-01"}, 400, "start_day"),
        ({"sku": "K", "start": "2024-01-01", "end": "2026-03-01"}, 400, "end_day"),
        ({"sku": [f"S-{index}" for index in range(1_001)], "start": "2026-03-01", "end": "2026-03-01"}, 422, "sku"),
    ],
)
async def test_bad_demand_queries_are_refused(sales: Sales, params: dict[str, Any], status: int, field: str) -> None:
    response = await sales.http.get("/v1/sales/demand", params=params, headers=sales.auth(Role.VIEWER))
    body = assert_problem(response, status)
    assert [error["field"] for error in body["errors"]] == [field]
