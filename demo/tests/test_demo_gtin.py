import random

import pytest

from demo.gtin import GtinAllocator, gtin_check_digit, is_valid_gtin

# Published examples: Wikipedia's EAN-13, UPC-A and EAN-8 articles and the GS1 sample barcode.
KNOWN_VALID = ["4006381333931", "036000291452", "96385074", "5901234123457"]


@pytest.mark.parametrize("code", KNOWN_VALID)
def test_known_codes_are_valid(code: str) -> None:
    assert is_valid_gtin(code)
    assert gtin_check_digit(code[:-1]) == int(code[-1])


@pytest.mark.parametrize("code", KNOWN_VALID)
def test_a_wrong_check_digit_is_refused(code: str) -> None:
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    assert not is_valid_gtin(wrong)


@pytest.mark.parametrize("code", ["", "400638133393", "40063813339311", "400638133393X", "123456789"])
def test_wrong_lengths_and_characters_are_refused(code: str) -> None:
    assert not is_valid_gtin(code)


def test_check_digit_needs_digits() -> None:
    with pytest.raises(ValueError, match="digits"):
        gtin_check_digit("12a4")


def test_allocator_codes_are_valid_unique_and_share_a_company_prefix_per_brand() -> None:
    allocator = GtinAllocator(random.Random(1))
    sony = [allocator.next_for("Sony") for _ in range(50)]
    bose = [allocator.next_for("Bose") for _ in range(50)]
    assert all(len(code) == 13 and is_valid_gtin(code) for code in sony + bose)
    assert len(set(sony + bose)) == 100
    assert {code[:7] for code in sony} != {code[:7] for code in bose}
    assert len({code[:7] for code in sony}) == 1


def test_allocator_moves_a_brand_to_a_new_prefix_when_its_item_references_run_out() -> None:
    allocator = GtinAllocator(random.Random(1))
    codes = [allocator.next_for("LEGO") for _ in range(100_001)]
    assert len(set(codes)) == len(codes)
    assert codes[-1][:7] != codes[0][:7]
    assert codes[-1][7:12] == "00000"
