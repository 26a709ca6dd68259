"""The Celery app factory every service's jobs use: broker from settings, reliability settings in one place."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from celery import Celery

from runtime.jobs.sqlite_broker import sqlite_database_path
from runtime.jobs.task import ReliableTask
from runtime.jobs.topology import DELIVERY_LIMIT, declare_queues, validate_queue_name, work_queue
from runtime.jobs.tracing import install_trace_propagation
from runtime.settings import Settings

SQLITE_TRANSPORT = "runtime.jobs.sqlite_broker:Transport"
SOFT_TIME_LIMIT_SHARE = 0.9


class JobApp(Celery):  # type: ignore[misc]
    """A Celery app that also knows its settings, its broker kind and its work queues."""

    def __init__(
        self, main: str, *, settings: Settings, rabbitmq: bool, work_queues: tuple[str, ...], **kwargs: Any
    ) -> None:
        super().__init__(main, **kwargs)
        self.settings = settings
        self.rabbitmq = rabbitmq
        self.work_queues = work_queues

    def job(self, name: str, **options: Any) -> Callable[[Callable[..., Any]], Any]:
        """Register a ReliableTask under a stable ``name``: ``@app.job("pricing.reprice", queue="pricing")``."""
        decorator: Callable[[Callable[..., Any]], Any] = self.task(base=ReliableTask, name=name, **options)
        return decorator


def create_job_app(name: str, settings: Settings, *, task_modules: Sequence[str], queues: Sequence[str]) -> JobApp:
    """A configured Celery app; ``queues`` are its work queues, the first being the default."""
    if not queues:
        raise ValueError("a job app needs at least one queue")
    work_queues = tuple(validate_queue_name(queue) for queue in queues)
    url, transport, rabbitmq = _broker(settings.broker())
    app = JobApp(name, settings=settings, rabbitmq=rabbitmq, work_queues=work_queues, include=list(task_modules))
    app.conf.update(
        broker_url=url,
        broker_transport=transport,
        broker_transport_options=(
            {"confirm_publish": True} if rabbitmq else {"delivery_limit": DELIVERY_LIMIT, "polling_interval": 0.5}
        ),
        broker_connection_retry_on_startup=True,
        task_queues=tuple(work_queue(queue, rabbitmq=rabbitmq) for queue in work_queues),
        task_default_queue=work_queues[0],
        task_default_exchange=work_queues[0],
        task_default_exchange_type="topic",
        task_default_routing_key=work_queues[0],
        # A typo in a queue name must fail the publish, not create a queue without a dead-letter route.
        task_create_missing_queues=False,
        task_serializer="json",
        accept_content=["json"],
        event_serializer="json",
        # Job state lives in the owning service's store.
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        # RabbitMQ closes the channel of a consumer holding a delivery unacked past consumer_timeout
        # (30 minutes by default); settings cap the hard limit at 25 minutes, so the task dies first.
        task_time_limit=settings.job_time_limit_seconds,
        task_soft_time_limit=settings.job_time_limit_seconds * SOFT_TIME_LIMIT_SHARE,
        # Quorum queues have no global QoS; Celery switches to per-consumer QoS when it sees one.
        worker_detect_quorum_queues=True,
        # With acks_late, a task still running when the broker connection drops could never be acked.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        # Remote control needs fanout exchanges, which the SQL transport lacks.
        worker_enable_remote_control=rabbitmq,
        worker_send_task_events=False,
        task_send_sent_event=False,
        enable_utc=True,
        timezone="UTC",
    )
    install_trace_propagation()
    return app


def declare_topology(app: JobApp) -> None:
    """Declare the app's work queues and their dead-letter queues on the broker (idempotent)."""
    with app.connection_for_write() as connection:
        declare_queues(connection, list(app.work_queues), rabbitmq=app.rabbitmq)


def _broker(url: str) -> tuple[str, str | None, bool]:
    """(URL for kombu, transport class or None, is RabbitMQ) for a configured broker URL."""
    scheme = url.split("://", 1)[0].lower()
    if scheme in {"amqp", "amqps", "pyamqp"}:
        return url, None, True
    if scheme == "sqla+sqlite":
        sqlite_url = url.split("+", 1)[1]
        sqlite_database_path(sqlite_url)
        return sqlite_url, SQLITE_TRANSPORT, False
    raise ValueError(f"unsupported job broker {scheme!r}: use amqp:// (RabbitMQ) or sqla+sqlite:///<file>")
