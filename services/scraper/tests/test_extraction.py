"""Extraction against a labelled set of product pages, plus price parsing, selectors and input limits."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from lxml import html as lxml_html

from runtime.errors import InvalidArgument
from runtime.money import Money
from services.scraper.extraction import (
    MAX_PAGE_BYTES,
    ExtractedOffer,
    ExtractionMethod,
    SourceOptions,
    extract_offer,
    parse_price,
)
from services.scraper.extraction import extract as extract_module
from services.scraper.extraction.selectors import read_selector
from services.scraper.extraction.stock import availability_from_schema, availability_from_text

PAGES = Path(__file__).parent / "pages"
LABELS: dict[str, dict[str, Any]] = json.loads((PAGES / "labels.json").read_text(encoding="utf-8"))


def _extract(name: str, page: bytes | str | None = None) -> ExtractedOffer:
    options = SourceOptions(**LABELS[name]["options"])
    return extract_offer(
        page if page is not None else (PAGES / name).read_bytes(), f"https://shop.example/{name}", options
    )


def test_every_page_in_the_fixture_directory_is_labelled() -> None:
    assert sorted(path.name for path in PAGES.glob("*.html")) == sorted(LABELS)


@pytest.mark.parametrize("name", sorted(LABELS))
def test_labelled_page_is_extracted_as_labelled(name: str) -> None:
    label = LABELS[name]
    offer = _extract(name)

    assert (offer.price.amount_minor if offer.price else None) == label["price_minor"]
    assert offer.currency == label["currency"]
    assert offer.in_stock is label["in_stock"]
    assert offer.title == label["title"]
    assert (offer.method.value if offer.method else None) == label["method"]
    if offer.price is None:
        assert offer.confidence == 0.0
        assert "no price found on the page" in offer.notes
    else:
        assert offer.price.currency == offer.currency
        assert 0.0 < offer.confidence <= 1.0


@pytest.mark.parametrize("name", ["jsonld_product.html", "jpy.html", "european_selector.html"])
def test_str_input_reads_like_bytes(name: str) -> None:
    assert _extract(name, (PAGES / name).read_text(encoding="utf-8")) == _extract(name)


def test_money_is_integer_minor_units_and_no_float_leaks_out() -> None:
    # The JSON-LD price is the JSON number 1299.99, i.e. a float inside extruct.
    offer = _extract("jsonld_product.html")
    assert offer.price == Money(129999, "USD")
    assert type(offer.price.amount_minor) is int
    for field in dataclasses.fields(offer):
        value = getattr(offer, field.name)
        assert not isinstance(value, float) or field.name == "confidence", field.name


def test_missing_fields_are_filled_from_every_method() -> None:
    offer = _extract("jsonld_product.html")
    assert (offer.brand, offer.gtin, offer.mpn, offer.image) == (
        "Acme",
        "4006381333931",
        "TR2-BLK-42",
        "https://shop.example/img/tr2.jpg",
    )
    assert _extract("microdata.html").brand == "Brewster"
    assert _extract("opengraph.html").image == "https://shop.example/syrup.jpg"


def test_agreeing_methods_raise_confidence_and_disagreeing_ones_lower_it_with_a_note() -> None:
    agreed = _extract("sale_structured.html")  # JSON-LD and the visible (non-struck) price agree
    assert agreed.confidence > 0.9
    selector = _extract("european_selector.html")  # heuristics catch a related product's price
    assert selector.method is ExtractionMethod.SELECTOR
    assert selector.confidence < 0.85
    assert any("heuristic read a different price (8900 EUR)" in note for note in selector.notes)


def test_heuristics_prefer_the_price_that_is_not_struck_through() -> None:
    page = (PAGES / "sale_structured.html").read_text(encoding="utf-8")
    without_json_ld = page.split("<script", 1)[0] + page.split("</script>", 1)[1]
    offer = extract_offer(without_json_ld, "https://shop.example/jacket")
    assert offer.method is ExtractionMethod.HEURISTIC
    assert offer.price == Money(7900, "EUR")


def test_structured_data_wins_over_the_source_selector() -> None:
    options = SourceOptions(price_selector="del")
    offer = extract_offer((PAGES / "sale_structured.html").read_bytes(), "https://shop.example/jacket", options)
    assert offer.method is ExtractionMethod.JSON_LD
    assert offer.price == Money(7900, "EUR")
    assert any("selector read a different price (9900 EUR)" in note for note in offer.notes)


def test_selector_that_matches_nothing_falls_back_to_heuristics_with_a_note() -> None:
    options = SourceOptions(price_selector="#no-such-element", default_currency="GBP")
    offer = extract_offer((PAGES / "gbp.html").read_bytes(), "https://shop.example/table", options)
    assert offer.method is ExtractionMethod.HEURISTIC
    assert offer.price == Money(129900, "GBP")
    assert "selector: price selector matched nothing" in offer.notes


def test_malformed_json_ld_is_noted_and_the_page_still_read() -> None:
    offer = _extract("malformed.html")
    assert "json-ld present but unreadable" in offer.notes
    assert offer.price == Money(1999, "USD")


def test_page_charset_is_honoured_for_bytes() -> None:
    page = (
        '<html><head><meta charset="iso-8859-1"></head>'
        '<body><h1>Größe 42</h1><p class="price">19,99 EUR</p></body></html>'
    )
    offer = extract_offer(page.encode("iso-8859-1"), "https://shop.example/shoe")
    assert offer.title == "Größe 42"
    assert offer.price == Money(1999, "EUR")


def test_xml_declared_str_page_is_read() -> None:
    page = (
        '<?xml version="1.0" encoding="utf-8"?><html><body><h1>Hat</h1><span class="price">£12.00</span></body></html>'
    )
    assert extract_offer(page, "https://shop.example/hat").price == Money(1200, "GBP")


@pytest.mark.parametrize("page", [b"", "   \n"])
def test_empty_page_has_no_price_and_says_so(page: bytes | str) -> None:
    offer = extract_offer(page, "https://shop.example/empty")
    assert offer.price is None
    assert offer.notes == ("page is empty",)


@pytest.mark.parametrize(
    "page", [b"x" * (MAX_PAGE_BYTES + 1), "x" * (MAX_PAGE_BYTES + 1), "é" * (MAX_PAGE_BYTES // 2 + 1)]
)
def test_huge_page_is_refused_before_parsing(page: bytes | str, monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_parse(*_: object, **__: object) -> None:
        raise AssertionError("parsed a page over the size cap")

    monkeypatch.setattr(extract_module, "structured_readings", must_not_parse)
    monkeypatch.setattr(lxml_html, "document_fromstring", must_not_parse)
    with pytest.raises(InvalidArgument) as refused:
        extract_offer(page, "https://shop.example/huge")
    assert refused.value.field == "html"


def test_page_without_a_document_has_no_price_and_says_so() -> None:
    offer = extract_offer("<!-- only a comment -->", "https://shop.example/comment")
    assert offer.price is None
    assert offer.notes == ("page could not be parsed: Document is empty",)


def test_page_url_is_required() -> None:
    with pytest.raises(InvalidArgument) as refused:
        extract_offer(b"<html></html>", " ")
    assert refused.value.field == "url"


@pytest.mark.parametrize(
    ("text", "default_currency", "decimal_separator", "expected"),
    [
        ("1.299,00 €", None, None, Money(129900, "EUR")),
        ("1\u00a0299,00\u00a0€", None, None, Money(129900, "EUR")),
        ("12,99 €", None, None, Money(1299, "EUR")),
        ("1.299", "EUR", ",", Money(129900, "EUR")),
        ("1.299", "USD", None, Money(129900, "USD")),
        ("£1,299", None, None, Money(129900, "GBP")),
        ("1 299 kr", "SEK", None, Money(129900, "SEK")),
        ("1 299 kr", "NOK", None, Money(129900, "NOK")),
        ("$1,299.99", None, None, Money(129999, "USD")),
        ("$1,299.99", "CAD", None, Money(129999, "CAD")),
        ("C$24.50", "USD", None, Money(2450, "CAD")),
        ("1'299.\u2013", "CHF", None, Money(129900, "CHF")),
        ("CHF 1'299.50", None, None, Money(129950, "CHF")),
        ("¥12,800", None, None, Money(12800, "JPY")),
        ("¥12,800", "CNY", None, Money(1280000, "CNY")),
        ("4,50 zł", None, None, Money(450, "PLN")),
        ("EUR 19.99", "USD", None, Money(1999, "EUR")),
        ("19.99", "USD", ".", Money(1999, "USD")),
        ("Now only 79,00 €", None, ",", Money(7900, "EUR")),
    ],
)
def test_price_text_parses_by_locale(
    text: str, default_currency: str | None, decimal_separator: str | None, expected: Money
) -> None:
    price = parse_price(text, default_currency=default_currency, decimal_separator=decimal_separator)
    assert price == expected
    assert type(price.amount_minor) is int


def test_structured_values_use_a_dot_as_decimal_mark() -> None:
    assert parse_price("1299.5", currency_hint="EUR", machine_readable=True) == Money(129950, "EUR")
    with pytest.raises(InvalidArgument, match="more decimals"):
        parse_price("1.299", currency_hint="EUR", machine_readable=True)


@pytest.mark.parametrize(
    ("text", "default_currency", "message"),
    [
        ("-5,00 €", None, "negative"),
        ("€ -5", None, "negative"),
        ("\u22125 €", None, "negative"),
        ("0,00 €", None, "not a positive price"),
        ("999.999.999.999 €", None, "implausibly large"),
        ("19.995", "EUR", "more decimals"),
        ("¥12.5", None, "more decimals"),
        ("19.99", None, "no currency"),
        ("call us", "EUR", "no number"),
        ("", "EUR", "no price text"),
    ],
)
def test_unusable_price_text_is_refused(text: str, default_currency: str | None, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_price(text, default_currency=default_currency, decimal_separator="." if "19.995" in text else None)


@pytest.mark.parametrize(
    "selector",
    [
        "div[",
        "//div[",
        "xpath:count(",
        "a:nonsense",
        "a::before",
        "p:nth-child(x)",
        ">div",
        "div >",
        "div,",
        "span[x=42]",
        "",
        "  ",
        "#",
        ".1x",
    ],
)
def test_invalid_selector_is_refused_up_front(selector: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        SourceOptions(price_selector=selector)
    assert refused.value.field == "price_selector"


def test_selector_longer_than_the_limit_is_refused() -> None:
    with pytest.raises(InvalidArgument) as refused:
        SourceOptions(title_selector="div " * 300)
    assert refused.value.field == "title_selector"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"default_currency": "EURO"}, "default_currency"),
        ({"default_currency": "XXX"}, "default_currency"),
        ({"decimal_separator": ";"}, "decimal_separator"),
    ],
)
def test_invalid_source_options_are_refused(options: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        SourceOptions(**options)
    assert refused.value.field == field


_SELECTOR_PAGE = lxml_html.document_fromstring(
    '<html><body><div id="main" class="product  main"><span class="price sale" data-x="p-42">€1</span>'
    '<p><span class="price">€2</span></p><meta itemprop="price" content="3.00"></div>'
    '<a href="/it\'s">link</a></body></html>'
)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("#main .price", "€1"),
        ("div > p > span.price", "€2"),
        ("div.main > .price.sale", "€1"),
        ("span[data-x]", "€1"),
        ("span[data-x='p-42']", "€1"),
        ('span[data-x^="p-"]', "€1"),
        ('span[data-x$="42"]', "€1"),
        ("span[data-x*='-4']", "€1"),
        ("div[class~=product]", "€1€2"),
        ("meta[itemprop=price]", "3.00"),
        ('a[href="/it\'s"]', "link"),
        ("p span, #nothing", "€2"),
        ("css:P > SPAN", "€2"),
        ("//p/span/text()", "€2"),
        ("xpath:string(//meta/@content)", "3.00"),
        ("span.missing", None),
        ("xpath:count(//span)", None),
    ],
)
def test_selectors_read_the_expected_text(selector: str, expected: str | None) -> None:
    assert read_selector(_SELECTOR_PAGE, selector) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://schema.org/InStock", True),
        ("http://schema.org/LimitedAvailability", True),
        ("schema:OutOfStock", False),
        ("https://schema.org/SoldOut/", False),
        ("Discontinued", False),
        ("oos", False),
        ("instock", True),
        ("https://schema.org/PreOrder", None),
        ("", None),
        (None, None),
    ],
)
def test_schema_availability(value: str | None, expected: bool | None) -> None:
    assert availability_from_schema(value) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sold out. Notify me when back in stock", False),
        ("Currently unavailable", False),
        ("Leider ausverkauft", False),
        ("In stock, ships tomorrow", True),
        ("Notify me when back in stock", None),
        ("Free returns", None),
    ],
)
def test_stock_words(text: str, expected: bool | None) -> None:
    assert availability_from_text(text) is expected
