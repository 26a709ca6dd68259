"""Identifiers: random, URL-safe, and sortable by creation time."""

from __future__ import annotations

import os
import time


def new_id(prefix: str = "") -> str:
    """A 26-character id whose first 10 characters encode milliseconds, so ids sort by creation."""
    millis = time.time_ns() // 1_000_000
    raw = millis.to_bytes(6, "big") + os.urandom(10)
    value = int.from_bytes(raw, "big")
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(alphabet[rem])
    return prefix + "".join(reversed(chars))
