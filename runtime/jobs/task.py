"""ReliableTask, the base of every job task: transient errors are retried, anything else is dead-lettered.

Retried (with exponential backoff and full jitter, at most settings.job_max_retries times):
runtime.errors.Unavailable and Conflict (a dependency is down; a concurrent change won), and the
builtin ConnectionError and TimeoutError. Any other exception, every other DomainError included, or a
retryable one once the retries are spent, publishes a dead letter to "<queue>.dead" and fails the task
(the message is then acked). If the dead letter cannot be stored the message is rejected with requeue
instead, so it is never lost. Tasks must be idempotent on their job id: delivery is at-least-once.
"""

from __future__ import annotations

from typing import Any

from celery import Task
from celery.exceptions import Ignore, Reject, Retry, TimeLimitExceeded
from opentelemetry.trace import StatusCode

from runtime.clock import utcnow
from runtime.errors import Conflict, Unavailable
from runtime.jobs.dead_letter import DeadLetter, publish_dead_letter
from runtime.jobs.tracing import task_span
from runtime.logging import get_logger

RETRYABLE_ERRORS: tuple[type[Exception], ...] = (Unavailable, Conflict, ConnectionError, TimeoutError)

_log = get_logger("runtime.jobs")


class ReliableTask(Task):  # type: ignore[misc]
    acks_late = True
    reject_on_worker_lost = True
    autoretry_for = RETRYABLE_ERRORS
    retry_backoff = 2
    retry_backoff_max = 300
    retry_jitter = True

    @property
    def max_retries(self) -> int:
        limit: int = self.app.settings.job_max_retries
        return limit

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.request.called_directly:
            return super().__call__(*args, **kwargs)
        with task_span(self) as span:
            try:
                return super().__call__(*args, **kwargs)
            except (Retry, Ignore, Reject):
                raise
            except Exception as error:
                span.record_exception(error)
                span.set_status(StatusCode.ERROR, type(error).__name__)
                self._give_up(error, args, kwargs)
                raise

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # A hard time limit kills the pool process: this runs in the worker's main process, which has
        # no request context (so no retry count), before it acks the message.
        if not isinstance(exc, TimeLimitExceeded):
            return
        letter = _letter(self, task_id, args, kwargs, exc, retries=None, queue=self._declared_queue())
        try:
            publish_dead_letter(self.app, letter)
        except Exception as publish_error:
            # Raising here would leave the message unacked and the consumer's prefetch slot taken for
            # good; the whole letter goes to the log instead.
            _log.error("job.dead_letter_failed", letter=letter.to_record(), error=repr(publish_error))
            return
        _log.error("job.dead_lettered", task=self.name, task_id=task_id, error=letter.error_type)

    def _give_up(self, error: Exception, args: Any, kwargs: Any) -> None:
        retries: int = self.request.retries
        letter = _letter(self, self.request.id, args, kwargs, error, retries=retries, queue=self._request_queue())
        try:
            publish_dead_letter(self.app, letter)
        except Exception as publish_error:
            _log.error("job.dead_letter_failed", task=self.name, task_id=letter.task_id, error=repr(publish_error))
            raise Reject(f"dead letter not stored: {publish_error!r}", requeue=True) from publish_error
        _log.warning(
            "job.dead_lettered", task=self.name, task_id=letter.task_id, retries=retries, error=letter.error_type
        )

    def _request_queue(self) -> str:
        # Our queue names hold no dots, and RabbitMQ's delayed delivery prefixes the routing key with "0.1.…".
        routing_key = (self.request.delivery_info or {}).get("routing_key") or ""
        queue = routing_key.rsplit(".", 1)[-1]
        return queue if queue in self.app.work_queues else self._declared_queue()

    def _declared_queue(self) -> str:
        """The queue the task was declared with (``@app.task(queue=…)``), else the app's default queue."""
        queue: str = getattr(self, "queue", None) or self.app.work_queues[0]
        return queue


def _letter(
    task: ReliableTask, task_id: str, args: Any, kwargs: Any, error: BaseException, *, retries: int | None, queue: str
) -> DeadLetter:
    return DeadLetter(
        task_id=task_id,
        task=task.name,
        args=list(args or ()),
        kwargs=dict(kwargs or {}),
        queue=queue,
        reason="failed",
        error_type=f"{type(error).__module__}.{type(error).__qualname__}",
        error_message=str(error),
        retries=retries,
        failed_at=utcnow(),
    )
