"""Runs the real mesh (identity, product, gateway) as separate processes, on free ports, for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cli.mesh import SERVICES, WORKERS
from runtime.settings import Settings

_ENVIRON_LOCK = threading.Lock()


def settings_from_environment(values: dict[str, str]) -> Settings:
    """Settings read from these OMNIPRICEX_* variables exactly as a process started with them would read them
    (JSON lists included), whatever this process's own environment holds."""
    with _ENVIRON_LOCK:
        saved = {key: value for key, value in os.environ.items() if key.startswith("OMNIPRICEX_")}
        for key in saved:
            del os.environ[key]
        os.environ.update(values)
        try:
            return Settings()
        finally:
            for key in values:
                os.environ.pop(key, None)
            os.environ.update(saved)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mesh:
    data_dir: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        """The settings the mesh's processes read, parsed from their environment as they parse it."""
        values = {k: v for k, v in self.env.items() if k.startswith("OMNIPRICEX_")}
        return settings_from_environment(values)

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.env['OMNIPRICEX_GATEWAY_PORT']}"

    def start(self, name: str) -> None:
        module = WORKERS.get(name) or ("gateway" if name == "gateway" else f"services.{name}")
        log = (self.data_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", *module.split()], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def stop(self, name: str, sig: signal.Signals = signal.SIGTERM) -> None:
        process = self.processes.pop(name)
        process.send_signal(sig)
        process.wait(timeout=30)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.log(name)[-3000:]}")
            try:
                if httpx.get(f"{self.gateway}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError("mesh not ready: " + " | ".join(self.log(n)[-1500:] for n in self.processes))

    def log(self, name: str) -> str:
        path = self.data_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def mesh_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNIPRICEX_", "OTEL_"))}
    env.update(
        {
            "OMNIPRICEX_DATA_DIR": str(data_dir),
            "OMNIPRICEX_PRODUCT_ADDRESS": f"127.0.0.1:{free_port()}",
            "OMNIPRICEX_IDENTITY_ADDRESS": f"127.0.0.1:{free_port()}",
            "OMNIPRICEX_ANALYTICS_ADDRESS": f"127.0.0.1:{free_port()}",
            "OMNIPRICEX_COMPETITOR_ADDRESS": f"127.0.0.1:{free_port()}",
            "OMNIPRICEX_PRICING_ADDRESS": f"127.0.0.1:{free_port()}",
            "OMNIPRICEX_SCRAPER_ADDRESS": f"127.0.0.1:{free_port()}",
            "OMNIPRICEX_PRODUCT_METRICS_PORT": "0",
            "OMNIPRICEX_IDENTITY_METRICS_PORT": "0",
            "OMNIPRICEX_ANALYTICS_METRICS_PORT": "0",
            "OMNIPRICEX_COMPETITOR_METRICS_PORT": "0",
            "OMNIPRICEX_PRICING_METRICS_PORT": "0",
            "OMNIPRICEX_SCRAPER_METRICS_PORT": "0",
            # Workers of different test meshes must never share a broker.
            "OMNIPRICEX_BROKER_URL": f"sqla+sqlite:///{data_dir / 'broker.sqlite3'}",
            "OMNIPRICEX_GATEWAY_PORT": str(free_port()),
            "OMNIPRICEX_RPC_DEADLINE_SECONDS": "2",
            "OMNIPRICEX_RATE_LIMIT_PER_MINUTE": "100000",
            "OMNIPRICEX_LOGIN_ATTEMPTS_PER_MINUTE": "100000",
            "OMNIPRICEX_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@contextmanager
def running_mesh(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[Mesh]:
    mesh = Mesh(data_dir, {**mesh_env(data_dir), **(extra_env or {})})
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = mesh.settings
    settings.require_jwt_secret()
    settings.require_bootstrap_token()
    try:
        for name in (*SERVICES, *WORKERS, "gateway"):
            mesh.start(name)
        mesh.wait_ready()
        yield mesh
    finally:
        for name in list(mesh.processes):
            mesh.stop(name)
