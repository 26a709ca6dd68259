"""Matching with no I/O: identifier normalisation, exact and fuzzy matches, candidates and rejections."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from runtime.errors import InvalidArgument
from services.competitor.domain import MatchMethod
from services.competitor.matching import (
    AUTO_MATCH_CONFIDENCE,
    MIN_CANDIDATE_CONFIDENCE,
    REVIEW_CANDIDATES,
    CatalogIndex,
    ProductFacts,
    brand_key,
    gtin14,
    gtin14_or_none,
    gtin_check_digit,
    mpn_key,
    title_tokens,
)


@dataclass(frozen=True)
class Item:
    sku: str
    title: str
    brand: str = ""
    gtin: str = ""
    mpn: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)


def full_width(text: str) -> str:
    """`text` in the full-width forms East Asian pages use: ASCII shifted by U+FEE0."""
    return "".join(chr(ord(character) + 0xFEE0) for character in text)


def facts(title: str = "", brand: str = "", gtin: str = "", mpn: str = "") -> ProductFacts:
    return ProductFacts(title, brand, gtin, mpn)


CATALOG = [
    Item("KETTLE-17", "Electric kettle 1.7 l stainless steel", "Boilex", "4006381333931", "BX-17", {"colour": "steel"}),
    Item("KETTLE-20", "Electric kettle 2 l stainless steel", "Boilex", "", "BX-20", {"colour": "steel"}),
    Item("PHONE-128", "Nimbus X2 smartphone 128 GB midnight black", "Nimbus", "", "NX2-128"),
    Item("PHONE-256", "Nimbus X2 smartphone 256 GB midnight black", "Nimbus", "", "NX2-256"),
    Item("DRILL-18", "Cordless drill driver 18 V with 2 batteries", "Black+Decker", "", "BDC718"),
    Item("MUG-BLUE", "Stoneware mug 350 ml blue", "Hausgut", "036000291452", ""),
    Item("MUG-BLUE-2", "Stoneware mug 350 ml blue (pack of 2)", "Hausgut", "036000291452", ""),
]


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    return CatalogIndex(CATALOG)


# --- identifiers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("4006381333931", "04006381333931"),
        ("400-6381-33393 1", "04006381333931"),
        ("036000291452", "00036000291452"),
        ("96385074", "00000096385074"),
        ("00012345600012", "00012345600012"),
        ("10614141000415", "10614141000415"),
    ],
)
def test_gtins_of_every_length_become_gtin_14(printed: str, expected: str) -> None:
    assert gtin14(printed) == expected


@pytest.mark.parametrize(
    ("printed", "why"),
    [
        ("4006381333932", "wrong check digit"),
        ("40063813339", "8, 12, 13 or 14 digits"),
        ("4006381333931A", "only digits"),
        (full_width("4006381333931"), "only digits"),
        ("", "8, 12, 13 or 14 digits"),
        ("00000000", "zeros only"),
    ],
)
def test_bad_gtins_are_refused_with_the_reason(printed: str, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        gtin14(printed)
    assert gtin14_or_none(printed) is None


def test_the_check_digit_is_gs1_mod_10() -> None:
    assert gtin_check_digit("400638133393") == 1
    assert gtin_check_digit("03600029145") == 2
    assert gtin_check_digit("9638507") == 4
    for body in ("1234567", "12345678901", "999999999999", "1061414100041"):
        assert gtin14(body + str(gtin_check_digit(body))).endswith(body + str(gtin_check_digit(body)))
    assert all(gtin14_or_none(f"400638133393{digit}") is None for digit in "023456789")


def test_brands_and_mpns_compare_without_case_accents_or_punctuation() -> None:
    assert brand_key("Black+Decker") == brand_key("BLACK & DECKER") == brand_key("black decker") == "blackdecker"
    assert brand_key("Müller") == brand_key("MULLER") == brand_key("Mu\u0308ller")
    assert brand_key("Ørsted") == brand_key("orsted")
    assert brand_key("Boilex") != brand_key("Boilux")
    assert mpn_key("BX-17") == mpn_key("bx 17") == mpn_key("Bx17") == mpn_key(full_width("BX-17")) == "bx17"


def test_title_tokens_split_units_and_keep_decimals() -> None:
    assert title_tokens("Nimbus X2 128GB") == ["nimbus", "x", "2", "128", "gb"]
    assert title_tokens("Wasserkocher 1,7 l") == title_tokens("wasserkocher 1.7L") == ["wasserkocher", "1.7", "l"]
    assert title_tokens("Crème brûlée set — 4 pcs") == ["creme", "brulee", "set", "4", "pcs"]


# --- exact matches --------------------------------------------------------------------------------


def test_a_gtin_matches_exactly_whatever_its_length_on_the_page(index: CatalogIndex) -> None:
    outcome = index.match(facts("Some unrelated title", gtin="0-4006381-333931"))
    assert outcome.match is not None
    assert (outcome.match.sku, outcome.match.method, outcome.match.confidence) == ("KETTLE-17", MatchMethod.GTIN, 1.0)


def test_an_invalid_gtin_on_the_page_is_ignored(index: CatalogIndex) -> None:
    outcome = index.match(facts("Gardening gloves", gtin="4006381333932"))
    assert outcome.match is None


def test_brand_and_mpn_match_exactly_after_normalisation(index: CatalogIndex) -> None:
    outcome = index.match(facts("Akku-Bohrschrauber", brand="BLACK & DECKER", mpn="bdc-718"))
    assert outcome.match is not None
    assert (outcome.match.sku, outcome.match.method) == ("DRILL-18", MatchMethod.BRAND_MPN)
    assert index.match(facts("Akku-Bohrschrauber", brand="Bosch", mpn="BDC718")).match is None


def test_a_gtin_shared_by_several_skus_is_left_to_a_person(index: CatalogIndex) -> None:
    outcome = index.match(facts("Mug", gtin="036000291452"))
    assert outcome.match is None
    assert [(c.sku, c.method, c.confidence) for c in outcome.candidates] == [
        ("MUG-BLUE", MatchMethod.GTIN, 1.0),
        ("MUG-BLUE-2", MatchMethod.GTIN, 1.0),
    ]
    left = index.match(facts("Mug", gtin="036000291452"), rejected={"MUG-BLUE-2"})
    assert left.match is not None
    assert left.match.sku == "MUG-BLUE"


def test_a_rejected_exact_match_falls_back_to_the_next_method(index: CatalogIndex) -> None:
    outcome = index.match(
        facts("Boilex electric kettle 1.7 l stainless steel", "Boilex", "4006381333931"), rejected={"KETTLE-17"}
    )
    assert all(candidate.sku != "KETTLE-17" for candidate in outcome.candidates)
    assert outcome.match is None or outcome.match.sku != "KETTLE-17"


# --- fuzzy matches --------------------------------------------------------------------------------


def test_the_same_product_worded_differently_matches_confidently(index: CatalogIndex) -> None:
    outcome = index.match(facts("BOILEX Electric Kettle, Stainless Steel \u2013 1,7L"))
    assert outcome.match is not None
    assert outcome.match.sku == "KETTLE-17"
    assert outcome.match.method is MatchMethod.FUZZY
    assert AUTO_MATCH_CONFIDENCE <= outcome.match.confidence <= 1.0
    assert outcome.candidates[0] == outcome.match


def test_variants_differing_in_a_number_wait_for_review(index: CatalogIndex) -> None:
    outcome = index.match(facts("Nimbus X2 Smartphone 512GB Midnight Black", "Nimbus"))
    assert outcome.match is None
    skus = [candidate.sku for candidate in outcome.candidates]
    assert set(skus[:2]) == {"PHONE-128", "PHONE-256"}
    assert all(candidate.confidence < AUTO_MATCH_CONFIDENCE for candidate in outcome.candidates)


def test_the_right_variant_wins_by_its_number(index: CatalogIndex) -> None:
    outcome = index.match(facts("Nimbus X2 smartphone 256GB, midnight black", "Nimbus"))
    assert outcome.candidates[0].sku == "PHONE-256"
    assert outcome.candidates[1].sku == "PHONE-128"
    assert outcome.candidates[0].confidence - outcome.candidates[1].confidence > 0.1


def test_another_brand_lowers_confidence_below_the_threshold(index: CatalogIndex) -> None:
    same = index.match(facts("Electric kettle 1.7 l stainless steel", "Boilex"))
    other = index.match(facts("Electric kettle 1.7 l stainless steel", "Kettlemaster"))
    assert same.match is not None
    assert other.match is None
    assert other.candidates[0].confidence < same.candidates[0].confidence * 0.7


def test_named_attributes_add_confidence() -> None:
    plain = CatalogIndex([Item("A", "Stoneware mug 350 ml", "Hausgut")])
    described = CatalogIndex([Item("A", "Stoneware mug 350 ml", "Hausgut", attributes={"colour": "Sky blue"})])
    query = facts("Hausgut stoneware mug 350 ml sky blue")
    assert described.match(query).candidates[0].confidence > plain.match(query).candidates[0].confidence


def test_an_unrelated_product_has_no_candidates(index: CatalogIndex) -> None:
    outcome = index.match(facts("Garden hose reel 30 m with spray nozzle", "Hoseking"))
    assert outcome == type(outcome)(None, ())
    assert index.match(facts("")).candidates == ()


def test_near_identical_catalog_items_are_ambiguous() -> None:
    twins = CatalogIndex(
        [Item("RED-1", "Classic teapot 1 l red", "Potts"), Item("RED-2", "Classic teapot 1 l red", "Potts")]
    )
    outcome = twins.match(facts("Potts classic teapot 1 l red"))
    assert outcome.match is None
    assert [candidate.sku for candidate in outcome.candidates] == ["RED-1", "RED-2"]
    assert outcome.candidates[0].confidence >= AUTO_MATCH_CONFIDENCE


def test_rejected_skus_are_never_candidates(index: CatalogIndex) -> None:
    outcome = index.match(facts("Nimbus X2 smartphone 256GB midnight black", "Nimbus"), rejected={"PHONE-256"})
    assert "PHONE-256" not in [candidate.sku for candidate in outcome.candidates]


def test_a_large_catalog_finds_the_product_through_the_token_filter() -> None:
    rng = random.Random(5)
    nouns = ["kettle", "toaster", "blender", "drill", "lamp", "chair", "monitor", "speaker", "jacket", "pan"]
    words = ["electric", "cordless", "compact", "classic", "smart", "portable", "premium", "black", "white", "steel"]
    items = [
        Item(
            f"SKU-{number:05d}",
            f"{rng.choice(words)} {rng.choice(words)} {rng.choice(nouns)} {rng.randint(1, 99)} model Q{number}",
            f"Brand{number % 40}",
        )
        for number in range(20_000)
    ]
    large = CatalogIndex(items)
    for number in (7, 4_321, 19_999):
        target = items[number]
        # No brand on the page: the whole catalog is searched through the token filter.
        outcome = large.match(facts(" ".join(reversed(target.title.split()))))
        assert outcome.candidates[0].sku == target.sku
        assert len(outcome.candidates) <= REVIEW_CANDIDATES
        assert all(candidate.confidence >= MIN_CANDIDATE_CONFIDENCE for candidate in outcome.candidates)
