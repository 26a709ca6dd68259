"""Partial updates: which fields an update mask names, checked against what may change."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from runtime.errors import InvalidArgument


def parse_update_mask(paths: Iterable[str], updatable: Sequence[str], *, key: str, key_message: str) -> frozenset[str]:
    """The fields to change; "*" names every updatable one. The resource's key never changes."""
    requested = [path.strip() for path in paths]
    if not requested:
        raise InvalidArgument("update_mask must name at least one field", field="update_mask")
    if "*" in requested:
        return frozenset(updatable)
    for path in requested:
        if path == key:
            raise InvalidArgument(key_message, field="update_mask")
        if path not in updatable:
            raise InvalidArgument(
                f"unknown field {path!r} in update_mask; updatable fields: {', '.join(updatable)}",
                field="update_mask",
            )
    return frozenset(requested)
