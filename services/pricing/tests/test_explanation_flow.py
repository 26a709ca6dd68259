"""Explanations over gRPC: a run stores a compact trace with each recommendation, batch by batch, and a read
renders it, the same whether the strategy changed since or not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import field_mask_pb2, json_format

from omnipricex.common.v1 import money_pb2
from omnipricex.pricing.v1 import pricing_pb2
from omnipricex.product.v1 import product_pb2
from services.pricing.tests.mesh_support import ORG_A, PricingMesh, pricing_mesh
from services.pricing.use_cases import reprice

pytestmark = pytest.mark.integration


def eur(minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=minor, currency="EUR")


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[PricingMesh]:
    async with pricing_mesh(tmp_path) as running:
        products = [
            product_pb2.Product(sku=f"p-{n}", title=f"Product {n}", price=eur(2000 + n), cost=eur(1000 + n))
            for n in range(5)
        ]
        response = await running.products.BulkUpsertProducts(
            product_pb2.BulkUpsertProductsRequest(products=products, reason="seed"), metadata=running.metadata()
        )
        assert not response.errors
        yield running


async def cost_plus_run(mesh: PricingMesh) -> tuple[str, pricing_pb2.RepriceRun]:
    strategy = pricing_pb2.Strategy(
        name="cost plus 50",
        rules=[pricing_pb2.Rule(kind=pricing_pb2.RULE_KIND_COST_PLUS, markup_percent="50")],
        guardrails=pricing_pb2.Guardrails(max_change_percent="10"),
    )
    created = await mesh.strategies.CreateStrategy(
        pricing_pb2.CreateStrategyRequest(strategy=strategy), metadata=mesh.metadata()
    )
    await mesh.strategies.SetAssignment(
        pricing_pb2.SetAssignmentRequest(
            assignment=pricing_pb2.Assignment(
                level=pricing_pb2.ASSIGNMENT_LEVEL_DEFAULT, strategy_id=created.strategy.id
            )
        ),
        metadata=mesh.metadata(),
    )
    run = await mesh.reprice.CreateRepriceRun(
        pricing_pb2.CreateRepriceRunRequest(scope=pricing_pb2.Scope(all=True), mode=pricing_pb2.RUN_MODE_SUGGEST),
        metadata=mesh.metadata(),
    )
    await mesh.run_jobs()
    done = await mesh.reprice.GetRepriceRun(pricing_pb2.GetRepriceRunRequest(id=run.run.id), metadata=mesh.metadata())
    return created.strategy.id, done.run


async def explanations(mesh: PricingMesh, run_id: str) -> dict[str, dict[str, Any]]:
    listed = await mesh.reprice.ListRecommendations(
        pricing_pb2.ListRecommendationsRequest(run_id=run_id, include_explanations=True), metadata=mesh.metadata()
    )
    return {rec.sku: json_format.MessageToDict(rec.explanation) for rec in listed.recommendations}


async def test_a_run_stores_every_batch_and_reads_render_the_traces(
    mesh: PricingMesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reprice, "STORE_BATCH", 2)
    strategy_id, run = await cost_plus_run(mesh)
    assert run.state == pricing_pb2.RUN_STATE_SUCCEEDED
    assert (run.total, run.processed, run.recommended) == (5, 5, 5)
    stored = await mesh.repositories.recommendations.find(
        ORG_A, run_id=run.id, state=None, sku=None, after=None, limit=10
    )
    assert [rec.sku for rec in stored] == [f"p-{n}" for n in range(5)]
    # Storage keeps the trace, not the sentences.
    assert all(rec.explanation["trace"] == 1 and "sentences" not in rec.explanation for rec in stored)
    listed = await explanations(mesh, run.id)
    assert listed["p-0"]["sentences"] == [
        "Cost plus 50 %: cost 10.00 gives 15.00.",
        "The maximum change per run (±10 %) raised it from 15.00 to 18.00.",
        "Recommended 18.00 instead of 20.00 (-10.00 %).",
    ]
    assert (listed["p-0"]["strategy_id"], listed["p-0"]["run_id"]) == (strategy_id, run.id)
    got = await mesh.reprice.GetRecommendation(
        pricing_pb2.GetRecommendationRequest(id=stored[0].id), metadata=mesh.metadata()
    )
    assert json_format.MessageToDict(got.recommendation.explanation) == listed["p-0"]


async def test_a_strategy_edited_after_the_run_leaves_its_explanations_as_they_were(mesh: PricingMesh) -> None:
    strategy_id, run = await cost_plus_run(mesh)
    before = await explanations(mesh, run.id)
    await mesh.strategies.UpdateStrategy(
        pricing_pb2.UpdateStrategyRequest(
            strategy=pricing_pb2.Strategy(
                id=strategy_id,
                name="cost plus 10",
                rules=[pricing_pb2.Rule(kind=pricing_pb2.RULE_KIND_COST_PLUS, markup_percent="10")],
                guardrails=pricing_pb2.Guardrails(min_margin_percent="5"),
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["name", "rules", "guardrails"]),
        ),
        metadata=mesh.metadata(),
    )
    after = await explanations(mesh, run.id)
    assert after == before
    assert after["p-1"]["strategy"]["name"] == "cost plus 50"
    assert after["p-1"]["sentences"][0] == "Cost plus 50 %: cost 10.01 gives 15.02."


async def test_an_explanation_stored_before_traces_is_read_as_it_was_stored(mesh: PricingMesh) -> None:
    _, run = await cost_plus_run(mesh)
    (first, *_) = await mesh.repositories.recommendations.find(
        ORG_A, run_id=run.id, state=None, sku=None, after=None, limit=1
    )
    rendered = {"sentences": ["Cost plus 50 %: cost 10.00 gives 15.00."], "strategy_id": "str_old", "run_id": run.id}
    await mesh.repositories.recommendations.put_many([replace(first, explanation=rendered)])
    got = await mesh.reprice.GetRecommendation(
        pricing_pb2.GetRecommendationRequest(id=first.id), metadata=mesh.metadata()
    )
    assert json_format.MessageToDict(got.recommendation.explanation) == rendered
