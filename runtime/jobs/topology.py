"""Job queues: one work queue per kind of job, each with a dead-letter queue named "<queue>.dead".

On RabbitMQ a work queue is a quorum queue whose broker dead-letters a message after DELIVERY_LIMIT
returns (a poison message that keeps killing workers); the SQLite transport applies the same limit
itself (runtime.jobs.sqlite_broker). Tasks that give up publish their own dead letter on both.
"""

from __future__ import annotations

import re
from typing import Any

from kombu import Exchange, Queue

DEAD_LETTER_SUFFIX = ".dead"
# Returns of one message (worker lost mid-task, reject with requeue) before it is dead-lettered.
DELIVERY_LIMIT = 5
# Reading a dead-letter queue hands its messages back, which RabbitMQ before 4.3 counts as a delivery, and
# 4.x gives quorum queues a default limit of 20: a dead letter must survive being read, practically forever.
DEAD_LETTER_DELIVERY_LIMIT = 2**31 - 1
# No dots: RabbitMQ's delayed-delivery exchange routes on "#.<queue>", which must match one queue only.
_QUEUE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def validate_queue_name(name: str) -> str:
    if not _QUEUE_NAME.fullmatch(name):
        raise ValueError(f"job queue name {name!r} must match {_QUEUE_NAME.pattern}")
    return name


def dead_letter_queue_name(queue: str) -> str:
    return f"{queue}{DEAD_LETTER_SUFFIX}"


def is_dead_letter_queue(name: str) -> bool:
    return name.endswith(DEAD_LETTER_SUFFIX)


def work_queue(name: str, *, rabbitmq: bool) -> Queue:
    """A durable queue on its own topic exchange (topic so that Celery's native delayed delivery can reach it)."""
    validate_queue_name(name)
    arguments: dict[str, Any] | None = None
    if rabbitmq:
        dead = dead_letter_queue_name(name)
        arguments = {
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": dead,
            "x-dead-letter-routing-key": dead,
            # The message leaves this queue only once the dead-letter queue has confirmed it.
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }
    return Queue(
        name, Exchange(name, type="topic", durable=True), routing_key=name, durable=True, queue_arguments=arguments
    )


def dead_letter_queue(queue: str, *, rabbitmq: bool) -> Queue:
    dead = dead_letter_queue_name(validate_queue_name(queue))
    arguments = {"x-queue-type": "quorum", "x-delivery-limit": DEAD_LETTER_DELIVERY_LIMIT} if rabbitmq else None
    return Queue(
        dead, Exchange(dead, type="direct", durable=True), routing_key=dead, durable=True, queue_arguments=arguments
    )


def declare_queues(connection: Any, queues: list[str], *, rabbitmq: bool) -> None:
    """Declare each work queue and its dead-letter queue (idempotent), dead-letter queue first."""
    with connection.channel() as channel:
        for name in queues:
            dead_letter_queue(name, rabbitmq=rabbitmq)(channel).declare()
            work_queue(name, rabbitmq=rabbitmq)(channel).declare()
