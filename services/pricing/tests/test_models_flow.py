"""Demand models from the sales ledger, and what uses them: the optimiser, simulations, experiments.

The demo's sales generator plants an elasticity per category; refitting through the real ledger over
gRPC must recover them, and the optimiser, simulation and experiments must then work on those models.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format

from cli.seed import ensure_categories, upsert_products
from demo.catalog import DemoCatalog, generate_catalog
from demo.sales import generate_sales, planted_elasticities
from omnipricex.analytics.v1 import analytics_pb2
from omnipricex.common.v1 import money_pb2, paging_pb2
from omnipricex.pricing.v1 import pricing_pb2
from omnipricex.product.v1 import product_pb2
from runtime.auth import Role
from runtime.identity_client import access_tokens
from runtime.timestamps import to_timestamp
from services.pricing.tests.mesh_support import ORG_A, PricingMesh, pricing_mesh

pytestmark = pytest.mark.integration
CATALOG_SIZE = 120
INGEST_BATCH = 10_000


@pytest.fixture(scope="module")
def catalog() -> DemoCatalog:
    return generate_catalog(CATALOG_SIZE)


@pytest.fixture
async def mesh(tmp_path: Path, catalog: DemoCatalog) -> AsyncIterator[PricingMesh]:
    async with pricing_mesh(tmp_path) as running:
        token = access_tokens(running.settings).issue(user_id="usr_1", organization_id=ORG_A, role=Role.ADMIN).token
        ids = await ensure_categories(running.channels["product"], token, catalog, 5.0)
        await upsert_products(running.channels["product"], token, catalog, ids, 30.0)
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        lines = [
            analytics_pb2.OrderLine(
                order_id=line.order_id,
                line_no=line.line_no,
                sku=line.sku,
                quantity=line.quantity,
                unit_price=money_pb2.Money(amount_minor=line.unit_price_minor, currency=line.currency),
                time=to_timestamp(line.ordered_at),
                channel=line.channel,
            )
            for line in generate_sales(catalog, end=end).lines()
        ]
        for start in range(0, len(lines), INGEST_BATCH):
            response = await running.sales.IngestOrderLines(
                analytics_pb2.IngestOrderLinesRequest(lines=lines[start : start + INGEST_BATCH]),
                metadata=running.metadata(),
            )
            assert not response.errors
        refit = await running.models.RefitDemandModels(
            pricing_pb2.RefitDemandModelsRequest(days=180), metadata=running.metadata()
        )
        await running.run_jobs()
        job = await running.reprice.GetRepriceRun(
            pricing_pb2.GetRepriceRunRequest(id=refit.job_id), metadata=running.metadata()
        )
        assert job.run.state == pricing_pb2.RUN_STATE_SUCCEEDED, job.run.error
        yield running


async def all_models(mesh: PricingMesh) -> list[pricing_pb2.DemandModel]:
    listed = await mesh.models.ListDemandModels(
        pricing_pb2.ListDemandModelsRequest(page=paging_pb2.PageRequest(page_size=1000)), metadata=mesh.metadata()
    )
    return list(listed.models)


async def test_refit_recovers_the_planted_elasticities(mesh: PricingMesh, catalog: DemoCatalog) -> None:
    planted = planted_elasticities(catalog)
    models = [model for model in await all_models(mesh) if model.sku in planted]
    active = {product.sku for product in catalog.products if product.status == "active"}
    assert {model.sku for model in models} == active
    reliable = [model for model in models if model.reliable]
    assert len(reliable) >= 0.8 * len(models)
    within = [model for model in reliable if abs(model.elasticity - planted[model.sku]) <= 3 * model.standard_error]
    assert len(within) >= 0.85 * len(reliable)
    for model in reliable:
        assert model.ci_low < model.elasticity < model.ci_high
        assert model.source in {"sku", "shrunk", "category"}


async def test_the_optimiser_uses_reliable_models_within_the_maximum_change(mesh: PricingMesh) -> None:
    strategy = pricing_pb2.Strategy(
        name="optimise profit",
        rules=[pricing_pb2.Rule(kind=pricing_pb2.RULE_KIND_OPTIMISE_PROFIT)],
        guardrails=pricing_pb2.Guardrails(max_change_percent="10", min_margin_percent="5"),
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
    listed = await mesh.reprice.ListRecommendations(
        pricing_pb2.ListRecommendationsRequest(
            run_id=run.run.id, include_explanations=True, page=paging_pb2.PageRequest(page_size=1000)
        ),
        metadata=mesh.metadata(),
    )
    models = {model.sku: model for model in await all_models(mesh)}
    assert listed.recommendations
    for rec in listed.recommendations:
        change = abs(rec.recommended_price.amount_minor - rec.current_price.amount_minor)
        assert change <= math.ceil(rec.current_price.amount_minor * 0.10)
        explanation = json_format.MessageToDict(rec.explanation)
        if models[rec.sku].reliable:
            assert "elasticity" in json_format.MessageToJson(rec.explanation)
        else:
            assert explanation["skipped"], rec.sku


async def test_simulation_predicts_with_intervals_and_stores_nothing(mesh: PricingMesh) -> None:
    strategy = pricing_pb2.Strategy(
        name="plus five",
        rules=[pricing_pb2.Rule(kind=pricing_pb2.RULE_KIND_COST_PLUS, markup_percent="80")],
        guardrails=pricing_pb2.Guardrails(max_change_percent="5"),
    )
    created = await mesh.strategies.CreateStrategy(
        pricing_pb2.CreateStrategyRequest(strategy=strategy), metadata=mesh.metadata()
    )
    result = await mesh.simulation.Simulate(
        pricing_pb2.SimulateRequest(scope=pricing_pb2.Scope(all=True), strategy_ids=[created.strategy.id]),
        metadata=mesh.metadata(),
    )
    assert result.products > 0
    assert result.changed == result.raised + result.lowered
    assert result.predicted_products > 0
    assert result.currency
    for today, simulated in (
        (result.units_today, result.units_simulated),
        (result.revenue_today, result.revenue_simulated),
    ):
        assert today.estimate > 0
        assert simulated.low <= simulated.estimate <= simulated.high
    quantiles = list(result.change_percent_quantiles)
    assert quantiles == sorted(quantiles)
    assert all(-5.01 <= value <= 5.01 for value in quantiles)
    runs = await mesh.reprice.ListRepriceRuns(pricing_pb2.ListRepriceRunsRequest(), metadata=mesh.metadata())
    assert [run.id for run in runs.runs if run.scope.WhichOneof("target")] == []


async def test_experiments_check_candidates_against_the_guardrails(mesh: PricingMesh, catalog: DemoCatalog) -> None:
    product = next(p for p in catalog.products if p.status == "active" and p.map_minor is None)
    strategy = pricing_pb2.Strategy(
        name="keep",
        rules=[pricing_pb2.Rule(kind=pricing_pb2.RULE_KIND_KEEP_PRICE)],
        guardrails=pricing_pb2.Guardrails(max_change_percent="20"),
    )
    created = await mesh.strategies.CreateStrategy(
        pricing_pb2.CreateStrategyRequest(strategy=strategy), metadata=mesh.metadata()
    )
    await mesh.strategies.SetAssignment(
        pricing_pb2.SetAssignmentRequest(
            assignment=pricing_pb2.Assignment(
                level=pricing_pb2.ASSIGNMENT_LEVEL_PRODUCT, target=product.sku, strategy_id=created.strategy.id
            )
        ),
        metadata=mesh.metadata(),
    )

    def money(minor: int) -> money_pb2.Money:
        return money_pb2.Money(amount_minor=minor, currency=product.currency)

    price = product.price_minor
    with pytest.raises(grpc.aio.AioRpcError) as outside:
        await mesh.experiments.CreateExperiment(
            pricing_pb2.CreateExperimentRequest(sku=product.sku, candidates=[money(price), money(price * 2)]),
            metadata=mesh.metadata(),
        )
    assert outside.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "guardrails" in (outside.value.details() or "")
    candidates = [money(round(price * 0.95)), money(price), money(round(price * 1.05))]
    created_experiment = await mesh.experiments.CreateExperiment(
        pricing_pb2.CreateExperimentRequest(sku=product.sku, candidates=candidates), metadata=mesh.metadata()
    )
    experiment = created_experiment.experiment
    assert experiment.state == pricing_pb2.EXPERIMENT_STATE_RUNNING
    assert len(experiment.arms) == 3
    assert math.isclose(sum(arm.probability_best for arm in experiment.arms), 1.0, abs_tol=1e-6)
    shown = await mesh.products.GetProduct(product_pb2.GetProductRequest(sku=product.sku), metadata=mesh.metadata())
    assert shown.product.price == candidates[experiment.current_arm]
    with pytest.raises(grpc.aio.AioRpcError) as second:
        await mesh.experiments.CreateExperiment(
            pricing_pb2.CreateExperimentRequest(sku=product.sku, candidates=candidates), metadata=mesh.metadata()
        )
    assert second.value.code() == grpc.StatusCode.ALREADY_EXISTS
    stopped = await mesh.experiments.StopExperiment(
        pricing_pb2.StopExperimentRequest(id=experiment.id, reason="enough"), metadata=mesh.metadata()
    )
    assert stopped.experiment.state == pricing_pb2.EXPERIMENT_STATE_STOPPED
    assert "enough" in stopped.experiment.stop_reason
