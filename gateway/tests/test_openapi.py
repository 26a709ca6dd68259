"""The OpenAPI document: complete, and honest about errors (problem+json) and credentials."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.app import create_app
from gateway.tests.conftest import gateway_settings

PUBLIC_OPERATIONS = {"login", "refresh", "healthz", "readyz", "metrics"}
EXPECTED_ROUTES = {
    ("get", "/v1/strategies"),
    ("post", "/v1/strategies"),
    ("get", "/v1/strategies/{strategy_id}"),
    ("patch", "/v1/strategies/{strategy_id}"),
    ("delete", "/v1/strategies/{strategy_id}"),
    ("get", "/v1/strategy-assignments"),
    ("put", "/v1/strategy-assignments"),
    ("delete", "/v1/strategy-assignments"),
    ("post", "/v1/reprice-runs"),
    ("get", "/v1/reprice-runs"),
    ("get", "/v1/reprice-runs/{run_id}"),
    ("post", "/v1/reprice-schedules"),
    ("get", "/v1/reprice-schedules"),
    ("get", "/v1/reprice-schedules/{schedule_id}"),
    ("patch", "/v1/reprice-schedules/{schedule_id}"),
    ("delete", "/v1/reprice-schedules/{schedule_id}"),
    ("get", "/v1/recommendations"),
    ("get", "/v1/recommendations/{recommendation_id}"),
    ("post", "/v1/recommendations:approve"),
    ("post", "/v1/recommendations:reject"),
    ("post", "/v1/demand-models:refit"),
    ("get", "/v1/demand-models"),
    ("get", "/v1/demand-models/{sku}"),
    ("get", "/v1/products/{sku}/price-history"),
    ("get", "/v1/products/{sku}/prior-price"),
    ("post", "/v1/simulations"),
    ("post", "/v1/experiments"),
    ("get", "/v1/experiments"),
    ("get", "/v1/experiments/{experiment_id}"),
    ("post", "/v1/experiments/{experiment_id}:stop"),
    ("post", "/v1/quotes"),
    ("get", "/v1/competitors"),
    ("post", "/v1/competitors"),
    ("get", "/v1/competitors/{competitor_id}"),
    ("patch", "/v1/competitors/{competitor_id}"),
    ("delete", "/v1/competitors/{competitor_id}"),
    ("get", "/v1/offers"),
    ("post", "/v1/offers"),
    ("post", "/v1/offers:import"),
    ("get", "/v1/offers/{offer_id}"),
    ("delete", "/v1/offers/{offer_id}"),
    ("get", "/v1/observations"),
    ("post", "/v1/observations"),
    ("post", "/v1/observations:import"),
    ("get", "/v1/market-prices"),
    ("get", "/v1/alert-rules"),
    ("post", "/v1/alert-rules"),
    ("get", "/v1/alert-rules/{rule_id}"),
    ("patch", "/v1/alert-rules/{rule_id}"),
    ("delete", "/v1/alert-rules/{rule_id}"),
    ("get", "/v1/alerts"),
    ("get", "/v1/alerts/{alert_id}"),
    ("get", "/v1/webhooks"),
    ("post", "/v1/webhooks"),
    ("get", "/v1/webhooks/{webhook_id}"),
    ("patch", "/v1/webhooks/{webhook_id}"),
    ("delete", "/v1/webhooks/{webhook_id}"),
    ("get", "/v1/webhooks/{webhook_id}/deliveries"),
    ("post", "/v1/webhooks/{webhook_id}:test"),
    ("get", "/v1/review-items"),
    ("get", "/v1/review-items/{item_id}"),
    ("post", "/v1/review-items/{item_id}:confirm"),
    ("post", "/v1/review-items/{item_id}:reject"),
    ("post", "/v1/crawl-sources"),
    ("get", "/v1/crawl-sources"),
    ("get", "/v1/crawl-sources/{source_id}"),
    ("patch", "/v1/crawl-sources/{source_id}"),
    ("delete", "/v1/crawl-sources/{source_id}"),
    ("post", "/v1/crawl-sources/{source_id}:resume"),
    ("post", "/v1/crawl-sources/{source_id}:reset-health"),
    ("post", "/v1/crawl-sources/{source_id}/crawls"),
    ("get", "/v1/crawl-jobs"),
    ("get", "/v1/crawl-jobs/{job_id}"),
    ("post", "/v1/crawl-jobs/{job_id}:cancel"),
    ("post", "/v1/sales/order-lines"),
    ("post", "/v1/sales/order-lines:import"),
    ("get", "/v1/sales/order-lines"),
    ("get", "/v1/sales/demand"),
    ("post", "/v1/auth/token"),
    ("post", "/v1/auth/refresh"),
    ("post", "/v1/auth/logout"),
    ("get", "/v1/me"),
    ("get", "/v1/products"),
    ("post", "/v1/products"),
    ("get", "/v1/products/{sku}"),
    ("patch", "/v1/products/{sku}"),
    ("post", "/v1/products/{sku}/archive"),
    ("post", "/v1/products/bulk-upsert"),
    ("post", "/v1/products/import"),
    ("get", "/v1/products/export"),
    ("get", "/v1/price-events"),
    ("get", "/v1/categories"),
    ("post", "/v1/categories"),
    ("patch", "/v1/categories/{category_id}"),
    ("delete", "/v1/categories/{category_id}"),
    ("get", "/v1/users"),
    ("post", "/v1/users"),
    ("patch", "/v1/users/{user_id}"),
    ("post", "/v1/users/{user_id}/disable"),
    ("get", "/v1/api-keys"),
    ("post", "/v1/api-keys"),
    ("delete", "/v1/api-keys/{api_key_id}"),
    ("get", "/v1/audit-entries"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    document: dict[str, Any] = create_app(gateway_settings(tmp_path_factory.mktemp("openapi"))).openapi()
    return document


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


def test_every_route_is_documented(schema: dict[str, Any]) -> None:
    assert {(method, path) for method, path, _ in operations(schema)} == EXPECTED_ROUTES
    ids = [op["operationId"] for _, _, op in operations(schema)]
    assert len(ids) == len(set(ids))


def test_every_error_response_is_problem_json(schema: dict[str, Any]) -> None:
    for method, path, op in operations(schema):
        responses = op["responses"]
        assert "default" in responses, (method, path)
        assert any(status.startswith("2") for status in responses), (method, path)
        for status, response in responses.items():
            if status == "default" or int(status) >= 400:
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, (method, path, status)
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_protected_routes_declare_credentials_and_auth_errors(schema: dict[str, Any]) -> None:
    for method, path, op in operations(schema):
        if op["operationId"] in PUBLIC_OPERATIONS:
            assert "security" not in op, (method, path)
            continue
        assert op["security"] == [{"bearer": []}, {"apiKey": []}], (method, path)
        assert {"401", "403", "429", "503", "504"} <= set(op["responses"]), (method, path)


def test_money_fields_are_patterned_strings(schema: dict[str, Any]) -> None:
    new_product = schema["components"]["schemas"]["NewProduct"]["properties"]
    assert new_product["price"]["type"] == "string"
    assert new_product["price"]["pattern"] == r"^\d{1,15}(\.\d{1,4})?$"
    per_currency = schema["components"]["schemas"]["NewProduct"]["allOf"]
    euro = next(rule for rule in per_currency if "EUR" in rule["if"]["properties"]["currency"]["enum"])
    assert euro["then"]["properties"]["price"]["pattern"] == r"^\d{1,13}(\.\d{1,2})?$"
    patch = schema["components"]["schemas"]["ProductPatch"]["properties"]
    assert patch["price"]["type"] == "string", "price may be left out of a patch but never be null"
    assert {"type": "null"} in patch["map_price"]["anyOf"], "map_price may be removed with null"


def test_bodies_that_are_not_json_are_documented(schema: dict[str, Any]) -> None:
    imported = schema["paths"]["/v1/products/import"]["post"]
    assert imported["requestBody"]["content"] == {"text/csv": {"schema": {"type": "string"}}}
    exported = schema["paths"]["/v1/products/export"]["get"]["responses"]["200"]
    assert list(exported["content"]) == ["text/csv"]
