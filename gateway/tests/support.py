"""Assertions the gateway tests share."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["instance"] == response.request.url.path
    assert body["detail"]
    return body


def assert_conforms(model: type[BaseModel], body: Any) -> None:
    """The body has exactly the documented fields and validates against the documented model."""
    assert set(body) == set(model.model_fields), f"{sorted(body)} != {sorted(model.model_fields)}"
    model.model_validate(body)


def product_body(sku: str = "SKU-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": sku,
        "title": "Electric kettle 1.7 l",
        "brand": "Boilex",
        "gtin": "4006381333931",
        "mpn": "BX-17",
        "currency": "EUR",
        "cost": "12.40",
        "price": "29.99",
        "map_price": "24.99",
        "stock": 12,
        "attributes": {"colour": "steel"},
    }
    body.update(overrides)
    return body
