"""Tasks the job plumbing's integration tests run in real worker subprocesses (never used in production).

Configured from the environment: OMNIPRICEX_* settings (broker, data_dir, retries) plus
OMNIPRICEX_TEST_JOB_QUEUE (the work queue) and OMNIPRICEX_TEST_JOB_MARKERS (a folder where each task
appends lines to a file named by its ``key``, the only way the test sees what ran).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from celery import signals
from celery.exceptions import SoftTimeLimitExceeded
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from runtime.errors import InvalidArgument, Unavailable
from runtime.jobs.app import create_job_app
from runtime.jobs.worker import run_beat, run_worker
from runtime.settings import Settings
from runtime.testing.jobs_harness import MARKERS_ENV, QUEUE_ENV

app = create_job_app("jobs-fixture", Settings(), task_modules=[], queues=[os.environ[QUEUE_ENV]])
# How long the pool waits for a killed process's last words before calling it lost (Celery's default
# is 10 s); shortened so the poison-message test's six lost workers take seconds.
app.conf.worker_lost_wait = 1.0
app.conf.beat_schedule = {
    "tick": {
        "task": "fixture.record",
        "schedule": 1.0,
        "args": ["beat", "tick"],
        "options": {"queue": app.work_queues[0]},
    }
}


def _mark(key: str, line: str) -> None:
    with (Path(os.environ[MARKERS_ENV]) / key).open("a") as handle:
        handle.write(line + "\n")


@app.job("fixture.record", retry_backoff=1)
def record(key: str, text: str) -> None:
    _mark(key, text)


@app.job("fixture.slow", retry_backoff=1)
def slow(key: str, seconds: float) -> None:
    _mark(key, "started")
    time.sleep(seconds)
    _mark(key, "done")


@app.job("fixture.unavailable", retry_backoff=1)
def unavailable(key: str) -> None:
    _mark(key, "attempt")
    raise Unavailable("the price store is down")


@app.job("fixture.invalid_until_fixed", retry_backoff=1)
def invalid_until_fixed(key: str) -> None:
    _mark(key, "attempt")
    if not (Path(os.environ[MARKERS_ENV]) / f"{key}.fixed").exists():
        raise InvalidArgument("strategy has no rules", field="strategy")
    _mark(key, "done")


@app.job("fixture.kill_own_process", retry_backoff=1)
def kill_own_process(key: str) -> None:
    _mark(key, "attempt")
    os.kill(os.getpid(), signal.SIGKILL)


@app.job("fixture.overrun", retry_backoff=1, time_limit=2, soft_time_limit=1)
def overrun(key: str) -> None:
    _mark(key, "started")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            time.sleep(0.1)
        except SoftTimeLimitExceeded:
            _mark(key, "ignored soft limit")


@app.job("fixture.trace_probe", retry_backoff=1)
def trace_probe(key: str) -> None:
    span = trace.get_current_span()
    context = span.get_span_context()
    parent = getattr(span, "parent", None)
    probe: dict[str, Any] = {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_span_id": format(parent.span_id, "016x") if parent is not None else None,
    }
    _mark(key, json.dumps(probe))


def _recording_tracer(**_: Any) -> None:
    # A recording SDK provider (no exporter) so the probe can see the worker span and its parent.
    trace.set_tracer_provider(TracerProvider())


signals.worker_process_init.connect(_recording_tracer, weak=False)


def main() -> None:
    run_worker(app, concurrency=1)


def beat() -> None:
    run_beat(app)
