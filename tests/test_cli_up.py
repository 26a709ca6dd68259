"""`omnipricex up`: starts the mesh, seeds the demo once, and leaves no process behind when stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from runtime.testing.mesh import mesh_env

pytestmark = pytest.mark.integration
PASSWORD = "demo-admin-password"


def processes_using(data_dir: Path) -> list[int]:
    """Pids whose environment names this data dir: the mesh's processes, however deep."""
    marker = f"OMNIPRICEX_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def start_up(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [str(Path(sys.executable).parent / "omnipricex"), "up"]
    return subprocess.Popen(command, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def wait_for_banner(process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "OmniPriceX is ready" in text:
            return text
        if process.poll() is not None:
            pytest.fail(f"omnipricex up exited early:\n{text[-4000:]}")
        time.sleep(0.3)
    pytest.fail(f"no ready banner:\n{log.read_text(errors='replace')[-4000:]}")


def stop(process: subprocess.Popen[bytes], data_dir: Path, sig: signal.Signals) -> None:
    process.send_signal(sig)
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while processes_using(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_using(data_dir) == [], "orphan processes left behind"


def count_products(base: str, token: str) -> int:
    total, cursor = 0, ""
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {token}"}, timeout=30) as client:
        while True:
            params: dict[str, str | int] = {"limit": 1000}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/v1/products", params=params).json()
            total += len(page["items"])
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return total


def test_up_seeds_once_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {**mesh_env(data_dir), "OMNIPRICEX_ADMIN_PASSWORD": PASSWORD}
    base = f"http://127.0.0.1:{env['OMNIPRICEX_GATEWAY_PORT']}"
    log = tmp_path / "up.log"

    process = start_up(env, log)
    try:
        banner = wait_for_banner(process, log)
        assert base in banner
        assert "admin@demo.local" in banner
        token = httpx.post(f"{base}/v1/auth/token", json={"email": "admin@demo.local", "password": PASSWORD}).json()
        assert count_products(base, token["access_token"]) >= 1000
        headers = {"authorization": f"Bearer {token['access_token']}"}
        categories = httpx.get(f"{base}/v1/categories", headers=headers)
        assert len(categories.json()["items"]) >= 8
        httpx.patch(f"{base}/v1/products/DEMO-000001", json={"price": "1234.00"}, headers=headers).raise_for_status()
    finally:
        stop(process, data_dir, signal.SIGTERM)

    log.write_text("")
    process = start_up(env, log)
    try:
        wait_for_banner(process, log)
        token = httpx.post(f"{base}/v1/auth/token", json={"email": "admin@demo.local", "password": PASSWORD}).json()
        product = httpx.get(
            f"{base}/v1/products/DEMO-000001", headers={"authorization": f"Bearer {token['access_token']}"}
        ).json()
        assert product["price"] == "1234.00", "a restart must not re-seed over the team's changes"
    finally:
        stop(process, data_dir, signal.SIGINT)
    assert (data_dir / "demo-seeded").exists()


def test_up_generates_and_prints_a_password_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = mesh_env(data_dir)
    log = tmp_path / "up.log"
    process = start_up(env, log)
    try:
        banner = wait_for_banner(process, log)
    finally:
        stop(process, data_dir, signal.SIGTERM)
    password = (data_dir / "secrets" / "admin_password").read_text().strip()
    assert len(password) >= 12
    assert password in banner
    assert (data_dir / "secrets" / "admin_password").stat().st_mode & 0o077 == 0
