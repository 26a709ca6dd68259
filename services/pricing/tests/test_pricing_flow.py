"""The pricing service end to end over gRPC, with the real catalog, ledger and market services beside it:
strategies, a reprice run, explanations, approvals into the catalog, history, Omnibus, quotes, refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2, json_format

from omnipricex.common.v1 import money_pb2
from omnipricex.competitor.v1 import competitor_pb2
from omnipricex.pricing.v1 import pricing_pb2
from omnipricex.product.v1 import product_pb2
from runtime.auth import Role
from runtime.clock import utcnow
from runtime.timestamps import to_timestamp
from services.pricing.tests.mesh_support import ORG_B, PricingMesh, pricing_mesh

pytestmark = pytest.mark.integration


def eur(minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=minor, currency="EUR")


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[PricingMesh]:
    async with pricing_mesh(tmp_path) as running:
        await seed_catalog(running)
        yield running


async def seed_catalog(mesh: PricingMesh) -> None:
    products = [
        # sku, price, cost, map
        product_pb2.Product(sku="p-1", title="Kettle", brand="Acme", price=eur(2000), cost=eur(1000)),
        product_pb2.Product(sku="p-2", title="Toaster", brand="Acme", price=eur(4000), cost=eur(3500)),
        product_pb2.Product(
            sku="p-3", title="Blender", brand="Brewer", price=eur(5000), cost=eur(2000), map_price=eur(4500)
        ),
        product_pb2.Product(sku="p-4", title="Mixer", brand="Brewer", price=eur(1000)),
    ]
    response = await mesh.products.BulkUpsertProducts(
        product_pb2.BulkUpsertProductsRequest(products=products, reason="seed"), metadata=mesh.metadata()
    )
    assert not response.errors


def cost_plus(markup: str, **guardrails: object) -> pricing_pb2.Strategy:
    return pricing_pb2.Strategy(
        name=f"cost plus {markup}",
        rules=[pricing_pb2.Rule(kind=pricing_pb2.RULE_KIND_COST_PLUS, markup_percent=markup)],
        guardrails=pricing_pb2.Guardrails(**guardrails),  # type: ignore[arg-type]
    )


async def create_strategy(mesh: PricingMesh, strategy: pricing_pb2.Strategy) -> str:
    created = await mesh.strategies.CreateStrategy(
        pricing_pb2.CreateStrategyRequest(strategy=strategy), metadata=mesh.metadata()
    )
    return created.strategy.id


async def assign_default(mesh: PricingMesh, strategy_id: str) -> None:
    await mesh.strategies.SetAssignment(
        pricing_pb2.SetAssignmentRequest(
            assignment=pricing_pb2.Assignment(level=pricing_pb2.ASSIGNMENT_LEVEL_DEFAULT, strategy_id=strategy_id)
        ),
        metadata=mesh.metadata(),
    )


async def run_all(
    mesh: PricingMesh, mode: pricing_pb2.RunMode.ValueType = pricing_pb2.RUN_MODE_SUGGEST
) -> pricing_pb2.RepriceRun:
    created = await mesh.reprice.CreateRepriceRun(
        pricing_pb2.CreateRepriceRunRequest(scope=pricing_pb2.Scope(all=True), mode=mode), metadata=mesh.metadata()
    )
    assert created.run.state == pricing_pb2.RUN_STATE_QUEUED
    await mesh.run_jobs()
    done = await mesh.reprice.GetRepriceRun(
        pricing_pb2.GetRepriceRunRequest(id=created.run.id), metadata=mesh.metadata()
    )
    return done.run


async def recommendations(mesh: PricingMesh, run_id: str) -> dict[str, pricing_pb2.Recommendation]:
    listed = await mesh.reprice.ListRecommendations(
        pricing_pb2.ListRecommendationsRequest(run_id=run_id, include_explanations=True), metadata=mesh.metadata()
    )
    return {rec.sku: rec for rec in listed.recommendations}


async def test_a_suggest_run_recommends_changed_prices_with_explanations(mesh: PricingMesh) -> None:
    strategy_id = await create_strategy(
        mesh, cost_plus("50", min_margin_percent="20", endings=[pricing_pb2.PriceEnding(minor_ending=99)])
    )
    await assign_default(mesh, strategy_id)
    run = await run_all(mesh)
    assert run.state == pricing_pb2.RUN_STATE_SUCCEEDED
    assert (run.total, run.processed) == (4, 4)
    recs = await recommendations(mesh, run.id)
    # p-1: 10.00 * 1.5 = 15.00 → ending .99 → 14.99 (or 15.99): nearest is 14.99.
    assert recs["p-1"].recommended_price == eur(1499)
    # p-2: 35.00 * 1.5 = 52.50, ending → 52.99 or 51.99; the margin floor 43.75 holds either way.
    assert recs["p-2"].recommended_price.amount_minor % 100 == 99
    # p-3: 30.00 would break MAP 45.00: MAP raises it, then the ending stays above MAP.
    assert recs["p-3"].recommended_price.amount_minor >= 4500
    # p-4 has no cost: cost-plus is skipped and the chain keeps its price, which only the ending moves.
    assert recs["p-4"].recommended_price == eur(999)
    kept = json_format.MessageToDict(recs["p-4"].explanation)
    assert kept["skipped"]
    assert run.recommended == 4
    explanation = json_format.MessageToDict(recs["p-3"].explanation)
    assert explanation["strategy_id"] == strategy_id
    text = " ".join(explanation["sentences"])
    assert "MAP" in text
    assert all(rec.state == pricing_pb2.RECOMMENDATION_STATE_PENDING for rec in recs.values())


async def test_approving_writes_the_price_to_the_catalog_in_the_approvers_name(mesh: PricingMesh) -> None:
    await assign_default(mesh, await create_strategy(mesh, cost_plus("50")))
    run = await run_all(mesh)
    recs = await recommendations(mesh, run.id)
    approved = await mesh.reprice.ApproveRecommendations(
        pricing_pb2.ApproveRecommendationsRequest(ids=[recs["p-1"].id], reason="looks right"),
        metadata=mesh.metadata(user="usr_manager"),
    )
    assert approved.recommendations[0].state == pricing_pb2.RECOMMENDATION_STATE_APPLIED
    product = await mesh.products.GetProduct(product_pb2.GetProductRequest(sku="p-1"), metadata=mesh.metadata())
    assert product.product.price == eur(1500)
    events = await mesh.products.ListPriceEvents(
        product_pb2.ListPriceEventsRequest(sku="p-1"), metadata=mesh.metadata()
    )
    assert events.events[0].actor_id == "usr_manager"
    assert recs["p-1"].id in events.events[0].reason
    history = await mesh.history.GetPriceHistory(
        pricing_pb2.GetPriceHistoryRequest(sku="p-1"), metadata=mesh.metadata()
    )
    assert [point.price.amount_minor for point in history.points] == [2000, 1500]
    prior = await mesh.history.GetPriorPrice(pricing_pb2.GetPriorPriceRequest(sku="p-1"), metadata=mesh.metadata())
    assert prior.is_reduction
    assert prior.prior_price == eur(2000)
    # The quote book picks the applied price and its explanation up within its refresh interval.
    for _ in range(50):
        quoted = await mesh.quotes.QuotePrices(
            pricing_pb2.QuotePricesRequest(skus=["p-1", "p-2", "nope"]), metadata=mesh.metadata(Role.VIEWER)
        )
        if quoted.explanation_id[0]:
            break
        await asyncio.sleep(0.05)
    assert list(quoted.amount_minor) == [1500, 4000, -1]
    assert list(quoted.explanation_id) == [recs["p-1"].id, "", ""]


async def test_a_price_that_moved_since_the_run_is_not_applied(mesh: PricingMesh) -> None:
    await assign_default(mesh, await create_strategy(mesh, cost_plus("50")))
    run = await run_all(mesh)
    recs = await recommendations(mesh, run.id)
    await mesh.products.UpdateProduct(
        product_pb2.UpdateProductRequest(
            product=product_pb2.Product(sku="p-1", price=eur(1999)),
            update_mask=field_mask_pb2.FieldMask(paths=["price"]),
        ),
        metadata=mesh.metadata(),
    )
    approved = await mesh.reprice.ApproveRecommendations(
        pricing_pb2.ApproveRecommendationsRequest(ids=[recs["p-1"].id]), metadata=mesh.metadata()
    )
    rec = approved.recommendations[0]
    assert rec.state == pricing_pb2.RECOMMENDATION_STATE_APPROVED
    assert "moved" in rec.apply_error
    product = await mesh.products.GetProduct(product_pb2.GetProductRequest(sku="p-1"), metadata=mesh.metadata())
    assert product.product.price == eur(1999)


async def test_rejecting_and_roles(mesh: PricingMesh) -> None:
    await assign_default(mesh, await create_strategy(mesh, cost_plus("50")))
    run = await run_all(mesh)
    recs = await recommendations(mesh, run.id)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await mesh.reprice.ApproveRecommendations(
            pricing_pb2.ApproveRecommendationsRequest(ids=[recs["p-1"].id]), metadata=mesh.metadata(Role.ANALYST)
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    rejected = await mesh.reprice.RejectRecommendations(
        pricing_pb2.RejectRecommendationsRequest(ids=[recs["p-1"].id], reason="not now"), metadata=mesh.metadata()
    )
    assert rejected.recommendations[0].state == pricing_pb2.RECOMMENDATION_STATE_REJECTED
    # A viewer reads but cannot start runs.
    await mesh.reprice.GetRecommendation(
        pricing_pb2.GetRecommendationRequest(id=recs["p-2"].id), metadata=mesh.metadata(Role.VIEWER)
    )
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await mesh.reprice.CreateRepriceRun(
            pricing_pb2.CreateRepriceRunRequest(scope=pricing_pb2.Scope(all=True), mode=pricing_pb2.RUN_MODE_SUGGEST),
            metadata=mesh.metadata(Role.VIEWER),
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_running_a_finished_run_again_changes_nothing(mesh: PricingMesh) -> None:
    await assign_default(mesh, await create_strategy(mesh, cost_plus("50")))
    run = await run_all(mesh)
    first = await recommendations(mesh, run.id)
    mesh.queue.submit(
        __import__("services.pricing.domain.records", fromlist=["JobKind"]).JobKind.REPRICE, "org_a", run.id
    )
    assert await mesh.run_jobs() == [None]
    assert await recommendations(mesh, run.id) == first


async def test_auto_mode_applies_only_what_the_policy_allows(mesh: PricingMesh) -> None:
    strategy = cost_plus("50")
    strategy.auto_apply.CopyFrom(pricing_pb2.AutoApplyPolicy(enabled=True, max_change_percent="30"))
    await assign_default(mesh, await create_strategy(mesh, strategy))
    run = await run_all(mesh, pricing_pb2.RUN_MODE_AUTO)
    recs = await recommendations(mesh, run.id)
    # p-1 falls 25 % and p-3 (cost-plus 30.00, raised to its MAP 45.00) 10 %: applied. p-2 would rise
    # 31.25 %, beyond the policy's 30 %: it waits for a person.
    assert recs["p-1"].state == pricing_pb2.RECOMMENDATION_STATE_APPLIED
    assert recs["p-3"].state == pricing_pb2.RECOMMENDATION_STATE_APPLIED
    assert recs["p-1"].decided_by == "auto:usr_1"
    assert recs["p-2"].state == pricing_pb2.RECOMMENDATION_STATE_PENDING
    assert run.auto_applied == sum(rec.state == pricing_pb2.RECOMMENDATION_STATE_APPLIED for rec in recs.values())


@pytest.mark.parametrize(
    ("strategy", "field"),
    [
        (pricing_pb2.Strategy(name="empty"), "rules"),
        (cost_plus("-5"), "markup_percent"),
        (cost_plus("ten"), "markup_percent"),
        (cost_plus("10", min_margin_percent="-1"), "min_margin"),
        (cost_plus("10", min_margin_percent="100"), "min_margin"),
        (cost_plus("10", min_price=eur(500), max_price=eur(400)), "min_price"),
        (cost_plus("10", min_price=money_pb2.Money(amount_minor=5, currency="XYZ")), "currency"),
        (
            pricing_pb2.Strategy(name="optimise", rules=[pricing_pb2.Rule(kind=pricing_pb2.RULE_KIND_OPTIMISE_PROFIT)]),
            "max_change_percent",
        ),
        (pricing_pb2.Strategy(name="unknown", rules=[pricing_pb2.Rule(kind=42)]), "kind"),  # type: ignore[arg-type]
    ],
)
async def test_bad_strategies_are_refused_and_nothing_is_stored(
    mesh: PricingMesh, strategy: pricing_pb2.Strategy, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await create_strategy(mesh, strategy)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (refused.value.details() or "")
    listed = await mesh.strategies.ListStrategies(pricing_pb2.ListStrategiesRequest(), metadata=mesh.metadata())
    assert list(listed.strategies) == []


async def test_bad_runs_are_refused_and_nothing_is_stored(mesh: PricingMesh) -> None:
    await assign_default(mesh, await create_strategy(mesh, cost_plus("50")))
    await mesh.products.BulkUpsertProducts(
        product_pb2.BulkUpsertProductsRequest(
            products=[product_pb2.Product(sku="b-only", title="Other org", price=eur(100))]
        ),
        metadata=mesh.metadata(organization_id=ORG_B),
    )
    category = await mesh.categories.CreateCategory(
        product_pb2.CreateCategoryRequest(category=product_pb2.Category(name="Empty")), metadata=mesh.metadata()
    )
    cases = [
        (pricing_pb2.Scope(skus=pricing_pb2.SkuList(skus=["b-only"])), grpc.StatusCode.INVALID_ARGUMENT),
        (pricing_pb2.Scope(skus=pricing_pb2.SkuList(skus=[])), grpc.StatusCode.INVALID_ARGUMENT),
        (pricing_pb2.Scope(category_id=category.category.id), grpc.StatusCode.FAILED_PRECONDITION),
        (pricing_pb2.Scope(category_id="no-such-category"), grpc.StatusCode.INVALID_ARGUMENT),
        (pricing_pb2.Scope(), grpc.StatusCode.INVALID_ARGUMENT),
    ]
    for scope, code in cases:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await mesh.reprice.CreateRepriceRun(
                pricing_pb2.CreateRepriceRunRequest(scope=scope, mode=pricing_pb2.RUN_MODE_SUGGEST),
                metadata=mesh.metadata(),
            )
        assert refused.value.code() == code, scope
    with pytest.raises(grpc.aio.AioRpcError) as no_mode:
        await mesh.reprice.CreateRepriceRun(
            pricing_pb2.CreateRepriceRunRequest(scope=pricing_pb2.Scope(all=True)), metadata=mesh.metadata()
        )
    assert no_mode.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    runs = await mesh.reprice.ListRepriceRuns(pricing_pb2.ListRepriceRunsRequest(), metadata=mesh.metadata())
    assert list(runs.runs) == []
    assert mesh.queue.jobs == []


async def test_assignments_refuse_unknown_targets_and_strategies(mesh: PricingMesh) -> None:
    strategy_id = await create_strategy(mesh, cost_plus("10"))
    bad = [
        pricing_pb2.Assignment(level=pricing_pb2.ASSIGNMENT_LEVEL_PRODUCT, target="ghost", strategy_id=strategy_id),
        pricing_pb2.Assignment(level=pricing_pb2.ASSIGNMENT_LEVEL_CATEGORY, target="ghost", strategy_id=strategy_id),
        pricing_pb2.Assignment(level=pricing_pb2.ASSIGNMENT_LEVEL_DEFAULT, strategy_id="stg_ghost"),
        pricing_pb2.Assignment(strategy_id=strategy_id),
    ]
    for assignment in bad:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await mesh.strategies.SetAssignment(
                pricing_pb2.SetAssignmentRequest(assignment=assignment), metadata=mesh.metadata()
            )
        assert refused.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    listed = await mesh.strategies.ListAssignments(pricing_pb2.ListAssignmentsRequest(), metadata=mesh.metadata())
    assert list(listed.assignments) == []
    with pytest.raises(grpc.aio.AioRpcError):
        await mesh.strategies.DeleteStrategy(
            pricing_pb2.DeleteStrategyRequest(id="stg_ghost"), metadata=mesh.metadata()
        )


async def test_competitor_rules_use_fresh_in_stock_market_prices(mesh: PricingMesh) -> None:
    competitor = await mesh.competitors.CreateCompetitor(
        competitor_pb2.CreateCompetitorRequest(
            competitor=competitor_pb2.Competitor(
                name="Shop A", website="https://shop-a.example", default_currency="EUR"
            )
        ),
        metadata=mesh.metadata(),
    )
    cid = competitor.competitor.id
    offers = await mesh.offers.UpsertOffers(
        competitor_pb2.UpsertOffersRequest(
            offers=[
                competitor_pb2.Offer(competitor_id=cid, sku="p-1", url="https://shop-a.example/p1"),
                competitor_pb2.Offer(competitor_id=cid, sku="p-2", url="https://shop-a.example/p2"),
            ]
        ),
        metadata=mesh.metadata(),
    )
    assert not offers.errors
    now = to_timestamp(utcnow())
    await mesh.observations.RecordObservations(
        competitor_pb2.RecordObservationsRequest(
            observations=[
                competitor_pb2.Observation(
                    offer_id=offers.offers[0].id, observe_time=now, price=eur(1800), in_stock=True
                ),
                competitor_pb2.Observation(
                    offer_id=offers.offers[1].id, observe_time=now, price=eur(3000), in_stock=False
                ),
            ]
        ),
        metadata=mesh.metadata(),
    )
    beat = pricing_pb2.Strategy(
        name="beat by 1",
        rules=[
            pricing_pb2.Rule(kind=pricing_pb2.RULE_KIND_BEAT_LOWEST, beat_amount=eur(100)),
            pricing_pb2.Rule(kind=pricing_pb2.RULE_KIND_KEEP_PRICE),
        ],
        guardrails=pricing_pb2.Guardrails(min_margin_percent="10"),
    )
    await assign_default(mesh, await create_strategy(mesh, beat))
    run = await run_all(mesh)
    recs = await recommendations(mesh, run.id)
    assert recs["p-1"].recommended_price == eur(1700)
    text = " ".join(json_format.MessageToDict(recs["p-1"].explanation)["sentences"])
    assert "Shop A" in text
    # p-2's only competitor is out of stock: no market, the chain keeps the price.
    assert "p-2" not in recs
    # Whole-catalog runs page through every sku with offers instead of asking sku by sku: same answer.
    by_sku = await mesh.upstream.market_prices(mesh.principal(), ["p-1", "p-2", "p-3"])
    assert await mesh.upstream.all_market_prices(mesh.principal()) == {
        sku: prices for sku, prices in by_sku.items() if prices
    }
