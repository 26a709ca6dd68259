"""Traces as the storage engines keep them: what a recommendation's trace renders to after a round trip
through storage is what it rendered to before, on every engine."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from services.pricing.domain.explanation import render
from services.pricing.domain.trace import trace_rows
from services.pricing.tests.explanation_cases import CASES
from services.pricing.tests.storage_support import ORG_A, open_repositories, recommendation


async def test_a_stored_trace_renders_as_the_trace_it_was_built_as(engine: Any) -> None:
    repositories = await open_repositories(engine)
    try:
        built = []
        for case_number, case in enumerate(CASES.values()):
            priced = case.priced()
            traces = trace_rows(
                priced.engine, priced.inputs, priced.outcome, range(len(case.skus)), competitor_names=case.names
            )
            built += [
                replace(recommendation(f"run_{case_number}", f"sku-{row}"), explanation=trace)
                for row, trace in enumerate(traces)
            ]
        await repositories.recommendations.put_many(built)
        stored = await repositories.recommendations.get_many(ORG_A, [rec.id for rec in built])
        assert len(stored) == len(built)
        for rec in built:
            assert render(stored[rec.id].explanation) == render(rec.explanation)
    finally:
        await repositories.close()
