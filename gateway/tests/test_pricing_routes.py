"""The pricing routes through the gateway, against a stand-in pricing service on loopback gRPC: JSON → proto
fields, proto → JSON shapes (money strings, enums, explanations), cursors, deadlines and error mapping."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from fastapi.routing import APIRoute
from google.protobuf import json_format, struct_pb2

from gateway.routers import pricing_insights, reprice, strategies
from gateway.schemas.pricing import (
    AssignmentLevelName,
    DemandModel,
    Experiment,
    ExperimentStateName,
    PriorPrice,
    Recommendation,
    RecommendationStateName,
    ReferenceName,
    RepriceRun,
    RepriceSchedule,
    Rule,
    RunModeName,
    RunStateName,
    Simulation,
    Strategy,
)
from gateway.tests.conftest import ORG_A, ORG_B, Mesh, gateway_client, gateway_settings, start_mesh
from gateway.tests.pricing_standin import PricingStandin, money, pricing_definition
from gateway.tests.standin_services import serve_standin
from gateway.tests.support import assert_conforms, assert_problem
from gateway.translate import pricing as translate
from omnipricex.pricing.v1 import pricing_pb2
from runtime.auth import Role
from runtime.timestamps import to_timestamp

# gateway_settings sets the regular deadline to 2 s; the long one is the default 60 s (the wire rounds both).
BETWEEN_DEADLINES = 10.0


@dataclass
class Pricing:
    mesh: Mesh
    standin: PricingStandin
    http: httpx.AsyncClient

    async def request(
        self, method: str, path: str, role: Role = Role.PRICING_MANAGER, organization_id: str = ORG_A, **kwargs: Any
    ) -> httpx.Response:
        headers = self.mesh.auth(role, organization_id)
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, role: Role = Role.PRICING_MANAGER, **kwargs: Any) -> Any:
        response = await self.request(method, path, role, **kwargs)
        assert response.status_code < 300, response.text
        return response.json()


@pytest.fixture
async def pricing(tmp_path: Path) -> AsyncIterator[Pricing]:
    """Stand-in identity, product and pricing services, the real analytics service, and the gateway."""
    mesh = await start_mesh(gateway_settings(tmp_path))
    standin = PricingStandin()
    try:
        server = await serve_standin(pricing_definition(standin), "127.0.0.1:0", mesh.authenticator, mesh.audit)
        mesh.servers["pricing-standin"] = server
        settings = mesh.settings.model_copy(update={"pricing_address": f"127.0.0.1:{server.port}"})
        async with gateway_client(settings) as http:
            yield Pricing(mesh, standin, http)
    finally:
        await mesh.stop()


def strategy_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Beat the market",
        "currency": "EUR",
        "rules": [
            {"kind": "beat_lowest", "beat_amount": "0.50"},
            {"kind": "price_index", "index_percent": "98.5", "reference": "lowest"},
            {"kind": "keep_within_band", "band_low_percent": "95", "band_high_percent": "105"},
            {"kind": "cost_plus", "markup_percent": "35"},
            {"kind": "optimise_profit"},
            {"kind": "keep_price"},
        ],
        "competitor_ids": ["cmp_1", "cmp_2"],
        "max_market_age_seconds": 86_400,
        "guardrails": {
            "min_margin_percent": "12.5",
            "min_price": "4.99",
            "max_price": "999.00",
            "max_change_percent": "10",
            "max_change_amount": "25.00",
            "endings": [{"minor_ending": 99}, {"from_price": "100.00", "whole_digit": 9}],
        },
        "auto_apply": {"enabled": True, "max_change_percent": "5", "require_reliable_model": True},
    }
    body.update(overrides)
    return body


MINIMAL_STRATEGY = {"name": "Cost plus", "rules": [{"kind": "cost_plus", "markup_percent": "35"}]}


def time_of(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- strategies -------------------------------------------------------------------------------------


async def test_strategy_translates_both_ways(pricing: Pricing) -> None:
    response = await pricing.request("POST", "/v1/strategies", json=strategy_body())

    assert response.status_code == 201, response.text
    body = response.json()
    assert_conforms(Strategy, body)
    assert response.headers["location"] == f"/v1/strategies/{body['id']}"
    sent = pricing.standin.last("CreateStrategy").strategy
    assert [rule.kind for rule in sent.rules] == [
        pricing_pb2.RULE_KIND_BEAT_LOWEST,
        pricing_pb2.RULE_KIND_PRICE_INDEX,
        pricing_pb2.RULE_KIND_KEEP_WITHIN_BAND,
        pricing_pb2.RULE_KIND_COST_PLUS,
        pricing_pb2.RULE_KIND_OPTIMISE_PROFIT,
        pricing_pb2.RULE_KIND_KEEP_PRICE,
    ]
    assert sent.rules[0].beat_amount == money(50)
    assert sent.rules[0].beat_percent == ""
    assert (sent.rules[1].index_percent, sent.rules[1].reference) == ("98.5", pricing_pb2.MARKET_REFERENCE_LOWEST)
    assert (sent.rules[2].band_low_percent, sent.rules[2].band_high_percent) == ("95", "105")
    assert sent.rules[3].markup_percent == "35"
    guardrails = sent.guardrails
    assert (guardrails.min_margin_percent, guardrails.max_change_percent) == ("12.5", "10")
    assert (guardrails.min_price, guardrails.max_price) == (money(499), money(99_900))
    assert guardrails.max_change_amount == money(2500)
    assert guardrails.endings[0].WhichOneof("ending") == "minor_ending"
    assert guardrails.endings[0].minor_ending == 99
    assert not guardrails.endings[0].HasField("from_price")
    assert guardrails.endings[1].WhichOneof("ending") == "whole_digit"
    assert (guardrails.endings[1].whole_digit, guardrails.endings[1].from_price) == (9, money(10_000))
    assert list(sent.competitor_ids) == ["cmp_1", "cmp_2"]
    assert sent.max_market_age_seconds == 86_400
    assert (sent.auto_apply.enabled, sent.auto_apply.max_change_percent) == (True, "5")

    expected = strategy_body()
    expected["rules"][0]["beat_percent"] = None
    expected["guardrails"]["endings"] = [
        {"from_price": None, "minor_ending": 99},
        {"from_price": "100.00", "whole_digit": 9},
    ]
    assert body == {
        **expected,
        "id": body["id"],
        "create_time": body["create_time"],
        "update_time": body["create_time"],
    }
    assert body["create_time"].endswith("Z")
    got = await pricing.ok("GET", f"/v1/strategies/{body['id']}", Role.VIEWER)
    assert got == body


async def test_a_strategy_without_amounts_has_no_currency(pricing: Pricing) -> None:
    body = await pricing.ok("POST", "/v1/strategies", json=MINIMAL_STRATEGY)

    assert body["currency"] is None
    assert body["guardrails"] == {
        "min_margin_percent": None,
        "min_price": None,
        "max_price": None,
        "max_change_percent": None,
        "max_change_amount": None,
        "endings": [],
    }
    assert body["auto_apply"] == {"enabled": False, "max_change_percent": None, "require_reliable_model": False}
    assert (body["competitor_ids"], body["max_market_age_seconds"]) == ([], 0)


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"rules": [{"kind": "discount"}]}, "rules.0", "does not match any of the expected tags"),
        ({"rules": [{"kind": "cost_plus", "markup_percent": 35}]}, "rules.0.cost_plus.markup_percent", "not JSON"),
        ({"rules": [{"kind": "cost_plus", "markup_percent": "-5"}]}, "rules.0.cost_plus.markup_percent", "pattern"),
        ({"rules": [{"kind": "cost_plus", "markup_percent": "1e3"}]}, "rules.0.cost_plus.markup_percent", "pattern"),
        ({"rules": [{"kind": "cost_plus"}]}, "rules.0.cost_plus.markup_percent", "required"),
        ({"rules": [{"kind": "keep_price", "markup_percent": "5"}]}, "rules.0.keep_price.markup_percent", "Extra"),
        (
            {"rules": [{"kind": "price_index", "index_percent": "98", "reference": "MEDIAN"}]},
            "rules.0.price_index.reference",
            "'lowest', 'median' or 'mean'",
        ),
        ({"currency": "EUR", "guardrails": {"min_price": 4.99}}, "guardrails.min_price", "not JSON numbers"),
        ({"currency": "EUR", "guardrails": {"min_price": "-1.00"}}, "guardrails.min_price", "pattern"),
        ({"guardrails": {"endings": [{"minor_ending": 99, "whole_digit": 9}]}}, "guardrails.endings.0", "exactly one"),
        ({"guardrails": {"endings": [{}]}}, "guardrails.endings.0", "exactly one"),
        (
            {"guardrails": {"endings": [{"minor_ending": 99, "whole_digit": None}]}},
            "guardrails.endings.0.whole_digit",
            "null",
        ),
        ({"guardrails": {"endings": [{"whole_digit": 10}]}}, "guardrails.endings.0.whole_digit", "less than"),
        ({"max_market_age_seconds": -1}, "max_market_age_seconds", "greater than"),
        ({"name": ""}, "name", "at least 1"),
        ({"priority": 1}, "priority", "Extra inputs"),
        ({"guardrails": {"min_price": "4.99"}}, "currency", "required with amounts"),
        ({"currency": "EUR"}, "currency", "only together with amounts"),
        (
            {"currency": "JPY", "rules": [{"kind": "beat_lowest", "beat_amount": "5.5"}]},
            "rules.0.beat_lowest.beat_amount",
            "decimals",
        ),
    ],
)
async def test_malformed_strategies_are_refused_at_the_gateway(
    pricing: Pricing, overrides: dict[str, Any], field: str, says: str
) -> None:
    response = await pricing.request("POST", "/v1/strategies", json={**MINIMAL_STRATEGY, **overrides})

    problem = assert_problem(response, 422)
    assert [error["field"] for error in problem["errors"]] == [field], problem
    assert says in problem["errors"][0]["message"]
    assert pricing.standin.calls == []


async def test_service_refusals_keep_their_status_and_field(pricing: Pricing) -> None:
    both = {"kind": "beat_lowest", "beat_amount": "0.50", "beat_percent": "2"}
    refused = await pricing.request("POST", "/v1/strategies", json=strategy_body(rules=[both]))
    await pricing.ok("POST", "/v1/strategies", json=MINIMAL_STRATEGY)
    duplicate = await pricing.request("POST", "/v1/strategies", json=MINIMAL_STRATEGY)

    problem = assert_problem(refused, 400)
    assert problem["grpc_code"] == "INVALID_ARGUMENT"
    assert problem["errors"] == [
        {"field": "rules[0].beat", "message": "beat the lowest price by an amount or by a percentage, not both"}
    ]
    assert assert_problem(duplicate, 409)["grpc_code"] == "ALREADY_EXISTS"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST])
async def test_only_pricing_managers_change_strategies(pricing: Pricing, role: Role) -> None:
    response = await pricing.request("POST", "/v1/strategies", role, json=MINIMAL_STRATEGY)

    assert_problem(response, 403)
    assert pricing.standin.calls == []


async def test_patch_is_a_merge_patch_sent_with_its_update_mask(pricing: Pricing) -> None:
    created = await pricing.ok("POST", "/v1/strategies", json=strategy_body())
    path = f"/v1/strategies/{created['id']}"
    pricing.standin.calls.clear()

    patched = await pricing.ok(
        "PATCH", path, json={"name": "Renamed", "guardrails": {"min_price": "3.00"}, "competitor_ids": None}
    )

    # Amounts without a currency are in the strategy's, which the gateway reads first.
    assert pricing.standin.methods() == ["GetStrategy", "UpdateStrategy"]
    sent = pricing.standin.last("UpdateStrategy")
    assert list(sent.update_mask.paths) == ["name", "competitor_ids", "guardrails"]
    assert (sent.strategy.id, sent.strategy.name) == (created["id"], "Renamed")
    assert sent.strategy.guardrails.min_price == money(300)
    assert patched["name"] == "Renamed"
    assert patched["competitor_ids"] == []
    assert patched["guardrails"]["min_price"] == "3.00"
    assert patched["guardrails"]["endings"] == [], "guardrails are replaced as a whole"
    assert patched["rules"] == created["rules"]
    assert patched["currency"] == "EUR"

    pricing.standin.calls.clear()
    switched = await pricing.ok("PATCH", path, json={"auto_apply": None, "max_market_age_seconds": 3600})
    assert pricing.standin.methods() == ["UpdateStrategy"]
    assert list(pricing.standin.last("UpdateStrategy").update_mask.paths) == ["max_market_age_seconds", "auto_apply"]
    assert switched["auto_apply"] == {"enabled": False, "max_change_percent": None, "require_reliable_model": False}
    assert switched["max_market_age_seconds"] == 3600


async def test_patch_amounts_need_a_currency_when_the_strategy_has_none(pricing: Pricing) -> None:
    created = await pricing.ok("POST", "/v1/strategies", json=MINIMAL_STRATEGY)
    path = f"/v1/strategies/{created['id']}"

    without = await pricing.request("PATCH", path, json={"guardrails": {"min_price": "1.00"}})
    with_currency = await pricing.ok("PATCH", path, json={"currency": "USD", "guardrails": {"min_price": "1.00"}})
    alone = await pricing.request("PATCH", path, json={"currency": "USD"})
    null_name = await pricing.request("PATCH", path, json={"name": None})
    missing = await pricing.request("PATCH", "/v1/strategies/stg_nope", json={"guardrails": {"min_price": "1.00"}})

    assert assert_problem(without, 422)["errors"][0]["field"] == "currency"
    assert (with_currency["currency"], with_currency["guardrails"]["min_price"]) == ("USD", "1.00")
    assert pricing.standin.last("UpdateStrategy").strategy.guardrails.min_price == money(100, "USD")
    assert "only together with amounts" in assert_problem(alone, 422)["detail"]
    assert assert_problem(null_name, 422)["errors"][0]["field"] == "name"
    assert assert_problem(missing, 404)["grpc_code"] == "NOT_FOUND"


async def test_strategies_are_listed_by_page(pricing: Pricing) -> None:
    for name in ("Gamma", "Alpha", "Beta"):
        await pricing.ok("POST", "/v1/strategies", json={**MINIMAL_STRATEGY, "name": name})

    first = await pricing.ok("GET", "/v1/strategies", Role.VIEWER, params={"limit": 2})
    assert pricing.standin.last("ListStrategies").page.page_size == 2
    second = await pricing.ok("GET", "/v1/strategies", Role.VIEWER, params={"limit": 2, "cursor": first["next_cursor"]})

    assert [item["name"] for item in first["items"]] == ["Alpha", "Beta"]
    assert pricing.standin.last("ListStrategies").page.page_token == first["next_cursor"]
    assert [item["name"] for item in second["items"]] == ["Gamma"]
    assert second["next_cursor"] is None
    other = await pricing.ok("GET", "/v1/strategies", Role.VIEWER, organization_id=ORG_B)
    assert other == {"items": [], "next_cursor": None}


async def test_assignments_and_deleting_an_assigned_strategy(pricing: Pricing) -> None:
    strategy_id = (await pricing.ok("POST", "/v1/strategies", json=MINIMAL_STRATEGY))["id"]

    default = await pricing.ok("PUT", "/v1/strategy-assignments", json={"level": "default", "strategy_id": strategy_id})
    sent = pricing.standin.last("SetAssignment").assignment
    category = {"level": "category", "target": "cat_shoes", "strategy_id": strategy_id}
    assert await pricing.ok("PUT", "/v1/strategy-assignments", json=category) == category
    listed = await pricing.ok("GET", "/v1/strategy-assignments", Role.VIEWER)
    assigned = await pricing.request("DELETE", f"/v1/strategies/{strategy_id}")

    assert default == {"level": "default", "target": None, "strategy_id": strategy_id}
    assert (sent.level, sent.target) == (pricing_pb2.ASSIGNMENT_LEVEL_DEFAULT, "")
    assert listed == {"items": [default, category]}
    problem = assert_problem(assigned, 400)
    assert problem["grpc_code"] == "FAILED_PRECONDITION"
    assert problem["errors"] == [{"field": "id", "message": "the strategy is assigned; remove its assignments first"}]

    removed = await pricing.request(
        "DELETE", "/v1/strategy-assignments", params={"level": "category", "target": "cat_shoes"}
    )
    assert removed.status_code == 204
    sent_delete = pricing.standin.last("DeleteAssignment")
    assert (sent_delete.level, sent_delete.target) == (pricing_pb2.ASSIGNMENT_LEVEL_CATEGORY, "cat_shoes")
    assert (await pricing.request("DELETE", "/v1/strategy-assignments", params={"level": "default"})).status_code == 204
    again = await pricing.request("DELETE", "/v1/strategy-assignments", params={"level": "default"})
    assert assert_problem(again, 404)["grpc_code"] == "NOT_FOUND"
    assert (await pricing.request("DELETE", f"/v1/strategies/{strategy_id}")).status_code == 204
    assert_problem(await pricing.request("GET", f"/v1/strategies/{strategy_id}", Role.VIEWER), 404)


async def test_malformed_assignments_are_refused(pricing: Pricing) -> None:
    unknown_level = await pricing.request(
        "PUT", "/v1/strategy-assignments", json={"level": "global", "strategy_id": "stg_1"}
    )
    bad_query = await pricing.request("DELETE", "/v1/strategy-assignments", params={"level": "DEFAULT"})
    by_viewer = await pricing.request(
        "PUT", "/v1/strategy-assignments", Role.VIEWER, json={"level": "default", "strategy_id": "stg_1"}
    )
    unknown_strategy = await pricing.request(
        "PUT", "/v1/strategy-assignments", json={"level": "default", "strategy_id": "stg_nope"}
    )

    assert assert_problem(unknown_level, 422)["errors"][0]["field"] == "level"
    assert assert_problem(bad_query, 422)["errors"][0] == {
        "in": "query",
        "field": "level",
        "message": "Input should be 'default', 'category', 'brand' or 'product'",
    }
    assert_problem(by_viewer, 403)
    assert pricing.standin.methods() == ["SetAssignment"]
    assert_problem(unknown_strategy, 404)


# --- runs -------------------------------------------------------------------------------------------


@pytest.fixture
def catalog(pricing: Pricing) -> Pricing:
    pricing.standin.products.update({"SKU-1": "EUR", "SKU-2": "EUR", "JP-1": "JPY"})
    pricing.standin.categories.update({"cat_shoes": ["SKU-1", "SKU-2"], "cat_empty": []})
    return pricing


async def test_a_suggest_run_is_accepted_with_its_progress(catalog: Pricing) -> None:
    response = await catalog.request(
        "POST", "/v1/reprice-runs", Role.ANALYST, json={"scope": {"skus": ["SKU-1", "SKU-2"]}}
    )

    assert response.status_code == 202, response.text
    run = response.json()
    assert_conforms(RepriceRun, run)
    assert response.headers["location"] == f"/v1/reprice-runs/{run['id']}"
    call = catalog.standin.last_call("CreateRepriceRun")
    assert call.request.scope.WhichOneof("target") == "skus"
    assert list(call.request.scope.skus.skus) == ["SKU-1", "SKU-2"]
    assert call.request.mode == pricing_pb2.RUN_MODE_SUGGEST
    assert catalog.standin.deadline_left("CreateRepriceRun") > BETWEEN_DEADLINES, (
        "runs are created with the long deadline"
    )
    assert run == {
        "id": run["id"],
        "scope": {"skus": ["SKU-1", "SKU-2"]},
        "mode": "suggest",
        "state": "queued",
        "processed": 0,
        "total": 2,
        "recommended": 0,
        "auto_applied": 0,
        "error": None,
        "created_by": "usr_test",
        "attempts": 0,
        "create_time": run["create_time"],
        "start_time": None,
        "end_time": None,
        "schedule_id": None,
    }

    stored = catalog.standin.runs[ORG_A, run["id"]]
    stored.state = pricing_pb2.RUN_STATE_RUNNING
    stored.processed, stored.recommended, stored.auto_applied, stored.attempts = 1, 1, 0, 1
    stored.start_time.CopyFrom(to_timestamp(datetime(2026, 3, 1, 9, 30, tzinfo=UTC)))
    progress = await catalog.ok("GET", f"/v1/reprice-runs/{run['id']}", Role.VIEWER)
    assert catalog.standin.deadline_left("GetRepriceRun") < BETWEEN_DEADLINES
    assert (progress["state"], progress["processed"], progress["total"], progress["recommended"]) == (
        "running",
        1,
        2,
        1,
    )
    assert (progress["start_time"], progress["end_time"], progress["attempts"]) == ("2026-03-01T09:30:00Z", None, 1)

    stored.state = pricing_pb2.RUN_STATE_FAILED
    stored.error = "the catalog did not answer"
    stored.end_time.CopyFrom(to_timestamp(datetime(2026, 3, 1, 9, 31, tzinfo=UTC)))
    failed = await catalog.ok("GET", f"/v1/reprice-runs/{run['id']}", Role.VIEWER)
    assert (failed["state"], failed["error"], failed["end_time"]) == (
        "failed",
        "the catalog did not answer",
        "2026-03-01T09:31:00Z",
    )


async def test_run_modes_and_scopes(catalog: Pricing) -> None:
    by_analyst = await catalog.request(
        "POST", "/v1/reprice-runs", Role.ANALYST, json={"scope": {"all": True}, "mode": "auto"}
    )
    auto = await catalog.ok("POST", "/v1/reprice-runs", json={"scope": {"all": True}, "mode": "auto"})
    category = await catalog.ok("POST", "/v1/reprice-runs", Role.ANALYST, json={"scope": {"category_id": "cat_shoes"}})
    by_viewer = await catalog.request("POST", "/v1/reprice-runs", Role.VIEWER, json={"scope": {"all": True}})

    # The gateway lets analysts through; the service refuses them auto mode.
    assert assert_problem(by_analyst, 403)["grpc_code"] == "PERMISSION_DENIED"
    assert (auto["mode"], auto["scope"], auto["total"]) == ("auto", {"all": True}, 3)
    modes = [call.request.mode for call in catalog.standin.calls]
    assert modes == [pricing_pb2.RUN_MODE_AUTO, pricing_pb2.RUN_MODE_AUTO, pricing_pb2.RUN_MODE_SUGGEST]
    assert category["scope"] == {"category_id": "cat_shoes"}
    assert catalog.standin.last("CreateRepriceRun").scope.category_id == "cat_shoes"
    assert assert_problem(by_viewer, 403)["detail"] == "this needs the analyst role or higher"
    assert catalog.standin.methods() == ["CreateRepriceRun"] * 3, "the gateway refused the viewer itself"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scope": {}}, "scope"),
        ({"scope": {"all": False}}, "scope.all"),
        ({"scope": {"all": True, "category_id": "cat_shoes"}}, "scope"),
        ({"scope": {"all": True, "skus": None}}, "scope.skus"),
        ({"scope": {"skus": []}}, "scope.skus"),
        ({"scope": {"skus": [f"SKU-{index}" for index in range(10_001)]}}, "scope.skus"),
        ({"scope": {"skus": ["no spaces"]}}, "scope.skus.0"),
        ({"scope": {"all": True}, "mode": "manual"}, "mode"),
        ({"scope": {"all": True}, "mode": "AUTO"}, "mode"),
        ({"mode": "suggest"}, "scope"),
    ],
)
async def test_malformed_runs_are_refused_at_the_gateway(catalog: Pricing, body: dict[str, Any], field: str) -> None:
    response = await catalog.request("POST", "/v1/reprice-runs", json=body)

    assert [error["field"] for error in assert_problem(response, 422)["errors"]] == [field]
    assert catalog.standin.calls == []


async def test_runs_the_service_refuses(catalog: Pricing) -> None:
    unknown = await catalog.request("POST", "/v1/reprice-runs", json={"scope": {"skus": ["SKU-1", "GONE-1"]}})
    empty = await catalog.request("POST", "/v1/reprice-runs", json={"scope": {"category_id": "cat_empty"}})
    missing = await catalog.request("GET", "/v1/reprice-runs/run_nope", Role.VIEWER)

    assert assert_problem(unknown, 400)["errors"] == [
        {"field": "scope.skus", "message": "no active product with sku 'GONE-1'"}
    ]
    problem = assert_problem(empty, 400)
    assert (problem["grpc_code"], problem["errors"][0]["field"]) == ("FAILED_PRECONDITION", "scope")
    assert assert_problem(missing, 404)["detail"] == "id: run 'run_nope' does not exist"


async def test_runs_are_listed_newest_first_by_page(catalog: Pricing) -> None:
    ids = [(await catalog.ok("POST", "/v1/reprice-runs", json={"scope": {"all": True}}))["id"] for _ in range(3)]

    first = await catalog.ok("GET", "/v1/reprice-runs", Role.VIEWER, params={"limit": 2})
    second = await catalog.ok(
        "GET", "/v1/reprice-runs", Role.VIEWER, params={"limit": 2, "cursor": first["next_cursor"]}
    )

    assert [run["id"] for run in first["items"] + second["items"]] == ids[::-1]
    assert catalog.standin.last("ListRepriceRuns").page.page_token == first["next_cursor"]
    assert second["next_cursor"] is None


# --- schedules ----------------------------------------------------------------------------------------


async def test_a_schedule_translates_both_ways(catalog: Pricing) -> None:
    response = await catalog.request(
        "POST",
        "/v1/reprice-schedules",
        Role.ANALYST,
        json={
            "scope": {"skus": ["SKU-1", "SKU-2"]},
            "interval_minutes": 1440,
            "start_time": "2026-03-01T04:30:00+01:00",
        },
    )

    assert response.status_code == 201, response.text
    schedule = response.json()
    assert_conforms(RepriceSchedule, schedule)
    assert response.headers["location"] == f"/v1/reprice-schedules/{schedule['id']}"
    sent = catalog.standin.last("CreateSchedule").schedule
    assert (sent.mode, sent.interval_minutes, sent.paused) == (pricing_pb2.RUN_MODE_SUGGEST, 1440, False)
    assert list(sent.scope.skus.skus) == ["SKU-1", "SKU-2"]
    assert sent.start_time == to_timestamp(datetime(2026, 3, 1, 3, 30, tzinfo=UTC))
    assert catalog.standin.deadline_left("CreateSchedule") > BETWEEN_DEADLINES, "the scope is checked at creation"
    assert schedule == {
        "id": schedule["id"],
        "scope": {"skus": ["SKU-1", "SKU-2"]},
        "mode": "suggest",
        "interval_minutes": 1440,
        "start_time": "2026-03-01T03:30:00Z",
        "paused": False,
        "next_run_time": "2026-03-01T03:30:00Z",
        "last_run_id": None,
        "last_run_time": None,
        "created_by": "usr_test",
        "create_time": schedule["create_time"],
        "update_time": schedule["update_time"],
    }

    stored = catalog.standin.schedules[ORG_A, schedule["id"]]
    stored.last_run_id = "run_7"
    stored.last_run_time.CopyFrom(to_timestamp(datetime(2026, 3, 1, 3, 30, 2, tzinfo=UTC)))
    stored.next_run_time.CopyFrom(to_timestamp(datetime(2026, 3, 2, 3, 30, tzinfo=UTC)))
    read = await catalog.ok("GET", f"/v1/reprice-schedules/{schedule['id']}", Role.VIEWER)
    assert (read["last_run_id"], read["last_run_time"], read["next_run_time"]) == (
        "run_7",
        "2026-03-01T03:30:02Z",
        "2026-03-02T03:30:00Z",
    )
    catalog.standin.runs[ORG_A, "run_7"] = pricing_pb2.RepriceRun(
        id="run_7",
        scope=stored.scope,
        mode=stored.mode,
        state=pricing_pb2.RUN_STATE_QUEUED,
        schedule_id=schedule["id"],
        created_by="usr_test",
    )
    run = await catalog.ok("GET", "/v1/reprice-runs/run_7", Role.VIEWER)
    assert (run["schedule_id"], run["created_by"]) == (schedule["id"], "usr_test")


async def test_schedules_are_paused_retimed_listed_and_deleted(catalog: Pricing) -> None:
    body = {"scope": {"all": True}, "mode": "auto", "interval_minutes": 60, "paused": True}
    ids = [(await catalog.ok("POST", "/v1/reprice-schedules", json=body))["id"] for _ in range(3)]
    assert catalog.standin.last("CreateSchedule").schedule.HasField("start_time") is False
    path = f"/v1/reprice-schedules/{ids[0]}"

    resumed = await catalog.ok("PATCH", path, Role.PRICING_MANAGER, json={"paused": False})
    sent = catalog.standin.last("UpdateSchedule")
    assert (sent.schedule.id, list(sent.update_mask.paths)) == (ids[0], ["paused"])
    retimed = await catalog.ok("PATCH", path, json={"interval_minutes": 15, "paused": True})
    assert list(catalog.standin.last("UpdateSchedule").update_mask.paths) == ["paused", "interval_minutes"]
    assert (resumed["paused"], retimed["paused"], retimed["interval_minutes"]) == (False, True, 15)

    first = await catalog.ok("GET", "/v1/reprice-schedules", Role.VIEWER, params={"limit": 2})
    second = await catalog.ok(
        "GET", "/v1/reprice-schedules", Role.VIEWER, params={"limit": 2, "cursor": first["next_cursor"]}
    )
    assert [item["id"] for item in first["items"] + second["items"]] == ids
    assert catalog.standin.last("ListSchedules").page.page_token == first["next_cursor"]
    assert second["next_cursor"] is None
    assert await catalog.ok("GET", "/v1/reprice-schedules", Role.VIEWER, organization_id=ORG_B) == {
        "items": [],
        "next_cursor": None,
    }

    # An analyst gets through the gateway; the service keeps auto schedules to pricing managers.
    by_analyst = await catalog.request("DELETE", path, Role.ANALYST)
    assert assert_problem(by_analyst, 403)["grpc_code"] == "PERMISSION_DENIED"
    assert (await catalog.request("DELETE", path)).status_code == 204
    assert catalog.standin.last("DeleteSchedule").id == ids[0]
    assert assert_problem(await catalog.request("GET", path, Role.VIEWER), 404)["grpc_code"] == "NOT_FOUND"
    assert assert_problem(await catalog.request("DELETE", path), 404)["grpc_code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scope": {"all": True}, "interval_minutes": 0}, "interval_minutes"),
        ({"scope": {"all": True}, "interval_minutes": -15}, "interval_minutes"),
        ({"scope": {"all": True}, "interval_minutes": 14}, "interval_minutes"),
        ({"scope": {"all": True}, "interval_minutes": 10_081}, "interval_minutes"),
        ({"scope": {"all": True}, "interval_minutes": 2**40}, "interval_minutes"),
        ({"scope": {"all": True}, "interval_minutes": "60"}, "interval_minutes"),
        ({"scope": {"all": True}, "interval_minutes": 60.5}, "interval_minutes"),
        ({"scope": {"all": True}}, "interval_minutes"),
        ({"scope": {}, "interval_minutes": 60}, "scope"),
        ({"scope": {"skus": []}, "interval_minutes": 60}, "scope.skus"),
        ({"interval_minutes": 60}, "scope"),
        ({"scope": {"all": True}, "interval_minutes": 60, "mode": "hourly"}, "mode"),
        ({"scope": {"all": True}, "interval_minutes": 60, "start_time": "tomorrow"}, "start_time"),
        ({"scope": {"all": True}, "interval_minutes": 60, "start_time": "2026-03-01T09:00:00"}, "start_time"),
        ({"scope": {"all": True}, "interval_minutes": 60, "start_time": None}, "start_time"),
        ({"scope": {"all": True}, "interval_minutes": 60, "paused": "no"}, "paused"),
        ({"scope": {"all": True}, "interval_minutes": 60, "next_run_time": "2026-03-01T09:00:00Z"}, "next_run_time"),
    ],
)
async def test_malformed_schedules_are_refused_at_the_gateway(
    catalog: Pricing, body: dict[str, Any], field: str
) -> None:
    response = await catalog.request("POST", "/v1/reprice-schedules", json=body)

    assert [error["field"] for error in assert_problem(response, 422)["errors"]] == [field]
    assert catalog.standin.calls == []


async def test_schedules_the_service_refuses(catalog: Pricing) -> None:
    unknown = await catalog.request(
        "POST", "/v1/reprice-schedules", json={"scope": {"skus": ["SKU-1", "GONE-1"]}, "interval_minutes": 60}
    )
    empty = await catalog.request(
        "POST", "/v1/reprice-schedules", json={"scope": {"category_id": "cat_empty"}, "interval_minutes": 60}
    )
    auto_by_analyst = await catalog.request(
        "POST",
        "/v1/reprice-schedules",
        Role.ANALYST,
        json={"scope": {"all": True}, "mode": "auto", "interval_minutes": 60},
    )
    by_viewer = await catalog.request(
        "POST", "/v1/reprice-schedules", Role.VIEWER, json={"scope": {"all": True}, "interval_minutes": 60}
    )

    assert assert_problem(unknown, 400)["errors"] == [
        {"field": "scope.skus", "message": "no active product with sku 'GONE-1'"}
    ]
    assert assert_problem(empty, 400)["grpc_code"] == "FAILED_PRECONDITION"
    assert assert_problem(auto_by_analyst, 403)["grpc_code"] == "PERMISSION_DENIED"
    assert_problem(by_viewer, 403)
    assert catalog.standin.methods() == ["CreateSchedule"] * 3, "the gateway refused the viewer itself"
    assert catalog.standin.schedules == {}


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"interval_minutes": 5}, 422, "interval_minutes"),
        ({"interval_minutes": None}, 422, "interval_minutes"),
        ({"paused": None}, 422, "paused"),
        ({"paused": 1}, 422, "paused"),
        ({"scope": {"all": True}}, 422, "scope"),
        ({}, 400, "update_mask"),
    ],
)
async def test_malformed_schedule_patches_change_nothing(
    catalog: Pricing, body: dict[str, Any], status: int, field: str
) -> None:
    created = await catalog.ok("POST", "/v1/reprice-schedules", json={"scope": {"all": True}, "interval_minutes": 60})
    before = await catalog.ok("GET", f"/v1/reprice-schedules/{created['id']}", Role.VIEWER)

    response = await catalog.request("PATCH", f"/v1/reprice-schedules/{created['id']}", json=body)

    assert [error["field"] for error in assert_problem(response, status)["errors"]] == [field]
    assert await catalog.ok("GET", f"/v1/reprice-schedules/{created['id']}", Role.VIEWER) == before


# --- recommendations ----------------------------------------------------------------------------------

EXPLANATION = {
    "inputs": {
        "current_price": 2999,
        "cost": 1240,
        "elasticity": -1.5,
        "market": [{"competitor": "Shop", "price": 2899}],
    },
    "rule": "beat_lowest",
    "guardrails": [],
    "model": None,
    "conflict": False,
    "sentences": ["Beat the lowest price 28.99 by 0.50: 28.49."],
}


def recommendation(
    rec_id: str,
    sku: str,
    *,
    run_id: str = "run_1",
    state: pricing_pb2.RecommendationState.ValueType = pricing_pb2.RECOMMENDATION_STATE_PENDING,
    currency: str = "EUR",
    current: int = 2999,
    recommended: int = 2849,
) -> pricing_pb2.Recommendation:
    message = pricing_pb2.Recommendation(
        id=rec_id,
        run_id=run_id,
        sku=sku,
        current_price=money(current, currency),
        recommended_price=money(recommended, currency),
        change_percent="-5.00",
        strategy_id="stg_1",
        state=state,
        create_time=to_timestamp(datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),
    )
    message.explanation.CopyFrom(json_format.ParseDict(EXPLANATION, struct_pb2.Struct()))
    return message


@pytest.fixture
def recommendations(pricing: Pricing) -> Pricing:
    for item in (
        recommendation("rec_1", "SKU-1"),
        recommendation("rec_2", "SKU-2", state=pricing_pb2.RECOMMENDATION_STATE_APPLIED),
        recommendation("rec_3", "JP-1", run_id="run_2", currency="JPY", current=1980, recommended=1880),
    ):
        pricing.standin.recommendations[ORG_A, item.id] = item
    return pricing


async def test_recommendations_are_filtered_and_explained(recommendations: Pricing) -> None:
    query = {"run_id": "run_1", "state": "pending", "sku": "SKU-1", "include_explanations": "true", "limit": 10}

    page = await recommendations.ok("GET", "/v1/recommendations", Role.VIEWER, params=query)

    sent = recommendations.standin.last("ListRecommendations")
    assert (sent.run_id, sent.state, sent.sku) == ("run_1", pricing_pb2.RECOMMENDATION_STATE_PENDING, "SKU-1")
    assert (sent.include_explanations, sent.page.page_size, sent.page.page_token) == (True, 10, "")
    [item] = page["items"]
    assert_conforms(Recommendation, item)
    assert item == {
        "id": "rec_1",
        "run_id": "run_1",
        "sku": "SKU-1",
        "currency": "EUR",
        "current_price": "29.99",
        "recommended_price": "28.49",
        "change_percent": "-5.00",
        "strategy_id": "stg_1",
        "state": "pending",
        "conflict": False,
        "decided_by": None,
        "decision_reason": None,
        "apply_error": None,
        "create_time": "2026-03-01T09:30:00Z",
        "decide_time": None,
        "explanation": EXPLANATION,
    }
    # Struct numbers are doubles on the wire: the integers come back as integers.
    assert isinstance(item["explanation"]["inputs"]["current_price"], int)
    assert page["next_cursor"] is None


async def test_recommendation_lists_leave_explanations_out_unless_asked(recommendations: Pricing) -> None:
    first = await recommendations.ok("GET", "/v1/recommendations", Role.VIEWER, params={"limit": 2})
    second = await recommendations.ok(
        "GET", "/v1/recommendations", Role.VIEWER, params={"limit": 2, "cursor": first["next_cursor"]}
    )
    one = await recommendations.ok("GET", "/v1/recommendations/rec_3", Role.VIEWER)
    bad_state = await recommendations.request("GET", "/v1/recommendations", Role.VIEWER, params={"state": "PENDING"})

    sent = recommendations.standin.calls[0].request
    assert (sent.run_id, sent.state, sent.sku, sent.include_explanations) == ("", 0, "", False)
    assert [item["sku"] for item in first["items"] + second["items"]] == ["JP-1", "SKU-1", "SKU-2"]
    assert all(item["explanation"] is None for item in first["items"] + second["items"])
    assert (one["current_price"], one["recommended_price"], one["currency"]) == ("1980", "1880", "JPY")
    assert one["explanation"] == EXPLANATION
    assert assert_problem(bad_state, 422)["errors"][0]["field"] == "state"
    assert_problem(await recommendations.request("GET", "/v1/recommendations/rec_nope", Role.VIEWER), 404)


async def test_recommendations_are_approved_and_rejected_in_bulk(recommendations: Pricing) -> None:
    approved = await recommendations.ok(
        "POST", "/v1/recommendations:approve", json={"ids": ["rec_1", "rec_3"], "reason": "looks right"}
    )
    call = recommendations.standin.last_call("ApproveRecommendations")
    rejected = await recommendations.ok("POST", "/v1/recommendations:reject", json={"ids": ["rec_2"]})

    assert (list(call.request.ids), call.request.reason) == (["rec_1", "rec_3"], "looks right")
    assert recommendations.standin.deadline_left("ApproveRecommendations") > BETWEEN_DEADLINES
    assert [(item["id"], item["state"], item["decided_by"]) for item in approved["items"]] == [
        ("rec_1", "applied", "usr_test"),
        ("rec_3", "applied", "usr_test"),
    ]
    assert approved["items"][0]["decision_reason"] == "looks right"
    assert approved["items"][0]["decide_time"].endswith("Z")
    assert [(item["id"], item["state"], item["decision_reason"]) for item in rejected["items"]] == [
        ("rec_2", "rejected", None)
    ]
    assert recommendations.standin.last("RejectRecommendations").reason == ""


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ids": []}, "ids"),
        ({}, "ids"),
        ({"ids": [f"rec_{index}" for index in range(1001)]}, "ids"),
        ({"ids": ["rec 1"]}, "ids.0"),
        ({"ids": ["rec_1"], "reason": "x" * 501}, "reason"),
    ],
)
async def test_malformed_decisions_are_refused(recommendations: Pricing, body: dict[str, Any], field: str) -> None:
    for action in ("approve", "reject"):
        response = await recommendations.request("POST", f"/v1/recommendations:{action}", json=body)
        assert [error["field"] for error in assert_problem(response, 422)["errors"]] == [field]
    assert recommendations.standin.calls == []


async def test_decisions_need_a_pricing_manager_and_known_ids(recommendations: Pricing) -> None:
    by_analyst = await recommendations.request(
        "POST", "/v1/recommendations:approve", Role.ANALYST, json={"ids": ["rec_1"]}
    )
    unknown = await recommendations.request("POST", "/v1/recommendations:reject", json={"ids": ["rec_1", "rec_nope"]})

    assert_problem(by_analyst, 403)
    assert assert_problem(unknown, 404)["detail"] == "ids: recommendation 'rec_nope' does not exist"
    assert recommendations.standin.methods() == ["RejectRecommendations"]


# --- demand models ------------------------------------------------------------------------------------


async def test_a_refit_is_a_job_whose_progress_is_a_run(pricing: Pricing) -> None:
    response = await pricing.request("POST", "/v1/demand-models:refit", Role.ANALYST, json={"days": 90})

    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    assert response.json() == {"job_id": job_id}
    assert response.headers["location"] == f"/v1/reprice-runs/{job_id}"
    call = pricing.standin.last_call("RefitDemandModels")
    assert call.request.days == 90
    assert pricing.standin.deadline_left("RefitDemandModels") > BETWEEN_DEADLINES
    job = await pricing.ok("GET", response.headers["location"], Role.VIEWER)
    assert (job["id"], job["scope"], job["state"], job["mode"]) == (job_id, None, "queued", "suggest")

    without_body = await pricing.request("POST", "/v1/demand-models:refit", Role.ANALYST)
    assert without_body.status_code == 202
    assert pricing.standin.last("RefitDemandModels").days == 0


async def test_refits_the_gateway_or_the_service_refuses(pricing: Pricing) -> None:
    as_text = await pricing.request("POST", "/v1/demand-models:refit", Role.ANALYST, json={"days": "90"})
    too_few = await pricing.request("POST", "/v1/demand-models:refit", Role.ANALYST, json={"days": 7})
    by_viewer = await pricing.request("POST", "/v1/demand-models:refit", Role.VIEWER, json={})

    assert assert_problem(as_text, 422)["errors"][0]["field"] == "days"
    assert assert_problem(too_few, 400)["errors"] == [{"field": "days", "message": "fit on 14-730 days of sales"}]
    assert_problem(by_viewer, 403)
    assert pricing.standin.methods() == ["RefitDemandModels"]


async def test_demand_models_translate_with_missing_estimates_as_null(pricing: Pricing) -> None:
    fit_time = to_timestamp(datetime(2026, 3, 1, 2, 0, tzinfo=UTC))
    pricing.standin.models[ORG_A, "SKU-1"] = pricing_pb2.DemandModel(
        sku="SKU-1", category_id="cat_shoes", elasticity=-1.8, standard_error=0.2, ci_low=-2.19, ci_high=-1.41,
        source="sku", reliable=True, days=180, fit_time=fit_time,
    )  # fmt: skip
    pricing.standin.models[ORG_A, "SKU-2"] = pricing_pb2.DemandModel(
        sku="SKU-2", elasticity=math.nan, standard_error=math.nan, ci_low=math.nan, ci_high=math.nan,
        source="none", reason="too few days with sales", days=180, fit_time=fit_time,
    )  # fmt: skip

    first = await pricing.ok("GET", "/v1/demand-models", Role.VIEWER, params={"limit": 1})
    second = await pricing.ok(
        "GET", "/v1/demand-models", Role.VIEWER, params={"limit": 1, "cursor": first["next_cursor"]}
    )
    one = await pricing.ok("GET", "/v1/demand-models/SKU-1", Role.VIEWER)

    assert_conforms(DemandModel, one)
    assert first["items"] == [one]
    assert one == {
        "sku": "SKU-1",
        "category_id": "cat_shoes",
        "elasticity": -1.8,
        "standard_error": 0.2,
        "ci_low": -2.19,
        "ci_high": -1.41,
        "source": "sku",
        "reliable": True,
        "reason": None,
        "days": 180,
        "fit_time": "2026-03-01T02:00:00Z",
    }
    assert second["items"][0] | {"fit_time": None} == {
        "sku": "SKU-2",
        "category_id": None,
        "elasticity": None,
        "standard_error": None,
        "ci_low": None,
        "ci_high": None,
        "source": "none",
        "reliable": False,
        "reason": "too few days with sales",
        "days": 180,
        "fit_time": None,
    }
    assert pricing.standin.last("GetDemandModel").sku == "SKU-1"
    assert_problem(await pricing.request("GET", "/v1/demand-models/SKU-9", Role.VIEWER), 404)


# --- price history ------------------------------------------------------------------------------------


def point(day: int, amount_minor: int) -> pricing_pb2.PricePoint:
    moment = to_timestamp(datetime(2026, day, 1, tzinfo=UTC))
    return pricing_pb2.PricePoint(price=money(amount_minor), time=moment, actor_id="usr_1", reason=f"month {day}")


async def test_price_history_between_two_times(pricing: Pricing) -> None:
    pricing.standin.price_points[ORG_A, "SKU-1"] = [point(1, 2999), point(2, 2799), point(3, 2899)]

    history = await pricing.ok(
        "GET",
        "/v1/products/SKU-1/price-history",
        Role.VIEWER,
        params={"start": "2026-01-15T00:00:00+01:00", "end": "2026-03-01T00:00:00Z"},
    )

    sent = pricing.standin.last("GetPriceHistory")
    assert sent.sku == "SKU-1"
    assert sent.start_time == to_timestamp(datetime(2026, 1, 14, 23, 0, tzinfo=UTC))
    assert sent.end_time == to_timestamp(datetime(2026, 3, 1, tzinfo=UTC))
    assert history == {
        "sku": "SKU-1",
        "points": [
            {
                "price": "27.99",
                "currency": "EUR",
                "time": "2026-02-01T00:00:00Z",
                "actor_id": "usr_1",
                "reason": "month 2",
            }
        ],
    }
    unbounded = await pricing.ok("GET", "/v1/products/SKU-1/price-history", Role.VIEWER)
    assert len(unbounded["points"]) == 3
    last = pricing.standin.last("GetPriceHistory")
    assert (last.HasField("start_time"), last.HasField("end_time")) == (False, False)


async def test_price_history_refusals(pricing: Pricing) -> None:
    pricing.standin.price_points[ORG_A, "SKU-1"] = [point(1, 2999)]
    path = "/v1/products/SKU-1/price-history"

    word = await pricing.request("GET", path, Role.VIEWER, params={"start": "yesterday"})
    naive = await pricing.request("GET", path, Role.VIEWER, params={"end": "2026-03-01T00:00:00"})
    before_year_one = await pricing.request("GET", path, Role.VIEWER, params={"end": "0001-01-01T00:00:00+01:00"})
    backwards = await pricing.request(
        "GET", path, Role.VIEWER, params={"start": "2026-03-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"}
    )
    unknown = await pricing.request("GET", "/v1/products/SKU-9/price-history", Role.VIEWER)

    assert assert_problem(word, 422)["errors"][0]["field"] == "start"
    assert assert_problem(naive, 422)["errors"][0]["field"] == "end"
    assert assert_problem(before_year_one, 422)["errors"][0]["message"] == "the time is out of range"
    assert assert_problem(backwards, 400)["errors"][0]["field"] == "start_time"
    assert_problem(unknown, 404)


async def test_prior_price_of_a_reduction(pricing: Pricing) -> None:
    reduction = datetime(2026, 3, 1, tzinfo=UTC)
    pricing.standin.prior_prices[ORG_A, "SKU-1"] = pricing_pb2.GetPriorPriceResponse(
        current_price=money(2499),
        is_reduction=True,
        reduction_time=to_timestamp(reduction),
        prior_price=money(2799),
        window_start=to_timestamp(datetime(2026, 1, 30, tzinfo=UTC)),
    )
    pricing.standin.prior_prices[ORG_A, "JP-1"] = pricing_pb2.GetPriorPriceResponse(current_price=money(1980, "JPY"))

    reduced = await pricing.ok(
        "GET", "/v1/products/SKU-1/prior-price", Role.VIEWER, params={"at": "2026-03-02T00:00:00Z"}
    )
    sent = pricing.standin.last("GetPriorPrice")
    plain = await pricing.ok("GET", "/v1/products/JP-1/prior-price", Role.VIEWER)

    assert (sent.sku, sent.at_time) == ("SKU-1", to_timestamp(datetime(2026, 3, 2, tzinfo=UTC)))
    assert_conforms(PriorPrice, reduced)
    assert reduced == {
        "sku": "SKU-1",
        "currency": "EUR",
        "current_price": "24.99",
        "is_reduction": True,
        "reduction_time": "2026-03-01T00:00:00Z",
        "prior_price": "27.99",
        "window_start": "2026-01-30T00:00:00Z",
    }
    assert not pricing.standin.last("GetPriorPrice").HasField("at_time")
    assert plain == {
        "sku": "JP-1",
        "currency": "JPY",
        "current_price": "1980",
        "is_reduction": False,
        "reduction_time": None,
        "prior_price": None,
        "window_start": None,
    }


# --- simulations --------------------------------------------------------------------------------------


def interval(estimate: float, low: float, high: float) -> pricing_pb2.Interval:
    return pricing_pb2.Interval(estimate=estimate, low=low, high=high)


async def test_a_simulation_forecasts_money_as_strings(catalog: Pricing) -> None:
    catalog.standin.simulation = pricing_pb2.SimulateResponse(
        products=3,
        changed=2,
        raised=1,
        lowered=1,
        change_percent_quantiles=[-5.0, -1.234, -0.001, 2.5, 7.891],
        currency="EUR",
        predicted_products=2,
        excluded=1,
        units_today=interval(12.5, 12.5, 12.5),
        units_simulated=interval(13.25, 11.0, math.nan),
        revenue_today=interval(374.875, 374.875, 374.875),
        revenue_simulated=interval(380.5, 350.004, 410.996),
        profit_today=interval(-12.5, -12.5, -12.5),
        profit_simulated=interval(20.0, -3.333, 41.0),
    )
    body = {"scope": {"category_id": "cat_shoes"}, "strategy_ids": ["stg_1"]}

    simulation = await catalog.ok("POST", "/v1/simulations", Role.ANALYST, json=body)

    call = catalog.standin.last_call("Simulate")
    assert (call.request.scope.category_id, list(call.request.strategy_ids)) == ("cat_shoes", ["stg_1"])
    assert catalog.standin.deadline_left("Simulate") > BETWEEN_DEADLINES
    assert_conforms(Simulation, simulation)
    assert simulation == {
        "products": 3,
        "changed": 2,
        "raised": 1,
        "lowered": 1,
        "change_percent_quantiles": {"p5": "-5.00", "p25": "-1.23", "p50": "0.00", "p75": "2.50", "p95": "7.89"},
        "currency": "EUR",
        "predicted_products": 2,
        "excluded": 1,
        "units": {"today": 12.5, "simulated": {"estimate": 13.25, "low": 11.0, "high": None}},
        "revenue": {"today": "374.88", "simulated": {"estimate": "380.50", "low": "350.00", "high": "411.00"}},
        "profit": {"today": "-12.50", "simulated": {"estimate": "20.00", "low": "-3.33", "high": "41.00"}},
    }


async def test_simulations_need_an_analyst_and_one_strategy_at_most(catalog: Pricing) -> None:
    by_viewer = await catalog.request("POST", "/v1/simulations", Role.VIEWER, json={"scope": {"all": True}})
    two = await catalog.request(
        "POST", "/v1/simulations", Role.ANALYST, json={"scope": {"all": True}, "strategy_ids": ["stg_1", "stg_2"]}
    )
    no_scope = await catalog.request("POST", "/v1/simulations", Role.ANALYST, json={"strategy_ids": []})

    assert_problem(by_viewer, 403)
    assert assert_problem(two, 400)["errors"][0]["field"] == "strategy_ids"
    assert assert_problem(no_scope, 422)["errors"][0]["field"] == "scope"
    assert catalog.standin.methods() == ["Simulate"]


# --- experiments --------------------------------------------------------------------------------------


async def test_an_experiment_is_started_read_and_stopped(catalog: Pricing) -> None:
    body = {
        "sku": "SKU-1",
        "currency": "EUR",
        "candidates": ["19.99", "21.49", "24.00"],
        "stop_probability": 0.9,
        "max_periods": 30,
    }

    response = await catalog.request("POST", "/v1/experiments", json=body)

    assert response.status_code == 201, response.text
    created = response.json()
    assert_conforms(Experiment, created)
    assert response.headers["location"] == f"/v1/experiments/{created['id']}"
    sent = catalog.standin.last("CreateExperiment")
    assert list(sent.candidates) == [money(1999), money(2149), money(2400)]
    assert (sent.sku, sent.stop_probability, sent.max_periods) == ("SKU-1", 0.9, 30)
    assert [arm["price"] for arm in created["arms"]] == ["19.99", "21.49", "24.00"]
    assert (created["state"], created["currency"], created["winner_arm"], created["stop_reason"]) == (
        "running",
        "EUR",
        None,
        None,
    )

    # The sampler's revenue is in minor units; the gateway rounds it to one and formats it.
    arm = catalog.standin.experiments[ORG_A, created["id"]].arms[0]
    arm.periods, arm.units = 4, 37
    arm.revenue_per_period.CopyFrom(interval(4997.5, 3998.2, math.inf))
    read = await catalog.ok("GET", f"/v1/experiments/{created['id']}", Role.VIEWER)
    assert read["arms"][0] == {
        "price": "19.99",
        "periods": 4,
        "units": 37,
        "probability_best": pytest.approx(1 / 3),
        "revenue_per_period": {"estimate": "49.98", "low": "39.98", "high": None},
    }

    stopped = await catalog.ok("POST", f"/v1/experiments/{created['id']}:stop", json={"reason": "enough data"})
    assert catalog.standin.last("StopExperiment").reason == "enough data"
    assert (stopped["state"], stopped["stop_reason"], stopped["winner_arm"]) == (
        "stopped",
        "stopped by usr_test: enough data",
        0,
    )
    listed = await catalog.ok("GET", "/v1/experiments", Role.VIEWER)
    assert listed == {"items": [stopped], "next_cursor": None}


async def test_an_experiment_is_stopped_without_a_body(catalog: Pricing) -> None:
    created = await catalog.ok(
        "POST", "/v1/experiments", json={"sku": "JP-1", "currency": "JPY", "candidates": ["1980", "2180"]}
    )

    stopped = await catalog.ok("POST", f"/v1/experiments/{created['id']}:stop")

    sent = catalog.standin.last("CreateExperiment")
    assert (sent.stop_probability, sent.max_periods) == (0.0, 0)
    assert [arm["price"] for arm in created["arms"]] == ["1980", "2180"]
    assert catalog.standin.last("StopExperiment").reason == ""
    assert stopped["stop_reason"] == "stopped by usr_test"
    assert_problem(await catalog.request("GET", "/v1/experiments/exp_nope", Role.VIEWER), 404)
    assert_problem(await catalog.request("POST", "/v1/experiments/exp_nope:stop"), 404)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"candidates": ["19.99"]}, "candidates"),
        ({"candidates": [f"{index}.00" for index in range(1, 8)]}, "candidates"),
        ({"candidates": [19.99, "21.00"]}, "candidates.0"),
        ({"candidates": ["19.999", "21.00"]}, "candidates.0"),
        ({"candidates": ["19.99", "-21.00"]}, "candidates.1"),
        ({"stop_probability": 1.5}, "stop_probability"),
        ({"stop_probability": "0.9"}, "stop_probability"),
        ({"max_periods": 0}, "max_periods"),
        ({"currency": "eur"}, "currency"),
    ],
)
async def test_malformed_experiments_are_refused(catalog: Pricing, overrides: dict[str, Any], field: str) -> None:
    body = {"sku": "SKU-1", "currency": "EUR", "candidates": ["19.99", "21.00"], **overrides}

    response = await catalog.request("POST", "/v1/experiments", json=body)

    assert [error["field"] for error in assert_problem(response, 422)["errors"]] == [field]
    assert catalog.standin.calls == []


async def test_experiments_need_a_pricing_manager_and_the_products_currency(catalog: Pricing) -> None:
    body = {"sku": "SKU-1", "currency": "USD", "candidates": ["19.99", "21.00"]}

    by_analyst = await catalog.request("POST", "/v1/experiments", Role.ANALYST, json=body)
    wrong_currency = await catalog.request("POST", "/v1/experiments", json=body)

    assert_problem(by_analyst, 403)
    assert assert_problem(wrong_currency, 400)["errors"] == [
        {"field": "candidates", "message": "candidates are in the product's currency EUR"}
    ]


# --- quotes -------------------------------------------------------------------------------------------


async def test_quotes_in_request_order_with_nulls_for_unpriced_skus(pricing: Pricing) -> None:
    pricing.standin.quotes[ORG_A, "SKU-1"] = (2999, "EUR", "rec_1")
    pricing.standin.quotes[ORG_A, "JP-1"] = (1980, "JPY", "")

    quotes = await pricing.ok("POST", "/v1/quotes", Role.VIEWER, json={"skus": ["SKU-1", "NOPE-1", "JP-1"]})
    other = await pricing.ok("POST", "/v1/quotes", Role.VIEWER, organization_id=ORG_B, json={"skus": ["SKU-1"]})

    assert list(pricing.standin.calls[0].request.skus) == ["SKU-1", "NOPE-1", "JP-1"]
    assert quotes == {
        "items": [
            {"sku": "SKU-1", "price": "29.99", "currency": "EUR", "explanation_id": "rec_1"},
            {"sku": "NOPE-1", "price": None, "currency": None, "explanation_id": None},
            {"sku": "JP-1", "price": "1980", "currency": "JPY", "explanation_id": None},
        ]
    }
    assert other == {"items": [{"sku": "SKU-1", "price": None, "currency": None, "explanation_id": None}]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"skus": [f"SKU-{index}" for index in range(1001)]}, "skus"),
        ({"skus": []}, "skus"),
        ({"skus": ["has space"]}, "skus.0"),
        ({"skus": "SKU-1"}, "skus"),
    ],
)
async def test_malformed_quote_requests_are_refused(pricing: Pricing, body: dict[str, Any], field: str) -> None:
    response = await pricing.request("POST", "/v1/quotes", Role.VIEWER, json=body)

    assert [error["field"] for error in assert_problem(response, 422)["errors"]] == [field]
    assert pricing.standin.calls == []


# --- the contract as a whole --------------------------------------------------------------------------


RULE_KINDS = tuple(get_args(member.model_fields["kind"].annotation)[0] for member in get_args(get_args(Rule)[0]))


@pytest.mark.parametrize(
    ("enum", "names", "documented"),
    [
        (pricing_pb2.RuleKind, translate.RULE_KIND_NAMES, RULE_KINDS),
        (pricing_pb2.MarketReference, translate.REFERENCE_NAMES, get_args(ReferenceName)),
        (pricing_pb2.AssignmentLevel, translate.LEVEL_NAMES, get_args(AssignmentLevelName)),
        (pricing_pb2.RunMode, translate.MODE_NAMES, get_args(RunModeName)),
        (pricing_pb2.RunState, translate.RUN_STATE_NAMES, get_args(RunStateName)),
        (pricing_pb2.RecommendationState, translate.RECOMMENDATION_STATE_NAMES, get_args(RecommendationStateName)),
        (pricing_pb2.ExperimentState, translate.EXPERIMENT_STATE_NAMES, get_args(ExperimentStateName)),
    ],
)
def test_every_enum_value_of_the_contract_has_its_documented_json_name(
    enum: Any, names: dict[int, str], documented: tuple[str, ...]
) -> None:
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.DESCRIPTOR.name).upper() + "_"
    values = {value.number: value.name.removeprefix(prefix).lower() for value in enum.DESCRIPTOR.values if value.number}

    assert names == values
    assert set(documented) == set(values.values())


def test_every_route_names_the_role_it_needs() -> None:
    routes = [
        route
        for module in (strategies, reprice, pricing_insights)
        for route in module.router.routes
        if isinstance(route, APIRoute)
    ]

    assert len(routes) == 31
    for route in routes:
        assert re.search(r"\((viewer|analyst|pricing manager)\)$", route.summary or ""), route.path
