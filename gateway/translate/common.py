"""Proto ⇄ JSON pieces every domain uses: money, time, roles, pages, and input refusals."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from google.protobuf.timestamp_pb2 import Timestamp

from omnipricex.common.v1 import money_pb2, paging_pb2
from omnipricex.identity.v1 import identity_pb2
from runtime.auth import Role
from runtime.errors import InvalidArgument
from runtime.money import Money

ROLE_NAMES: dict[int, str] = {role.value: role.name.lower() for role in Role}
ROLES_BY_NAME: dict[str, identity_pb2.Role.ValueType] = {
    name: identity_pb2.Role.ValueType(value) for value, name in ROLE_NAMES.items()
}


def refused(*location: str | int, message: str) -> RequestValidationError:
    """A refusal of one input in the same 422 shape as FastAPI's own validation errors."""
    return RequestValidationError([{"type": "value_error", "loc": location, "msg": message}])


def amount(money: money_pb2.Money) -> str:
    return Money(money.amount_minor, money.currency).to_decimal_string()


def money_message(value: str, currency: str, *location: str | int) -> money_pb2.Money:
    try:
        parsed = Money.parse(value, currency)
    except InvalidArgument as error:
        raise refused(*location, message=error.message) from None
    return money_pb2.Money(amount_minor=parsed.amount_minor, currency=parsed.currency)


def rfc3339(timestamp: Timestamp) -> str:
    return timestamp.ToJsonString()


def page_request(limit: int, cursor: str | None) -> paging_pb2.PageRequest:
    return paging_pb2.PageRequest(page_size=limit, page_token=cursor or "")


def next_cursor(page: paging_pb2.PageResponse) -> str | None:
    return page.next_page_token or None
