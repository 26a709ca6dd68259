"""The gateway in front of the REAL competitor service on a loopback gRPC port, beside the stand-in mesh."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gateway.tests.conftest import ORG_A, Mesh, gateway_client, gateway_settings, start_mesh
from runtime.auth import Role
from runtime.grpc_server import start_server
from services.competitor.repository.sqlite import open_sqlite_repositories
from services.competitor.server import build_definition


@dataclass
class CompetitorApi:
    """An HTTP client for the gateway, and shortcuts for the calls most tests make."""

    mesh: Mesh
    http: httpx.AsyncClient

    def auth(self, role: Role = Role.PRICING_MANAGER, organization_id: str = ORG_A) -> dict[str, str]:
        return self.mesh.auth(role, organization_id)

    async def competitor(self, name: str = "Shop One", **fields: Any) -> dict[str, Any]:
        body = {"name": name, "website": "https://shop-one.example", "default_currency": "EUR", **fields}
        response = await self.http.post("/v1/competitors", json=body, headers=self.auth())
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def offers(self, *rows: dict[str, Any]) -> list[dict[str, Any]]:
        response = await self.http.post("/v1/offers", json={"offers": list(rows)}, headers=self.auth())
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def record(self, *observations: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(
            "/v1/observations", json={"observations": list(observations)}, headers=self.auth()
        )
        assert response.status_code == 200, response.text
        counts: dict[str, Any] = response.json()
        return counts


@asynccontextmanager
async def competitor_api(tmp_path: Path) -> AsyncIterator[CompetitorApi]:
    """The stand-in mesh with the real competitor service on SQLite (started here unless the mesh runs it), and
    the gateway in front of them."""
    mesh = await start_mesh(gateway_settings(tmp_path))
    if "competitor" not in mesh.servers:
        repositories = await open_sqlite_repositories(mesh.settings.sqlite_path("competitor"))
        mesh.servers["competitor"] = await start_server(
            build_definition(repositories),
            address="127.0.0.1:0",
            authenticator=mesh.authenticator,
            audit_sink=mesh.audit,
        )
        address = f"127.0.0.1:{mesh.servers['competitor'].port}"
        mesh.settings = mesh.settings.model_copy(update={"competitor_address": address})
    try:
        async with gateway_client(mesh.settings) as http:
            yield CompetitorApi(mesh, http)
    finally:
        await mesh.stop()
