"""Cheap questions about a page's source, asked before any document tree is searched."""

from __future__ import annotations

from functools import lru_cache

_ASCII_PROBE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ<>"


class PageSource:
    """The page as text (and as the bytes it came in, when they spell ASCII as ASCII): whether a marker
    appears at all tells which (costly) readers of the document tree can find anything."""

    __slots__ = ("_raw", "_upper_raw", "_upper_text", "text")

    def __init__(self, text: str, raw: bytes | None = None, encoding: str | None = None) -> None:
        self.text = text
        self._raw = raw if raw is not None and encoding is not None and _spells_ascii(encoding) else None
        self._upper_raw: bytes | None = None
        self._upper_text: str | None = None

    def has(self, marker: str) -> bool:
        """``marker`` appears as written (attribute values and script types are compared as written)."""
        return marker in self.text

    def has_name(self, name: str) -> bool:
        """A tag or attribute ``name`` (given in lower case, ASCII) may be present; HTML ignores their case.

        Lower case is how nearly every page writes them; only pages without it pay for one upper-cased
        copy, of the raw bytes when possible (several times cheaper than of the text).
        """
        if name in self.text:
            return True
        if self._raw is not None:
            if self._upper_raw is None:
                self._upper_raw = self._raw.upper()
            return name.upper().encode("ascii") in self._upper_raw
        if self._upper_text is None:
            self._upper_text = self.text.upper()
        return name.upper() in self._upper_text


@lru_cache(maxsize=64)
def _spells_ascii(encoding: str) -> bool:
    try:
        return _ASCII_PROBE.encode(encoding) == _ASCII_PROBE.encode("ascii")
    except (LookupError, UnicodeError):
        return False
