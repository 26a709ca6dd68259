"""The job app factory, queue topology, worker argv and trace propagation, without a worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from celery.app.task import Context
from kombu import Exchange, Queue
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from runtime.errors import Conflict, InvalidArgument, Unavailable
from runtime.jobs.app import SQLITE_TRANSPORT, JobApp, create_job_app
from runtime.jobs.dead_letter import DeadLetter
from runtime.jobs.task import RETRYABLE_ERRORS, ReliableTask
from runtime.jobs.topology import DEAD_LETTER_DELIVERY_LIMIT, DELIVERY_LIMIT, dead_letter_queue, work_queue
from runtime.jobs.tracing import extract_trace_context, inject_trace_context
from runtime.jobs.worker import beat_argv, worker_argv
from runtime.settings import Settings

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


def _app(tmp_path: Path, broker_url: str | None = None, queues: tuple[str, ...] = ("pricing",)) -> JobApp:
    settings = Settings(data_dir=tmp_path, broker_url=broker_url, job_time_limit_seconds=600, job_max_retries=4)
    return create_job_app("pricing", settings, task_modules=["services.pricing.tasks"], queues=queues)


def test_the_default_broker_is_the_sqlite_file_under_data_dir_through_the_recovering_transport(tmp_path: Path) -> None:
    conf = _app(tmp_path).conf
    assert conf.broker_url == f"sqlite:///{(tmp_path / 'broker.sqlite3').resolve()}"
    assert conf.broker_transport == SQLITE_TRANSPORT
    assert conf.broker_transport_options["delivery_limit"] == DELIVERY_LIMIT
    assert conf.worker_enable_remote_control is False


def test_reliability_settings(tmp_path: Path) -> None:
    conf = _app(tmp_path).conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert (conf.task_time_limit, conf.task_soft_time_limit) == (600, 540)
    assert conf.accept_content == ["json"]
    assert conf.task_serializer == "json"
    assert conf.task_ignore_result is True
    assert conf.result_backend is None
    assert conf.broker_connection_retry_on_startup is True
    assert conf.task_create_missing_queues is False
    assert conf.include == ["services.pricing.tasks"]


def test_on_rabbitmq_work_queues_are_quorum_queues_with_a_bounded_delivery_and_a_dead_letter_route(
    tmp_path: Path,
) -> None:
    app = _app(tmp_path, RABBITMQ_URL, ("pricing", "crawl"))
    assert app.conf.broker_transport is None
    assert app.conf.broker_transport_options == {"confirm_publish": True}
    assert app.conf.worker_detect_quorum_queues is True
    assert app.conf.task_default_queue == "pricing"
    pricing, crawl = app.conf.task_queues
    assert (pricing.name, crawl.name) == ("pricing", "crawl")
    assert pricing.exchange.type == "topic"  # Celery's native delayed delivery skips direct exchanges
    assert pricing.queue_arguments == {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": "pricing.dead",
        "x-dead-letter-routing-key": "pricing.dead",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    dead = dead_letter_queue("pricing", rabbitmq=True)
    assert (dead.name, dead.exchange.name, dead.routing_key) == ("pricing.dead", "pricing.dead", "pricing.dead")
    assert dead.queue_arguments == {"x-queue-type": "quorum", "x-delivery-limit": DEAD_LETTER_DELIVERY_LIMIT}


def test_on_sqlite_queues_carry_no_rabbitmq_arguments() -> None:
    assert work_queue("crawl", rabbitmq=False).queue_arguments is None
    assert dead_letter_queue("crawl", rabbitmq=False).queue_arguments is None


@pytest.mark.parametrize("broker_url", ["memory://", "redis://127.0.0.1:6379/0", "sqla+postgresql://db/x"])
def test_other_brokers_are_refused(tmp_path: Path, broker_url: str) -> None:
    with pytest.raises(ValueError, match="unsupported job broker"):
        _app(tmp_path, broker_url)


@pytest.mark.parametrize("queues", [(), ("pricing.fast",), ("Pricing",), ("",)])
def test_queue_names_are_validated(tmp_path: Path, queues: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="queue"):
        _app(tmp_path, queues=queues)


def test_a_publish_to_an_undeclared_queue_fails_instead_of_creating_one(tmp_path: Path) -> None:
    from celery.exceptions import QueueNotFound

    app = _app(tmp_path)
    with pytest.raises(QueueNotFound):
        app.send_task("pricing.reprice", args=["job-1"], queue="pricnig")


def test_reliable_tasks_retry_transient_errors_only_and_take_max_retries_from_settings(tmp_path: Path) -> None:
    app = _app(tmp_path)

    @app.job("pricing.reprice")
    def reprice(job_id: str) -> None:
        raise NotImplementedError

    @app.job("pricing.fixed", max_retries=1)
    def fixed(job_id: str) -> None:
        raise NotImplementedError

    assert set(RETRYABLE_ERRORS) == {Unavailable, Conflict, ConnectionError, TimeoutError}
    assert InvalidArgument not in RETRYABLE_ERRORS
    assert isinstance(reprice, ReliableTask)
    assert (reprice.max_retries, fixed.max_retries) == (4, 1)
    assert reprice.acks_late is True
    assert reprice.reject_on_worker_lost is True
    assert reprice.retry_jitter is True


def test_worker_argv(tmp_path: Path) -> None:
    app = _app(tmp_path, queues=("pricing", "crawl"))
    argv = worker_argv(app, queues=["crawl"], concurrency=2)
    assert argv[:4] == ["worker", "--queues=crawl", "--concurrency=2", "--pool=prefork"]
    assert "--without-mingle" in argv
    assert worker_argv(app)[1] == "--queues=pricing,crawl"
    with pytest.raises(ValueError, match="not among"):
        worker_argv(app, queues=["pricing.dead"])
    assert beat_argv(app)[1] == f"--schedule={tmp_path / 'beat' / 'pricing-schedule'}"


def test_trace_context_survives_the_trip_through_task_headers() -> None:
    tracer = TracerProvider().get_tracer("test")
    headers: dict[str, str] = {}
    with tracer.start_as_current_span("rpc") as span:
        inject_trace_context(headers)
    request = Context({"id": "task-1", **headers})
    restored = extract_trace_context(request)
    with tracer.start_as_current_span("run", context=restored) as child:
        assert isinstance(child, ReadableSpan)
        assert child.get_span_context().trace_id == span.get_span_context().trace_id
        assert child.parent is not None
        assert child.parent.span_id == span.get_span_context().span_id


def test_publishing_inside_a_span_puts_its_context_in_the_task_message(tmp_path: Path) -> None:
    app = _app(tmp_path)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("rpc") as span:
        app.send_task("pricing.reprice", args=["job-1"])
    queue = Queue("pricing", Exchange("pricing", type="topic"), routing_key="pricing")
    with app.connection_for_write() as connection, connection.channel() as channel:
        message = queue(channel).get(no_ack=False)
        assert message is not None
        message.ack()
    assert message.headers["task"] == "pricing.reprice"
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert message.headers["traceparent"].split("-")[1] == trace_id


def test_a_dead_letter_record_round_trips() -> None:
    from runtime.clock import utcnow

    letter = DeadLetter(
        task_id="t-1",
        task="pricing.reprice",
        args=["job-1"],
        kwargs={"dry_run": True},
        queue="pricing",
        reason="failed",
        error_type="runtime.errors.Unavailable",
        error_message="store down",
        retries=3,
        failed_at=utcnow(),
    )
    assert DeadLetter.from_record(letter.to_record()) == letter
