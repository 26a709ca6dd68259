"""Reprice runs in real Celery workers, on the SQLite transport and on the real RabbitMQ: a worker killed
with SIGKILL mid-run is replaced, the run completes once, and no recommendation is stored twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kombu import Connection
from pydantic import SecretStr

from omnipricex.common.v1 import money_pb2
from omnipricex.pricing.v1 import pricing_pb2
from omnipricex.product.v1 import product_pb2
from runtime.jobs.app import create_job_app
from runtime.jobs.topology import dead_letter_queue_name
from services.pricing.domain.records import JobKind, Run, RunState
from services.pricing.tasks import CeleryJobQueue
from services.pricing.tests.mesh_support import ORG_A, PricingMesh, pricing_mesh

pytestmark = pytest.mark.integration
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
PRODUCTS = 6_000
REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(params=["sqlite", "rabbitmq"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}" if request.param == "sqlite" else RABBITMQ_URL


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[PricingMesh]:
    async with pricing_mesh(tmp_path) as running:
        products = [
            product_pb2.Product(
                sku=f"w-{n:05d}",
                title=f"Product {n}",
                price=money_pb2.Money(amount_minor=1000 + n, currency="EUR"),
                cost=money_pb2.Money(amount_minor=700 + n // 2, currency="EUR"),
            )
            for n in range(PRODUCTS)
        ]
        for start in range(0, PRODUCTS, 1000):
            await running.products.BulkUpsertProducts(
                product_pb2.BulkUpsertProductsRequest(products=products[start : start + 1000]),
                metadata=running.metadata(),
            )
        created = await running.strategies.CreateStrategy(
            pricing_pb2.CreateStrategyRequest(
                strategy=pricing_pb2.Strategy(
                    name="cost plus",
                    rules=[pricing_pb2.Rule(kind=pricing_pb2.RULE_KIND_COST_PLUS, markup_percent="60")],
                    guardrails=pricing_pb2.Guardrails(endings=[pricing_pb2.PriceEnding(minor_ending=99)]),
                )
            ),
            metadata=running.metadata(),
        )
        await running.strategies.SetAssignment(
            pricing_pb2.SetAssignmentRequest(
                assignment=pricing_pb2.Assignment(
                    level=pricing_pb2.ASSIGNMENT_LEVEL_DEFAULT, strategy_id=created.strategy.id
                )
            ),
            metadata=running.metadata(),
        )
        yield running


class Workers:
    def __init__(self, mesh: PricingMesh, broker: str, prefix: str) -> None:
        settings = mesh.settings
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNIPRICEX_", "OTEL_"))}
        self.env.update(
            {
                "OMNIPRICEX_DATA_DIR": str(settings.data_dir),
                "OMNIPRICEX_JWT_SECRET": settings.require_jwt_secret(),
                "OMNIPRICEX_PRODUCT_ADDRESS": settings.product_address,
                "OMNIPRICEX_ANALYTICS_ADDRESS": settings.analytics_address,
                "OMNIPRICEX_COMPETITOR_ADDRESS": settings.competitor_address,
                "OMNIPRICEX_BROKER_URL": broker,
                "OMNIPRICEX_JOB_QUEUE_PREFIX": prefix,
                "OMNIPRICEX_JOB_LEASE_SECONDS": "2",
                "OMNIPRICEX_JOB_SWEEP_SECONDS": "1",
                "OMNIPRICEX_LOG_LEVEL": "INFO",
                "PYTHONPATH": str(REPO_ROOT),
            }
        )
        self.logs = settings.data_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        name = "-".join(("worker", *args, str(len(self.processes))))
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "services.pricing.worker", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def output(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-3000:] for path in sorted(self.logs.glob("worker-*.log")))


@contextmanager
def workers_for(mesh: PricingMesh, broker: str) -> Iterator[tuple[Workers, str]]:
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    workers = Workers(mesh, broker, prefix)
    try:
        yield workers, f"{prefix}pricing"
    finally:
        workers.stop_all()
        if broker == RABBITMQ_URL:
            with Connection(broker) as connection:
                channel = connection.default_channel
                for name in (f"{prefix}pricing", dead_letter_queue_name(f"{prefix}pricing")):
                    channel.queue_delete(name)
                for name in (f"{prefix}pricing",):
                    channel.exchange_delete(name)


async def wait_for(mesh: PricingMesh, run_id: str, states: set[RunState], seconds: float, workers: Workers) -> Run:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        run = await mesh.repositories.runs.get(ORG_A, run_id)
        assert run is not None
        if run.state in states:
            return run
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"run stayed {run.state} ({run.processed}/{run.total}):\n{workers.output()}")
        await asyncio.sleep(0.02)


async def test_a_killed_worker_is_replaced_and_the_run_completes_once(mesh: PricingMesh, broker: str) -> None:
    created = await mesh.reprice.CreateRepriceRun(
        pricing_pb2.CreateRepriceRunRequest(scope=pricing_pb2.Scope(all=True), mode=pricing_pb2.RUN_MODE_SUGGEST),
        metadata=mesh.metadata(),
    )
    run_id = created.run.id
    with workers_for(mesh, broker) as (workers, queue):
        settings = mesh.settings.model_copy(update={"broker_url": SecretStr(broker)})
        publisher = create_job_app("pricing-test-publisher", settings, task_modules=[], queues=[queue])
        first = workers.start()
        CeleryJobQueue(publisher, queue).submit(JobKind.REPRICE, ORG_A, run_id)
        running = await wait_for(mesh, run_id, {RunState.RUNNING, RunState.SUCCEEDED}, 90, workers)
        assert running.state is RunState.RUNNING, "the run finished before the worker could be killed"
        workers.kill(first)
        killed = await mesh.repositories.runs.get(ORG_A, run_id)
        assert killed is not None
        assert killed.state is RunState.RUNNING

        workers.start()
        workers.start("beat")
        done = await wait_for(mesh, run_id, {RunState.SUCCEEDED, RunState.FAILED}, 120, workers)

    assert done.state is RunState.SUCCEEDED, done.error
    assert done.attempts >= 2
    stored = []
    after = None
    while True:
        page = await mesh.repositories.recommendations.find(
            ORG_A, run_id=run_id, state=None, sku=None, after=after, limit=1000
        )
        stored.extend(page)
        if len(page) < 1000:
            break
        after = (page[-1].run_id, page[-1].sku)
    skus = [rec.sku for rec in stored]
    assert len(skus) == len(set(skus)) == done.recommended
    assert done.total == done.processed == PRODUCTS
    # Only changed prices are recommended; a few products already sit at their cost-plus price.
    assert PRODUCTS * 0.99 < done.recommended <= PRODUCTS
