"""Builders shared by the product service's tests: principals, drafts, repositories on an engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from runtime.auth import CredentialKind, Principal, Role
from services.product.domain import MoneyInput, ProductDraft, ProductStatus
from services.product.repository import Repositories
from services.product.repository.mongo import open_mongo_repositories
from services.product.repository.sqlite import open_sqlite_repositories

ORG_A = "org_a"
ORG_B = "org_b"
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
STANDIN = "mongodb-standin"
# mongomock scans every document on each write (quadratic), so 10,000 rows would take minutes on the
# stand-in; it runs the same tests at this size. SQLite and a real MongoDB run the full 10,000.
STANDIN_BULK_ROWS = 500


def principal(role: Role = Role.PRICING_MANAGER, organization_id: str = ORG_A, subject: str = "usr_1") -> Principal:
    return Principal(organization_id, subject, role, CredentialKind.ACCESS_TOKEN)


def eur(amount_minor: int) -> MoneyInput:
    return MoneyInput(amount_minor, "EUR")


def draft(sku: str, **fields: Any) -> ProductDraft:
    values: dict[str, Any] = {
        "title": f"Product {sku}",
        "brand": "Acme",
        "price": eur(1999),
        "cost": eur(1200),
        "stock": 5,
        "attributes": {"colour": "red"},
        "status": ProductStatus.ACTIVE,
    }
    values.update(fields)
    return ProductDraft(sku=sku, **values)


def bulk_rows(engine_kind: str) -> int:
    return STANDIN_BULK_ROWS if engine_kind == STANDIN else 10_000


@dataclass
class FakeClock:
    now: datetime = START
    step: timedelta = field(default=timedelta(seconds=1))

    def __call__(self) -> datetime:
        current = self.now
        self.now += self.step
        return current


class SequentialIds:
    """Event ids that sort in the order they were made, like runtime.ids but predictable."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._next = 0

    def __call__(self) -> str:
        self._next += 1
        return f"{self._prefix}{self._next:08d}"


async def open_repositories(engine: Any) -> Repositories:
    if engine.kind == "sqlite":
        return await open_sqlite_repositories(engine.sqlite_path("product"))
    return await open_mongo_repositories(engine.mongo_database("product"))
