"""Occurrences of a fixed interval: start, then every interval after it (exact UTC durations)."""

from __future__ import annotations

from datetime import datetime, timedelta


def occurrence_from(start: datetime, interval: timedelta, moment: datetime) -> datetime:
    """The first occurrence at or after `moment`."""
    if moment <= start:
        return start
    # Ceiling division: the number of whole intervals that reach `moment`.
    return start + -((start - moment) // interval) * interval


def occurrence_after(start: datetime, interval: timedelta, moment: datetime) -> datetime:
    """The first occurrence strictly after `moment`."""
    if moment < start:
        return start
    return start + ((moment - start) // interval + 1) * interval
