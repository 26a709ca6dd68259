"""Strategies and where they apply: create, read, change, delete; assign by product, brand, category, default."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from runtime import field_mask
from runtime.auth import Principal
from runtime.clock import utcnow
from runtime.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from runtime.ids import new_id
from runtime.pagination import Page, decode_token, encode_token, page_size
from services.pricing.domain.assignment import validate_assignment
from services.pricing.domain.records import Assignment, AssignmentLevel, StoredStrategy
from services.pricing.repository import Repositories
from services.pricing.strategy_config import validate_config
from services.pricing.upstream import Upstream
from services.pricing.use_cases.common import MANAGE_ROLE, READ_ROLE, Clock, millis

MAX_NAME_LENGTH = 200
UPDATABLE_PATHS = ("name", "rules", "competitor_ids", "max_market_age_seconds", "guardrails", "auto_apply")
WRITE_ATTEMPTS = 3


def validate_name(name: str) -> str:
    clean = name.strip()
    if not 0 < len(clean) <= MAX_NAME_LENGTH:
        raise InvalidArgument(f"a strategy name has 1-{MAX_NAME_LENGTH} characters", field="name")
    return clean


class Strategies:
    def __init__(
        self,
        repositories: Repositories,
        upstream: Upstream,
        *,
        clock: Clock = utcnow,
        ids: Callable[[], str] = lambda: new_id("stg_"),
    ) -> None:
        self._strategies = repositories.strategies
        self._assignments = repositories.assignments
        self._upstream = upstream
        self._clock = clock
        self._ids = ids

    async def create(self, principal: Principal, name: str, config: Mapping[str, Any]) -> StoredStrategy:
        principal.require(MANAGE_ROLE)
        validate_config(config)
        now = millis(self._clock())
        strategy = StoredStrategy(principal.organization_id, self._ids(), validate_name(name), config, 1, now, now)
        await self._strategies.create(strategy)
        return strategy

    async def get(self, principal: Principal, strategy_id: str) -> StoredStrategy:
        principal.require(READ_ROLE)
        strategy = await self._strategies.get(principal.organization_id, strategy_id)
        if strategy is None:
            raise NotFound(f"strategy {strategy_id!r} does not exist", field="id")
        return strategy

    async def list_strategies(
        self, principal: Principal, *, page_size_requested: int, page_token: str
    ) -> Page[StoredStrategy]:
        principal.require(READ_ROLE)
        limit = page_size(page_size_requested)
        after = str(decode_token(page_token).get("after", ""))
        found = await self._strategies.find(principal.organization_id, after_name=after, limit=limit + 1)
        if len(found) <= limit:
            return Page(found, "")
        return Page(found[:limit], encode_token({"after": found[limit - 1].name}))

    async def update(
        self, principal: Principal, strategy_id: str, name: str, config: Mapping[str, Any], paths: Iterable[str]
    ) -> StoredStrategy:
        """Replace the fields named by `paths`; the new whole is validated before anything is stored."""
        principal.require(MANAGE_ROLE)
        fields = field_mask.parse_update_mask(
            paths, UPDATABLE_PATHS, key="id", key_message="a strategy's id cannot be changed"
        )
        for _ in range(WRITE_ATTEMPTS):
            existing = await self.get(principal, strategy_id)
            merged = {key: config[key] if key in fields else value for key, value in existing.config.items()}
            validate_config(merged)
            changed = replace(
                existing,
                name=validate_name(name) if "name" in fields else existing.name,
                config=merged,
                revision=existing.revision + 1,
                update_time=max(millis(self._clock()), existing.update_time),
            )
            if changed.name == existing.name and changed.config == existing.config:
                return existing
            try:
                await self._strategies.update(changed)
            except Conflict:
                continue
            return changed
        raise Conflict(f"strategy {strategy_id!r} is being changed by others right now; try again")

    async def delete(self, principal: Principal, strategy_id: str) -> None:
        principal.require(MANAGE_ROLE)
        await self.get(principal, strategy_id)
        if await self._assignments.uses_strategy(principal.organization_id, strategy_id):
            raise FailedPrecondition("the strategy is assigned; remove its assignments first", field="id")
        await self._strategies.delete(principal.organization_id, strategy_id)

    # --- assignments ------------------------------------------------------------------------------

    async def assign(self, principal: Principal, assignment: Assignment) -> Assignment:
        principal.require(MANAGE_ROLE)
        assignment = validate_assignment(replace(assignment, organization_id=principal.organization_id))
        await self.get(principal, assignment.strategy_id)
        if assignment.level is AssignmentLevel.CATEGORY:
            parents = await self._upstream.category_parents(principal)
            if assignment.target not in parents:
                raise InvalidArgument(f"category {assignment.target!r} does not exist", field="target")
        elif assignment.level is AssignmentLevel.PRODUCT:
            found = await self._upstream.products_by_sku(principal, [assignment.target], active_only=False)
            if not found:
                raise InvalidArgument(f"product {assignment.target!r} does not exist", field="target")
        await self._assignments.put(assignment)
        return assignment

    async def assignments(self, principal: Principal) -> list[Assignment]:
        principal.require(READ_ROLE)
        return await self._assignments.list_all(principal.organization_id)

    async def unassign(self, principal: Principal, level: AssignmentLevel, target: str) -> None:
        principal.require(MANAGE_ROLE)
        if not await self._assignments.delete(principal.organization_id, level, target):
            raise NotFound("there is no such assignment", field="target")
