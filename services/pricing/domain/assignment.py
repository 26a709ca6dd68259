"""Which strategy prices a product: the most specific assignment wins.

Product (by sku) beats brand, brand beats category, a category's own assignment beats its ancestors',
and the organisation's default comes last. A product nothing applies to is not priced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from runtime.errors import InvalidArgument
from services.pricing.domain.records import Assignment, AssignmentLevel

MAX_TARGET_LENGTH = 128


@dataclass(frozen=True, slots=True)
class ProductKey:
    sku: str
    brand: str
    category_id: str


def validate_assignment(assignment: Assignment) -> Assignment:
    if assignment.level is AssignmentLevel.DEFAULT:
        if assignment.target:
            raise InvalidArgument("the default assignment has no target", field="target")
        return assignment
    target = assignment.target.strip()
    if not target or len(target) > MAX_TARGET_LENGTH:
        raise InvalidArgument(f"target must be 1-{MAX_TARGET_LENGTH} characters", field="target")
    return replace(assignment, target=target)


class StrategyResolver:
    """Resolves many products against one organisation's assignments and category tree."""

    def __init__(self, assignments: Iterable[Assignment], parents: Mapping[str, str]) -> None:
        self._by_sku: dict[str, str] = {}
        self._by_brand: dict[str, str] = {}
        self._by_category: dict[str, str] = {}
        self._default: str | None = None
        for assignment in assignments:
            if assignment.level is AssignmentLevel.PRODUCT:
                self._by_sku[assignment.target] = assignment.strategy_id
            elif assignment.level is AssignmentLevel.BRAND:
                self._by_brand[assignment.target.casefold()] = assignment.strategy_id
            elif assignment.level is AssignmentLevel.CATEGORY:
                self._by_category[assignment.target] = assignment.strategy_id
            else:
                self._default = assignment.strategy_id
        self._parents = parents
        self._inherited: dict[str, str | None] = {}

    def strategy_for(self, product: ProductKey) -> str | None:
        by_sku = self._by_sku.get(product.sku)
        if by_sku is not None:
            return by_sku
        if product.brand:
            by_brand = self._by_brand.get(product.brand.casefold())
            if by_brand is not None:
                return by_brand
        if product.category_id:
            by_category = self._category_strategy(product.category_id)
            if by_category is not None:
                return by_category
        return self._default

    def _category_strategy(self, category_id: str) -> str | None:
        if category_id in self._inherited:
            return self._inherited[category_id]
        chain: list[str] = []
        found: str | None = None
        current: str | None = category_id
        # A cycle cannot be stored by the product service; the bound only keeps bad data from hanging us.
        while current and len(chain) <= len(self._parents) + 1:
            if current in self._inherited:
                found = self._inherited[current]
                break
            chain.append(current)
            if current in self._by_category:
                found = self._by_category[current]
                break
            current = self._parents.get(current) or None
        for visited in chain:
            self._inherited[visited] = found
        return found
