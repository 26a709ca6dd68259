"""Catalog rules: validation with clear field errors, field masks, price events, category trees."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from runtime.errors import AlreadyExists, InvalidArgument
from runtime.money import Money
from services.product import domain
from services.product.domain import (
    Category,
    ChangeContext,
    MoneyInput,
    ProductDraft,
    ProductFilter,
    ProductStatus,
)
from services.product.tests.support import ORG_A, START, draft, eur


def valid(product_draft: ProductDraft) -> domain.Product:
    sku = domain.validate_sku(product_draft.sku)
    return domain.new_product(ORG_A, sku, domain.validate_draft(product_draft), now=START)


def refused(product_draft: ProductDraft) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        valid(product_draft)
    return caught.value


CONTEXT = ChangeContext(actor_id="usr_1", reason="competitor moved", source="UpdateProduct", time=START)


def event_ids() -> str:
    return "pe_1"


# --- sku ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sku", ["A", "sku-1", "SKU_2.v3:blue", "x" * 64, "0123456789"])
def test_skus_of_ascii_letters_digits_and_separators_are_accepted(sku: str) -> None:
    assert valid(draft(sku)).sku == sku


@pytest.mark.parametrize("sku", ["", "x" * 65, "a/b", "a b", "ümlaut", "a\n", "a,b", "#1"])
def test_other_skus_are_refused_on_the_sku_field(sku: str) -> None:
    error = refused(draft(sku))
    assert error.field == "sku"
    assert "1-64 characters" in error.message


# --- title, brand, mpn ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        "Kaffeemühle „Café Crème“ \u2013 250 g",
        "東京タワー 模型 1/500",
        "قهوة عربية",
        "Ёлочная игрушка",
        "e\u0301clair (combining accent)",
        "Party pack 🎉🥳 with 👨‍👩‍👧 family emoji",
    ],
)
def test_unicode_titles_are_kept_exactly(title: str) -> None:
    assert valid(draft("u-1", title=title)).title == title


def test_title_is_stripped_and_required() -> None:
    assert valid(draft("t-1", title="  Mug  ")).title == "Mug"
    for blank in ("", "   ", "\u3000"):
        error = refused(draft("t-1", title=blank))
        assert (error.field, error.message) == ("title", "title is required")


def test_title_may_hold_500_characters_but_not_501() -> None:
    assert len(valid(draft("t-1", title="é" * 500)).title) == 500
    error = refused(draft("t-1", title="é" * 501))
    assert error.field == "title"
    assert "at most 500 characters" in error.message


def test_a_one_megabyte_title_is_refused_without_echoing_it() -> None:
    error = refused(draft("t-1", title="A" * 1_048_576))
    assert error.field == "title"
    assert len(error.message) < 200


@pytest.mark.parametrize("title", ["line\nbreak", "tab\there", "nul\x00 inside", "c1\x85 inside", "del\x7f inside"])
def test_control_characters_in_a_title_are_refused(title: str) -> None:
    assert refused(draft("t-1", title=title)).field == "title"


def test_brand_and_mpn_are_limited_to_200_characters() -> None:
    assert valid(draft("b-1", brand="B" * 200, mpn="M" * 200)).brand == "B" * 200
    assert refused(draft("b-1", brand="B" * 201)).field == "brand"
    assert refused(draft("b-1", mpn="M" * 201)).field == "mpn"


# --- money ----------------------------------------------------------------------------------------


def test_price_is_required_and_must_be_positive() -> None:
    assert (refused(draft("p-1", price=None)).field, refused(draft("p-1", price=None)).message) == (
        "price",
        "price is required",
    )
    assert "greater than zero" in refused(draft("p-1", price=eur(0))).message


def test_a_negative_price_is_refused() -> None:
    error = refused(draft("p-1", price=eur(-1)))
    assert (error.field, error.message) == ("price", "price must not be negative")


@pytest.mark.parametrize("name", ["cost", "map_price"])
def test_negative_cost_and_map_price_are_refused_and_zero_is_allowed(name: str) -> None:
    assert refused(draft("p-1", **{name: eur(-5)})).field == name
    assert getattr(valid(draft("p-1", **{name: eur(0)})), name) == Money(0, "EUR")


def test_cost_and_map_price_are_optional() -> None:
    product = valid(draft("p-1", cost=None, map_price=None))
    assert product.cost is None
    assert product.map_price is None


@pytest.mark.parametrize(
    ("currency", "message"),
    [
        ("XXX", "not a currency that prices can be set in"),
        ("XAU", "not a currency that prices can be set in"),
        ("EURO", "not an ISO 4217 currency code"),
        ("eur", "not an ISO 4217 currency code"),
        ("", "not an ISO 4217 currency code"),
        ("ABC", "unknown currency"),
    ],
)
def test_unknown_currencies_are_refused_on_the_currency_field(currency: str, message: str) -> None:
    error = refused(draft("c-1", price=MoneyInput(100, currency), cost=None))
    assert error.field == "price.currency"
    assert message in error.message


def test_every_money_field_shares_the_price_currency() -> None:
    error = refused(draft("c-1", price=eur(1000), cost=MoneyInput(500, "USD")))
    assert error.field == "cost.currency"
    assert "all money fields share one currency" in error.message
    assert refused(draft("c-1", map_price=MoneyInput(900, "GBP"))).field == "map_price.currency"


def test_currencies_without_minor_units_are_fine() -> None:
    product = valid(draft("jp-1", price=MoneyInput(500, "JPY"), cost=MoneyInput(300, "JPY")))
    assert product.currency == "JPY"


def test_amounts_beyond_the_money_range_are_refused() -> None:
    assert refused(draft("r-1", price=eur(10**15 + 1))).field == "price"


# --- gtin -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("gtin", ["96385074", "036000291452", "4006381333931", "5901234123457", "10614141000415"])
def test_gtins_with_a_valid_check_digit_are_accepted(gtin: str) -> None:
    assert valid(draft("g-1", gtin=gtin)).gtin == gtin


def test_an_empty_gtin_means_none() -> None:
    assert valid(draft("g-1", gtin="")).gtin == ""


@pytest.mark.parametrize("gtin", ["4006381333932", "036000291453", "96385075", "10614141000416"])
def test_a_wrong_check_digit_is_refused(gtin: str) -> None:
    error = refused(draft("g-1", gtin=gtin))
    assert (error.field, error.message) == ("gtin", f"gtin {gtin} has a wrong check digit")


FULLWIDTH_GTIN = "4006381333931".translate({ord(digit): 0xFF10 + int(digit) for digit in "0123456789"})


@pytest.mark.parametrize("gtin", ["1234567", "123456789", "40063813339311", "400638133393X", FULLWIDTH_GTIN])
def test_gtins_of_the_wrong_length_or_with_non_digits_are_refused(gtin: str) -> None:
    error = refused(draft("g-1", gtin=gtin))
    assert error.field == "gtin"
    assert "8, 12, 13 or 14 digits" in error.message or "check digit" in error.message


# --- stock and attributes -------------------------------------------------------------------------


def test_stock_must_not_be_negative() -> None:
    assert valid(draft("s-1", stock=0)).stock == 0
    assert refused(draft("s-1", stock=-1)).field == "stock"


def test_attributes_are_limited_in_count_and_size() -> None:
    assert len(valid(draft("a-1", attributes={f"k{i}": "v" for i in range(100)})).attributes) == 100
    assert refused(draft("a-1", attributes={f"k{i}": "v" for i in range(101)})).field == "attributes"
    assert refused(draft("a-1", attributes={"k" * 101: "v"})).field == "attributes"
    assert refused(draft("a-1", attributes={"": "v"})).field == "attributes"
    assert valid(draft("a-1", attributes={"k" * 100: "v" * 1000})).attributes == {"k" * 100: "v" * 1000}
    assert refused(draft("a-1", attributes={"note": "v" * 1001})).field == "attributes.note"


def test_status_defaults_to_active_for_a_new_product() -> None:
    assert valid(draft("st-1", status=None)).status is ProductStatus.ACTIVE
    assert valid(draft("st-1", status=ProductStatus.DRAFT)).status is ProductStatus.DRAFT


# --- field masks ----------------------------------------------------------------------------------


def test_an_update_mask_must_name_known_fields_and_never_the_sku() -> None:
    assert domain.parse_update_mask(["price", " stock "]) == {"price", "stock"}
    assert domain.parse_update_mask(["*"]) == set(domain.UPDATABLE_PATHS)
    with pytest.raises(InvalidArgument, match="at least one field"):
        domain.parse_update_mask([])
    with pytest.raises(InvalidArgument, match="sku cannot be changed") as caught:
        domain.parse_update_mask(["title", "sku"])
    assert caught.value.field == "update_mask"
    with pytest.raises(InvalidArgument, match="unknown field 'colour'"):
        domain.parse_update_mask(["colour"])
    with pytest.raises(InvalidArgument, match=r"unknown field 'price\.amount_minor'"):
        domain.parse_update_mask(["price.amount_minor"])


def test_an_update_changes_only_the_masked_fields_and_makes_a_new_revision() -> None:
    before = valid(draft("m-1"))
    later = START + timedelta(minutes=5)
    incoming = ProductDraft(sku="m-1", title="New title", brand="Ignored", price=eur(2499))
    after = domain.updated(before, incoming, {"title", "price"}, now=later)
    assert (after.title, after.price, after.brand, after.cost) == ("New title", Money(2499, "EUR"), "Acme", before.cost)
    assert (after.revision, after.create_time, after.update_time) == (2, START, later)
    assert before.title == "Product m-1"


def test_an_update_that_changes_nothing_returns_the_same_product() -> None:
    before = valid(draft("m-1"))
    same = domain.updated(before, draft("m-1", brand="Acme"), {"brand"}, now=START + timedelta(hours=1))
    assert same is before


def test_clearing_optional_fields_through_the_mask() -> None:
    before = valid(draft("m-1", map_price=eur(1800)))
    after = domain.updated(before, ProductDraft(sku="m-1"), {"cost", "map_price", "attributes", "gtin"}, now=START)
    assert (after.cost, after.map_price, after.attributes, after.gtin) == (None, None, {}, "")


def test_a_masked_update_is_validated_as_a_whole_product() -> None:
    before = valid(draft("m-1"))
    with pytest.raises(InvalidArgument) as caught:
        domain.updated(before, ProductDraft(sku="m-1", price=MoneyInput(100, "USD")), {"price"}, now=START)
    assert caught.value.field == "cost.currency"
    moved = domain.updated(
        before,
        ProductDraft(sku="m-1", price=MoneyInput(2100, "USD"), cost=MoneyInput(1300, "USD")),
        {"price", "cost"},
        now=START,
    )
    assert moved.currency == "USD"
    with pytest.raises(InvalidArgument) as unset:
        domain.updated(before, ProductDraft(sku="m-1"), {"price"}, now=START)
    assert unset.value.field == "price"
    with pytest.raises(InvalidArgument, match="status must be"):
        domain.updated(before, ProductDraft(sku="m-1"), {"status"}, now=START)


def test_archiving_is_idempotent() -> None:
    product = valid(draft("ar-1"))
    archived = domain.archived(product, now=START + timedelta(days=1))
    assert archived.status is ProductStatus.ARCHIVED
    assert archived.revision == 2
    assert domain.archived(archived, now=START + timedelta(days=2)) is archived


def test_an_upsert_row_without_status_keeps_the_stored_status() -> None:
    stored = domain.archived(valid(draft("up-1")), now=START)
    content = domain.validate_draft(draft("up-1", status=None))
    assert domain.upserted(stored, content, status_given=False, now=START) is stored
    revived = domain.upserted(stored, content, status_given=True, now=START)
    assert revived.status is ProductStatus.ACTIVE


# --- price events ---------------------------------------------------------------------------------


def test_a_new_product_records_its_first_price_with_no_old_price() -> None:
    product = valid(draft("e-1"))
    event = domain.price_event(None, product, replace(CONTEXT, source="CreateProduct"), event_ids)
    assert event is not None
    assert (event.old_price, event.new_price, event.source, event.sku) == (
        None,
        Money(1999, "EUR"),
        "CreateProduct",
        "e-1",
    )


def test_a_price_change_records_who_when_why_and_through_what() -> None:
    before = valid(draft("e-1"))
    after = domain.updated(before, draft("e-1", price=eur(1799)), {"price"}, now=START)
    event = domain.price_event(before, after, CONTEXT, event_ids)
    assert event == domain.PriceEvent(
        organization_id=ORG_A,
        id="pe_1",
        sku="e-1",
        old_price=Money(1999, "EUR"),
        new_price=Money(1799, "EUR"),
        actor_id="usr_1",
        reason="competitor moved",
        source="UpdateProduct",
        time=START,
    )


def test_changes_other_than_the_price_record_no_event() -> None:
    before = valid(draft("e-1"))
    after = domain.updated(before, draft("e-1", stock=99), {"stock"}, now=START)
    assert domain.price_event(before, after, CONTEXT, event_ids) is None


def test_a_reason_is_limited_to_1000_characters() -> None:
    assert domain.validate_reason("  why  ") == "why"
    with pytest.raises(InvalidArgument) as caught:
        domain.validate_reason("x" * 1001)
    assert caught.value.field == "reason"


# --- filters --------------------------------------------------------------------------------------


def test_a_filter_hides_archived_products_unless_asked_for_by_status() -> None:
    assert domain.product_query(ProductFilter(), None).statuses == {ProductStatus.ACTIVE, ProductStatus.DRAFT}
    archived = domain.product_query(ProductFilter(status=ProductStatus.ARCHIVED), None)
    assert archived.statuses == {ProductStatus.ARCHIVED}


def test_a_price_range_needs_one_currency_and_a_low_bound_below_the_high_one() -> None:
    query = domain.product_query(ProductFilter(min_price=eur(100), max_price=eur(200)), None)
    assert (query.currency, query.min_price_minor, query.max_price_minor) == ("EUR", 100, 200)
    with pytest.raises(InvalidArgument, match="same currency"):
        domain.product_query(ProductFilter(min_price=eur(100), max_price=MoneyInput(200, "USD")), None)
    with pytest.raises(InvalidArgument, match="must not exceed"):
        domain.product_query(ProductFilter(min_price=eur(300), max_price=eur(200)), None)
    with pytest.raises(InvalidArgument) as caught:
        domain.product_query(ProductFilter(max_price=MoneyInput(200, "EURO")), None)
    assert caught.value.field == "filter.max_price.currency"


def test_title_and_brand_filters_compare_case_folded_text() -> None:
    query = domain.product_query(ProductFilter(title_query="STRASSE", brand="ACME"), None)
    product = valid(draft("f-1", title="Große Straße Poster", brand="acme"))
    assert domain.query_matches(query, product)


# --- categories -----------------------------------------------------------------------------------


def category(category_id: str, name: str, parent_id: str = "") -> Category:
    return Category(ORG_A, category_id, name, parent_id)


TREE = {
    c.id: c
    for c in (
        category("home", "Home"),
        category("kitchen", "Kitchen", "home"),
        category("mugs", "Mugs", "kitchen"),
        category("garden", "Garden", "home"),
        category("toys", "Toys"),
    )
}


def test_a_category_must_have_an_existing_parent() -> None:
    domain.check_category_placement(category("cups", "Cups", "kitchen"), TREE)
    with pytest.raises(InvalidArgument, match="does not exist") as caught:
        domain.check_category_placement(category("cups", "Cups", "nowhere"), TREE)
    assert caught.value.field == "parent_id"


@pytest.mark.parametrize("new_parent", ["home", "mugs", "kitchen"])
def test_a_category_cannot_move_under_itself_or_its_descendants(new_parent: str) -> None:
    moved = replace(TREE["home"], parent_id=new_parent)
    with pytest.raises(InvalidArgument, match="under itself or one of its descendants"):
        domain.check_category_placement(moved, TREE)


def test_sibling_names_are_unique_ignoring_case_but_cousins_may_share_names() -> None:
    with pytest.raises(AlreadyExists) as caught:
        domain.check_category_placement(category("k2", "KITCHEN", "home"), TREE)
    assert caught.value.field == "name"
    domain.check_category_placement(category("k3", "Kitchen", "toys"), TREE)
    domain.check_category_placement(replace(TREE["kitchen"], name="kitchen"), TREE)


def test_category_names_are_1_to_200_characters() -> None:
    assert domain.validate_category_name(" Küche ") == "Küche"
    with pytest.raises(InvalidArgument):
        domain.validate_category_name(" ")
    with pytest.raises(InvalidArgument):
        domain.validate_category_name("n" * 201)


def test_descendants_include_the_root_and_everything_below() -> None:
    assert domain.descendants("home", TREE.values()) == {"home", "kitchen", "mugs", "garden"}
    assert domain.descendants("mugs", TREE.values()) == {"mugs"}


def test_tree_order_puts_parents_before_children_and_siblings_by_name() -> None:
    ordered = [c.id for c in domain.tree_order(reversed(list(TREE.values())))]
    assert ordered == ["home", "garden", "kitchen", "mugs", "toys"]
