"""The `omnipricex` command: run the whole mesh locally and administer it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from pathlib import Path

import typer
from honcho.manager import Manager
from pydantic import ValidationError
from rich.console import Console

from cli.mesh import commands, demo_allow_hosts, gateway_url, wait_until_ready
from cli.seed import DemoLogin, demo_password, seed_demo
from runtime.settings import Settings

app = typer.Typer(help="OmniPriceX: self-hosted dynamic pricing.", no_args_is_help=True)
console = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        console.print(f"[red]invalid settings:[/red]\n{error}")
        raise typer.Exit(2) from None


@app.command()
def up(
    seed: bool = typer.Option(True, help="Seed the demo organisation and catalog on first start."),
    ready_timeout: float = typer.Option(90.0, help="Seconds to wait for every service to be ready."),
) -> None:
    """Start every service and the gateway on embedded defaults; Ctrl-C stops them all."""
    settings = _settings()
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    # Create the development secrets before the children start, so they never race for them.
    settings.require_jwt_secret()
    settings.require_bootstrap_token()
    login = demo_password(settings) if seed else None

    manager = Manager()
    env = {
        "OMNIPRICEX_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
        "OMNIPRICEX_FETCH_ALLOW_HOSTS": json.dumps(demo_allow_hosts(settings)),
    }
    for name, command in commands().items():
        manager.add_process(name, command, env={**os.environ, **env})

    watcher = threading.Thread(
        target=_announce_when_ready, args=(manager, settings, login, data_dir, ready_timeout), daemon=True
    )
    watcher.start()
    manager.loop()
    sys.exit(manager.returncode or 0)


def _announce_when_ready(
    manager: Manager, settings: Settings, login: DemoLogin | None, data_dir: Path, timeout: float
) -> None:
    try:
        wait_until_ready(settings, timeout)
        marker = data_dir / "demo-seeded"
        if login is not None and not marker.exists():
            written = asyncio.run(seed_demo(settings, login))
            marker.write_text(f"{written} products\n")
    except BaseException as error:
        console.print(f"[red]start-up failed:[/red] {error}")
        manager.terminate()
        return
    url = gateway_url(settings)
    lines = [
        f"REST gateway   {url}   (OpenAPI docs: {url}/docs)",
        f"gRPC product   {settings.product_address}   (reflection on)",
        f"gRPC identity  {settings.identity_address}",
        f"gRPC analytics {settings.analytics_address}   competitor {settings.competitor_address}",
        f"gRPC pricing   {settings.pricing_address}   (quotes, strategies, runs, experiments)",
        f"gRPC scraper   {settings.scraper_address}   (crawl sources and crawl jobs)",
        f"demo shops     http://127.0.0.1:{settings.demo_shops_base_port}-{settings.demo_shops_base_port + 3}   "
        "(four competitor shops the seeded crawl sources watch)",
        f"jobs           pricing and crawl workers and schedulers on {_broker_name(settings)}",
        f"data           {data_dir}",
    ]
    if login is not None:
        lines.append(f"demo login     {login.email}")
        if login.password_is_new:
            lines.append(f"password       {login.password}   (shown once; also kept in {login.password_file})")
        else:
            lines.append(f"password       from OMNIPRICEX_ADMIN_PASSWORD or {login.password_file}")
    lines.append("Ctrl-C stops everything.")
    # Plain lines, never wrapped, so URLs and the password stay copyable in any terminal width.
    console.print("[bold green]OmniPriceX is ready[/bold green]", soft_wrap=True)
    for line in lines:
        console.print(f"  {line}", soft_wrap=True, markup=False, highlight=False)


def _broker_name(settings: Settings) -> str:
    return "RabbitMQ" if settings.broker().startswith(("amqp://", "amqps://")) else "a SQLite file"


@app.command()
def seed() -> None:
    """Seed the demo organisation and catalog into a running mesh (idempotent)."""
    settings = _settings()
    login = demo_password(settings)
    written = asyncio.run(seed_demo(settings, login))
    console.print(f"demo catalog: {written} products created or updated; login {login.email}")
