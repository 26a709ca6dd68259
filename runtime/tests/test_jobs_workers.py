"""Jobs end to end: real worker subprocesses on the SQLite transport and on the local RabbitMQ."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from runtime.errors import NotFound
from runtime.jobs.app import declare_topology
from runtime.jobs.dead_letter import DeadLetter, read_dead_letters, replay_dead_letter
from runtime.testing.jobs_harness import RABBITMQ_URL, JobsRig

pytestmark = pytest.mark.integration


def _rig(kind: str, folder: Path) -> JobsRig:
    url = f"sqla+sqlite:///{folder / 'broker.sqlite3'}" if kind == "sqlite" else RABBITMQ_URL
    rig = JobsRig(folder, url)
    declare_topology(rig.app())
    return rig


def _close(rig: JobsRig) -> None:
    rig.stop_workers()
    if rig.broker_url == RABBITMQ_URL:
        rig.delete_rabbitmq_entities()


@pytest.fixture(scope="module", params=["sqlite", "rabbitmq"])
def rig(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobsRig]:
    """One worker per broker, shared by the tests that do not kill it."""
    shared = _rig(request.param, tmp_path_factory.mktemp(request.param))
    shared.start_worker()
    try:
        yield shared
    finally:
        _close(shared)


def _dead_letter(rig: JobsRig, task_id: str) -> DeadLetter | None:
    return next((d for d in read_dead_letters(rig.app(), rig.queue) if d.task_id == task_id), None)


def _wait_dead_letter(rig: JobsRig, task_id: str) -> DeadLetter:
    rig.wait_for(f"dead letter of {task_id}", lambda: _dead_letter(rig, task_id) is not None)
    letter = _dead_letter(rig, task_id)
    assert letter is not None
    return letter


def test_a_task_runs_in_a_worker_span_of_the_publishers_trace(rig: JobsRig) -> None:
    app = rig.app()
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("reprice rpc") as publisher:
        app.send_task("fixture.record", args=["round-trip", "SKU-1 repriced"], queue=rig.queue)
        app.send_task("fixture.trace_probe", args=["trace"], queue=rig.queue)
    rig.wait_for("both tasks", lambda: bool(rig.lines("round-trip") and rig.lines("trace")))
    assert rig.lines("round-trip") == ["SKU-1 repriced"]
    probe = json.loads(rig.lines("trace")[0])
    sent = publisher.get_span_context()
    assert probe["trace_id"] == format(sent.trace_id, "032x")
    assert probe["parent_span_id"] == format(sent.span_id, "016x")
    assert probe["span_id"] != probe["parent_span_id"]
    assert not trace.get_current_span().get_span_context().is_valid


def test_a_retryable_error_is_retried_max_retries_times_then_dead_lettered(rig: JobsRig) -> None:
    task_id = rig.app().send_task("fixture.unavailable", args=["unavailable"], queue=rig.queue).id
    letter = _wait_dead_letter(rig, task_id)
    assert rig.lines("unavailable") == ["attempt"] * (rig.max_retries + 1)
    assert letter.task == "fixture.unavailable"
    assert letter.args == ["unavailable"]
    assert letter.queue == rig.queue
    assert letter.reason == "failed"
    assert letter.retries == rig.max_retries
    assert letter.error_type == "runtime.errors.Unavailable"
    assert letter.error_message == "the price store is down"
    assert letter.failed_at is not None
    assert letter.failed_at.tzinfo is not None


def test_a_non_retryable_error_is_dead_lettered_at_once_and_can_be_replayed(rig: JobsRig) -> None:
    app = rig.app()
    task_id = app.send_task("fixture.invalid_until_fixed", args=["invalid"], queue=rig.queue).id
    letter = _wait_dead_letter(rig, task_id)
    assert rig.lines("invalid") == ["attempt"]
    assert (letter.retries, letter.error_type) == (0, "runtime.errors.InvalidArgument")
    # The operator fixes the cause and replays the job: same task id, fresh retries.
    (rig.markers / "invalid.fixed").touch()
    assert replay_dead_letter(app, rig.queue, task_id).task_id == task_id
    rig.wait_for("the replayed run", lambda: rig.lines("invalid") == ["attempt", "attempt", "done"])
    assert _dead_letter(rig, task_id) is None
    with pytest.raises(NotFound):
        replay_dead_letter(app, rig.queue, task_id)


def test_a_task_past_its_hard_time_limit_is_dead_lettered(rig: JobsRig) -> None:
    task_id = rig.app().send_task("fixture.overrun", args=["overrun"], queue=rig.queue).id
    letter = _wait_dead_letter(rig, task_id)
    assert rig.lines("overrun") == ["started", "ignored soft limit"]
    assert letter.error_type == "billiard.exceptions.TimeLimitExceeded"  # what celery.exceptions re-exports
    assert letter.retries is None  # the main process that handles a hard limit has no request context


def test_beat_publishes_the_schedule_and_keeps_its_state_under_data_dir(rig: JobsRig) -> None:
    beat = rig.start_beat()
    try:
        rig.wait_for("two scheduled runs", lambda: len(rig.lines("beat")) >= 2)
    finally:
        beat.terminate()
        beat.wait(timeout=20)
        rig.workers.remove(beat)
    assert set(rig.lines("beat")) == {"tick"}
    assert list((rig.folder / "beat").glob("jobs-fixture-schedule*"))
