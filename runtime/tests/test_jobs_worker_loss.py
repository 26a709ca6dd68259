"""Workers that die: a worker killed with SIGKILL mid-task, and a message that keeps killing the pool."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.jobs.app import declare_topology
from runtime.jobs.dead_letter import DeadLetter, read_dead_letters
from runtime.jobs.topology import DELIVERY_LIMIT
from runtime.testing.jobs_harness import RABBITMQ_URL, JobsRig

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "rabbitmq"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobsRig]:
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}" if request.param == "sqlite" else RABBITMQ_URL
    rig = JobsRig(tmp_path, url)
    declare_topology(rig.app())
    try:
        yield rig
    finally:
        rig.stop_workers()
        if request.param == "rabbitmq":
            rig.delete_rabbitmq_entities()


def test_a_worker_killed_mid_task_loses_nothing(rig: JobsRig) -> None:
    rig.app().send_task("fixture.slow", args=["slow", 3], queue=rig.queue)
    first = rig.start_worker()
    rig.wait_for("the task to start", lambda: rig.lines("slow") == ["started"])
    rig.kill_worker(first)  # SIGKILL to the whole process group: main process and pool
    rig.start_worker()
    rig.wait_for("the task to finish", lambda: "done" in rig.lines("slow"))
    assert rig.lines("slow") == ["started", "started", "done"]


def test_a_message_that_keeps_killing_the_pool_is_dead_lettered_after_the_delivery_limit(rig: JobsRig) -> None:
    task_id = rig.app().send_task("fixture.kill_own_process", args=["poison"], queue=rig.queue).id
    rig.start_worker()
    rig.wait_for("the dead letter", lambda: _dead_letter(rig, task_id) is not None, timeout=60)
    letter = _dead_letter(rig, task_id)
    assert letter is not None
    assert len(rig.lines("poison")) == DELIVERY_LIMIT + 1
    assert letter.reason == "delivery_limit"
    assert (letter.task, letter.args, letter.queue, letter.retries) == (
        "fixture.kill_own_process",
        ["poison"],
        rig.queue,
        0,
    )
    assert letter.failed_at is not None


def _dead_letter(rig: JobsRig, task_id: str) -> DeadLetter | None:
    return next((d for d in read_dead_letters(rig.app(), rig.queue) if d.task_id == task_id), None)
