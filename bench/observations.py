"""Observation writes per second on SQLite, in batches of 10,000, and the market read pricing runs on them.

Creates a competitor and --offers offers in a temporary SQLite file, then records observations for every
offer, --rounds times over, two ways:
- record: the whole RecordObservations path below gRPC (validation, reading the offers' tracks, folding,
  one transaction through the repository);
- repository: the repository's write alone, with the rows and tracks the fold produced.
Each round is measured twice: every observation a new price (a row and a track update each), then the
same prices seen again a minute later (track updates only: repeats are not stored as rows).
Last, it pages through ListMarketPrices over every sku, 1,000 skus a page, as a pricing run does.
Budget: >= 50,000 observations/s.

    .venv/bin/python bench/observations.py [--offers 100000] [--batch 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from runtime.auth import CredentialKind, Principal, Role
from runtime.clock import utcnow
from runtime.gc_tuning import tune_for_batches
from services.competitor import domain
from services.competitor.domain import CompetitorDraft, MoneyInput, ObservationDraft, OfferDraft
from services.competitor.repository import Repositories
from services.competitor.repository.sqlite import open_sqlite_repositories
from services.competitor.use_cases import CompetitorDirectory, MarketBoard, ObservationLog, OfferCatalog

MANAGER = Principal("org_bench", "usr_bench", Role.PRICING_MANAGER, CredentialKind.ACCESS_TOKEN)
BUDGET = 50_000


async def seed_offers(repositories: Repositories, count: int, batch: int) -> list[str]:
    competitor = await CompetitorDirectory(repositories).create_competitor(
        MANAGER, CompetitorDraft(name="Bench shop", website="https://bench.example", default_currency="EUR")
    )
    catalog = OfferCatalog(repositories)
    ids: list[str] = []
    for start in range(0, count, batch):
        drafts = [
            OfferDraft(competitor.id, f"https://bench.example/p/{i}", f"SKU-{i:07d}")
            for i in range(start, min(start + batch, count))
        ]
        result = await catalog.upsert_offers(MANAGER, drafts)
        ids.extend(offer.id for offer in result.offers)
    return ids


def drafts(ids: list[str], minute: int, amount: int) -> list[ObservationDraft]:
    moment = (utcnow() - timedelta(days=1) + timedelta(minutes=minute)).replace(microsecond=0)
    return [
        ObservationDraft(offer_id, moment, MoneyInput(amount + index % 500, "EUR"), in_stock=True)
        for index, offer_id in enumerate(ids)
    ]


async def through_record(log: ObservationLog, ids: list[str], batch: int, minute: int, amount: int) -> float:
    """Make each call's drafts just before it (untimed): a server holds one call's drafts, and a whole round's
    left alive would make every garbage collection during the calls scan them too."""
    elapsed = 0.0
    for start in range(0, len(ids), batch):
        call = drafts(ids[start : start + batch], minute, amount)
        started = time.perf_counter()
        result = await log.record(MANAGER, call)
        elapsed += time.perf_counter() - started
        assert not result.errors, result.errors[:3]
    return len(ids) / elapsed


async def through_repository(repositories: Repositories, ids: list[str], batch: int, minute: int, amount: int) -> float:
    """Fold each batch first (untimed), then time only the repository's writes."""
    now = utcnow()
    plans = []
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        tracks = await repositories.observations.tracks(MANAGER.organization_id, chunk)
        observations = []
        for index, draft in enumerate(drafts(chunk, minute, amount)):
            moment = domain.validate_observe_time(draft.observe_time, now=now)
            observations.append((index, domain.validate_observation(draft, moment, default_currency="EUR")))
        plans.append(domain.plan_observations(tracks, {}, observations))
    started = time.perf_counter()
    for plan in plans:
        await repositories.observations.write(MANAGER.organization_id, plan.rows, plan.changes)
    return len(ids) / (time.perf_counter() - started)


async def market_pages(board: MarketBoard) -> tuple[int, float]:
    skus = 0
    token = ""
    started = time.perf_counter()
    while True:
        page = await board.list_market_prices(
            MANAGER, skus=[], competitor_ids=[], page_size_requested=1000, page_token=token
        )
        skus += len(page.items)
        token = page.next_page_token
        if not token:
            return skus, skus / (time.perf_counter() - started)


async def run(offers: int, batch: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="omnipricex-bench-") as folder:
        repositories = await open_sqlite_repositories(Path(folder) / "competitor.sqlite3")
        try:
            ids = await seed_offers(repositories, offers, batch)
            log = ObservationLog(repositories)
            print(f"{offers:,} offers, batches of {batch:,}, SQLite (WAL) in {folder}")
            figures: dict[str, list[float]] = {}
            minute = 0
            for _ in range(rounds):
                for path in ("record", "repository"):
                    # A new price for every offer, then the same prices seen again a minute later.
                    amount = 1000 + minute
                    for scenario in ("changes", "repeats"):
                        minute += 1
                        if path == "record":
                            rate = await through_record(log, ids, batch, minute, amount)
                        else:
                            rate = await through_repository(repositories, ids, batch, minute, amount)
                        figures.setdefault(f"{path} {scenario}", []).append(rate)
            for name, values in figures.items():
                best, worst = max(values), min(values)
                verdict = "within" if worst >= BUDGET else "below"
                print(f"{name:>20}: {worst:>9,.0f} - {best:>9,.0f} observations/s  ({verdict} budget {BUDGET:,}/s)")
            skus, rate = await market_pages(MarketBoard(repositories))
            print(f"{'market prices':>20}: {rate:>9,.0f} skus/s  ({skus:,} skus, 1,000 per page)")
        finally:
            await repositories.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offers", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    # As the competitor service runs (services/competitor/server.py).
    tune_for_batches()
    asyncio.run(run(arguments.offers, arguments.batch, arguments.rounds))


if __name__ == "__main__":
    main()
