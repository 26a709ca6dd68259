"""The AlertEngine: the MarketEventSink that judges what the market reports against each organisation's rules.

For every batch it reads the organisation's enabled rules (nothing more when none applies), our prices
and MAPs from the catalog when a rule needs them, the head alert of each (rule, subject) and, for price
changes, each offer's last price that was a fact; it then stores the alert changes with their webhook
deliveries in one repository call, re-reading and recomputing when a concurrent batch won the race.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from runtime.auth import CredentialKind, Principal, Role, optional_principal
from runtime.clock import utcnow
from runtime.errors import Conflict, DomainError
from runtime.ids import new_id
from runtime.logging import get_logger
from services.competitor.alerts import metrics
from services.competitor.alerts.domain import (
    ALERT_ID_PREFIX,
    CATALOG_KINDS,
    EVENT_ID_PREFIX,
    PRICE_KINDS,
    Alert,
    AlertChange,
    AlertKind,
    AlertRule,
    Baseline,
    Reading,
    advance,
    head_key,
    judge_below_map,
    judge_new_product,
    judge_price_change,
    judge_source_health,
    judge_stock,
    judge_undercut,
)
from services.competitor.alerts.repository import AlertStore
from services.competitor.catalog import CatalogItem, CatalogReader
from services.competitor.domain import to_millisecond
from services.competitor.market_events import NewCompetitorProduct, PriceSeen, SourceHealthChanged

# A batch that lost a race re-reads and recomputes; more attempts than this means heavy contention.
WRITE_ATTEMPTS = 3
# Alerts are about the market now: events older than this (an import of price history) are not judged.
STALE_AFTER = timedelta(days=1)
# Catalog reads are made in this name when no caller of the organisation is at hand.
ALERTS_SUBJECT = "svc_competitor_alerts"
_log = get_logger(__name__)
E = TypeVar("E", PriceSeen, NewCompetitorProduct)
T = TypeVar("T", PriceSeen, NewCompetitorProduct, SourceHealthChanged)


class Named(Protocol):
    @property
    def name(self) -> str: ...


class CompetitorLookup(Protocol):
    """Competitor names for messages; the competitor repository is one."""

    async def get_many(self, organization_id: str, competitor_ids: Collection[str]) -> Mapping[str, Named]: ...


def reader_principal(organization_id: str) -> Principal:
    """The caller whose request brought the events when it is of the organisation, else a viewer in its name."""
    current = optional_principal()
    if current is not None and current.organization_id == organization_id:
        return current
    return Principal(organization_id, ALERTS_SUBJECT, Role.VIEWER, CredentialKind.ACCESS_TOKEN)


# What one attempt judges: the (rule, reading) pairs in order, and the baselines to move with them.
Judgement = tuple[list[tuple[AlertRule, Reading]], list[Baseline]]


class AlertEngine:
    """Implements services.competitor.market_events.MarketEventSink.

    A failure is logged and counted, never raised: the events' facts are already stored, and a crawl
    must not fail because an alert could not be judged."""

    def __init__(
        self,
        store: AlertStore,
        catalog: CatalogReader,
        competitors: CompetitorLookup,
        *,
        principal_for: Callable[[str], Principal] = reader_principal,
        clock: Callable[[], datetime] = utcnow,
        alert_ids: Callable[[], str] = lambda: new_id(ALERT_ID_PREFIX),
        event_ids: Callable[[], str] = lambda: new_id(EVENT_ID_PREFIX),
        on_notify: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._competitors = competitors
        self._principal_for = principal_for
        self._clock = clock
        self._alert_ids = alert_ids
        self._event_ids = event_ids
        # Wakes the delivery worker when notifications were stored.
        self._on_notify = on_notify

    async def prices_seen(self, events: Sequence[PriceSeen]) -> None:
        for organization_id, batch in _by_organization(self._current(events)).items():
            await self._guarded("prices_seen", organization_id, self._prices(organization_id, batch))

    async def new_products_seen(self, events: Sequence[NewCompetitorProduct]) -> None:
        for organization_id, batch in _by_organization(self._current(events)).items():
            await self._guarded("new_products_seen", organization_id, self._new_products(organization_id, batch))

    async def source_health_changed(self, event: SourceHealthChanged) -> None:
        if not self._current([event]):
            return
        await self._guarded("source_health_changed", event.organization_id, self._source_health(event))

    def _current(self, events: Sequence[T]) -> list[T]:
        oldest = self._clock() - STALE_AFTER
        return [event for event in events if event.observe_time >= oldest]

    async def _guarded(self, what: str, organization_id: str, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:
            metrics.ENGINE_FAILURES.labels(what).inc()
            _log.exception("alert judging failed", sink=what, organization_id=organization_id)

    # --- prices -----------------------------------------------------------------------------------

    async def _prices(self, organization_id: str, batch: list[PriceSeen]) -> None:
        rules = [rule for rule in await self._store.rules.enabled(organization_id) if rule.kind in PRICE_KINDS]
        # Quarantined observations are not facts: they fire nothing, clear nothing and move no baseline.
        facts = sorted((seen for seen in batch if not seen.quarantined), key=lambda seen: seen.observe_time)
        facts = [seen for seen in facts if any(rule.watches(seen.competitor_id) for rule in rules)]
        if not facts:
            return
        catalog = await self._catalog_items(organization_id, rules, facts)
        names = await self._names(organization_id, {seen.competitor_id for seen in facts})
        tracks_changes = any(rule.kind is AlertKind.PRICE_CHANGE for rule in rules)

        async def judge(heads: Mapping[str, Alert]) -> Judgement:
            baselines: dict[str, Baseline] = {}
            if tracks_changes:
                baselines = await self._store.alerts.baselines(organization_id, {seen.offer_id for seen in facts})
            pairs: list[tuple[AlertRule, Reading]] = []
            moved: dict[str, Baseline] = {}
            for seen in facts:
                name = names.get(seen.competitor_id, seen.competitor_id)
                item = catalog.get(seen.sku)
                baseline = moved.get(seen.offer_id) or baselines.get(seen.offer_id)
                late = baseline is not None and to_millisecond(seen.observe_time) <= baseline.observe_time
                before = seen.previous_price if baseline is None else baseline.price
                watched = False
                for rule in rules:
                    if not rule.watches(seen.competitor_id):
                        continue
                    if rule.kind is AlertKind.PRICE_CHANGE:
                        watched = True
                        reading = None if late else judge_price_change(rule, seen, before, name)
                    else:
                        reading = _judge_state(rule, seen, item, name)
                    if reading is not None:
                        pairs.append((rule, reading))
                if watched and not late:
                    moved[seen.offer_id] = Baseline(seen.offer_id, seen.price, to_millisecond(seen.observe_time))
            return pairs, list(moved.values())

        await self._record(organization_id, {head_key(r.id, s.offer_id) for s in facts for r in rules}, judge)

    async def _catalog_items(
        self, organization_id: str, rules: Iterable[AlertRule], facts: Sequence[PriceSeen]
    ) -> dict[str, CatalogItem]:
        needing = [rule for rule in rules if rule.kind in CATALOG_KINDS]
        skus = {seen.sku for seen in facts if any(rule.watches(seen.competitor_id) for rule in needing)}
        if not skus:
            return {}
        try:
            return await self._catalog.get_many(self._principal_for(organization_id), skus)
        except DomainError as error:
            # Undercut and MAP need our prices; the other kinds are judged without them.
            metrics.ENGINE_FAILURES.labels("catalog").inc()
            _log.warning("catalog unavailable for alerts", organization_id=organization_id, error=error.message)
            return {}

    # --- new products and source health -----------------------------------------------------------

    async def _new_products(self, organization_id: str, batch: list[NewCompetitorProduct]) -> None:
        rules = [r for r in await self._store.rules.enabled(organization_id) if r.kind is AlertKind.NEW_PRODUCT]
        products = sorted(
            (p for p in batch if any(r.category_id == p.category_id and r.watches(p.competitor_id) for r in rules)),
            key=lambda product: product.observe_time,
        )
        if not products:
            return
        names = await self._names(organization_id, {product.competitor_id for product in products})
        pairs = []
        for product in products:
            for rule in rules:
                if rule.watches(product.competitor_id):
                    reading = judge_new_product(rule, product, names.get(product.competitor_id, product.competitor_id))
                    if reading is not None:
                        pairs.append((rule, reading))
        await self._record_pairs(organization_id, pairs)

    async def _source_health(self, event: SourceHealthChanged) -> None:
        organization_id = event.organization_id
        rules = [
            rule
            for rule in await self._store.rules.enabled(organization_id)
            if rule.kind is AlertKind.EXTRACTION_BROKEN and rule.watches(event.competitor_id)
        ]
        if not rules:
            return
        names = await self._names(organization_id, {event.competitor_id})
        reading = judge_source_health(event, names.get(event.competitor_id, event.competitor_id))
        await self._record_pairs(organization_id, [(rule, reading) for rule in rules])

    # --- shared -----------------------------------------------------------------------------------

    async def _record_pairs(self, organization_id: str, pairs: list[tuple[AlertRule, Reading]]) -> None:
        async def judge(heads: Mapping[str, Alert]) -> Judgement:
            return pairs, []

        await self._record(organization_id, {head_key(rule.id, reading.subject) for rule, reading in pairs}, judge)

    async def _record(
        self,
        organization_id: str,
        keys: Collection[str],
        judge: Callable[[Mapping[str, Alert]], Awaitable[Judgement]],
    ) -> None:
        for _ in range(WRITE_ATTEMPTS):
            heads = await self._store.alerts.heads(organization_id, keys)
            pairs, baselines = await judge(heads)
            changes = self._advance_all(pairs, dict(heads))
            if not changes and not baselines:
                return
            try:
                await self._store.alerts.record(organization_id, changes, baselines)
            except Conflict:
                continue
            self._count(changes)
            return
        raise Conflict(f"alerts of organisation {organization_id!r} are being changed by others right now")

    def _advance_all(self, pairs: Iterable[tuple[AlertRule, Reading]], heads: dict[str, Alert]) -> list[AlertChange]:
        changes: list[AlertChange] = []
        now = self._clock()
        for rule, reading in pairs:
            key = head_key(rule.id, reading.subject)
            head = heads.get(key)
            for change in advance(rule, head, reading, now=now, alert_ids=self._alert_ids, event_ids=self._event_ids):
                changes.append(change)
                if change.after.head:
                    heads[key] = change.after
        return changes

    def _count(self, changes: Sequence[AlertChange]) -> None:
        notified = False
        for change in changes:
            for event in change.events:
                metrics.ALERT_EVENTS.labels(change.after.kind.name.lower(), event.type.name.lower()).inc()
                notified = True
        if notified:
            self._on_notify()

    async def _names(self, organization_id: str, competitor_ids: Collection[str]) -> dict[str, str]:
        found = await self._competitors.get_many(organization_id, competitor_ids)
        return {competitor_id: competitor.name for competitor_id, competitor in found.items()}


def _judge_state(rule: AlertRule, seen: PriceSeen, item: CatalogItem | None, name: str) -> Reading | None:
    if rule.kind is AlertKind.STOCK_CHANGE:
        return judge_stock(seen, name)
    if item is None:
        # Not (or no longer) an active product of ours: nothing to compare with.
        return None
    if rule.kind is AlertKind.UNDERCUT:
        return judge_undercut(rule, seen, item.price, name)
    return judge_below_map(rule, seen, item.map_price, name)


def _by_organization(events: Sequence[E]) -> dict[str, list[E]]:
    grouped: dict[str, list[E]] = defaultdict(list)
    for event in events:
        grouped[event.organization_id].append(event)
    return grouped
