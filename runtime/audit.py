"""Audit records of changes made through the API, and where they are sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class AuditRecord:
    organization_id: str
    actor_id: str
    action: str
    resource: str
    outcome: str
    trace_id: str
    time: datetime


class AuditSink(Protocol):
    async def record(self, records: Sequence[AuditRecord], credential: str) -> None: ...


READ_PREFIXES = ("Get", "List", "Export", "Authenticate", "Check", "Watch", "Quote", "ServerReflectionInfo")
UNAUDITED_METHODS = frozenset({"Login", "RefreshToken", "Logout", "RecordAuditEntries"})


def is_change(method_path: str) -> bool:
    """Whether an RPC changes data and so belongs in the audit log ("/pkg.Service/Method")."""
    name = method_path.rsplit("/", 1)[-1]
    return not name.startswith(READ_PREFIXES) and name not in UNAUDITED_METHODS


def describe_resource(method_path: str, request: object) -> str:
    """A short name of what a change touched, taken from the request's identifying fields."""
    service = method_path.strip("/").split("/", 1)[0].rsplit(".", 1)[-1].removesuffix("Service").lower()
    for field in ("sku", "id", "user_id", "api_key_id"):
        value = getattr(request, field, "")
        if isinstance(value, str) and value:
            return f"{service}/{value}"
    for nested in ("product", "category"):
        inner = getattr(request, nested, None)
        for field in ("sku", "id"):
            value = getattr(inner, field, "") if inner is not None else ""
            if isinstance(value, str) and value:
                return f"{service}/{value}"
    for repeated in ("products", "entries", "lines", "offers", "observations", "changes", "ids"):
        items = getattr(request, repeated, None)
        if items is not None and not isinstance(items, str | bytes):
            return f"{service}/*({len(items)} rows)"
    return service
