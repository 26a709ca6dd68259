import pytest

from demo.price_points import CENT_ENDINGS, CentEnding, nearest_price_point, price_point_at_most


@pytest.mark.parametrize(
    ("amount", "ending", "expected"),
    [
        (430, 99, 399),
        (430, 49, 449),
        (1_720, 99, 1_499),
        (1_720, 95, 1_495),
        (2_300, 49, 2_449),
        (13_400, 95, 12_995),
        (13_400, 49, 12_999),
        (127_000, 99, 124_999),
        (10, 99, 99),
    ],
)
def test_nearest_price_point(amount: int, ending: CentEnding, expected: int) -> None:
    assert nearest_price_point(amount, ending) == expected


@pytest.mark.parametrize(
    ("limit", "ending", "expected"),
    [
        (2_000, 99, 1_999),
        (1_999, 99, 1_999),
        (1_998, 99, 1_499),
        (10_050, 95, 9_995),
        (30, 49, None),
        (48, 49, None),
        (49, 49, 49),
    ],
)
def test_price_point_at_most(limit: int, ending: CentEnding, expected: int | None) -> None:
    assert price_point_at_most(limit, ending) == expected


@pytest.mark.parametrize("ending", CENT_ENDINGS)
def test_points_keep_retail_endings_and_stay_close(ending: CentEnding) -> None:
    for amount in range(100, 400_000, 37):
        point = nearest_price_point(amount, ending)
        assert point % 100 in CENT_ENDINGS
        assert abs(point - amount) <= max(300, amount // 20)
        below = price_point_at_most(amount, ending)
        assert below is not None
        assert below <= amount
        assert below % 100 in CENT_ENDINGS


def test_cents_ending_in_49_only_below_one_hundred_euros() -> None:
    assert nearest_price_point(8_000, 49) % 100 == 49
    assert nearest_price_point(25_000, 49) % 100 == 99
