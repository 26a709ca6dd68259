from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace import TracerProvider

from runtime.logging import configure_logging, get_logger
from runtime.settings import Settings


def test_logs_are_json_lines_with_the_current_trace_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(Settings(log_format="json", log_level="INFO"), "product")
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        get_logger("test").info("price changed", sku="SKU-1")
        expected = format(span.get_span_context().trace_id, "032x")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "price changed"
    assert line["sku"] == "SKU-1"
    assert line["service"] == "product"
    assert line["trace_id"] == expected
    assert line["timestamp"].endswith("Z")
