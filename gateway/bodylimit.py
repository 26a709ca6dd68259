"""Request body size limits, answered as 413 problem+json.

A declared Content-Length over the limit is refused before the body is read; a body streamed without one
is counted as it arrives and refused as soon as it passes the limit.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import BODY_TOO_LARGE, problem, problem_type


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, BODY_TOO_LARGE)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, default_limit: int, limits_by_path: Mapping[str, int]) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits_by_path = dict(limits_by_path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits_by_path.get(scope["path"], self.default_limit)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = problem(Request(scope), 413, BODY_TOO_LARGE, type_=problem_type("body-too-large"))
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route while it reads the body, so the error handlers answer it.
                    raise BodyTooLarge
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
