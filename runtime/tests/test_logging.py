from __future__ import annotations

import io
import json

from opentelemetry.sdk.trace import TracerProvider

from runtime.logging import configure_logging, get_logger
from runtime.settings import Settings


def test_logs_are_json_lines_with_the_current_trace_id() -> None:
    stream = io.StringIO()
    settings = Settings(log_format="json", log_level="INFO")
    configure_logging(settings, "product", stream=stream)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        get_logger("test").info("price changed", sku="SKU-1")
        expected = format(span.get_span_context().trace_id, "032x")
    configure_logging(settings, "tests")
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["event"] == "price changed"
    assert line["sku"] == "SKU-1"
    assert line["service"] == "product"
    assert line["trace_id"] == expected
    assert line["timestamp"].endswith("Z")
