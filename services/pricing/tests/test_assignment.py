"""Most specific assignment wins: product, brand, category (nearest ancestor first), default."""

from __future__ import annotations

import pytest

from runtime.errors import InvalidArgument
from services.pricing.domain.assignment import ProductKey, StrategyResolver, validate_assignment
from services.pricing.domain.records import Assignment, AssignmentLevel

PARENTS = {"shoes": "fashion", "running": "shoes", "fashion": "", "garden": ""}


def assign(level: AssignmentLevel, target: str, strategy: str) -> Assignment:
    return Assignment("org_a", level, target, strategy)


def resolver(*assignments: Assignment) -> StrategyResolver:
    return StrategyResolver(assignments, PARENTS)


def test_most_specific_wins() -> None:
    r = resolver(
        assign(AssignmentLevel.DEFAULT, "", "s-default"),
        assign(AssignmentLevel.CATEGORY, "fashion", "s-fashion"),
        assign(AssignmentLevel.CATEGORY, "shoes", "s-shoes"),
        assign(AssignmentLevel.BRAND, "Acme", "s-acme"),
        assign(AssignmentLevel.PRODUCT, "p-1", "s-p1"),
    )
    assert r.strategy_for(ProductKey("p-1", "Acme", "running")) == "s-p1"
    assert r.strategy_for(ProductKey("p-2", "ACME", "running")) == "s-acme"
    assert r.strategy_for(ProductKey("p-3", "Other", "running")) == "s-shoes"
    assert r.strategy_for(ProductKey("p-4", "", "fashion")) == "s-fashion"
    assert r.strategy_for(ProductKey("p-5", "", "garden")) == "s-default"
    assert r.strategy_for(ProductKey("p-6", "", "")) == "s-default"


def test_nothing_assigned_means_not_priced() -> None:
    r = resolver(assign(AssignmentLevel.CATEGORY, "garden", "s-garden"))
    assert r.strategy_for(ProductKey("p-1", "", "running")) is None
    assert r.strategy_for(ProductKey("p-1", "", "unknown-category")) is None
    assert r.strategy_for(ProductKey("p-2", "", "garden")) == "s-garden"


def test_a_cycle_in_bad_data_does_not_hang() -> None:
    r = StrategyResolver([assign(AssignmentLevel.DEFAULT, "", "d")], {"a": "b", "b": "a"})
    assert r.strategy_for(ProductKey("p", "", "a")) == "d"


@pytest.mark.parametrize(
    ("assignment", "field"),
    [
        (assign(AssignmentLevel.DEFAULT, "x", "s"), "target"),
        (assign(AssignmentLevel.BRAND, "  ", "s"), "target"),
        (assign(AssignmentLevel.PRODUCT, "x" * 129, "s"), "target"),
    ],
)
def test_bad_assignments_are_refused(assignment: Assignment, field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        validate_assignment(assignment)
    assert raised.value.field == field
