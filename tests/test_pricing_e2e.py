"""The pricing acceptance walk over REST against the real processes (every service, the pricing worker
and its beat): a seeded demo, a suggest-mode reprice over the catalog, explanations, approvals into the
catalog, price history and the Omnibus prior price of a reduced sku."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.seed import DemoLogin, seed_demo
from runtime.testing.mesh import Mesh, running_mesh

pytestmark = pytest.mark.integration
PASSWORD = "pricing-walk-password-1"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    data_dir = tmp_path_factory.mktemp("pricing-walk")
    with running_mesh(data_dir, {"OMNIPRICEX_LOG_LEVEL": "INFO"}) as running:
        login = DemoLogin("admin@demo.local", PASSWORD, True, Path(data_dir) / "unused")
        asyncio.run(seed_demo(running.settings, login))
        yield running


@pytest.fixture(scope="module")
def http(mesh: Mesh) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mesh.gateway, timeout=60) as client:
        tokens = client.post("/v1/auth/token", json={"email": "admin@demo.local", "password": PASSWORD}).json()
        client.headers["authorization"] = f"Bearer {tokens['access_token']}"
        yield client


def wait_for_run(http: httpx.Client, run_id: str, mesh: Mesh, seconds: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    seen: list[tuple[int, int]] = []
    while time.monotonic() < deadline:
        run: dict[str, Any] = http.get(f"/v1/reprice-runs/{run_id}").json()
        seen.append((run["processed"], run["total"]))
        if run["state"] in ("succeeded", "failed"):
            run["progress_seen"] = seen
            return run
        time.sleep(0.2)
    pytest.fail(f"run {run_id} did not finish:\n{mesh.log('pricing-worker')[-4000:]}")


def test_the_demo_models_are_fitted_from_the_seeded_sales(http: httpx.Client, mesh: Mesh) -> None:
    runs = http.get("/v1/reprice-runs").json()["items"]
    refit = next(run for run in runs if run["scope"] is None)
    assert wait_for_run(http, refit["id"], mesh)["state"] == "succeeded"
    models = http.get("/v1/demand-models", params={"limit": 1000}).json()["items"]
    assert len(models) >= 1000
    reliable = [model for model in models if model["reliable"]]
    assert len(reliable) > 0.7 * len(models)


def test_a_suggest_run_over_the_catalog_approved_into_the_catalog(http: httpx.Client, mesh: Mesh) -> None:
    created = http.post("/v1/reprice-runs", json={"scope": {"all": True}, "mode": "suggest"})
    assert created.status_code == 202, created.text
    run = wait_for_run(http, created.json()["id"], mesh)
    assert run["state"] == "succeeded", run["error"]
    assert run["processed"] == run["total"] > 1000
    assert run["recommended"] > 100

    listed = http.get(
        "/v1/recommendations",
        params={"run_id": run["id"], "state": "pending", "include_explanations": "true", "limit": 200},
    ).json()["items"]
    assert listed
    for rec in listed:
        explanation = rec["explanation"]
        assert explanation["sentences"], rec
        assert Decimal(rec["recommended_price"]) != Decimal(rec["current_price"])
    reductions = [rec for rec in listed if Decimal(rec["recommended_price"]) < Decimal(rec["current_price"])]
    assert reductions, "the demo market should make some prices fall"
    chosen = reductions[:5]
    approved = http.post(
        "/v1/recommendations:approve", json={"ids": [rec["id"] for rec in chosen], "reason": "acceptance walk"}
    )
    assert approved.status_code == 200, approved.text
    assert {item["state"] for item in approved.json()["items"]} == {"applied"}

    reduced = chosen[0]
    product = http.get(f"/v1/products/{reduced['sku']}").json()
    assert product["price"] == reduced["recommended_price"]
    history = http.get(f"/v1/products/{reduced['sku']}/price-history").json()["points"]
    assert [point["price"] for point in history][-2:] == [reduced["current_price"], reduced["recommended_price"]]
    assert reduced["id"] in history[-1]["reason"]
    prior = http.get(f"/v1/products/{reduced['sku']}/prior-price").json()
    assert prior["is_reduction"] is True
    assert prior["prior_price"] == reduced["current_price"]
    detail = http.get(f"/v1/recommendations/{reduced['id']}").json()
    assert detail["state"] == "applied"
    assert detail["decided_by"]


def test_bad_runs_get_a_clear_4xx(http: httpx.Client) -> None:
    for body, status in (
        ({"scope": {"skus": ["NO-SUCH-SKU"]}, "mode": "suggest"}, 400),
        ({"scope": {"category_id": "no-such-category"}, "mode": "suggest"}, 400),
        ({"scope": {"all": True}, "mode": "sometimes"}, 422),
        ({"scope": {}, "mode": "suggest"}, 422),
    ):
        response = http.post("/v1/reprice-runs", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
