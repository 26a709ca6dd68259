"""Response classes: JSON rendered by orjson, the problem+json variant every error uses, and CSV."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse, Response


class JsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ProblemResponse(JsonResponse):
    media_type = "application/problem+json"


class CsvResponse(Response):
    media_type = "text/csv"
    charset = "utf-8"
