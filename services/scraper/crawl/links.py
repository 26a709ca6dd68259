"""Which links on a listing page are products and which is the next page; sitemap entries; URL checks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import orjson
from lxml import etree
from w3lib.url import canonicalize_url

from services.scraper.extraction.selectors import compile_selector

_PRODUCT_TYPES = frozenset({"Product", "ProductModel", "IndividualProduct", "ProductGroup"})
_SCHEMA_PREFIXES = ("http://schema.org/", "https://schema.org/", "schema:")
_MAX_DEPTH = 8
_JSON_LD = etree.XPath("//script[@type='application/ld+json']/text()", smart_strings=False)
_MICRODATA_PRODUCTS = etree.XPath("//*[@itemscope][contains(@itemtype, 'Product')]")
_MICRODATA_URL = etree.XPath(".//*[@itemprop='url']/@href|.//*[@itemprop='url']/@content", smart_strings=False)
_FIRST_LINK = etree.XPath("(.//a/@href)[1]", smart_strings=False)
_ALL_LINKS = etree.XPath("//a/@href", smart_strings=False)
_REL_NEXT = etree.XPath(
    "//link[contains(concat(' ', normalize-space(@rel), ' '), ' next ')]/@href"
    "|//a[contains(concat(' ', normalize-space(@rel), ' '), ' next ')]/@href",
    smart_strings=False,
)
_BASE_HREF = etree.XPath("//base/@href", smart_strings=False)


def canonical(url: str) -> str:
    """The form two spellings of one page share (query sorted, fragment dropped, escapes normalised)."""
    return canonicalize_url(url.strip())


def site_of(url: str) -> str:
    """The host links are compared by: lower-case, without "www." and without the port."""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def document_base(document: etree._Element, page_url: str) -> str:
    base = next(iter(_BASE_HREF(document)), None)
    return urljoin(page_url, base.strip()) if base else page_url


def selector_links(document: etree._Element, selector: str) -> list[str]:
    """hrefs of what an operator selector matches: an attribute or string, an element's href, else its first link."""
    try:
        found: Any = compile_selector(selector)(document)
    except etree.XPathEvalError:
        return []
    values = found if isinstance(found, list) else [found]
    links: list[str] = []
    for value in values:
        if isinstance(value, etree._Element):
            href = value.get("href")
            if href is None:
                href = next(iter(_FIRST_LINK(value)), None)
            if href:
                links.append(href)
        elif isinstance(value, str) and value.strip():
            links.append(value)
    return links


def structured_product_links(document: etree._Element) -> list[str]:
    """Product URLs a listing declares: JSON-LD ItemList entries and Products, then microdata Products."""
    links: list[str] = []
    for script in _JSON_LD(document):
        try:
            data = orjson.loads(script)
        except orjson.JSONDecodeError:
            # Hand-written JSON-LD often has raw control characters in strings, which strict parsers refuse.
            try:
                data = json.loads(script, strict=False)
            except ValueError:
                continue
        links.extend(_json_ld_links(data, 0))
    for product in _MICRODATA_PRODUCTS(document):
        url = next(iter(_MICRODATA_URL(product)), None) or next(iter(_FIRST_LINK(product)), None)
        if url:
            links.append(url)
    return links


def next_page_links(document: etree._Element, selector: str | None) -> list[str]:
    return selector_links(document, selector) if selector else list(_REL_NEXT(document))


def all_links(document: etree._Element) -> list[str]:
    return list(_ALL_LINKS(document))


def resolve(links: Iterable[str], base: str, sites: frozenset[str], pattern: re.Pattern[str] | None) -> Iterator[str]:
    """Absolute http(s) URLs on the crawl's sites (matching ``pattern`` when given), each once, in order."""
    seen: set[str] = set()
    for link in links:
        url = urljoin(base, link.strip()).split("#", 1)[0]
        if url in seen or not is_web_url(url) or site_of(url) not in sites:
            continue
        if pattern is not None and not pattern.search(url):
            continue
        seen.add(url)
        yield url


def _short(name: str) -> str:
    for prefix in _SCHEMA_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _types(node: dict[str, Any]) -> set[str]:
    raw = node.get("@type")
    values = raw if isinstance(raw, list) else [raw]
    return {_short(value) for value in values if isinstance(value, str)}


def _url_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("url", "@id"):
            if isinstance(value.get(key), str):
                return str(value[key])
    return None


def _json_ld_links(data: Any, depth: int) -> Iterator[str]:
    if depth > _MAX_DEPTH:
        return
    if isinstance(data, list):
        for item in data:
            yield from _json_ld_links(item, depth + 1)
        return
    if not isinstance(data, dict):
        return
    types = _types(data)
    if "ItemList" in types:
        elements = data.get("itemListElement")
        for element in elements if isinstance(elements, list) else [elements]:
            if isinstance(element, dict) and "item" in element:
                url = _url_of(element["item"]) or _url_of(element)
            else:
                url = _url_of(element)
            if url:
                yield url
    elif types & _PRODUCT_TYPES and isinstance(data.get("url"), str):
        yield data["url"]
    if "@graph" in data:
        yield from _json_ld_links(data["@graph"], depth + 1)
