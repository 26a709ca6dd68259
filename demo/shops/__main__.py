"""`python -m demo.shops [--base-port N]` serves every demo shop until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import uvloop

from demo.shops.server import running_shops
from demo.shops.shop import DEFAULT_BUCKET_SECONDS
from runtime.logging import configure_logging, get_logger
from runtime.settings import Settings


async def serve(host: str, base_port: int, bucket_seconds: float) -> None:
    log = get_logger("demo.shops")
    async with running_shops(base_port=base_port, host=host, bucket_seconds=bucket_seconds) as shops:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, shops.stop)
        for shop in shops:
            log.info("demo shop listening", shop=shop.key, name=shop.name, style=shop.spec.style, url=shop.base_url)
        await shops.wait_closed()
    log.info("demo shops stopped")


def main(argv: list[str] | None = None) -> int:
    settings = Settings()
    parser = argparse.ArgumentParser(prog="python -m demo.shops", description="Serve the demo competitor shops.")
    parser.add_argument(
        "--base-port",
        type=int,
        default=settings.demo_shops_base_port,
        help="port of the first shop; the others follow (default: OMNIPRICEX_DEMO_SHOPS_BASE_PORT, %(default)s)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--bucket-seconds",
        type=float,
        default=DEFAULT_BUCKET_SECONDS,
        help="how long prices hold before some of them move (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.base_port <= 65_000:
        parser.error(f"--base-port must be 1-65000, got {args.base_port}")
    if not args.bucket_seconds > 0:
        parser.error(f"--bucket-seconds must be positive, got {args.bucket_seconds}")
    configure_logging(settings, "demo-shops")
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(args.host, args.base_port, args.bucket_seconds))
    except OSError as error:
        get_logger("demo.shops").error("demo shops could not start", error=str(error))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
