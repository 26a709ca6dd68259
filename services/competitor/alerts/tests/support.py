"""Builders and stand-ins shared by the alerting tests: rules, market events, a catalog, a webhook receiver."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from runtime.auth import Principal
from runtime.money import Money
from services.competitor.alerts import domain
from services.competitor.alerts.domain import AlertKind, AlertRule, RuleDraft
from services.competitor.catalog import CatalogItem
from services.competitor.market_events import NewCompetitorProduct, PriceSeen, SourceHealthChanged
from services.competitor.tests.support import ORG_A, START, SequentialIds

SHOP = "cmp_" + "0" * 25 + "1"
RIVAL = "cmp_" + "0" * 25 + "2"
OFFER = "off_" + "0" * 25 + "1"
OTHER_OFFER = "off_" + "0" * 25 + "2"
NAMES = {SHOP: "Shop X", RIVAL: "Rival"}


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def engine_clock() -> datetime:
    """What the alert engine takes for now in tests: the events of START's day are current."""
    return at(12 * 60)


def eur(amount_minor: int) -> Money:
    return Money(amount_minor, "EUR")


_rule_ids = SequentialIds("rul_")


def rule(kind: AlertKind, organization_id: str = ORG_A, **fields: Any) -> AlertRule:
    values: dict[str, Any] = {"name": f"{kind.name.lower()} watch", "kind": kind}
    values.update(fields)
    return domain.new_rule(organization_id, _rule_ids(), RuleDraft(**values), now=START)


def seen(
    minutes: float,
    amount_minor: int,
    *,
    offer_id: str = OFFER,
    competitor_id: str = SHOP,
    sku: str = "SKU-1",
    in_stock: bool = True,
    quarantined: bool = False,
    previous: int | None = None,
    organization_id: str = ORG_A,
) -> PriceSeen:
    return PriceSeen(
        organization_id=organization_id,
        competitor_id=competitor_id,
        offer_id=offer_id,
        sku=sku,
        url=f"https://shop-x.example/p/{offer_id[-3:]}",
        title=f"Their {sku}",
        observe_time=at(minutes),
        price=eur(amount_minor),
        in_stock=in_stock,
        quarantined=quarantined,
        previous_price=None if previous is None else eur(previous),
        previous_in_stock=None if previous is None else True,
    )


def new_product(
    minutes: float, category_id: str, *, url: str = "https://shop-x.example/p/new", sku: str = ""
) -> NewCompetitorProduct:
    return NewCompetitorProduct(
        organization_id=ORG_A,
        competitor_id=SHOP,
        url=url,
        title="Kettle 1.7 l",
        category_id=category_id,
        sku=sku,
        price=eur(2999),
        observe_time=at(minutes),
    )


def health(minutes: float, broken: bool, *, source_id: str = "src_1", reason: str = "") -> SourceHealthChanged:
    return SourceHealthChanged(
        organization_id=ORG_A,
        competitor_id=SHOP,
        source_id=source_id,
        source_name="Main catalog",
        broken=broken,
        reason=reason,
        observe_time=at(minutes),
    )


def item(sku: str, price: int, map_price: int | None = None) -> CatalogItem:
    return CatalogItem(
        sku=sku,
        title=f"Our {sku}",
        brand="Boilex",
        gtin="",
        mpn="",
        category_id="kettles",
        price=eur(price),
        map_price=None if map_price is None else eur(map_price),
    )


class FakeCatalog:
    """Stands in for the product service's catalog (another service, reached over gRPC in production)."""

    def __init__(self, *items: CatalogItem) -> None:
        self.items_by_sku = {entry.sku: entry for entry in items}
        self.calls: list[tuple[str, frozenset[str]]] = []
        self.principals: list[Principal] = []
        self.failure: Exception | None = None

    async def items(self, principal: Principal) -> Sequence[CatalogItem]:
        return list(self.items_by_sku.values())

    async def get_many(self, principal: Principal, skus: Collection[str]) -> dict[str, CatalogItem]:
        self.calls.append((principal.organization_id, frozenset(skus)))
        self.principals.append(principal)
        if self.failure is not None:
            raise self.failure
        return {sku: self.items_by_sku[sku] for sku in skus if sku in self.items_by_sku}


@dataclass(frozen=True)
class Named:
    name: str


class CompetitorNames:
    """Competitor names by organisation, as the competitor repository answers them."""

    def __init__(self, names: dict[str, str] | None = None, organizations: Iterable[str] = (ORG_A,)) -> None:
        self._names = {org: dict(names or NAMES) for org in organizations}

    async def get_many(self, organization_id: str, competitor_ids: Collection[str]) -> dict[str, Named]:
        known = self._names.get(organization_id, {})
        return {cid: Named(known[cid]) for cid in competitor_ids if cid in known}


# --- a webhook receiver: a real HTTP/1.1 server on loopback ---------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next scripted status (then 200) and records what arrived."""

    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/omnipricex?team=pricing"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Received(method, path, headers, body))
            status = self.statuses.pop(0) if self.statuses else 200
            writer.write(f"HTTP/1.1 {status} Scripted\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode())
            await writer.drain()
            self.arrived.set()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def receiver(*statuses: int) -> AsyncIterator[Receiver]:
    state = Receiver(list(statuses))
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()
