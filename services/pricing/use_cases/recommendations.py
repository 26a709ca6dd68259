"""Recommendations: read with their explanations (rendered from the stored trace when read); approve (which
applies them) or reject, in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runtime.auth import Principal
from runtime.clock import utcnow
from runtime.errors import InvalidArgument, NotFound
from runtime.pagination import Page, decode_token, encode_token, page_size
from services.pricing.domain.explanation import render
from services.pricing.domain.records import Recommendation, RecommendationState
from services.pricing.repository import Repositories
from services.pricing.upstream import Upstream
from services.pricing.use_cases.common import MANAGE_ROLE, READ_ROLE, Clock, millis
from services.pricing.use_cases.reprice import apply_recommendations

MAX_DECISIONS = 1_000
MAX_REASON_LENGTH = 500


def explanation_of(recommendation: Recommendation) -> dict[str, Any]:
    """What a person reads about a recommendation: its trace rendered, with the strategy and run it came from.
    Recommendations stored before traces kept their rendered explanation, which is returned as it is."""
    if "trace" not in recommendation.explanation:
        return dict(recommendation.explanation)
    return {
        **render(recommendation.explanation),
        "strategy_id": recommendation.strategy_id,
        "run_id": recommendation.run_id,
    }


def _ids(ids: Sequence[str]) -> list[str]:
    unique = list(dict.fromkeys(ids))
    if not unique:
        raise InvalidArgument("name at least one recommendation", field="ids")
    if len(unique) > MAX_DECISIONS:
        raise InvalidArgument(f"at most {MAX_DECISIONS:,} recommendations per call", field="ids")
    return unique


def _reason(reason: str) -> str:
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidArgument(f"a reason has at most {MAX_REASON_LENGTH} characters", field="reason")
    return reason.strip()


class Recommendations:
    def __init__(self, repositories: Repositories, upstream: Upstream, *, clock: Clock = utcnow) -> None:
        self._repositories = repositories
        self._store = repositories.recommendations
        self._upstream = upstream
        self._clock = clock

    async def list_recommendations(
        self,
        principal: Principal,
        *,
        run_id: str,
        state: RecommendationState | None,
        sku: str,
        page_size_requested: int,
        page_token: str,
    ) -> Page[Recommendation]:
        principal.require(READ_ROLE)
        limit = page_size(page_size_requested)
        position = decode_token(page_token)
        after = None
        if position:
            if position.get("f") != [run_id, state, sku]:
                raise InvalidArgument("page_token was issued for a different filter", field="page_token")
            after = (str(position["run"]), str(position["sku"]))
        found = await self._store.find(
            principal.organization_id, run_id=run_id or None, state=state, sku=sku or None, after=after, limit=limit + 1
        )
        if len(found) <= limit:
            return Page(found, "")
        last = found[limit - 1]
        return Page(found[:limit], encode_token({"run": last.run_id, "sku": last.sku, "f": [run_id, state, sku]}))

    async def get(self, principal: Principal, recommendation_id: str) -> Recommendation:
        principal.require(READ_ROLE)
        found = await self._store.get_many(principal.organization_id, [recommendation_id])
        if recommendation_id not in found:
            raise NotFound(f"recommendation {recommendation_id!r} does not exist", field="id")
        return found[recommendation_id]

    async def _known(self, principal: Principal, ids: list[str]) -> dict[str, Recommendation]:
        found = await self._store.get_many(principal.organization_id, ids)
        missing = [rid for rid in ids if rid not in found]
        if missing:
            raise NotFound(f"recommendation {missing[0]!r} does not exist", field="ids")
        return found

    async def approve(self, principal: Principal, ids: Sequence[str], reason: str) -> list[Recommendation]:
        """Approve the pending ones among `ids` and apply them to the catalog in the approver's name.
        A recommendation whose product's price moved since the run stays approved with the reason."""
        principal.require(MANAGE_ROLE)
        wanted, why = _ids(ids), _reason(reason)
        await self._known(principal, wanted)
        now = millis(self._clock())
        approved = await self._store.decide(
            principal.organization_id,
            wanted,
            from_states=[RecommendationState.PENDING, RecommendationState.APPROVED],
            to_state=RecommendationState.APPROVED,
            decided_by=principal.subject_id,
            reason=why,
            apply_error="",
            time=now,
        )
        to_apply = await self._store.get_many(principal.organization_id, approved)
        await apply_recommendations(
            self._repositories,
            self._upstream,
            principal,
            list(to_apply.values()),
            decided_by=principal.subject_id,
            reason=f"approved by {principal.subject_id}" + (f" ({why})" if why else ""),
            time=now,
            from_state=RecommendationState.APPROVED,
        )
        after = await self._store.get_many(principal.organization_id, wanted)
        return [after[rid] for rid in wanted]

    async def reject(self, principal: Principal, ids: Sequence[str], reason: str) -> list[Recommendation]:
        principal.require(MANAGE_ROLE)
        wanted, why = _ids(ids), _reason(reason)
        await self._known(principal, wanted)
        await self._store.decide(
            principal.organization_id,
            wanted,
            from_states=[RecommendationState.PENDING, RecommendationState.APPROVED],
            to_state=RecommendationState.REJECTED,
            decided_by=principal.subject_id,
            reason=why,
            apply_error="",
            time=millis(self._clock()),
        )
        after = await self._store.get_many(principal.organization_id, wanted)
        return [after[rid] for rid in wanted]
