"""Trace context across Celery: injected into task message headers on publish, restored around each run.

opentelemetry-instrumentation-celery is not installed, so this is wired by hand: a
``before_task_publish`` receiver writes the W3C headers (traceparent, tracestate, baggage) into
every task message, and ReliableTask runs its body in a consumer span whose parent is read back from
the request. With tracing off the worker span is non-recording but keeps the publisher's trace id,
so worker logs still carry it.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from celery import signals
from opentelemetry import propagate, trace
from opentelemetry.context import Context

_tracer = trace.get_tracer("runtime.jobs")


def inject_trace_context(headers: MutableMapping[str, Any]) -> None:
    propagate.inject(headers)


def extract_trace_context(request: Any) -> Context:
    """The publisher's context from a Celery request (message headers become request attributes)."""
    carrier = {}
    for field in propagate.get_global_textmap().fields:
        value = request.get(field)
        if isinstance(value, str):
            carrier[field] = value
    return propagate.extract(carrier)


def _inject_on_publish(headers: MutableMapping[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        inject_trace_context(headers)


def install_trace_propagation() -> None:
    signals.before_task_publish.connect(_inject_on_publish, weak=False, dispatch_uid="runtime.jobs.inject_trace")


@contextmanager
def task_span(task: Any) -> Iterator[trace.Span]:
    """A consumer span for one run of ``task``, child of the span that published it."""
    request = task.request
    with _tracer.start_as_current_span(
        f"run {task.name}",
        context=extract_trace_context(request),
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "messaging.system": "celery",
            "celery.task_id": request.id or "",
            "celery.retries": request.retries,
        },
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span
