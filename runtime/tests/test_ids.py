"""Identifiers: 26 base-32 characters after the prefix, time first so they sort by creation."""

from __future__ import annotations

import time

from runtime.ids import new_id

ALPHABET = set("0123456789abcdefghjkmnpqrstvwxyz")


def test_ids_have_the_prefix_and_26_characters_of_the_alphabet() -> None:
    made = {new_id("rec_") for _ in range(10_000)}
    assert len(made) == 10_000
    for item in made:
        assert item.startswith("rec_")
        assert len(item) == 30
        assert set(item[4:]) <= ALPHABET


def test_the_first_ten_characters_encode_the_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    item = new_id()
    after = time.time_ns() // 1_000_000
    millis = 0
    for char in item[:10]:
        millis = millis * 32 + "0123456789abcdefghjkmnpqrstvwxyz".index(char)
    # 26 digits hold 130 bits: the top two are zero, then 48 bits of milliseconds, then 80 random ones.
    assert before <= millis <= after


def test_later_ids_sort_after_earlier_ones() -> None:
    first = new_id()
    time.sleep(0.002)
    assert new_id() > first
