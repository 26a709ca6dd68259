"""QuotePrices throughput: 1,000-sku calls against a pricing service holding 1,000,000 quotes.

Writes the quotes straight into a fresh pricing store (setup, not timed), starts the real mesh as
separate processes, then calls QuotePrices over gRPC at several concurrencies and prints quotes/s and
per-call latency. Budget (ARCHITECTURE.md): ≥ 1,000,000 quotes/s in 1,000-sku calls on 2 cores; the
load generator shares those cores with the service, so the figures are pessimistic.

    .venv/bin/python bench/quotes.py [--quotes 1000000] [--calls 2000] [--concurrency 1 4 16]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from omnipricex.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from runtime.auth import Role
from runtime.clients import auth_metadata, open_channel
from runtime.identity_client import access_tokens
from runtime.money import Money
from runtime.settings import Settings
from runtime.testing.mesh import running_mesh
from services.pricing.domain.records import Quote
from services.pricing.repository.sqlite import open_sqlite_repositories

ORGANIZATION = "org_bench"
SKUS_PER_CALL = 1_000
WRITE_BATCH = 50_000


async def write_quotes(data_dir: Path, count: int) -> None:
    repositories = await open_sqlite_repositories(data_dir / "pricing.sqlite3")
    try:
        for start in range(0, count, WRITE_BATCH):
            await repositories.quotes.put_many(
                [
                    Quote(ORGANIZATION, f"SKU-{n:07d}", Money(1000 + n % 5000, "EUR"), f"rec_{n:07d}")
                    for n in range(start, min(count, start + WRITE_BATCH))
                ]
            )
    finally:
        await repositories.close()


async def measure(
    settings: Settings,
    metadata: tuple[tuple[str, str], ...],
    requests: list[pricing_pb2.QuotePricesRequest],
    concurrency: int,
) -> tuple[float, float, float]:
    channel = open_channel(settings.pricing_address, settings)
    stub = pricing_pb2_grpc.QuoteServiceStub(channel)
    latencies: list[float] = []
    queue = list(requests)

    async def client() -> None:
        while queue:
            request = queue.pop()
            started = time.perf_counter()
            response = await stub.QuotePrices(request, metadata=metadata, timeout=10)
            latencies.append(time.perf_counter() - started)
            assert len(response.amount_minor) == SKUS_PER_CALL

    await stub.QuotePrices(requests[0], metadata=metadata, timeout=10)  # connect and warm up
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await channel.close()
    latencies.sort()
    return (
        len(requests) * SKUS_PER_CALL / elapsed,
        statistics.median(latencies) * 1000,
        latencies[int(len(latencies) * 0.99) - 1] * 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quotes", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="omnipricex-bench-quotes-") as folder:
        data_dir = Path(folder)
        started = time.perf_counter()
        asyncio.run(write_quotes(data_dir, args.quotes))
        print(f"setup: {args.quotes:,} quotes written in {time.perf_counter() - started:.1f} s")
        with running_mesh(data_dir) as mesh:
            token = access_tokens(mesh.settings).issue(
                user_id="usr_bench", organization_id=ORGANIZATION, role=Role.VIEWER
            )
            metadata = auth_metadata(token.token)
            rng = random.Random(1)
            requests = [
                pricing_pb2.QuotePricesRequest(
                    skus=[f"SKU-{rng.randrange(args.quotes):07d}" for _ in range(SKUS_PER_CALL)]
                )
                for _ in range(args.calls)
            ]
            print(f"{'concurrency':>11} {'quotes/s':>12} {'p50 ms':>8} {'p99 ms':>8}")
            for concurrency in args.concurrency:
                rate, p50, p99 = asyncio.run(measure(mesh.settings, metadata, requests, concurrency))
                print(f"{concurrency:>11} {rate:>12,.0f} {p50:>8.2f} {p99:>8.2f}")


if __name__ == "__main__":
    main()
