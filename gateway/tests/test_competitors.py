"""Competitors, offers, observations and market prices through the gateway, backed by the REAL competitor
service on a loopback gRPC port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.routers.competitors import BULK_BODY_LIMIT, LARGE_BODY_LIMITS
from gateway.schemas.competitors import Competitor, MarketPrice, Observation, Offer, SkuMarket
from gateway.tests.competitor_support import CompetitorApi, competitor_api
from gateway.tests.conftest import ORG_B
from gateway.tests.support import assert_conforms, assert_problem
from runtime.auth import Role

OBSERVATIONS_CSV = "competitor_id,url,observe_time,price,currency,in_stock\n"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[CompetitorApi]:
    async with competitor_api(tmp_path) as running:
        yield running


def offer_row(competitor_id: str, path: str = "kettle", sku: str = "KETTLE-1", **fields: Any) -> dict[str, Any]:
    return {"competitor_id": competitor_id, "url": f"https://shop-one.example/{path}", "sku": sku, **fields}


def seen(offer_id: str, price: str = "29.99", time: str = "2026-03-01T09:30:00Z", **fields: Any) -> dict[str, Any]:
    return {"offer_id": offer_id, "observe_time": time, "price": price, "currency": "EUR", "in_stock": True, **fields}


# --- competitors ----------------------------------------------------------------------------------


async def test_competitors_are_created_read_patched_listed_and_deleted(api: CompetitorApi) -> None:
    created = await api.competitor("Kaffeehaus „Größe“ 東京 ☕", website="HTTPS://Kaffee.Example")
    assert_conforms(Competitor, created)
    assert (created["website"], created["default_currency"]) == ("https://kaffee.example/", "EUR")
    assert created["create_time"].endswith("Z")
    viewer = api.auth(Role.VIEWER)
    got = await api.http.get(f"/v1/competitors/{created['id']}", headers=viewer)
    assert got.json() == created

    patched = await api.http.patch(
        f"/v1/competitors/{created['id']}", json={"website": None, "default_currency": "CHF"}, headers=api.auth()
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["website"], patched.json()["default_currency"]) == (
        created["name"],
        None,
        "CHF",
    )
    await api.competitor("Alpha")
    first = await api.http.get("/v1/competitors", params={"limit": 1}, headers=viewer)
    assert [item["name"] for item in first.json()["items"]] == ["Alpha"]
    rest = await api.http.get("/v1/competitors", params={"cursor": first.json()["next_cursor"]}, headers=viewer)
    assert [item["name"] for item in rest.json()["items"]] == [created["name"]]
    assert rest.json()["next_cursor"] is None

    deleted = await api.http.delete(f"/v1/competitors/{created['id']}", headers=api.auth())
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert_problem(await api.http.get(f"/v1/competitors/{created['id']}", headers=viewer), 404)


async def test_competitor_refusals(api: CompetitorApi) -> None:
    shop = await api.competitor()
    writer = api.auth()
    body = {"name": "SHOP ONE", "default_currency": "EUR"}
    duplicate = assert_problem(await api.http.post("/v1/competitors", json=body, headers=writer), 409)
    assert duplicate["grpc_code"] == "ALREADY_EXISTS"
    for wrong, field in (({"default_currency": "XYZ"}, "default_currency"), ({"name": ""}, "name")):
        refused = assert_problem(await api.http.post("/v1/competitors", json={**body, **wrong}, headers=writer), 422)
        assert [error["field"] for error in refused["errors"]] == [field]
    gopher = {**body, "name": "Gopher", "website": "gopher://old.example"}
    by_service = assert_problem(await api.http.post("/v1/competitors", json=gopher, headers=writer), 400)
    assert by_service["errors"][0]["field"] == "website"
    null_name = assert_problem(
        await api.http.patch(f"/v1/competitors/{shop['id']}", json={"name": None}, headers=writer), 422
    )
    assert null_name["errors"][0]["field"] == "name"
    viewer_write = await api.http.post("/v1/competitors", json=body | {"name": "New"}, headers=api.auth(Role.VIEWER))
    assert_problem(viewer_write, 403)
    assert_problem(await api.http.get("/v1/competitors"), 401)
    await api.offers(offer_row(shop["id"]))
    with_offers = assert_problem(await api.http.delete(f"/v1/competitors/{shop['id']}", headers=writer), 400)
    assert with_offers["grpc_code"] == "FAILED_PRECONDITION"
    assert_problem(await api.http.get(f"/v1/competitors/{shop['id']}", headers=api.auth(Role.OWNER, ORG_B)), 404)


# --- offers ---------------------------------------------------------------------------------------


async def test_offers_are_upserted_idempotently_and_listed(api: CompetitorApi) -> None:
    shop, rival = await api.competitor(), await api.competitor("Rival")
    rows = [
        offer_row(shop["id"], title="Wasserkocher 1,7 l 🫖"),
        offer_row(rival["id"], "k/1", match_method="fuzzy", match_confidence=0.8),
        offer_row(shop["id"], "mug", "MUG-1"),
    ]
    first = await api.http.post("/v1/offers", json={"offers": rows}, headers=api.auth())
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (3, 0, 0)
    for item in body["items"]:
        assert_conforms(Offer, item)
    kettle, fuzzy, mug = body["items"]
    assert (kettle["title"], kettle["match_method"], kettle["match_confidence"]) == (
        "Wasserkocher 1,7 l 🫖",
        "manual",
        1.0,
    )
    assert (fuzzy["match_method"], fuzzy["match_confidence"]) == ("fuzzy", 0.8)
    rows[2]["sku"] = "MUG-2"
    again = (await api.http.post("/v1/offers", json={"offers": rows}, headers=api.auth())).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 1, 2)
    assert [item["id"] for item in again["items"]] == [kettle["id"], fuzzy["id"], mug["id"]]

    viewer = api.auth(Role.VIEWER)
    by_sku = await api.http.get("/v1/offers", params={"sku": "KETTLE-1", "limit": 1}, headers=viewer)
    assert len(by_sku.json()["items"]) == 1
    rest = await api.http.get(
        "/v1/offers", params={"sku": "KETTLE-1", "cursor": by_sku.json()["next_cursor"]}, headers=viewer
    )
    assert {item["id"] for item in by_sku.json()["items"] + rest.json()["items"]} == {kettle["id"], fuzzy["id"]}
    by_competitor = await api.http.get("/v1/offers", params={"competitor_id": rival["id"]}, headers=viewer)
    assert [item["id"] for item in by_competitor.json()["items"]] == [fuzzy["id"]]
    got = await api.http.get(f"/v1/offers/{mug['id']}", headers=viewer)
    assert got.json()["sku"] == "MUG-2"
    assert (await api.http.delete(f"/v1/offers/{mug['id']}", headers=api.auth())).status_code == 204
    assert_problem(await api.http.get(f"/v1/offers/{mug['id']}", headers=viewer), 404)


async def test_offer_rows_the_service_refuses_write_nothing(api: CompetitorApi) -> None:
    shop = await api.competitor()
    rows = [
        offer_row(shop["id"]),
        offer_row(shop["id"], url="javascript:alert(1)"),
        offer_row(shop["id"], url="file://files.example/catalog.html"),
        offer_row("cmp_" + "0" * 26, "x"),
        offer_row(shop["id"], url="https://" + "a" * 3000 + ".example/"),
    ]
    response = await api.http.post("/v1/offers", json={"offers": rows}, headers=api.auth())
    body = assert_problem(response, 422)
    assert body["type"] == "urn:omnipricex:problem:rows-refused"
    assert [(error["row"], error["field"]) for error in body["errors"]] == [
        (1, "url"),
        (2, "url"),
        (3, "competitor_id"),
        (4, "url"),
    ]
    assert body["errors"][0]["key"] == f"{shop['id']}/javascript:alert(1)"
    listed = await api.http.get("/v1/offers", headers=api.auth(Role.VIEWER))
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"sku": "no spaces"}, "offers.0.sku"),
        ({"match_method": "psychic"}, "offers.0.match_method"),
        ({"match_confidence": 1.5}, "offers.0.match_confidence"),
        ({"colour": "red"}, "offers.0.colour"),
    ],
)
async def test_offer_rows_the_gateway_refuses(api: CompetitorApi, row: dict[str, Any], field: str) -> None:
    shop = await api.competitor()
    response = await api.http.post("/v1/offers", json={"offers": [offer_row(shop["id"], **row)]}, headers=api.auth())
    body = assert_problem(response, 422)
    assert [error["field"] for error in body["errors"]] == [field]


async def test_at_most_ten_thousand_offers_per_call(api: CompetitorApi) -> None:
    rows = [offer_row("cmp_x", f"p/{index}") for index in range(10_001)]
    body = assert_problem(await api.http.post("/v1/offers", json={"offers": rows}, headers=api.auth()), 422)
    assert body["errors"][0]["field"] == "offers"


async def test_offers_csv_import(api: CompetitorApi) -> None:
    shop = await api.competitor()
    csv = f"competitor_id,url,sku,title\n{shop['id']},https://shop-one.example/a,A-1,Tasse\n"
    headers = {**api.auth(), "Content-Type": "text/csv; charset=utf-8"}
    imported = await api.http.post("/v1/offers:import", content=csv.encode(), headers=headers)
    assert imported.json() == {"created": 1, "updated": 0, "unchanged": 0}
    again = await api.http.post("/v1/offers:import", content=csv.encode(), headers=headers)
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 1}
    assert_problem(await api.http.post("/v1/offers:import", json={"csv": csv}, headers=api.auth()), 415)
    bad = csv + f"{shop['id']},gopher://x.example/,B-1,x\n"
    refused = assert_problem(await api.http.post("/v1/offers:import", content=bad.encode(), headers=headers), 422)
    assert [(error["row"], error["field"]) for error in refused["errors"]] == [(1, "url")]
    header_only = assert_problem(
        await api.http.post("/v1/offers:import", content=b"competitor_id,url\n", headers=headers), 400
    )
    assert header_only["errors"][0]["field"] == "csv"


# --- observations and market prices ---------------------------------------------------------------


async def test_observations_are_recorded_once_and_listed_newest_first(api: CompetitorApi) -> None:
    shop = await api.competitor()
    (kettle,) = await api.offers(offer_row(shop["id"]))
    batch = [
        seen(kettle["id"], "29.99", "2026-03-01T09:00:00Z"),
        seen(kettle["id"], "29.99", "2026-03-01T10:00:00Z"),
        seen(kettle["id"], "27.50", "2026-03-01T11:00:00.250+01:00", extraction_method="json_ld", confidence=0.9),
        seen(kettle["id"], "2.75", "2026-03-01T12:00:00Z", quarantined=True, quarantine_reason="90 % below the others"),
    ]
    assert await api.record(*batch) == {"created": 3, "unchanged": 1}
    assert await api.record(*batch) == {"created": 0, "unchanged": 4}

    viewer = api.auth(Role.VIEWER)
    history = await api.http.get("/v1/observations", params={"offer_id": kettle["id"]}, headers=viewer)
    items = history.json()["items"]
    for item in items:
        assert_conforms(Observation, item)
    assert [(item["observe_time"], item["price"], item["quarantined"]) for item in items] == [
        ("2026-03-01T12:00:00Z", "2.75", True),
        ("2026-03-01T10:00:00.250Z", "27.50", False),
        ("2026-03-01T09:00:00Z", "29.99", False),
    ]
    assert (items[1]["extraction_method"], items[1]["confidence"]) == ("json_ld", 0.9)
    assert (items[0]["quarantine_reason"], items[2]["quarantine_reason"]) == ("90 % below the others", None)
    window = await api.http.get(
        "/v1/observations",
        params={"offer_id": kettle["id"], "start_time": "2026-03-01T09:30:00Z", "end_time": "2026-03-01T12:00:00Z"},
        headers=viewer,
    )
    assert [item["price"] for item in window.json()["items"]] == ["27.50"]
    missing = await api.http.get("/v1/observations", params={"offer_id": "off_" + "0" * 26}, headers=viewer)
    assert_problem(missing, 404)
    assert_problem(await api.http.get("/v1/observations", headers=viewer), 422)


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"price": 29.99}, "observations.0.price", "not JSON numbers"),
        ({"price": "-1.00"}, "observations.0.price", "pattern"),
        ({"price": "29.999"}, "observations.0.price", "more decimals"),
        ({"currency": "JPY", "price": "5.5"}, "observations.0.price", "more decimals"),
        ({"currency": "XYZ"}, "observations.0.currency", "unknown currency"),
        ({"observe_time": "2026-03-01T09:00:00"}, "observations.0.observe_time", "timezone"),
        ({"observe_time": 1772355600}, "observations.0.observe_time", "RFC 3339"),
        ({"observe_time": "yesterday"}, "observations.0.observe_time", "datetime"),
        ({"in_stock": "yes"}, "observations.0.in_stock", "boolean"),
        ({"confidence": 2}, "observations.0.confidence", "less than or equal to 1"),
        ({"extraction_method": "guess"}, "observations.0.extraction_method", "import"),
    ],
)
async def test_observations_the_gateway_refuses(
    api: CompetitorApi, fields: dict[str, Any], field: str, says: str
) -> None:
    body = {"observations": [seen("off_" + "0" * 26, **fields)]}
    problem = assert_problem(await api.http.post("/v1/observations", json=body, headers=api.auth()), 422)
    matching = [error for error in problem["errors"] if error["field"] == field]
    assert matching, problem
    assert says in matching[0]["message"]


async def test_observation_rows_the_service_refuses_write_nothing(api: CompetitorApi) -> None:
    shop = await api.competitor()
    (kettle,) = await api.offers(offer_row(shop["id"]))
    rows = [
        seen(kettle["id"]),
        seen("off_" + "0" * 26),
        seen(kettle["id"], time="2099-01-01T00:00:00Z"),
        seen(kettle["id"], time="2026-03-01T10:00:00Z", quarantined=True),
    ]
    body = assert_problem(await api.http.post("/v1/observations", json={"observations": rows}, headers=api.auth()), 422)
    assert [(error["row"], error["field"]) for error in body["errors"]] == [
        (1, "offer_id"),
        (2, "observe_time"),
        (3, "quarantine_reason"),
    ]
    assert body["detail"] == "3 of 4 rows were refused; nothing was written"
    history = await api.http.get("/v1/observations", params={"offer_id": kettle["id"]}, headers=api.auth())
    assert history.json()["items"] == []


async def test_market_prices_are_the_newest_usable_ones_lowest_first(api: CompetitorApi) -> None:
    shop, rival = await api.competitor(), await api.competitor("Rival")
    kettle, rival_kettle, yen = await api.offers(
        offer_row(shop["id"]), offer_row(rival["id"], "k"), offer_row(shop["id"], "jp", "TEA-1")
    )
    await api.record(
        seen(kettle["id"], "31.00", "2026-03-01T09:00:00Z"),
        seen(kettle["id"], "29.99", "2026-03-01T10:00:00Z"),
        seen(rival_kettle["id"], "30.50", "2026-03-01T09:00:00Z", in_stock=False),
        seen(rival_kettle["id"], "3.05", "2026-03-01T11:00:00Z", quarantined=True, quarantine_reason="too cheap"),
        seen(yen["id"], "1980", currency="JPY"),
    )
    viewer = api.auth(Role.VIEWER)
    response = await api.http.get(
        "/v1/market-prices", params=[("sku", "NOPE-1"), ("sku", "KETTLE-1"), ("sku", "TEA-1")], headers=viewer
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    for item in items:
        assert_conforms(SkuMarket, item)
        for price in item["prices"]:
            assert_conforms(MarketPrice, price)
    assert [(item["sku"], [(p["offer_id"], p["price"], p["currency"]) for p in item["prices"]]) for item in items] == [
        ("NOPE-1", []),
        ("KETTLE-1", [(kettle["id"], "29.99", "EUR"), (rival_kettle["id"], "30.50", "EUR")]),
        ("TEA-1", [(yen["id"], "1980", "JPY")]),
    ]
    kettle_prices = items[1]["prices"]
    assert (kettle_prices[1]["in_stock"], kettle_prices[1]["observe_time"]) == (False, "2026-03-01T09:00:00Z")
    assert kettle_prices[0]["age_seconds"] > 3600
    assert response.json()["next_cursor"] is None

    only_rival = await api.http.get(
        "/v1/market-prices", params={"sku": "KETTLE-1", "competitor_id": rival["id"]}, headers=viewer
    )
    assert [p["offer_id"] for p in only_rival.json()["items"][0]["prices"]] == [rival_kettle["id"]]
    first = await api.http.get("/v1/market-prices", params={"limit": 1}, headers=viewer)
    assert [item["sku"] for item in first.json()["items"]] == ["KETTLE-1"]
    rest = await api.http.get("/v1/market-prices", params={"cursor": first.json()["next_cursor"]}, headers=viewer)
    assert [item["sku"] for item in rest.json()["items"]] == ["TEA-1"]
    theirs = await api.http.get("/v1/market-prices", params={"sku": "KETTLE-1"}, headers=api.auth(Role.VIEWER, ORG_B))
    assert theirs.json()["items"] == [{"sku": "KETTLE-1", "prices": []}]


async def test_market_price_queries_are_checked(api: CompetitorApi) -> None:
    viewer = api.auth(Role.VIEWER)
    too_many = {"sku": [f"S-{index}" for index in range(1_001)]}
    assert_problem(await api.http.get("/v1/market-prices", params=too_many, headers=viewer), 422)
    assert_problem(await api.http.get("/v1/market-prices", params={"sku": "not a sku"}, headers=viewer), 422)
    twice = assert_problem(
        await api.http.get("/v1/market-prices", params=[("sku", "A"), ("sku", "A")], headers=viewer), 400
    )
    assert twice["errors"][0]["field"] == "skus[1]"


async def test_observations_csv_import(api: CompetitorApi) -> None:
    shop = await api.competitor(default_currency="JPY")
    (tea,) = await api.offers(offer_row(shop["id"], "tea", "TEA-1"))
    csv = OBSERVATIONS_CSV + f"{shop['id']},{tea['url']},2026-03-01T09:00:00Z,1980,,true\n"
    headers = {**api.auth(), "Content-Type": "text/csv"}
    imported = await api.http.post("/v1/observations:import", content=csv.encode(), headers=headers)
    assert imported.json() == {"created": 1, "unchanged": 0}
    market = await api.http.get("/v1/market-prices", params={"sku": "TEA-1"}, headers=api.auth())
    assert [(p["price"], p["currency"]) for p in market.json()["items"][0]["prices"]] == [("1980", "JPY")]
    unknown = OBSERVATIONS_CSV + f"{shop['id']},https://shop-one.example/none,2026-03-01T09:00:00Z,1,,1\n"
    refused = assert_problem(
        await api.http.post("/v1/observations:import", content=unknown.encode(), headers=headers), 422
    )
    assert [(error["row"], error["field"]) for error in refused["errors"]] == [(0, "url")]
    assert_problem(await api.http.post("/v1/observations:import", content=csv.encode(), headers=api.auth()), 415)


async def test_bulk_routes_take_bodies_up_to_their_own_limit(api: CompetitorApi) -> None:
    assert set(LARGE_BODY_LIMITS) == {"/v1/offers", "/v1/offers:import", "/v1/observations", "/v1/observations:import"}
    assert set(LARGE_BODY_LIMITS.values()) == {BULK_BODY_LIMIT}
    big = orjson.dumps({"name": "x" * (3 * 1024 * 1024), "default_currency": "EUR"})
    json_headers = {**api.auth(), "Content-Type": "application/json"}
    assert_problem(await api.http.post("/v1/competitors", content=big, headers=json_headers), 413)
    shop = await api.competitor()
    rows = [offer_row(shop["id"], f"p/{index}", title=f"{index} " + "t" * 300) for index in range(10_000)]
    body = orjson.dumps({"offers": rows})
    assert len(body) > 2 * 1024 * 1024
    upserted = await api.http.post("/v1/offers", content=body, headers=json_headers)
    assert upserted.status_code == 200, upserted.text
    assert upserted.json()["created"] == 10_000
