from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.seed import DemoLogin, seed_demo
from runtime.testing.mesh import Mesh, running_mesh

ADMIN_PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    data_dir: Path = tmp_path_factory.mktemp("mesh")
    with running_mesh(data_dir) as running:
        login = DemoLogin("admin@demo.local", ADMIN_PASSWORD, True, data_dir / "unused")
        asyncio.run(seed_demo(running.settings, login))
        yield running


@pytest.fixture(scope="module")
def http(mesh: Mesh) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mesh.gateway, timeout=30) as client:
        yield client


def login(http: httpx.Client, email: str, password: str) -> dict[str, str]:
    response = http.post("/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


@pytest.fixture(scope="module")
def admin(http: httpx.Client) -> dict[str, str]:
    token = login(http, "admin@demo.local", ADMIN_PASSWORD)["access_token"]
    return {"authorization": f"Bearer {token}"}
