"""/healthz (process up), /readyz (every backend SERVING over grpc.health.v1) and /metrics."""

from __future__ import annotations

import asyncio

import grpc
from fastapi import APIRouter, Request, Response
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from gateway.deps import Backends
from gateway.errors import problem, problem_type
from gateway.openapi import problems
from gateway.responses import JsonResponse

router = APIRouter(tags=["operations"], responses=problems(), default_response_class=JsonResponse)


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(examples=["ready"])
    backends: dict[str, str] = Field(description="Health status of each backend service.")


@router.get("/healthz", response_model=Health, summary="The gateway process is up (no backend is asked)")
async def healthz() -> Response:
    return JsonResponse({"status": "ok"})


@router.get(
    "/readyz",
    response_model=Readiness,
    responses=problems(503),
    summary="Every backend service answers its gRPC health check with SERVING",
)
async def readyz(request: Request, backends: Backends) -> Response:
    names = list(backends.stubs.health)
    states = await asyncio.gather(*(_check(backends.stubs.health[name], backends.readiness_deadline) for name in names))
    report = dict(zip(names, states, strict=True))
    not_ready = [name for name, state in report.items() if state != "SERVING"]
    if not_ready:
        return problem(
            request,
            503,
            f"not ready: {', '.join(not_ready)} not serving",
            type_=problem_type("not-ready"),
            backends=report,
        )
    return JsonResponse({"status": "ready", "backends": report})


async def _check(stub: health_pb2_grpc.HealthStub, deadline: float) -> str:
    try:
        response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=deadline)
    except grpc.aio.AioRpcError as error:
        return error.code().name
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}, "description": "Prometheus"}},
    summary="Prometheus metrics of this gateway process",
)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
