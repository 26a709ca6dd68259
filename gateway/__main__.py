"""`python -m gateway`: serve the REST gateway on settings.gateway_host:gateway_port."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from runtime.logging import configure_logging, get_logger
from runtime.settings import get_settings
from runtime.telemetry import setup_tracing, shutdown_tracing


def main() -> None:
    settings = get_settings()
    configure_logging(settings, "gateway")
    setup_tracing("gateway")
    get_logger(__name__).info("serving", host=settings.gateway_host, port=settings.gateway_port)
    try:
        uvicorn.run(
            create_app(settings),
            host=settings.gateway_host,
            port=settings.gateway_port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        )
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()
