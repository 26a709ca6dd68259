"""Operator selectors (XPath, or CSS translated to XPath by cssselect), compiled once and read safely."""

from __future__ import annotations

from functools import lru_cache

from cssselect import HTMLTranslator, SelectorError
from lxml import etree

from runtime.errors import InvalidArgument

MAX_SELECTOR_LENGTH = 1000

_XPATH_START = ("/", "./", "(")
_PROBE_DOCUMENT = etree.fromstring("<html><body/></html>")
_CSS = HTMLTranslator()


@lru_cache(maxsize=256)
def compile_selector(selector: str, *, field: str = "selector") -> etree.XPath:
    """The compiled XPath for an operator selector; InvalidArgument naming the field when it is not valid."""
    if not isinstance(selector, str) or not selector.strip():
        raise InvalidArgument("selector is empty", field=field)
    if len(selector) > MAX_SELECTOR_LENGTH:
        raise InvalidArgument(f"selector is longer than {MAX_SELECTOR_LENGTH} characters", field=field)
    text = selector.strip()
    if text.startswith("xpath:"):
        xpath = text.removeprefix("xpath:").strip()
    elif text.startswith("css:"):
        xpath = css_to_xpath(text.removeprefix("css:").strip(), field=field)
    elif text.startswith(_XPATH_START):
        xpath = text
    else:
        xpath = css_to_xpath(text, field=field)
    try:
        compiled = etree.XPath(xpath)
        # libxml2 reports some syntax errors (an unclosed call) only when the expression first runs.
        compiled(_PROBE_DOCUMENT)
    except (etree.XPathSyntaxError, etree.XPathEvalError) as error:
        raise InvalidArgument(f"invalid XPath {xpath!r}: {error}", field=field) from None
    return compiled


def read_selector(document: etree._Element, selector: str) -> str | None:
    """The first non-empty string the selector yields: an element's ``content`` attribute or text, or a string."""
    try:
        found = compile_selector(selector)(document)
    except etree.XPathEvalError:
        return None
    values = found if isinstance(found, list) else [found]
    for value in values:
        text = _as_text(value)
        if text:
            return text
    return None


def _as_text(value: object) -> str | None:
    if isinstance(value, etree._Element):
        content = value.get("content")
        text = content if content is not None else "".join(value.itertext())
        return " ".join(text.split()) or None
    if isinstance(value, str):
        return " ".join(value.split()) or None
    return None  # numbers and booleans: a float must never become a price


def css_to_xpath(css: str, *, field: str = "selector") -> str:
    if not css:
        raise InvalidArgument("CSS selector is empty", field=field)
    try:
        return str(_CSS.css_to_xpath(css))
    except SelectorError as error:
        raise InvalidArgument(f"invalid CSS selector {css!r}: {error}", field=field) from None
