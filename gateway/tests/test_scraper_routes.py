"""Crawl sources and crawl jobs through the gateway, backed by the REAL scraper service (SQLite) on a loopback
gRPC port, which asks the REAL competitor service whether a source's competitor exists."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, get_args

import httpx
import pytest
from fastapi.routing import APIRoute

from gateway.routers import scraper as scraper_routes
from gateway.schemas.scraper import CrawlJob, CrawlJobStateName, CrawlTriggerName, Source, SourceHealthName
from gateway.schemas.scraper import SourceKindName as KindName
from gateway.tests.conftest import ORG_A, ORG_B, Mesh
from gateway.tests.support import assert_conforms, assert_problem
from gateway.translate import scraper as translate
from omnipricex.scraper.v1 import scraper_pb2
from runtime.auth import Role

LISTING = "https://shop-one.example/c/kettles"


async def competitor(mesh: Mesh, client: httpx.AsyncClient, name: str = "Shop One", org: str = ORG_A) -> str:
    body = {"name": name, "website": "https://shop-one.example", "default_currency": "EUR"}
    response = await client.post("/v1/competitors", json=body, headers=mesh.auth(Role.PRICING_MANAGER, org))
    assert response.status_code == 201, response.text
    competitor_id: str = response.json()["id"]
    return competitor_id


def source_body(competitor_id: str, name: str = "Kettles", **fields: Any) -> dict[str, Any]:
    return {"competitor_id": competitor_id, "name": name, "kind": "listing", "start_urls": [LISTING], **fields}


async def create_source(mesh: Mesh, client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/crawl-sources", json=body, headers=mesh.auth(Role.ANALYST))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# --- sources --------------------------------------------------------------------------------------


async def test_sources_are_created_read_listed_patched_and_deleted(mesh: Mesh, client: httpx.AsyncClient) -> None:
    shop = await competitor(mesh, client)
    rival = await competitor(mesh, client, "Rival")
    extraction = {"price_selector": "span.price", "title_selector": "h1", "decimal_separator": ","}
    response = await client.post(
        "/v1/crawl-sources",
        json=source_body(
            shop,
            " Kettles ",
            start_urls=["HTTPS://Shop-One.Example:443/c/kettles#top", LISTING, "https://shop-one.example/c/mugs"],
            extraction=extraction,
            schedule_interval_minutes=60,
            max_pages=50,
        ),
        headers=mesh.auth(Role.ANALYST),
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert_conforms(Source, created)
    assert response.headers["location"] == f"/v1/crawl-sources/{created['id']}"
    assert (created["name"], created["kind"], created["competitor_id"]) == ("Kettles", "listing", shop)
    assert created["start_urls"] == [LISTING, "https://shop-one.example/c/mugs"]
    assert created["extraction"] == {
        "default_currency": None,
        "decimal_separator": ",",
        "price_selector": "span.price",
        "title_selector": "h1",
        "availability_selector": None,
        "product_link_selector": None,
        "next_page_selector": None,
        "product_url_pattern": None,
        "render_javascript": False,
    }
    assert (created["schedule_interval_minutes"], created["max_pages"]) == (60, 50)
    assert (created["health"], created["health_reason"], created["paused"]) == ("unknown", None, False)
    created_at = datetime.fromisoformat(created["create_time"])
    first_slot = datetime.fromisoformat(created["next_crawl_time"])
    assert created_at + timedelta(minutes=60) <= first_slot < created_at + timedelta(minutes=90)
    assert created["last_crawl_time"] is None
    sitemap = await create_source(
        mesh, client, source_body(rival, "Alpha sitemap", kind="sitemap", start_urls=["https://rival.example/s.xml"])
    )
    assert (sitemap["max_pages"], sitemap["next_crawl_time"], sitemap["category_id"]) == (2_000, None, None)

    viewer = mesh.auth(Role.VIEWER)
    assert (await client.get(f"/v1/crawl-sources/{created['id']}", headers=viewer)).json() == created
    first = await client.get("/v1/crawl-sources", params={"limit": 1}, headers=viewer)
    assert [item["name"] for item in first.json()["items"]] == ["Alpha sitemap"]
    rest = await client.get("/v1/crawl-sources", params={"cursor": first.json()["next_cursor"]}, headers=viewer)
    assert ([item["id"] for item in rest.json()["items"]], rest.json()["next_cursor"]) == ([created["id"]], None)
    of_shop = await client.get("/v1/crawl-sources", params={"competitor_id": shop}, headers=viewer)
    assert [item["id"] for item in of_shop.json()["items"]] == [created["id"]]

    writer = mesh.auth(Role.ANALYST)
    merged = await client.patch(
        f"/v1/crawl-sources/{created['id']}",
        json={"extraction": {"price_selector": "//meta[@itemprop='price']", "title_selector": None}, "max_pages": 10},
        headers=writer,
    )
    assert merged.status_code == 200, merged.text
    patched = merged.json()
    assert patched["extraction"] == {
        **created["extraction"],
        "price_selector": "//meta[@itemprop='price']",
        "title_selector": None,
    }
    assert (patched["max_pages"], patched["name"], patched["start_urls"]) == (10, "Kettles", created["start_urls"])
    assert patched["update_time"] >= created["update_time"]
    cleared = await client.patch(
        f"/v1/crawl-sources/{created['id']}", json={"extraction": None, "schedule_interval_minutes": 0}, headers=writer
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["extraction"] == dict.fromkeys(created["extraction"], None) | {"render_javascript": False}
    assert (cleared.json()["schedule_interval_minutes"], cleared.json()["next_crawl_time"]) == (0, None)
    resumed = await client.post(f"/v1/crawl-sources/{created['id']}:resume", headers=writer)
    assert resumed.status_code == 200, resumed.text
    assert (resumed.json()["paused"], resumed.json()["pause_reason"], resumed.json()["paused_until"]) == (
        False,
        None,
        None,
    )

    deleted = await client.delete(f"/v1/crawl-sources/{created['id']}", headers=writer)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert_problem(await client.get(f"/v1/crawl-sources/{created['id']}", headers=viewer), 404)
    assert_problem(await client.delete(f"/v1/crawl-sources/{created['id']}", headers=writer), 404)


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"start_urls": ["file://shop.example/prices.html"]}, "start_urls[0]", "scheme 'file'"),
        ({"start_urls": [LISTING, "gopher://shop-one.example/1"]}, "start_urls[1]", "scheme 'gopher'"),
        ({"start_urls": ["http://"]}, "start_urls[0]", "no host"),
        ({"start_urls": ["shop-one.example/c/kettles"]}, "start_urls[0]", "not an absolute URL"),
        ({"extraction": {"price_selector": "span[price"}}, "extraction.price_selector", "invalid CSS selector"),
        ({"extraction": {"next_page_selector": "a.next >"}}, "extraction.next_page_selector", "invalid CSS"),
        ({"extraction": {"title_selector": "//h1[@"}}, "extraction.title_selector", "XPath"),
        ({"extraction": {"product_url_pattern": "/p/(["}}, "extraction.product_url_pattern", "regular expression"),
        ({"competitor_id": "cmp_" + "0" * 26}, "competitor_id", "does not exist"),
        ({"schedule_interval_minutes": 5}, "schedule_interval_minutes", "15-10080"),
    ],
)
async def test_sources_the_service_refuses_name_the_field_and_store_nothing(
    mesh: Mesh, client: httpx.AsyncClient, fields: dict[str, Any], field: str, words: str
) -> None:
    shop = await competitor(mesh, client)
    response = await client.post(
        "/v1/crawl-sources", json={**source_body(shop), **fields}, headers=mesh.auth(Role.ANALYST)
    )

    body = assert_problem(response, 400)
    assert body["grpc_code"] == "INVALID_ARGUMENT"
    assert [error["field"] for error in body["errors"]] == [field]
    assert words in body["errors"][0]["message"]
    listed = await client.get("/v1/crawl-sources", headers=mesh.auth(Role.VIEWER))
    assert listed.json() == {"items": [], "next_cursor": None}


async def test_source_refusals_at_the_gateway_and_by_role(mesh: Mesh, client: httpx.AsyncClient) -> None:
    shop = await competitor(mesh, client)
    writer = mesh.auth(Role.ANALYST)
    for wrong, field in (
        ({"kind": "rss"}, "kind"),
        ({"start_urls": []}, "start_urls"),
        ({"max_pages": 0}, "max_pages"),
        ({"extraction": {"decimal_separator": ";"}}, "extraction.decimal_separator"),
        ({"extraction": {"default_currency": "XYZ"}}, "extraction.default_currency"),
        ({"organization_id": ORG_B}, "organization_id"),
    ):
        refused = assert_problem(
            await client.post("/v1/crawl-sources", json=source_body(shop, **wrong), headers=writer), 422
        )
        assert [error["field"] for error in refused["errors"]] == [field]
    viewer_write = await client.post("/v1/crawl-sources", json=source_body(shop), headers=mesh.auth(Role.VIEWER))
    assert_problem(viewer_write, 403)
    assert_problem(await client.get("/v1/crawl-sources"), 401)

    source = await create_source(mesh, client, source_body(shop))
    duplicate = assert_problem(
        await client.post("/v1/crawl-sources", json=source_body(shop, "KETTLES"), headers=writer), 409
    )
    assert duplicate["grpc_code"] == "ALREADY_EXISTS"
    null_name = assert_problem(
        await client.patch(f"/v1/crawl-sources/{source['id']}", json={"name": None}, headers=writer), 422
    )
    assert null_name["errors"][0]["field"] == "name"
    bad_selector = assert_problem(
        await client.patch(
            f"/v1/crawl-sources/{source['id']}", json={"extraction": {"product_link_selector": "a[["}}, headers=writer
        ),
        400,
    )
    assert bad_selector["errors"][0]["field"] == "extraction.product_link_selector"
    internal = assert_problem(
        await client.patch(
            f"/v1/crawl-sources/{source['id']}", json={"start_urls": ["ftp://x.example/"]}, headers=writer
        ),
        400,
    )
    assert internal["errors"][0]["field"] == "start_urls[0]"
    viewer_patch = await client.patch(
        f"/v1/crawl-sources/{source['id']}", json={"max_pages": 5}, headers=mesh.auth(Role.VIEWER)
    )
    assert_problem(viewer_patch, 403)
    unchanged = await client.get(f"/v1/crawl-sources/{source['id']}", headers=writer)
    assert unchanged.json() == source


async def test_another_organisation_sees_nothing(mesh: Mesh, client: httpx.AsyncClient) -> None:
    shop = await competitor(mesh, client)
    source = await create_source(mesh, client, source_body(shop))
    started = await client.post(f"/v1/crawl-sources/{source['id']}/crawls", headers=mesh.auth(Role.ANALYST))
    job = started.json()
    other = mesh.auth(Role.OWNER, ORG_B)

    assert_problem(await client.get(f"/v1/crawl-sources/{source['id']}", headers=other), 404)
    assert (await client.get("/v1/crawl-sources", headers=other)).json()["items"] == []
    patch = await client.patch(f"/v1/crawl-sources/{source['id']}", json={"max_pages": 1}, headers=other)
    assert_problem(patch, 404)
    assert_problem(await client.post(f"/v1/crawl-sources/{source['id']}:resume", headers=other), 404)
    assert_problem(await client.post(f"/v1/crawl-sources/{source['id']}/crawls", headers=other), 404)
    assert_problem(await client.get(f"/v1/crawl-jobs/{job['id']}", headers=other), 404)
    assert (await client.get("/v1/crawl-jobs", headers=other)).json()["items"] == []
    assert_problem(await client.post(f"/v1/crawl-jobs/{job['id']}:cancel", headers=other), 404)
    assert_problem(await client.delete(f"/v1/crawl-sources/{source['id']}", headers=other), 404)
    # Another organisation's competitor is as unknown as one that never existed.
    theirs = await competitor(mesh, client, "Theirs", ORG_B)
    refused = assert_problem(
        await client.post("/v1/crawl-sources", json=source_body(theirs), headers=mesh.auth(Role.ANALYST)), 400
    )
    assert refused["errors"][0]["field"] == "competitor_id"

    mine = await client.get(f"/v1/crawl-jobs/{job['id']}", headers=mesh.auth(Role.VIEWER))
    assert mine.json()["state"] == "queued"


# --- crawl jobs -----------------------------------------------------------------------------------


async def test_crawls_are_started_refused_while_queued_cancelled_and_listed(
    mesh: Mesh, client: httpx.AsyncClient
) -> None:
    shop = await competitor(mesh, client)
    source = await create_source(mesh, client, source_body(shop))
    writer = mesh.auth(Role.ANALYST)
    crawls = f"/v1/crawl-sources/{source['id']}/crawls"

    assert_problem(await client.post(crawls, headers=mesh.auth(Role.VIEWER)), 403)
    started = await client.post(crawls, headers=writer)
    assert started.status_code == 202, started.text
    job = started.json()
    assert_conforms(CrawlJob, job)
    assert started.headers["location"] == f"/v1/crawl-jobs/{job['id']}"
    assert (job["state"], job["trigger"], job["source_id"], job["competitor_id"]) == (
        "queued",
        "manual",
        source["id"],
        shop,
    )
    assert set(job["progress"].values()) == {0}
    assert (job["finish_reason"], job["start_time"], job["end_time"], job["attempts"]) == (None, None, None, 0)
    assert job["created_by"] == "usr_test"
    assert mesh.crawl_queue.submitted == [(ORG_A, job["id"])]

    again = assert_problem(await client.post(crawls, headers=writer), 400)
    assert again["grpc_code"] == "FAILED_PRECONDITION"
    busy = assert_problem(await client.delete(f"/v1/crawl-sources/{source['id']}", headers=writer), 400)
    assert "cancel it first" in busy["detail"]
    assert len(mesh.crawl_queue.submitted) == 1

    viewer = mesh.auth(Role.VIEWER)
    assert (await client.get(f"/v1/crawl-jobs/{job['id']}", headers=viewer)).json() == job
    assert_problem(await client.post(f"/v1/crawl-jobs/{job['id']}:cancel", headers=viewer), 403)
    cancelled = await client.post(f"/v1/crawl-jobs/{job['id']}:cancel", headers=writer)
    assert cancelled.status_code == 200, cancelled.text
    ended = cancelled.json()
    assert (ended["state"], ended["finish_reason"]) == ("cancelled", "cancelled")
    assert ended["end_time"] is not None
    twice = await client.post(f"/v1/crawl-jobs/{job['id']}:cancel", headers=writer)
    assert twice.json() == ended

    second = await client.post(crawls, headers=writer)
    assert second.status_code == 202, second.text
    other = await create_source(mesh, client, source_body(shop, "Mugs", start_urls=["https://shop-one.example/m"]))
    third = await client.post(f"/v1/crawl-sources/{other['id']}/crawls", headers=writer)
    assert third.status_code == 202, third.text

    newest = await client.get("/v1/crawl-jobs", params={"limit": 2}, headers=viewer)
    assert [item["id"] for item in newest.json()["items"]] == [third.json()["id"], second.json()["id"]]
    oldest = await client.get("/v1/crawl-jobs", params={"cursor": newest.json()["next_cursor"]}, headers=viewer)
    assert (oldest.json()["items"], oldest.json()["next_cursor"]) == ([ended], None)
    of_source = await client.get("/v1/crawl-jobs", params={"source_id": source["id"]}, headers=viewer)
    assert [item["id"] for item in of_source.json()["items"]] == [second.json()["id"], job["id"]]
    assert_problem(await client.get("/v1/crawl-jobs/crl_missing", headers=viewer), 404)
    assert_problem(await client.post("/v1/crawl-sources/src_missing/crawls", headers=writer), 404)
    assert_problem(await client.get("/v1/crawl-jobs/bad%20id", headers=viewer), 422)


# --- the contract ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("enum", "names", "documented"),
    [
        (scraper_pb2.SourceKind, translate.KIND_NAMES, get_args(KindName)),
        (scraper_pb2.SourceHealth, translate.HEALTH_NAMES, get_args(SourceHealthName)),
        (scraper_pb2.CrawlJobState, translate.JOB_STATE_NAMES, get_args(CrawlJobStateName)),
        (scraper_pb2.CrawlTrigger, translate.TRIGGER_NAMES, get_args(CrawlTriggerName)),
    ],
)
def test_every_enum_value_of_the_contract_has_its_documented_json_name(
    enum: Any, names: dict[int, str], documented: tuple[str, ...]
) -> None:
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.DESCRIPTOR.name).upper() + "_"
    values = {value.number: value.name.removeprefix(prefix).lower() for value in enum.DESCRIPTOR.values if value.number}

    assert names == values
    assert set(documented) == set(values.values())


def test_every_field_of_the_contract_is_in_the_json() -> None:
    assert set(translate.EXTRACTION_TEXT_FIELDS) | {"render_javascript"} == {
        field.name for field in scraper_pb2.ExtractionSettings.DESCRIPTOR.fields
    }
    assert set(Source.model_fields) == {field.name for field in scraper_pb2.Source.DESCRIPTOR.fields}
    assert set(CrawlJob.model_fields) == {field.name for field in scraper_pb2.CrawlJob.DESCRIPTOR.fields}


def test_every_route_names_the_role_it_needs() -> None:
    routes = [route for route in scraper_routes.router.routes if isinstance(route, APIRoute)]

    assert len(routes) == 11
    for route in routes:
        assert re.search(r"\((viewer|analyst)\)$", route.summary or ""), route.path
