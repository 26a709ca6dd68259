"""Runs jobs_fixture_app workers as real subprocesses against a SQLite file or RabbitMQ, for the job tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kombu import Connection

from runtime.jobs.app import JobApp, create_job_app
from runtime.jobs.topology import dead_letter_queue_name
from runtime.settings import Settings

QUEUE_ENV = "OMNIPRICEX_TEST_JOB_QUEUE"
MARKERS_ENV = "OMNIPRICEX_TEST_JOB_MARKERS"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
WORKER_ENTRY = "from runtime.testing.jobs_fixture_app import main; main()"
BEAT_ENTRY = "from runtime.testing.jobs_fixture_app import beat; beat()"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class JobsRig:
    """One broker and work queue, the worker subprocesses serving it and the marker files they write."""

    folder: Path
    broker_url: str
    max_retries: int = 2
    queue: str = field(default_factory=lambda: f"jobs_test_{uuid.uuid4().hex[:10]}")
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.markers.mkdir(parents=True, exist_ok=True)

    @property
    def markers(self) -> Path:
        return self.folder / "markers"

    @property
    def settings(self) -> Settings:
        return Settings(
            data_dir=self.folder,
            broker_url=self.broker_url,
            job_max_retries=self.max_retries,
            job_time_limit_seconds=30,
            log_level="INFO",
        )

    def app(self) -> JobApp:
        """A publisher-side app with the workers' settings and queue."""
        return create_job_app("jobs-test-publisher", self.settings, task_modules=[], queues=[self.queue])

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNIPRICEX_", "OTEL_"))}
        env.update(
            {
                "OMNIPRICEX_DATA_DIR": str(self.folder),
                "OMNIPRICEX_BROKER_URL": self.broker_url,
                "OMNIPRICEX_JOB_MAX_RETRIES": str(self.max_retries),
                "OMNIPRICEX_JOB_TIME_LIMIT_SECONDS": "30",
                "OMNIPRICEX_LOG_LEVEL": "INFO",
                QUEUE_ENV: self.queue,
                MARKERS_ENV: str(self.markers),
                "PYTHONPATH": str(REPO_ROOT),
            }
        )
        return env

    def start_worker(self) -> subprocess.Popen[bytes]:
        return self._start(WORKER_ENTRY)

    def start_beat(self) -> subprocess.Popen[bytes]:
        return self._start(BEAT_ENTRY)

    def _start(self, entry: str) -> subprocess.Popen[bytes]:
        log = (self.folder / "workers.log").open("ab")
        worker = subprocess.Popen(
            [sys.executable, "-c", entry],
            cwd=REPO_ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the pool dies with it
        )
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker: subprocess.Popen[bytes]) -> None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        self.workers.remove(worker)

    def stop_workers(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.terminate()  # warm shutdown: the main process stops its pool itself
        for worker in self.workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)
        self.workers.clear()

    def lines(self, key: str) -> list[str]:
        path = self.markers / key
        return path.read_text().splitlines() if path.exists() else []

    def log(self) -> str:
        path = self.folder / "workers.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for(self, what: str, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            for worker in self.workers:
                # Only kill_worker and stop_workers end a worker; one that left by itself (Celery exits 0
                # after an "Unrecoverable error") fails the wait at once instead of at its timeout.
                if worker.poll() is not None:
                    raise RuntimeError(f"worker exited with {worker.returncode}: {self.log()[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"timed out waiting for {what}; worker log:\n{self.log()[-4000:]}")

    def delete_rabbitmq_entities(self) -> None:
        """Remove this rig's queues and exchanges so the shared broker stays clean."""
        dead = dead_letter_queue_name(self.queue)
        with Connection(self.broker_url) as connection, connection.channel() as channel:
            for name in (self.queue, dead):
                channel.queue_delete(name)
                channel.exchange_delete(name)
