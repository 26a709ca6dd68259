"""Get-product-by-sku directly over gRPC and through the REST gateway, at concurrency 1 and 64.

Starts its own mesh (identity, product, gateway) on free ports in a temporary data dir, seeds the
demo organisation, then prints p50/p99 latency and requests/s for both paths and their ratio.
The load generator runs on the same 2 cores as the mesh, so absolute figures are pessimistic.

    .venv/bin/python bench/gateway.py [--requests 4000] [--concurrency 1 64]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from cli.seed import DemoLogin, seed_demo
from omnipricex.identity.v1 import identity_pb2, identity_pb2_grpc
from omnipricex.product.v1 import product_pb2, product_pb2_grpc
from runtime.clients import auth_metadata, open_channel
from runtime.settings import Settings
from runtime.testing.mesh import running_mesh

PASSWORD = "benchmark-password-1"  # noqa: S105 - a throwaway login in a temporary data dir


class KeepAliveHttp:
    """A minimal HTTP/1.1 keep-alive GET client: the cheapest load generator Python offers."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self._host, self._port = host, port
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        self._writer.write(f"GET {path} HTTP/1.1\r\nHost: {self._host}\r\n{self._headers}\r\n".encode())
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self._reader.readexactly(length)
        return status

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def measure(call: Callable[[int], Awaitable[None]], total: int, concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    issued = 0

    async def worker() -> None:
        nonlocal issued
        while issued < total:
            index = issued
            issued += 1
            started = time.perf_counter()
            await call(index)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, total / (time.perf_counter() - started)


def percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


async def admin_token(settings: Settings) -> str:
    await seed_demo(settings, DemoLogin("admin@demo.local", PASSWORD, True, Path("unused")))
    channel = open_channel(settings.identity_address, settings)
    try:
        login = await identity_pb2_grpc.AuthServiceStub(channel).Login(
            identity_pb2.LoginRequest(email="admin@demo.local", password=PASSWORD), timeout=10
        )
    finally:
        await channel.close()
    return login.tokens.access_token


async def run(settings: Settings, gateway: str, requests: int, concurrencies: list[int]) -> None:
    token = await admin_token(settings)
    skus = [f"DEMO-{i:06d}" for i in range(1, 1001)]
    channel = open_channel(settings.product_address, settings)
    stub = product_pb2_grpc.ProductServiceStub(channel)
    metadata = auth_metadata(token)
    host, port = gateway.removeprefix("http://").split(":")

    async def direct(i: int) -> None:
        await stub.GetProduct(product_pb2.GetProductRequest(sku=skus[i % len(skus)]), metadata=metadata, timeout=5)

    rows = []
    for concurrency in concurrencies:
        await measure(direct, 500, concurrency)  # warm-up
        grpc_latencies, grpc_rps = await measure(direct, requests, concurrency)

        pool: asyncio.Queue[KeepAliveHttp] = asyncio.Queue()
        for _ in range(concurrency):
            pool.put_nowait(KeepAliveHttp(host, int(port), {"authorization": f"Bearer {token}"}))

        async def via_gateway(i: int, pool: asyncio.Queue[KeepAliveHttp] = pool) -> None:
            client = await pool.get()
            try:
                status = await client.get(f"/v1/products/{skus[i % len(skus)]}")
            finally:
                pool.put_nowait(client)
            if status != 200:
                raise RuntimeError(f"gateway answered {status}")

        await measure(via_gateway, 500, concurrency)
        rest_latencies, rest_rps = await measure(via_gateway, requests, concurrency)
        while not pool.empty():
            pool.get_nowait().close()
        rows.append((concurrency, percentiles(grpc_latencies), grpc_rps, percentiles(rest_latencies), rest_rps))
    await channel.close()

    print(f"\nGetProduct by sku, {requests} requests per run (load generator on the same machine)")
    header = f"{'gRPC p50':>9} {'p99':>8} {'req/s':>7} | {'REST p50':>9} {'p99':>8} {'req/s':>7}"
    print(f"{'conc':>4} | {header} | REST/gRPC p50")
    for concurrency, (gp50, gp99), grps, (rp50, rp99), rrps in rows:
        print(
            f"{concurrency:>4} | {gp50:>7.3f}ms {gp99:>6.3f}ms {grps:>7.0f} | "
            f"{rp50:>7.3f}ms {rp99:>6.3f}ms {rrps:>7.0f} | {rp50 / gp50:>6.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="omnipricex-bench-") as folder, running_mesh(Path(folder)) as mesh:
        asyncio.run(run(mesh.settings, mesh.gateway, args.requests, args.concurrency))


if __name__ == "__main__":
    main()
