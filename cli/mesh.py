"""The processes `omnipricex up` runs, and how to tell they are ready."""

from __future__ import annotations

import sys
import time

import httpx

from demo.shops import allow_hosts, shop_base_urls
from runtime.settings import Settings

# Identity first: every other process asks it about API keys and sends it audit records.
SERVICES = ("identity", "product", "analytics", "competitor", "pricing", "scraper")
# Job processes: name → module and arguments.
WORKERS = {
    "pricing-worker": "services.pricing.worker",
    "pricing-beat": "services.pricing.worker beat",
    "crawl-worker": "services.scraper.worker",
    "crawl-beat": "services.scraper.worker beat",
}


def commands() -> dict[str, str]:
    python = sys.executable
    processes = {name: f"{python} -m services.{name}" for name in SERVICES}
    processes.update({name: f"{python} -m {module}" for name, module in WORKERS.items()})
    processes["gateway"] = f"{python} -m gateway"
    # The demo competitor shops, on loopback; seeded crawl sources point at them.
    processes["demo-shops"] = f"{python} -m demo.shops"
    return processes


def demo_allow_hosts(settings: Settings) -> list[str]:
    """The fetch allow-list with the demo shops' loopback hosts added, so crawls may reach them."""
    return sorted({*settings.fetch_allow_hosts, *allow_hosts(shop_base_urls(settings.demo_shops_base_port))})


def gateway_url(settings: Settings) -> str:
    return f"http://{settings.gateway_host}:{settings.gateway_port}"


def wait_until_ready(settings: Settings, timeout_seconds: float) -> None:
    """Poll the gateway's /readyz (every backend SERVING) until it answers 200."""
    deadline = time.monotonic() + timeout_seconds
    last = "no answer yet"
    with httpx.Client(base_url=gateway_url(settings), timeout=2.0) as client:
        while time.monotonic() < deadline:
            try:
                response = client.get("/readyz")
            except httpx.TransportError as error:
                last = f"gateway not reachable ({type(error).__name__})"
            else:
                if response.status_code == 200:
                    return
                last = response.text[:300]
            time.sleep(0.25)
    raise TimeoutError(f"the mesh was not ready after {timeout_seconds:.0f} s: {last}")
