"""Shapes shared by every route: problems, money strings, currency codes, role names."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import iso4217
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from runtime.errors import InvalidArgument
from runtime.money import currency_exponent

# runtime.money keeps amounts within 10**15 minor units: at most 15 digits, minor-unit digits included.
MONEY_PATTERN = r"^\d{1,15}(\.\d{1,4})?$"
# Currencies prices can be set in, by their number of minor-unit digits (metals and funds have none).
CURRENCY_EXPONENTS: dict[str, int] = {
    currency.code: currency.exponent for currency in iso4217.Currency if currency.exponent is not None
}
_RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
SKU_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


class RequestModel(BaseModel):
    """A request body: unknown fields are refused and values are never coerced from other JSON types."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _refuse_numbers(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError('money amounts are decimal strings such as "19.99", not JSON numbers')
    return value


def _known_currency(code: str) -> str:
    try:
        currency_exponent(code)
    except InvalidArgument as error:
        raise ValueError(error.message) from None
    return code


MoneyString = Annotated[
    str,
    Field(
        pattern=MONEY_PATTERN,
        description="Non-negative decimal amount in the product's currency, as a string (never a JSON number).",
        examples=["19.99"],
    ),
    BeforeValidator(_refuse_numbers),
]
CurrencyCode = Annotated[
    str,
    Field(
        description="ISO 4217 currency code.", examples=["EUR"], json_schema_extra={"enum": list(CURRENCY_EXPONENTS)}
    ),
    AfterValidator(_known_currency),
]
Sku = Annotated[str, Field(pattern=SKU_PATTERN, description="1-64 ASCII letters, digits and -_.:", examples=["SKU-1"])]
# Units on hand; bounded by the int64 the contract carries.
StockCount = Annotated[int, Field(ge=0, le=2**63 - 1, description="Units in stock.")]
RoleName = Literal["viewer", "analyst", "pricing_manager", "admin", "owner"]


def amount_pattern(exponent: int) -> str:
    whole = rf"\d{{1,{15 - exponent}}}"
    return rf"^{whole}$" if exponent == 0 else rf"^{whole}(\.\d{{1,{exponent}}})?$"


def decimals_follow_currency(*amount_fields: str) -> Callable[[dict[str, Any]], None]:
    """JSON schema saying the amounts have at most as many decimals as the body's `currency` allows."""
    by_exponent: dict[int, list[str]] = {}
    for code, exponent in CURRENCY_EXPONENTS.items():
        by_exponent.setdefault(exponent, []).append(code)

    def extend(schema: dict[str, Any]) -> None:
        schema["allOf"] = [
            {
                "if": {"properties": {"currency": {"enum": codes}}, "required": ["currency"]},
                "then": {"properties": _patterns(amount_fields, exponent)},
            }
            for exponent, codes in sorted(by_exponent.items())
        ]

    return extend


def _patterns(fields: Iterable[str], exponent: int) -> dict[str, Any]:
    return {name: {"pattern": amount_pattern(exponent)} for name in fields}


def not_nullable(schema: dict[str, Any]) -> None:
    """JSON schema of an optional field that may be left out but not sent as null (checked by a validator).

    Declaring such a field `X | None` (rather than a union with a hidden None) keeps its validation errors
    at the field itself instead of one per union member."""
    branches = [branch for branch in schema.pop("anyOf", []) if branch.get("type") != "null"]
    schema.update(branches[0] if len(branches) == 1 else {"anyOf": branches})
    schema.pop("default", None)


class FieldProblem(BaseModel):
    """One refused input: where it was, which field, and why."""

    model_config = ConfigDict(extra="allow")

    field: str = Field(description="Dotted path of the field inside its location; empty for the whole input.")
    message: str
    location: str | None = Field(
        None, alias="in", description="body, query, path or header; absent for errors reported by a service."
    )
    row: int | None = Field(None, description="Zero-based row of a bulk body or CSV data line.")
    sku: str | None = Field(None, description="The sku of that row, when it has one.")


class Problem(BaseModel):
    """RFC 9457 problem details, answered for every error."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI reference naming the kind of problem; about:blank for plain HTTP errors.")
    title: str
    status: int
    detail: str
    instance: str = Field(description="The request path the problem occurred on.")
    grpc_code: str | None = Field(None, description="Status code of the backend call that failed, when one did.")
    errors: list[FieldProblem] | None = Field(None, description="The fields or rows that were refused.")


class PageQuery(BaseModel):
    limit: int = Field(50, ge=1, le=1000, description="Items per page.")
    cursor: str | None = Field(None, description="next_cursor of the previous page.")


def _rfc3339_text(value: Any) -> Any:
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError(
            'times are RFC 3339 datetime strings with an offset (a timezone), such as "2026-03-01T09:30:00Z"'
        )
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range") from None


# Strict request models refuse strings for datetimes; this type takes exactly RFC 3339 strings (never
# numbers) and hands them on in UTC.
Rfc3339Time = Annotated[
    AwareDatetime,
    Field(strict=False, description="RFC 3339 time with an offset.", examples=["2026-03-01T09:30:00Z"]),
    BeforeValidator(_rfc3339_text),
    AfterValidator(_in_utc),
]
