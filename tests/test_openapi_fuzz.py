"""Schemathesis against the real mesh: every operation of the published OpenAPI, fuzzed with an admin's token.

Excluded checks:
- `positive_data_acceptance`: a few input rules cannot be written in OpenAPI (min/max price
need a currency, cursors must be ones the API issued, a bulk batch cannot repeat a sku, a CSV needs its
header row); those schema-valid requests are rightly refused with 4xx problem+json.
- `ignored_auth`: routes accept a bearer token OR an API key; the check strips only one of the two and
  so reports a false positive. `test_every_protected_operation_refuses_anonymous_calls` covers it instead.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from runtime.testing.mesh import Mesh

pytestmark = pytest.mark.integration


def test_every_operation_honours_its_schema(mesh: Mesh, admin: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_url(f"{mesh.gateway}/openapi.json")
    schema.config.update(base_url=mesh.gateway)
    results = list(schema.get_all_operations())
    invalid = [result.err() for result in results if isinstance(result, Err)]
    assert not invalid, f"operations the OpenAPI describes wrongly: {invalid}"
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) >= 20
    for operation in operations:
        fuzz_operation(operation, admin)


def fuzz_operation(operation: Any, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def fuzz(case: Any) -> None:
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance, ignored_auth])

    fuzz()


def test_every_protected_operation_refuses_anonymous_calls(mesh: Mesh, http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    checked = 0
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if not operation.get("security"):
                continue
            url = path.replace("{sku}", "DEMO-000001").replace("{category_id}", "x").replace("{user_id}", "x")
            url = url.replace("{api_key_id}", "x")
            response = http.request(method.upper(), url, json={})
            assert response.status_code == 401, f"{method.upper()} {path}: {response.status_code}"
            assert response.headers["content-type"].startswith("application/problem+json")
            checked += 1
    assert checked >= 20
