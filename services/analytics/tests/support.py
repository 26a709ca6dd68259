"""Builders shared by the analytics service's tests: principals, order lines, repositories on an engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from runtime.auth import CredentialKind, Principal, Role
from services.analytics import domain
from services.analytics.domain import MoneyInput, OrderLine, OrderLineDraft
from services.analytics.repository import Repositories
from services.analytics.repository.mongo import open_mongo_repositories
from services.analytics.repository.sqlite import open_sqlite_repositories

ORG_A = "org_a"
ORG_B = "org_b"
# The ledger's "now" in tests; order times lie before it.
NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
DAY_1 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
STANDIN = "mongodb-standin"
# mongomock scans every document on each write (quadratic), so 10,000 lines would take minutes on the
# stand-in; it runs the same tests at this size. SQLite and a real MongoDB run the full 10,000.
STANDIN_BULK_LINES = 500


def principal(role: Role = Role.PRICING_MANAGER, organization_id: str = ORG_A, subject: str = "usr_1") -> Principal:
    return Principal(organization_id, subject, role, CredentialKind.ACCESS_TOKEN)


def eur(amount_minor: int) -> MoneyInput:
    return MoneyInput(amount_minor, "EUR")


def draft(order_id: str = "A-1001", line_no: int = 1, **fields: Any) -> OrderLineDraft:
    values: dict[str, Any] = {
        "sku": "mug-1",
        "quantity": 2,
        "unit_price": eur(1999),
        "time": DAY_1,
        "channel": "web",
    }
    values.update(fields)
    return OrderLineDraft(order_id=order_id, line_no=line_no, **values)


def line(order_id: str = "A-1001", line_no: int = 1, **fields: Any) -> OrderLine:
    return domain.validate_line(draft(order_id, line_no, **fields), now=NOW)


def bulk_lines(engine_kind: str) -> int:
    return STANDIN_BULK_LINES if engine_kind == STANDIN else 10_000


@dataclass
class FakeClock:
    now: datetime = NOW
    step: timedelta = field(default=timedelta(0))

    def __call__(self) -> datetime:
        current = self.now
        self.now += self.step
        return current


async def open_repositories(engine: Any) -> Repositories:
    if engine.kind == "sqlite":
        return await open_sqlite_repositories(engine.sqlite_path("analytics"))
    return await open_mongo_repositories(engine.mongo_database("analytics"))
