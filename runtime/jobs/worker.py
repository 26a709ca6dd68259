"""Starting a service's worker or beat process, programmatically or from the argv they build.

A worker runs the prefork pool (only it enforces hard time limits), declares its queues and their
dead-letter queues first, logs through runtime.logging, and sets up tracing in each pool process
(exporter threads do not survive a fork). Killing it with SIGKILL loses nothing: RabbitMQ returns
the unacked message when the connection drops, and the SQLite transport returns it at the next
consumer's sweep (runtime.jobs.sqlite_broker).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from celery import signals

from runtime.jobs.app import JobApp, declare_topology
from runtime.logging import configure_logging
from runtime.telemetry import setup_tracing, shutdown_tracing


def worker_argv(app: JobApp, *, queues: Sequence[str] = (), concurrency: int = 1) -> list[str]:
    names = list(queues or app.work_queues)
    unknown = [name for name in names if name not in app.work_queues]
    if unknown:
        raise ValueError(f"queues {unknown} are not among the app's work queues {list(app.work_queues)}")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    return [
        "worker",
        f"--queues={','.join(names)}",
        f"--concurrency={concurrency}",
        "--pool=prefork",
        f"--hostname={app.main}-{os.getpid()}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        f"--loglevel={app.settings.log_level}",
    ]


def worker_identity() -> str:
    """Who holds a job's lease: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_worker(app: JobApp, *, queues: Sequence[str] = (), concurrency: int = 1) -> None:
    """Run a worker in this process until it is told to stop."""
    _wire_process(app)
    signals.worker_process_init.connect(
        lambda **_: setup_tracing(app.main), weak=False, dispatch_uid="runtime.jobs.pool_tracing"
    )
    # Pool processes leave through os._exit: flush their last spans first.
    signals.worker_process_shutdown.connect(
        lambda **_: shutdown_tracing(), weak=False, dispatch_uid="runtime.jobs.pool_tracing_flush"
    )
    declare_topology(app)
    app.worker_main(argv=worker_argv(app, queues=queues, concurrency=concurrency))


def beat_schedule_path(app: JobApp) -> Path:
    return app.settings.data_dir / "beat" / f"{app.main}-schedule"


def beat_argv(app: JobApp) -> list[str]:
    return ["beat", f"--schedule={beat_schedule_path(app)}", f"--loglevel={app.settings.log_level}"]


def run_beat(app: JobApp) -> None:
    """Run the periodic scheduler for ``app.conf.beat_schedule``; its state file lives under data_dir."""
    _wire_process(app)
    beat_schedule_path(app).parent.mkdir(parents=True, exist_ok=True)
    declare_topology(app)
    app.start(argv=beat_argv(app))


def _wire_process(app: JobApp) -> None:
    # A receiver on setup_logging stops Celery from configuring logging itself.
    def _configure(**_: Any) -> None:
        configure_logging(app.settings, app.main)

    signals.setup_logging.connect(_configure, weak=False, dispatch_uid="runtime.jobs.logging")
