"""Matching competitor products to our catalog, with no I/O.

In this order: the GTIN (normalised to GTIN-14, check digit verified), then brand + MPN (both
normalised: case, accents, punctuation and spaces do not count), then a fuzzy score of title, brand
and attributes with rapidfuzz. An exact identifier shared by several of our skus proves nothing, so
those skus become candidates for a person to choose from.

Fuzzy confidence (0-1) of a competitor product against one catalog item:

    title    = mean of token_set_ratio and token_sort_ratio of the normalised titles (brand included)
    brand    times 1 when the brands agree, BRAND_UNKNOWN_FACTOR when one side has none,
             BRAND_MISMATCH_FACTOR when they differ
    numbers  times NUMBER_MISMATCH_FACTOR when both titles carry numbers and neither set holds the other
             ("128 GB" against "256 GB", "1.7 l" against "2 l")
    plus up to ATTRIBUTE_BONUS for the catalog item's attribute values that the competitor title names

The best candidate becomes an offer when it reaches AUTO_MATCH_CONFIDENCE and leads the runner-up by
AMBIGUITY_MARGIN; otherwise the top REVIEW_CANDIDATES wait for review.

Speed: a CatalogIndex is built once per catalog snapshot. Products with a brand the catalog knows are
scored against that brand's items (brand blocking); others, and very large brands, are scored against
the items that share the most informative title tokens with them (an IDF-weighted overlap computed
with numpy), so each product is scored against at most a few hundred items whatever the catalog size.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from rapidfuzz import fuzz, process

from runtime.errors import InvalidArgument
from services.competitor.domain import MatchMethod

AUTO_MATCH_CONFIDENCE = 0.90
# Two candidates this close are variants a person must tell apart, however high both score.
AMBIGUITY_MARGIN = 0.02
REVIEW_CANDIDATES = 5
# Candidates below this are not worth a person's time.
MIN_CANDIDATE_CONFIDENCE = 0.50
BRAND_MISMATCH_FACTOR = 0.6
BRAND_UNKNOWN_FACTOR = 0.92
NUMBER_MISMATCH_FACTOR = 0.8
ATTRIBUTE_BONUS = 0.05
# A brand with at most this many items is scored item by item; larger ones go through the token filter.
BLOCK_SCAN_LIMIT = 2_000
# Items the token filter hands to rapidfuzz per product.
SHORTLIST = 200
# The token filter reads at least this many of a product's rarest tokens, and more while their item lists
# stay within the budget.
MIN_FILTER_TOKENS = 3
POSTINGS_BUDGET = 20_000
# Items rapidfuzz's first pass keeps for the full confidence computation.
RESCORE = 25
_GTIN_LENGTHS = frozenset({8, 12, 13, 14})
_GTIN_SEPARATORS = re.compile(r"[\s\-]+")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
# A decimal comma or point between digits is part of the number: "1,7" and "1.7" are one token "1.7".
_DECIMAL = re.compile(r"(?<=\d)[.,](?=\d)")
_WORD = re.compile(r"[0-9]+(?:\.[0-9]+)?|[a-z]+")
# Latin letters Unicode does not decompose into a base letter and an accent.
_LATIN_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "\u0131": "i", "þ": "th"})


# --- identifiers ----------------------------------------------------------------------------------


def gtin14(text: str, *, field: str = "gtin") -> str:
    """A GTIN-8, -12 (UPC-A), -13 (EAN) or -14 as GTIN-14 (left-padded with zeros), its check digit verified.

    Spaces and dashes are ignored; anything else that is not a digit is refused."""
    digits = _GTIN_SEPARATORS.sub("", text)
    if digits and (not digits.isascii() or not digits.isdigit()):
        raise InvalidArgument(f"a GTIN holds only digits (spaces and dashes aside), got {text[:40]!r}", field=field)
    if len(digits) not in _GTIN_LENGTHS:
        raise InvalidArgument(f"a GTIN has 8, 12, 13 or 14 digits, got {len(digits)}", field=field)
    if not digits.strip("0"):
        raise InvalidArgument("a GTIN of zeros only is a placeholder, not a product", field=field)
    if gtin_check_digit(digits[:-1]) != int(digits[-1]):
        raise InvalidArgument(f"GTIN {digits} has a wrong check digit", field=field)
    return digits.zfill(14)


def gtin_check_digit(body: str) -> int:
    """The GS1 mod-10 check digit of the digits before it: weights 3, 1, 3, ... from the right."""
    total = sum(int(digit) * (3 if position % 2 == 0 else 1) for position, digit in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def gtin14_or_none(text: str) -> str | None:
    """gtin14 of a GTIN as a page printed it, or None when it is empty or not a valid GTIN."""
    if not text:
        return None
    try:
        return gtin14(text)
    except InvalidArgument:
        return None


def fold(text: str) -> str:
    """Lower case without accents or compatibility forms: "Ångström", "ANGSTROM" and its
    full-width form agree."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LATIN_LETTERS))
    return "".join(character for character in decomposed if not unicodedata.combining(character))


def brand_key(text: str) -> str:
    """A brand in the form brands are compared in: "Black+Decker", "BLACK & DECKER" and "black decker" agree."""
    return _NON_ALNUM.sub("", fold(text).replace("&", " "))


def mpn_key(text: str) -> str:
    """A manufacturer part number compared without case, accents, punctuation or spaces: "BX-17" is "bx 17"."""
    return _NON_ALNUM.sub("", fold(text))


def title_tokens(text: str) -> list[str]:
    """Words and numbers of a title, folded; letters and digits run together are split ("128GB" → 128, gb)."""
    return _WORD.findall(_DECIMAL.sub(".", fold(text)))


def _numbers(tokens: Iterable[str]) -> frozenset[str]:
    return frozenset(token for token in tokens if token[0].isdigit())


# --- the catalog side -----------------------------------------------------------------------------


class MatchableItem(Protocol):
    """What matching needs of one of our products (services.competitor.catalog.CatalogItem has it)."""

    @property
    def sku(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def brand(self) -> str: ...

    @property
    def gtin(self) -> str: ...

    @property
    def mpn(self) -> str: ...

    @property
    def attributes(self) -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """A competitor product as a page described it (identifiers as printed)."""

    title: str
    brand: str
    gtin: str
    mpn: str


@dataclass(frozen=True, slots=True)
class Candidate:
    sku: str
    confidence: float
    method: MatchMethod


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """An offer to make (`match`), or the candidates a person should choose from (best first; may be none)."""

    match: Candidate | None
    candidates: tuple[Candidate, ...]


class CatalogIndex:
    """A catalog snapshot prepared for matching; immutable, so one index serves concurrent batches."""

    def __init__(self, items: Sequence[MatchableItem]) -> None:
        self._skus = [item.sku for item in items]
        self._by_gtin: dict[str, list[int]] = {}
        self._by_brand_mpn: dict[tuple[str, str], list[int]] = {}
        self._brands: list[str] = []
        self._choices: list[str] = []
        self._numbers: list[frozenset[str]] = []
        self._attributes: list[tuple[frozenset[str], ...]] = []
        blocks: dict[str, list[int]] = {}
        postings: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            gtin = gtin14_or_none(item.gtin)
            if gtin is not None:
                self._by_gtin.setdefault(gtin, []).append(index)
            brand = brand_key(item.brand)
            mpn = mpn_key(item.mpn)
            if brand and mpn:
                self._by_brand_mpn.setdefault((brand, mpn), []).append(index)
            self._brands.append(brand)
            if brand:
                blocks.setdefault(brand, []).append(index)
            title = title_tokens(item.title)
            tokens = _with_brand(title, item.brand)
            self._choices.append(" ".join(tokens))
            self._numbers.append(_numbers(title))
            self._attributes.append(
                tuple(frozenset(words) for value in item.attributes.values() if (words := title_tokens(value)))
            )
            for token in set(tokens):
                postings.setdefault(token, []).append(index)
        self._blocks = {brand: (indices, [self._choices[i] for i in indices]) for brand, indices in blocks.items()}
        count = len(items)
        self._postings = {token: np.asarray(indices, dtype=np.int32) for token, indices in postings.items()}
        self._idf = {token: math.log((count + 1) / len(indices)) for token, indices in postings.items()}

    def __len__(self) -> int:
        return len(self._skus)

    def match(self, product: ProductFacts, *, rejected: Collection[str] = ()) -> MatchOutcome:
        """The product's offer or candidates; skus in `rejected` are never proposed."""
        exact = self._exact(product, rejected)
        if exact is not None:
            return exact
        candidates = self.fuzzy_candidates(product, rejected=rejected)
        best = candidates[0] if candidates else None
        runner_up = candidates[1].confidence if len(candidates) > 1 else 0.0
        if (
            best is not None
            and best.confidence >= AUTO_MATCH_CONFIDENCE
            and best.confidence - runner_up >= (AMBIGUITY_MARGIN)
        ):
            return MatchOutcome(best, tuple(candidates))
        return MatchOutcome(None, tuple(candidates))

    def _exact(self, product: ProductFacts, rejected: Collection[str]) -> MatchOutcome | None:
        gtin = gtin14_or_none(product.gtin)
        brand, mpn = brand_key(product.brand), mpn_key(product.mpn)
        lookups: list[tuple[MatchMethod, list[int]]] = []
        if gtin is not None:
            lookups.append((MatchMethod.GTIN, self._by_gtin.get(gtin, [])))
        if brand and mpn:
            lookups.append((MatchMethod.BRAND_MPN, self._by_brand_mpn.get((brand, mpn), [])))
        for method, indices in lookups:
            skus = [self._skus[i] for i in indices if self._skus[i] not in rejected]
            if len(skus) == 1:
                return MatchOutcome(Candidate(skus[0], 1.0, method), (Candidate(skus[0], 1.0, method),))
            if skus:
                found = tuple(Candidate(sku, 1.0, method) for sku in sorted(skus)[:REVIEW_CANDIDATES])
                return MatchOutcome(None, found)
        return None

    def fuzzy_candidates(self, product: ProductFacts, *, rejected: Collection[str] = ()) -> list[Candidate]:
        """Up to REVIEW_CANDIDATES fuzzy candidates of at least MIN_CANDIDATE_CONFIDENCE, best first."""
        title = title_tokens(product.title)
        if not title or not self._skus:
            return []
        tokens = _with_brand(title, product.brand)
        query = " ".join(tokens)
        brand = brand_key(product.brand)
        block = self._blocks.get(brand) if brand else None
        if block is not None and len(block[0]) <= BLOCK_SCAN_LIMIT:
            indices, choices = block
        else:
            indices = self._shortlist(tokens)
            choices = [self._choices[i] for i in indices]
        first_pass = process.extract(
            query, choices, scorer=fuzz.token_set_ratio, processor=None, limit=RESCORE, score_cutoff=40
        )
        numbers = _numbers(title)
        words = frozenset(tokens)
        scored: list[Candidate] = []
        for choice, _, position in first_pass:
            index = indices[position]
            sku = self._skus[index]
            if sku in rejected:
                continue
            confidence = self._confidence(query, choice, brand, numbers, words, index)
            if confidence >= MIN_CANDIDATE_CONFIDENCE:
                scored.append(Candidate(sku, confidence, MatchMethod.FUZZY))
        scored.sort(key=lambda candidate: (-candidate.confidence, candidate.sku))
        return scored[:REVIEW_CANDIDATES]

    def _confidence(
        self, query: str, choice: str, brand: str, numbers: frozenset[str], words: frozenset[str], index: int
    ) -> float:
        title = (fuzz.token_set_ratio(query, choice) + fuzz.token_sort_ratio(query, choice)) / 200
        theirs = self._brands[index]
        if brand and theirs:
            title *= 1.0 if brand == theirs else BRAND_MISMATCH_FACTOR
        elif brand or theirs:
            title *= BRAND_UNKNOWN_FACTOR
        ours = self._numbers[index]
        if numbers and ours and not (numbers <= ours or ours <= numbers):
            title *= NUMBER_MISMATCH_FACTOR
        attributes = self._attributes[index]
        if attributes:
            named = sum(1 for value in attributes if value <= words)
            title += ATTRIBUTE_BONUS * named / len(attributes)
        return round(min(1.0, title), 4)

    def _shortlist(self, tokens: Sequence[str]) -> list[int]:
        """The SHORTLIST items sharing the most informative tokens with `tokens` (IDF-weighted overlap)."""
        known = sorted((token for token in set(tokens) if token in self._postings), key=lambda t: -self._idf[t])
        scores = np.zeros(len(self._skus))
        read = 0
        for rank, token in enumerate(known):
            postings = self._postings[token]
            # The rarest tokens decide the shortlist; common ones ("black", "set") only refine it.
            if rank >= MIN_FILTER_TOKENS and read + len(postings) > POSTINGS_BUDGET:
                break
            scores[postings] += self._idf[token]
            read += len(postings)
        hits = np.flatnonzero(scores)
        if len(hits) > SHORTLIST:
            # Equal scores are common (items sharing the same rare tokens); ranking them by sku order keeps
            # the shortlist reproducible.
            order = np.lexsort((hits, -scores[hits]))
            hits = hits[order[:SHORTLIST]]
        return hits.tolist()


def _with_brand(tokens: list[str], brand: str) -> list[str]:
    """Title tokens with the brand's words added when the title does not name it."""
    words = title_tokens(brand)
    if not words or _contains(tokens, words):
        return tokens
    return [*words, *tokens]


def _contains(tokens: Sequence[str], words: Sequence[str]) -> bool:
    if len(words) == 1:
        return words[0] in tokens
    return f" {' '.join(words)} " in f" {' '.join(tokens)} "
