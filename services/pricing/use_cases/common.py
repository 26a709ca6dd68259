"""Roles, limits and small helpers every pricing use case shares."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from runtime.auth import Role

T = TypeVar("T")

READ_ROLE = Role.VIEWER
# Analysts see recommendations and run simulations; pricing managers change strategies and approve.
ANALYSE_ROLE = Role.ANALYST
MANAGE_ROLE = Role.PRICING_MANAGER

Clock = Callable[[], datetime]


def millis(moment: datetime) -> datetime:
    """MongoDB keeps milliseconds: truncating makes every engine return the times it was given."""
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)
