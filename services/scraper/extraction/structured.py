"""Offers from embedded structured data: schema.org Product in JSON-LD, microdata and RDFa, and OpenGraph."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import extruct
from lxml import etree

from runtime.errors import InvalidArgument
from services.scraper.extraction.options import SourceOptions
from services.scraper.extraction.prices import parse_price
from services.scraper.extraction.result import ExtractionMethod, Reading
from services.scraper.extraction.source import PageSource
from services.scraper.extraction.stock import availability_from_schema

_SYNTAXES = (
    ("json-ld", ExtractionMethod.JSON_LD),
    ("microdata", ExtractionMethod.MICRODATA),
    ("rdfa", ExtractionMethod.RDFA),
    ("opengraph", ExtractionMethod.OPENGRAPH),
)
_SCHEMA_PREFIXES = ("http://schema.org/", "https://schema.org/", "schema:")
_GTIN_KEYS = ("gtin", "gtin13", "gtin14", "gtin12", "gtin8", "isbn")
_MAX_DEPTH = 8

Node = dict[str, Any]


def structured_readings(
    source: PageSource, document: etree._Element, url: str, options: SourceOptions
) -> tuple[list[Reading], list[str]]:
    """One reading per syntax that describes a product, in JSON-LD, microdata, RDFa, OpenGraph order.

    ``document`` is ``source`` already parsed. A syntax runs only when its marker is in the page: extruct is
    the costliest part of extraction, and a page without "itemscope" holds no microdata to find.
    """
    readings: list[Reading] = []
    notes: list[str] = []
    for syntax, method in _SYNTAXES:
        if not _present(syntax, source):
            continue
        # pyRdfa walks a DOM-flavoured tree of extruct's own parser, so RDFa pages are parsed once more.
        items = _extruct(source.text if syntax == "rdfa" else document, url, syntax)
        if items is None:
            notes.append(f"{syntax} present but unreadable")
            continue
        reading = _opengraph_reading(items, options) if syntax == "opengraph" else None
        if syntax != "opengraph":
            nodes = _rdfa_nodes(items) if syntax == "rdfa" else list(_flatten(items))
            product = _pick_product(nodes, url)
            reading = _product_reading(product, method, options) if product is not None else None
        if reading is not None:
            readings.append(reading)
    return readings, notes


def _extruct(page: etree._Element | str, url: str, syntax: str) -> list[Any] | None:
    try:
        data = extruct.extract(page, base_url=url, syntaxes=[syntax], uniform=True, errors="ignore")
    except KeyError:
        # extruct's uniform step looks the syntax up even when extracting it failed.
        return None
    items = data.get(syntax)
    return items if isinstance(items, list) else None


def _present(syntax: str, source: PageSource) -> bool:
    """Whether the page can hold this syntax: extruct finds microdata by the itemscope attribute and RDFa
    types by typeof; the JSON-LD script type and OpenGraph and product property prefixes are as written."""
    if syntax == "json-ld":
        return source.has("application/ld+json")
    if syntax == "opengraph":
        return source.has("og:") or source.has("product:")
    return source.has_name("itemscope" if syntax == "microdata" else "typeof")


def _flatten(items: Any, depth: int = 0) -> Iterator[Node]:
    if depth > _MAX_DEPTH:
        return
    if isinstance(items, list):
        for item in items:
            yield from _flatten(item, depth + 1)
    elif isinstance(items, dict):
        yield items
        if "@graph" in items:
            yield from _flatten(items["@graph"], depth + 1)


def _short(name: str) -> str:
    for prefix in _SCHEMA_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _types(node: Node) -> set[str]:
    raw = node.get("@type")
    values = raw if isinstance(raw, list) else [raw]
    return {_short(value) for value in values if isinstance(value, str)}


def _pick_product(nodes: list[Node], url: str) -> Node | None:
    products = [node for node in nodes if _types(node) & {"Product", "ProductModel", "IndividualProduct"}]
    for product in products:
        if _text(product.get("url")) == url:
            return product
    priced = [product for product in products if _first_offer(product) is not None]
    return next(iter(priced or products), None)


def _offers(product: Node) -> list[Node]:
    raw = product.get("offers")
    values = raw if isinstance(raw, list) else [raw]
    return [value for value in values if isinstance(value, dict)]


def _price_fields(offer: Node) -> tuple[Any, Any]:
    price = offer.get("price")
    currency = offer.get("priceCurrency")
    if price is None and "AggregateOffer" in _types(offer):
        price = offer.get("lowPrice")
    spec = offer.get("priceSpecification")
    spec = spec[0] if isinstance(spec, list) and spec else spec
    if price is None and isinstance(spec, dict):
        price, currency = spec.get("price"), currency or spec.get("priceCurrency")
    return price, currency


def _first_offer(product: Node) -> Node | None:
    return next((offer for offer in _offers(product) if _price_fields(offer)[0] is not None), None)


def _product_reading(product: Node, method: ExtractionMethod, options: SourceOptions) -> Reading:
    offer = _first_offer(product)
    offers = _offers(product)
    availability_source = offer or (offers[0] if offers else {})
    notes: list[str] = []
    price = None
    currency = _text(availability_source.get("priceCurrency"))
    if offer is None:
        notes.append(f"{method.value}: product has no offer price")
    else:
        raw_price, raw_currency = _price_fields(offer)
        currency = _text(raw_currency)
        try:
            price = parse_price(
                _text(raw_price) or "",
                default_currency=options.default_currency,
                decimal_separator=options.decimal_separator,
                currency_hint=currency,
                machine_readable=True,
            )
        except InvalidArgument as error:
            notes.append(f"{method.value}: {error.message}")
    return Reading(
        method=method,
        price=price,
        currency=price.currency if price else currency,
        in_stock=availability_from_schema(_text(availability_source.get("availability"))),
        title=_text(product.get("name")),
        brand=_text(product.get("brand")),
        gtin=next((value for key in _GTIN_KEYS if (value := _text(product.get(key)))), None),
        mpn=_text(product.get("mpn")),
        image=_text(product.get("image")),
        notes=tuple(notes),
    )


def _text(value: Any) -> str | None:
    """A property as text: the first of a list, an object's name/url/@value/@id."""
    if isinstance(value, list):
        return next((text for item in value if (text := _text(item))), None)
    if isinstance(value, dict):
        for key in ("name", "url", "contentUrl", "@value", "@id"):
            if (text := _text(value.get(key))) is not None:
                return text
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        # JSON numbers arrive as floats; str() is the shortest decimal that round-trips, so "1299.99" stays exact.
        return str(value)
    if isinstance(value, str):
        return " ".join(value.split()) or None
    return None


def _rdfa_nodes(items: list[Node]) -> list[Node]:
    """RDFa comes as flattened expanded JSON-LD; rebuild nested nodes with short schema.org keys."""
    by_id = {item["@id"]: item for item in items if isinstance(item, dict) and "@id" in item}
    return [_rdfa_node(item, by_id, 0) for item in items if isinstance(item, dict)]


def _rdfa_node(item: Node, by_id: dict[str, Node], depth: int) -> Node:
    node: Node = {"@type": [_short(value) for value in item.get("@type", [])]}
    for key, values in item.items():
        if key.startswith("@") or not isinstance(values, list):
            continue
        converted: list[Any] = []
        for value in values:
            ref = value.get("@id") if isinstance(value, dict) else None
            if ref in by_id and depth < _MAX_DEPTH:
                converted.append(_rdfa_node(by_id[ref], by_id, depth + 1))
            elif isinstance(value, dict):
                converted.append(value.get("@value", ref))
        node[_short(key)] = converted[0] if len(converted) == 1 else converted
    return node


def _opengraph_reading(items: list[Node], options: SourceOptions) -> Reading | None:
    tags: Node = {}
    for item in items:
        tags.update({key: value for key, value in item.items() if not key.startswith("@")})
    if not tags:
        return None
    raw_price = _text(tags.get("product:price:amount") or tags.get("og:price:amount"))
    currency = _text(tags.get("product:price:currency") or tags.get("og:price:currency"))
    price = None
    notes: list[str] = []
    if raw_price is not None:
        try:
            price = parse_price(
                raw_price,
                default_currency=options.default_currency,
                decimal_separator=options.decimal_separator,
                currency_hint=currency,
                machine_readable=True,
            )
        except InvalidArgument as error:
            notes.append(f"opengraph: {error.message}")
    return Reading(
        method=ExtractionMethod.OPENGRAPH,
        price=price,
        currency=price.currency if price else currency,
        in_stock=availability_from_schema(_text(tags.get("product:availability") or tags.get("og:availability"))),
        title=_text(tags.get("og:title")),
        brand=_text(tags.get("product:brand")),
        image=_text(tags.get("og:image")),
        notes=tuple(notes),
    )
