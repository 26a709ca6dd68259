"""Every error the gateway answers, as application/problem+json (RFC 9457), and the one gRPC → HTTP table."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from gateway.responses import ProblemResponse
from runtime.errors import DomainError, status_for
from runtime.logging import get_logger

_log = get_logger(__name__)

# Exactly grpc-gateway's runtime.HTTPStatusFromCode.
HTTP_STATUS_BY_GRPC_CODE: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

# A service's own words are shown for these; for the rest they may describe internals (addresses, stack
# frames), so the caller gets a fixed sentence and the details go to the log.
_CALLER_FACING_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
    }
)
_HIDDEN_DETAIL = {
    grpc.StatusCode.CANCELLED: "the request was cancelled before a backend service answered",
    grpc.StatusCode.DEADLINE_EXCEEDED: "a backend service did not answer within the deadline",
    grpc.StatusCode.UNAVAILABLE: "a backend service is unavailable; retry shortly",
    grpc.StatusCode.UNIMPLEMENTED: "this operation is not implemented by the backend service",
}
_INTERNAL_DETAIL = "an unexpected error occurred; it has been logged"

# runtime.errors.status_message writes "field: message" when an error names its field.
_FIELD_PREFIX = re.compile(r"^(?P<field>[a-z_][a-z0-9_.\[\]]*): (?P<message>.+)$", re.DOTALL)
_FIELD_CODES = frozenset(
    {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.OUT_OF_RANGE}
)

PROBLEM_TYPE_PREFIX = "urn:omnipricex:problem:"
BODY_TOO_LARGE = "the request body is larger than this route accepts"
BEARER_CHALLENGE = 'Bearer realm="omnipricex"'


def problem_type(slug: str) -> str:
    return PROBLEM_TYPE_PREFIX + slug


def problem(
    request: Request,
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": _phrase(status),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body.update(extensions)
    all_headers = dict(headers or {})
    if status == 401:
        all_headers.setdefault("WWW-Authenticate", BEARER_CHALLENGE)
    return ProblemResponse(body, status_code=status, headers=all_headers)


def _phrase(status: int) -> str:
    if status == 499:
        return "Client Closed Request"
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def grpc_problem(request: Request, code: grpc.StatusCode, details: str, *, field: str = "") -> ProblemResponse:
    """The problem for a failed call (or a gateway check with the same meaning), by the one table."""
    status = HTTP_STATUS_BY_GRPC_CODE.get(code, 500)
    extensions: dict[str, Any] = {"grpc_code": code.name}
    if code in _CALLER_FACING_CODES:
        detail = details or _phrase(status)
        match = _FIELD_PREFIX.match(detail) if code in _FIELD_CODES and not field else None
        if field:
            extensions["errors"] = [{"field": field, "message": detail}]
        elif match:
            extensions["errors"] = [{"field": match["field"], "message": match["message"]}]
    else:
        detail = _HIDDEN_DETAIL.get(code, _INTERNAL_DETAIL)
        _log.warning("backend call failed", path=request.url.path, grpc_code=code.name, grpc_details=details)
    headers = None
    if status == 401 and ("authorization" in request.headers or "x-api-key" in request.headers):
        # RFC 6750: a presented credential that failed is an invalid_token; a missing one gets a bare challenge.
        headers = {"WWW-Authenticate": f'{BEARER_CHALLENGE}, error="invalid_token"'}
    slug = code.name.lower().replace("_", "-")
    return problem(request, status, detail, type_=problem_type(slug), headers=headers, **extensions)


async def _rpc_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, grpc.aio.AioRpcError)
    return grpc_problem(request, exc.code(), exc.details() or "")


async def _domain_error(request: Request, exc: Exception) -> ProblemResponse:
    # Raised by the gateway's own checks (credentials, roles) with the same meaning as in the services.
    assert isinstance(exc, DomainError)
    return grpc_problem(request, status_for(exc), exc.message, field=exc.field)


async def _validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        position = errors[0]["loc"][-1]
        reason = (errors[0].get("ctx") or {}).get("error", "invalid JSON")
        return problem(
            request,
            400,
            f"the request body is not valid JSON: {reason} (at character {position})",
            type_=problem_type("malformed-json"),
        )
    return _validation_problem(request, [_field_error(error, exc.body) for error in errors])


def _validation_problem(request: Request, errors: Sequence[Mapping[str, Any]]) -> ProblemResponse:
    count = len(errors)
    detail = errors[0]["message"] if count == 1 else f"{count} fields are not valid"
    if count == 1 and errors[0].get("field"):
        detail = f"{errors[0]['field']}: {detail}"
    return problem(request, 422, detail, type_=problem_type("validation-failed"), errors=list(errors))


def _field_error(error: Mapping[str, Any], body: Any) -> dict[str, Any]:
    location = [str(part) for part in error.get("loc", ())]
    where = location[0] if location else "body"
    path = location[1:]
    item: dict[str, Any] = {"in": where, "field": ".".join(path), "message": _message(error)}
    # Rows of a bulk body are reported with their index and sku, as the service reports its own row errors.
    if where == "body" and len(path) >= 2 and path[0] == "products" and path[1].isdigit():
        row = int(path[1])
        item["row"] = row
        item["field"] = ".".join(path[2:])
        item["sku"] = _row_sku(body, row)
    return item


def _message(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "is not valid"))
    # pydantic prefixes messages of errors raised by validators; the reader does not need that.
    return message.removeprefix("Value error, ")


def _row_sku(body: Any, row: int) -> str:
    try:
        sku = body["products"][row]["sku"]
    except (KeyError, IndexError, TypeError):
        return ""
    return sku if isinstance(sku, str) else ""


def _http_error_handler(routes: Sequence[APIRoute]) -> Callable[[Request, Exception], Awaitable[ProblemResponse]]:
    async def http_error(request: Request, exc: Exception) -> ProblemResponse:
        assert isinstance(exc, HTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else _phrase(exc.status_code)
        type_ = "about:blank"
        headers = exc.headers
        if exc.status_code == 413:
            type_ = problem_type("body-too-large")
            detail = BODY_TOO_LARGE
        elif exc.status_code == 404 and detail == "Not Found":
            detail = f"no route matches {request.url.path}"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed here"
            headers = {"Allow": ", ".join(allowed_methods(routes, request.url.path))}
        return problem(request, exc.status_code, detail, type_=type_, headers=headers)

    return http_error


def allowed_methods(routes: Sequence[APIRoute], path: str) -> list[str]:
    """Every method the resource at `path` answers; Starlette's own Allow names only one route's methods.

    The resource is the most literal template the path matches (/v1/products/export rather than
    /v1/products/{sku}); a method counts when the route routing picks for it has that template."""
    matching = [route for route in routes if route.path_regex.match(path)]
    if not matching:
        return []
    template = min(matching, key=lambda route: len(route.param_convertors)).path
    allowed = []
    for method in sorted({method for route in matching for method in route.methods or ()}):
        reached = next(route for route in matching if method in (route.methods or ()))
        if reached.path == template:
            allowed.append(method)
    return allowed


async def _unexpected_error(request: Request, exc: Exception) -> ProblemResponse:
    _log.error("unhandled error", path=request.url.path, exc_info=exc)
    return problem(request, 500, _INTERNAL_DETAIL, type_=problem_type("internal"))


def install_error_handlers(app: FastAPI, routes: Sequence[APIRoute]) -> None:
    """Answers every error as problem details; `routes` (in routing order) name the methods a 405 allows."""
    app.add_exception_handler(grpc.aio.AioRpcError, _rpc_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error_handler(routes))
    app.add_exception_handler(Exception, _unexpected_error)
