"""What callers of the analytics service can do with the sales ledger, for the caller's organisation only.

Writes need the pricing_manager role, since ledger data feeds prices; reads need viewer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from runtime.auth import Principal, Role
from runtime.clock import utcnow
from runtime.errors import DomainError, InvalidArgument
from runtime.pagination import Page, decode_token, encode_token, page_size
from services.analytics import csv_io, domain, metrics
from services.analytics.domain import (
    DemandSeries,
    LineFilter,
    LineKey,
    LinePosition,
    OrderLine,
    OrderLineDraft,
    RowError,
)
from services.analytics.repository import Repositories

MAX_INGEST_LINES = 10_000
MAX_IMPORT_LINES = 100_000
# The largest message the shared gRPC server accepts.
MAX_CSV_BYTES = 64 * 1024 * 1024

READ_ROLE = Role.VIEWER
WRITE_ROLE = Role.PRICING_MANAGER


@dataclass(frozen=True, slots=True)
class IngestResult:
    created: int
    updated: int
    unchanged: int
    # Non-empty means nothing was written.
    errors: list[RowError]


class SalesLedger:
    def __init__(self, repositories: Repositories, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._lines = repositories.order_lines
        self._clock = clock

    # --- writes -----------------------------------------------------------------------------------

    async def ingest(self, principal: Principal, drafts: Sequence[OrderLineDraft]) -> IngestResult:
        """Create or correct up to MAX_INGEST_LINES lines by (order_id, line_no): all of them, or none and why."""
        principal.require(WRITE_ROLE)
        if len(drafts) > MAX_INGEST_LINES:
            raise InvalidArgument(f"at most {MAX_INGEST_LINES:,} lines per call, got {len(drafts):,}", field="lines")
        return await self._ingest(principal, list(enumerate(drafts)), [])

    async def import_csv(self, principal: Principal, data: bytes) -> IngestResult:
        principal.require(WRITE_ROLE)
        if len(data) > MAX_CSV_BYTES:
            raise InvalidArgument(f"the CSV is larger than {MAX_CSV_BYTES // (1024 * 1024)} MiB", field="csv")
        parsed = csv_io.parse_csv(data, max_rows=MAX_IMPORT_LINES)
        return await self._ingest(principal, parsed.rows, parsed.errors)

    async def _ingest(
        self, principal: Principal, rows: Sequence[tuple[int, OrderLineDraft]], unreadable: Sequence[RowError]
    ) -> IngestResult:
        lines, errors = self._validate(rows)
        errors.extend(unreadable)
        if errors:
            return IngestResult(0, 0, 0, sorted(errors, key=lambda error: (error.row, error.field)))
        # Lines are facts reported by other systems: the last report of a line wins, so a write needs no
        # revision check. Two batches racing on one new line may both count it as created.
        stored = await self._lines.get_many(principal.organization_id, [line.natural_key for line in lines])
        changed = [line for line in lines if stored.get(line.natural_key) != line]
        created = sum(1 for line in changed if line.natural_key not in stored)
        updated, unchanged = len(changed) - created, len(lines) - len(changed)
        await self._lines.upsert(principal.organization_id, changed)
        metrics.count_ingested(created=created, updated=updated, unchanged=unchanged)
        return IngestResult(created, updated, unchanged, [])

    def _validate(self, rows: Sequence[tuple[int, OrderLineDraft]]) -> tuple[list[OrderLine], list[RowError]]:
        """Every row checked on its own and against the others."""
        now = self._clock()
        lines: list[OrderLine] = []
        errors: list[RowError] = []
        first_row: dict[LineKey, int] = {}
        for index, draft in rows:
            try:
                line = domain.validate_line(draft, now=now)
                seen = first_row.setdefault(line.natural_key, index)
                if seen != index:
                    raise InvalidArgument(
                        f"line {line.key} appears more than once in this batch (first at row {seen})", field="line_no"
                    )
            except DomainError as error:
                errors.append(RowError(index, draft.key, error.field, error.message))
                continue
            lines.append(line)
        return lines, errors

    # --- reads ------------------------------------------------------------------------------------

    async def list_lines(
        self, principal: Principal, request: LineFilter, *, page_size_requested: int, page_token: str
    ) -> Page[OrderLine]:
        principal.require(READ_ROLE)
        limit = page_size(page_size_requested)
        query = domain.line_query(request)
        fingerprint = _filter_fingerprint(request)
        position = decode_token(page_token)
        after = _position(position, fingerprint) if position else None
        lines = await self._lines.find(principal.organization_id, query, after=after, limit=limit + 1)
        if len(lines) <= limit:
            return Page(lines, "")
        last = lines[limit - 1]
        token = {"ms": domain.to_milliseconds(last.time), "o": last.order_id, "n": last.line_no, "f": fingerprint}
        return Page(lines[:limit], encode_token(token))

    async def demand(
        self, principal: Principal, skus: Sequence[str], *, start_day: str, end_day: str
    ) -> list[DemandSeries]:
        """Daily demand of each requested sku, in request order."""
        principal.require(READ_ROLE)
        query = domain.demand_query(skus, start_day, end_day)
        points = await self._lines.demand(principal.organization_id, query)
        return domain.demand_series(skus, points)


def _filter_fingerprint(request: LineFilter) -> str:
    """A short digest of a filter, kept in page tokens so a token is used with the filter it was made for."""
    canonical = json.dumps(
        [
            request.sku,
            None if request.start_time is None else request.start_time.isoformat(),
            None if request.end_time is None else request.end_time.isoformat(),
        ]
    )
    return hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()


def _position(position: dict[str, object], fingerprint: str) -> LinePosition:
    milliseconds, order_id, line_no = position.get("ms"), position.get("o"), position.get("n")
    if position.get("f") != fingerprint:
        raise InvalidArgument("page_token was issued for a different filter", field="page_token")
    if not isinstance(milliseconds, int) or not isinstance(order_id, str) or not isinstance(line_no, int):
        raise InvalidArgument("page_token is not a token this API issued", field="page_token")
    try:
        return LinePosition(domain.from_milliseconds(milliseconds), order_id, line_no)
    except (OverflowError, ValueError):
        raise InvalidArgument("page_token is not a token this API issued", field="page_token") from None
