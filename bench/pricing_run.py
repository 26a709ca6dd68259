"""A full reprice run over a large catalog: load, compute, store only the changed prices.

Seeds a fresh mesh (setup, not timed): N products through the product service, competitor offers and
prices for a quarter of them, a strategy chain (beat the lowest competitor by 1 % → cost + 35 %) with
margin, MAP, max-change and ending guardrails. Then creates a suggest-mode run over everything and times
it until the worker marks it succeeded, printing progress and where the time went (from the worker log).
Budget (ARCHITECTURE.md): 1,000,000 skus in ≤ 60 s on 2 cores.

    .venv/bin/python bench/pricing_run.py [--skus 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from omnipricex.common.v1 import money_pb2
from omnipricex.competitor.v1 import competitor_pb2, competitor_pb2_grpc
from omnipricex.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from omnipricex.product.v1 import product_pb2, product_pb2_grpc
from runtime.auth import Role
from runtime.clients import auth_metadata, open_channel
from runtime.clock import utcnow
from runtime.identity_client import access_tokens
from runtime.settings import Settings
from runtime.testing.mesh import running_mesh
from runtime.timestamps import to_timestamp

ORGANIZATION = "org_bench"
BATCH = 10_000
MARKET_SHARE = 0.25


def eur(minor: int) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=minor, currency="EUR")


async def seed(settings: Settings, count: int) -> None:
    token = access_tokens(settings).issue(user_id="usr_bench", organization_id=ORGANIZATION, role=Role.ADMIN)
    metadata = auth_metadata(token.token)
    deadline = 600.0
    rng = random.Random(5)
    product = open_channel(settings.product_address, settings)
    competitor = open_channel(settings.competitor_address, settings)
    pricing = open_channel(settings.pricing_address, settings)
    try:
        products = product_pb2_grpc.ProductServiceStub(product)
        prices: dict[str, int] = {}
        for start in range(0, count, BATCH):
            batch = []
            for n in range(start, min(count, start + BATCH)):
                price = rng.randrange(500, 50_000)
                prices[f"B-{n:07d}"] = price
                message = product_pb2.Product(
                    sku=f"B-{n:07d}", title=f"Bench product {n}", price=eur(price), cost=eur(int(price * 0.6))
                )
                if n % 10 == 0:
                    message.map_price.CopyFrom(eur(int(price * 0.9)))
                batch.append(message)
            response = await products.BulkUpsertProducts(
                product_pb2.BulkUpsertProductsRequest(products=batch, reason="bench"),
                metadata=metadata,
                timeout=deadline,
            )
            assert not response.errors, response.errors[0]
        competitors = competitor_pb2_grpc.CompetitorServiceStub(competitor)
        shop = await competitors.CreateCompetitor(
            competitor_pb2.CreateCompetitorRequest(
                competitor=competitor_pb2.Competitor(name="Bench shop", default_currency="EUR")
            ),
            metadata=metadata,
            timeout=deadline,
        )
        offers = competitor_pb2_grpc.OfferServiceStub(competitor)
        observations = competitor_pb2_grpc.ObservationServiceStub(competitor)
        watched = [sku for sku in prices if rng.random() < MARKET_SHARE]
        now = to_timestamp(utcnow())
        for start in range(0, len(watched), BATCH):
            chunk = watched[start : start + BATCH]
            stored = await offers.UpsertOffers(
                competitor_pb2.UpsertOffersRequest(
                    offers=[
                        competitor_pb2.Offer(
                            competitor_id=shop.competitor.id, sku=sku, url=f"https://bench-shop.example/{sku}"
                        )
                        for sku in chunk
                    ]
                ),
                metadata=metadata,
                timeout=deadline,
            )
            await observations.RecordObservations(
                competitor_pb2.RecordObservationsRequest(
                    observations=[
                        competitor_pb2.Observation(
                            offer_id=offer.id,
                            observe_time=now,
                            price=eur(int(prices[offer.sku] * rng.uniform(0.85, 1.1))),
                            in_stock=True,
                        )
                        for offer in stored.offers
                    ]
                ),
                metadata=metadata,
                timeout=deadline,
            )
        strategies = pricing_pb2_grpc.StrategyServiceStub(pricing)
        strategy = await strategies.CreateStrategy(
            pricing_pb2.CreateStrategyRequest(
                strategy=pricing_pb2.Strategy(
                    name="bench",
                    rules=[
                        pricing_pb2.Rule(kind=pricing_pb2.RULE_KIND_BEAT_LOWEST, beat_percent="1"),
                        pricing_pb2.Rule(kind=pricing_pb2.RULE_KIND_COST_PLUS, markup_percent="35"),
                    ],
                    guardrails=pricing_pb2.Guardrails(
                        min_margin_percent="10",
                        max_change_percent="15",
                        endings=[pricing_pb2.PriceEnding(minor_ending=99)],
                    ),
                )
            ),
            metadata=metadata,
            timeout=deadline,
        )
        await strategies.SetAssignment(
            pricing_pb2.SetAssignmentRequest(
                assignment=pricing_pb2.Assignment(
                    level=pricing_pb2.ASSIGNMENT_LEVEL_DEFAULT, strategy_id=strategy.strategy.id
                )
            ),
            metadata=metadata,
            timeout=deadline,
        )
    finally:
        for channel in (product, competitor, pricing):
            await channel.close()


async def timed_run(settings: Settings) -> None:
    token = access_tokens(settings).issue(user_id="usr_bench", organization_id=ORGANIZATION, role=Role.ADMIN)
    metadata = auth_metadata(token.token)
    channel = open_channel(settings.pricing_address, settings)
    reprice = pricing_pb2_grpc.RepriceServiceStub(channel)
    try:
        started = time.perf_counter()
        created = await reprice.CreateRepriceRun(
            pricing_pb2.CreateRepriceRunRequest(scope=pricing_pb2.Scope(all=True), mode=pricing_pb2.RUN_MODE_SUGGEST),
            metadata=metadata,
            timeout=600,
        )
        print(f"run created (scope checked) after {time.perf_counter() - started:.1f} s")
        last = ""
        while True:
            run = (
                await reprice.GetRepriceRun(
                    pricing_pb2.GetRepriceRunRequest(id=created.run.id), metadata=metadata, timeout=10
                )
            ).run
            state = pricing_pb2.RunState.Name(run.state)
            line = f"{state} {run.processed:,}/{run.total:,} recommended {run.recommended:,}"
            if line != last:
                print(f"{time.perf_counter() - started:7.1f} s  {line}")
                last = line
            if run.state in (pricing_pb2.RUN_STATE_SUCCEEDED, pricing_pb2.RUN_STATE_FAILED):
                break
            await asyncio.sleep(0.5)
        elapsed = time.perf_counter() - started
        print(
            f"total: {elapsed:.1f} s for {run.total:,} skus ({run.total / elapsed:,.0f} skus/s), "
            f"{run.recommended:,} changed prices stored; state {pricing_pb2.RunState.Name(run.state)} {run.error}"
        )
    finally:
        await channel.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skus", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="omnipricex-bench-run-") as folder:
        data_dir = Path(folder)
        extra = {
            "OMNIPRICEX_LONG_RPC_DEADLINE_SECONDS": "900",
            "OMNIPRICEX_JOB_TIME_LIMIT_SECONDS": "1500",
            "OMNIPRICEX_LOG_LEVEL": "INFO",
        }
        with running_mesh(data_dir, extra) as mesh:
            started = time.perf_counter()
            asyncio.run(seed(mesh.settings, args.skus))
            print(f"setup: {args.skus:,} products seeded in {time.perf_counter() - started:.1f} s")
            asyncio.run(timed_run(mesh.settings))
            log = mesh.log("pricing-worker")
            timings = [line for line in log.splitlines() if "phase" in line]
            for line in timings[-12:]:
                print("  worker:", line[-200:])


if __name__ == "__main__":
    main()
