"""Identifiers: random, URL-safe, and sortable by creation time."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
# Two base-32 digits per lookup: a reprice run makes ids by the hundred thousand.
_PAIRS = [first + second for first in _ALPHABET for second in _ALPHABET]
_SHIFTS = range(120, -1, -10)


def new_id(prefix: str = "") -> str:
    """A 26-character id whose first 10 characters encode milliseconds, so ids sort by creation."""
    value = int.from_bytes((time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10), "big")
    return prefix + "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])
