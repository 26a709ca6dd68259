"""Price endings per price range (".99" below 10.00, ".95"/".99" up to 100.00, whole "x9" above), vectorised.

An ending is either a minor-unit ending (99 → 12.99: price ≡ 99 mod 10^exponent) or a whole-unit last digit
(9 → 129.00: price ≡ 9·10^exponent mod 10^(exponent+1)). A range starts at its `from_minor` (inclusive) and
runs to the next larger start; several endings with one start are alternatives. The range is chosen by the
price the guardrails produced.

Each row takes the candidate nearest to its price among the alternatives' nearest values below and above,
considering only candidates inside the row's final feasible interval [floor, ceiling] (on a tie the lower
price). When none is inside, the price stays as it is and the row is marked SKIPPED_GUARDRAIL: an ending
never pushes a price across a guardrail.

Currency exponent: a minor ending only exists when it is below 10^exponent. JPY (exponent 0) has no minor
units, so every minor ending is dropped there and a range left with none marks its rows NOT_APPLICABLE
(price unchanged); whole-digit endings work in every currency (JPY 1,299 for "x9").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from runtime.errors import InvalidArgument
from services.pricing.domain import checks

MAX_ENDINGS = 32


class EndingStatus(enum.IntEnum):
    NONE = 0  # no ending configured for the price's range
    APPLIED = 1  # the price ends as configured (possibly unchanged: it already did)
    SKIPPED_GUARDRAIL = 2  # every candidate lies outside the feasible interval
    NOT_APPLICABLE = 3  # the range's endings need more minor digits than the currency has


@dataclass(frozen=True, slots=True)
class PriceEnding:
    """One ending for the prices from `from_minor` on: exactly one of minor_ending and whole_digit."""

    from_minor: int = 0
    minor_ending: int | None = None
    whole_digit: int | None = None

    def __post_init__(self) -> None:
        checks.amount_minor(self.from_minor, "from_price")
        if (self.minor_ending is None) == (self.whole_digit is None):
            raise InvalidArgument("an ending has exactly one of minor_ending and whole_digit", field="endings")
        if self.minor_ending is not None:
            checks.amount_minor(self.minor_ending, "minor_ending")
            if self.minor_ending >= 10**4:
                raise InvalidArgument("a minor ending has at most 4 digits", field="minor_ending")
        digit = self.whole_digit
        if digit is not None and (isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit <= 9):
            raise InvalidArgument(f"{self.whole_digit!r} is not a digit 0-9", field="whole_digit")

    def lattice(self, exponent: int) -> tuple[int, int] | None:
        """(modulus, remainder) of the prices with this ending in minor units; None when the currency has none."""
        unit = 10**exponent
        if self.whole_digit is not None:
            return 10 * unit, self.whole_digit * unit
        assert self.minor_ending is not None
        return (unit, self.minor_ending) if self.minor_ending < unit else None


@dataclass(frozen=True, slots=True)
class PriceEndings:
    endings: tuple[PriceEnding, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "endings", tuple(self.endings))
        if not self.endings or len(self.endings) > MAX_ENDINGS:
            raise InvalidArgument(f"give 1-{MAX_ENDINGS} endings", field="endings")
        if len(set(self.endings)) != len(self.endings):
            raise InvalidArgument("an ending is listed twice", field="endings")


class EndingTable:
    """PriceEndings resolved for one currency exponent; applies them to many rows at once.

    Range 0 is everything below the first configured start (no ending). Each range's alternatives are
    padded to the same count by repeating its last one, so every row computes the same number of
    candidates from per-range lookup tables, without branching per row.
    """

    def __init__(self, endings: PriceEndings, exponent: int) -> None:
        self.starts = sorted({ending.from_minor for ending in endings.endings})
        lattices: list[list[tuple[int, int]]] = [[] for _ in self.starts]
        for ending in endings.endings:
            lattice = ending.lattice(exponent)
            if lattice is not None:
                lattices[self.starts.index(ending.from_minor)].append(lattice)
        # A range without an ending uses the lattice of every whole price (modulus 1): the price itself.
        self.status = np.array(
            [EndingStatus.NONE]
            + [EndingStatus.APPLIED if found else EndingStatus.NOT_APPLICABLE for found in lattices],
            dtype=np.uint8,
        )
        slots = max(1, *(len(found) for found in lattices))
        table = [_padded([], slots)] + [_padded(found, slots) for found in lattices]
        self.modulus = [np.array([row[slot][0] for row in table], dtype=np.float64) for slot in range(slots)]
        self.remainder = [np.array([row[slot][1] for row in table], dtype=np.float64) for slot in range(slots)]

    def apply(
        self,
        price: NDArray[np.float64],
        floor: NDArray[np.float64],
        ceiling: NDArray[np.float64],
        delta: NDArray[np.int64],
        status: NDArray[np.uint8],
    ) -> NDArray[np.float64]:
        """The ended prices; writes each row's move into `delta` and its EndingStatus into `status`."""
        if self.starts == [0]:
            status_code: NDArray[np.uint8] | int = int(self.status[1])
            moduli: list[NDArray[np.float64] | float] = [float(modulus[1]) for modulus in self.modulus]
            remainders: list[NDArray[np.float64] | float] = [float(rest[1]) for rest in self.remainder]
        else:
            in_range = np.zeros(len(price), dtype=np.int8)
            for start in self.starts:
                in_range += price >= start
            status_code = self.status.take(in_range)
            moduli = [modulus.take(in_range) for modulus in self.modulus]
            remainders = [rest.take(in_range) for rest in self.remainder]
        room_below, room_above = price - floor, ceiling - price
        shift, fits = _nearest_shift(price, room_below, room_above, moduli[0], remainders[0])
        for modulus, remainder in zip(moduli[1:], remainders[1:], strict=True):
            other, other_fits = _nearest_shift(price, room_below, room_above, modulus, remainder)
            size, other_size = np.abs(shift), np.abs(other)
            nearer = (other_size < size) | ((other_size == size) & (other < shift))
            better = other_fits & (nearer | ~fits)
            shift += (other - shift) * better
            fits |= other_fits
        # Rows where nothing fits keep their price.
        shift *= fits
        np.add(status_code, ~fits, out=status, casting="unsafe")
        np.copyto(delta, shift, casting="unsafe")
        shift += price
        return shift


def _padded(lattices: list[tuple[int, int]], slots: int) -> list[tuple[int, int]]:
    found = lattices or [(1, 0)]
    return found + found[-1:] * (slots - len(found))


def _nearest_shift(
    price: NDArray[np.float64],
    room_below: NDArray[np.float64],
    room_above: NDArray[np.float64],
    modulus: NDArray[np.float64] | float,
    remainder: NDArray[np.float64] | float,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The move from each price to the nearest price of one lattice that stays within the room below and
    above it (a tie goes down), and whether either neighbour fits. Arithmetic, not per-row branches: a
    data-dependent mask costs a branch misprediction per row."""
    offset = price - remainder
    gap_below = offset / modulus
    np.floor(gap_below, out=gap_below)
    gap_below *= modulus
    # Whole and below the modulus, so exact in float64 for any price below 2^53.
    np.subtract(offset, gap_below, out=gap_below)
    below_fits = gap_below <= room_below
    gap_above = modulus - gap_below
    above_fits = gap_above <= room_above
    take_above = above_fits & ((gap_above < gap_below) | ~below_fits)
    shift = np.multiply(take_above, modulus)
    shift -= gap_below
    return shift, above_fits | below_fits
