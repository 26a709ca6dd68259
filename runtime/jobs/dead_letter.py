"""Dead letters: publish one, read what a dead-letter queue holds, replay one onto its work queue.

A "<queue>.dead" queue holds two kinds of message, both read as a DeadLetter:
- records a ReliableTask published when it gave up (reason "failed"), with the error and retry count;
- task messages the broker moved there itself (RabbitMQ's dead-letter exchange, or the SQLite
  transport): reason "delivery_limit" (returned too often, e.g. it keeps killing workers) or
  "rejected"; the message is the original Celery task message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runtime.clock import from_iso
from runtime.errors import NotFound
from runtime.jobs.topology import dead_letter_queue, validate_queue_name
from runtime.jobs.tracing import inject_trace_context

if TYPE_CHECKING:
    from runtime.jobs.app import JobApp

RECORD_HEADER = "x-omnipricex-dead-letter"
PUBLISH_RETRY_POLICY = {"max_retries": 5, "interval_start": 0.5, "interval_step": 1.0, "interval_max": 5.0}


@dataclass(frozen=True)
class DeadLetter:
    task_id: str
    task: str
    args: list[Any]
    kwargs: dict[str, Any]
    queue: str
    reason: str
    error_type: str
    error_message: str
    retries: int | None
    failed_at: datetime | None

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["failed_at"] = self.failed_at.isoformat() if self.failed_at else None
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> DeadLetter:
        failed_at = record.get("failed_at")
        return cls(**{**record, "failed_at": from_iso(failed_at) if failed_at else None})

    @classmethod
    def from_task_message(cls, headers: dict[str, Any], body: Any, *, queue: str) -> DeadLetter:
        """A Celery (protocol 2) task message that the broker dead-lettered from ``queue``."""
        args, kwargs, _embed = body
        reason = str(headers.get("x-first-death-reason", "unknown"))
        deaths = headers.get("x-death") or [{}]
        died_at = deaths[0].get("time")
        if isinstance(died_at, str):
            died_at = from_iso(died_at)
        return cls(
            task_id=str(headers["id"]),
            task=str(headers["task"]),
            args=list(args),
            kwargs=dict(kwargs),
            queue=str(headers.get("x-first-death-queue", queue)),
            reason=reason,
            error_type="",
            error_message=f"dead-lettered by the broker ({reason})",
            retries=headers.get("retries"),
            failed_at=_aware(died_at) if isinstance(died_at, datetime) else None,
        )


def publish_dead_letter(app: JobApp, letter: DeadLetter) -> None:
    """Store ``letter`` on "<queue>.dead"; returns once the broker has it (publisher confirms on RabbitMQ)."""
    queue = dead_letter_queue(letter.queue, rabbitmq=app.rabbitmq)
    headers: dict[str, Any] = {RECORD_HEADER: 1}
    inject_trace_context(headers)
    with app.producer_or_acquire() as producer:
        producer.publish(
            letter.to_record(),
            exchange=queue.exchange,
            routing_key=queue.routing_key,
            declare=[queue],
            serializer="json",
            delivery_mode=2,
            headers=headers,
            retry=True,
            retry_policy=PUBLISH_RETRY_POLICY,
        )


def read_dead_letters(app: JobApp, queue: str, *, limit: int = 100) -> list[DeadLetter]:
    """Up to ``limit`` dead letters of ``queue``, oldest first; they stay in the queue."""
    letters: list[DeadLetter] = []
    with app.connection_for_write() as connection, connection.channel() as channel:
        dead = dead_letter_queue(validate_queue_name(queue), rabbitmq=app.rabbitmq)(channel)
        dead.declare()
        while len(letters) < limit:
            message = dead.get(no_ack=False, accept=["json"])
            if message is None:
                break
            letters.append(_letter(message, queue))
    # Closing the channel hands every message it fetched back to the queue (see DEAD_LETTER_DELIVERY_LIMIT).
    return letters


def replay_dead_letter(app: JobApp, queue: str, task_id: str) -> DeadLetter:
    """Publish the dead task ``task_id`` again on its work queue, with fresh retries, and remove its dead letter."""
    with app.connection_for_write() as connection, connection.channel() as channel:
        dead = dead_letter_queue(validate_queue_name(queue), rabbitmq=app.rabbitmq)(channel)
        dead.declare()
        while (message := dead.get(no_ack=False, accept=["json"])) is not None:
            letter = _letter(message, queue)
            if letter.task_id == task_id:
                app.send_task(letter.task, args=letter.args, kwargs=letter.kwargs, task_id=task_id, queue=queue)
                message.ack()
                return letter
    raise NotFound(f"no dead letter for task {task_id} in {queue}", field="task_id")


def _aware(moment: datetime) -> datetime:
    # py-amqp decodes an AMQP timestamp as a naive datetime in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _letter(message: Any, queue: str) -> DeadLetter:
    headers = dict(message.headers or {})
    body = message.decode()
    if headers.get(RECORD_HEADER):
        return DeadLetter.from_record(body)
    return DeadLetter.from_task_message(headers, body, queue=queue)
