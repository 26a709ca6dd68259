"""OpenAPI: every error response documented as application/problem+json, and the credentials routes take."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from gateway.deps import requires_credentials
from gateway.schemas.common import Problem

PROBLEM_MEDIA_TYPE = "application/problem+json"
_DESCRIPTIONS = {
    400: "Bad request: malformed JSON, or a value the service refused (see `errors`)",
    401: "Credentials are missing or not valid",
    403: "The caller's role does not allow this",
    404: "No such resource in the caller's organisation",
    409: "Conflicts with the current state (already exists, or a concurrent change won)",
    413: "The request body is too large",
    415: "The request body has the wrong content type",
    422: "Input failed validation; `errors` lists each field or row",
    429: "Rate limit exceeded; see Retry-After",
    500: "Unexpected error",
    503: "A backend service is unavailable",
    504: "A backend service did not answer within the deadline",
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for these statuses, plus a default for any other error a service may return."""
    documented: dict[int | str, dict[str, Any]] = {
        code: {"model": Problem, "description": _DESCRIPTIONS[code]} for code in codes
    }
    documented["default"] = {"model": Problem, "description": "Any other error, as problem details"}
    return documented


PROTECTED = problems(400, 401, 403, 422, 429, 500, 503, 504)
PUBLIC = problems(400, 422, 429, 500, 503, 504)


SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An access token from POST /v1/auth/token, or an API key (opx_…).",
    },
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "An API key (opx_…)."},
}
# Either scheme will do.
CREDENTIALS: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]


def install_openapi(app: FastAPI, routes: Sequence[APIRoute]) -> None:
    """Serves the document with problem+json errors and the credentials of the routes that need them."""
    protected = {route.name for route in routes if requires_credentials(route)}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            _problem_media_type(schema)
            _credentials(schema, protected)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _credentials(schema: dict[str, Any], protected: set[str]) -> None:
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if operation["operationId"] in protected:
                operation["security"] = CREDENTIALS


def _problem_media_type(schema: dict[str, Any]) -> None:
    reference = {"$ref": "#/components/schemas/Problem"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status == "default" or int(status) >= 400:
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": reference}}
