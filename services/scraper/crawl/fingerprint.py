"""A page's layout fingerprint: a hash of its template's markup vocabulary, blind to the product shown.

Extraction health compares fingerprints over time: the same shop template gives the same fingerprint for
every product, and a redesign (renamed classes, structured data added or dropped, new property names)
gives a new one. What counts is the set of distinct template names on the page, each once however often
it repeats: class attributes, schema.org properties and types (microdata and RDFa), OpenGraph and other
meta names, and script types (JSON-LD). Text, ids, links, prices and other attribute values are ignored,
and so are tokens with digits in them ("product-4711", "rating-45"), which usually name the product
rather than the layout.

It runs on every page, so it reads attribute strings in one lxml query (no Python object per element).
"""

from __future__ import annotations

import hashlib
import re

from lxml import etree

_TEMPLATE_NAMES = etree.XPath(
    "/descendant::*/@class"
    " | /descendant::*/@itemprop | /descendant::*/@itemtype | /descendant::*/@typeof"
    " | /descendant::script/@type | /html/head/meta/@property | /html/head/meta/@name",
    smart_strings=False,
)


_WORD_WITHOUT_DIGITS = re.compile(r"(?<!\S)[^\s\d]+(?!\S)")


def layout_fingerprint(document: etree._Element) -> str:
    """16 hex digits naming the page's template."""
    names = {_normal(value) for value in set(_TEMPLATE_NAMES(document))}
    digest = hashlib.blake2b("\n".join(sorted(names)).encode("utf-8"), digest_size=8)
    return digest.hexdigest()


def _normal(value: str) -> str:
    return " ".join(sorted(set(_WORD_WITHOUT_DIGITS.findall(value))))
