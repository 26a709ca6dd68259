"""Builders shared by the competitor service's tests: principals, drafts, clocks, repositories on an engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from runtime.auth import CredentialKind, Principal, Role
from services.competitor.domain import CompetitorDraft, MoneyInput, ObservationDraft, OfferDraft
from services.competitor.repository import Repositories
from services.competitor.repository.mongo import open_mongo_repositories
from services.competitor.repository.sqlite import open_sqlite_repositories

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


def competitor_draft(name: str = "Shop One", **fields: Any) -> CompetitorDraft:
    values: dict[str, Any] = {"website": "https://shop-one.example/", "default_currency": "EUR"}
    values.update(fields)
    return CompetitorDraft(name=name, **values)


def offer_draft(competitor_id: str, path: str = "p/1", sku: str = "SKU-1", **fields: Any) -> OfferDraft:
    values: dict[str, Any] = {"title": f"Their {sku}", "url": f"https://shop-one.example/{path}"}
    values.update(fields)
    return OfferDraft(competitor_id=competitor_id, sku=sku, **values)


def observation(offer_id: str, minutes: float, amount_minor: int = 1999, **fields: Any) -> ObservationDraft:
    """An observation `minutes` after START, in stock, in EUR unless told otherwise."""
    values: dict[str, Any] = {"price": eur(amount_minor), "in_stock": True}
    values.update(fields)
    return ObservationDraft(offer_id=offer_id, observe_time=START + timedelta(minutes=minutes), **values)


def bulk_rows(engine_kind: str) -> int:
    return STANDIN_BULK_ROWS if engine_kind == STANDIN else 10_000


@dataclass
class FakeClock:
    now: datetime = START + timedelta(days=1)
    step: timedelta = field(default=timedelta(seconds=1))

    def __call__(self) -> datetime:
        current = self.now
        self.now += self.step
        return current


class SequentialIds:
    """Ids that sort in the order they were made and look like runtime.ids', but predictable."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._next = 0

    def __call__(self) -> str:
        self._next += 1
        return f"{self._prefix}{self._next:026d}"


async def open_repositories(engine: Any) -> Repositories:
    if engine.kind == "sqlite":
        return await open_sqlite_repositories(engine.sqlite_path("competitor"))
    return await open_mongo_repositories(engine.mongo_database("competitor"))
