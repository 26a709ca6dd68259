"""Serving the demo shops over HTTP: one uvicorn server (httptools, raw ASGI), one listening socket per shop.

The local port a request arrived on picks the shop. `running_shops` runs them inside the caller's event
loop (tests, benchmarks); `shops_in_thread` runs them on a thread of their own for synchronous callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping, MutableMapping, Sequence
from functools import lru_cache
from typing import Any

import uvicorn

from demo.catalog import DemoCatalog, generate_catalog
from demo.shops.presets import CompetitorPreset, allow_hosts, competitor_presets
from demo.shops.shop import DEFAULT_BUCKET_SECONDS, NOT_FOUND, Clock, Shop
from demo.shops.specs import SHOPS, shop_spec
from runtime.clock import utcnow

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_START_TIMEOUT_SECONDS = 30.0


@lru_cache(maxsize=1024)
def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


class ShopsApp:
    """A raw ASGI application serving every shop; no framework between the socket and the page cache."""

    def __init__(self, shops_by_port: Mapping[int, Shop]) -> None:
        self._by_port = dict(shops_by_port)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        server = scope.get("server")
        shop = self._by_port.get(server[1]) if server else None
        if shop is None:
            response = NOT_FOUND
        else:
            client = scope.get("client")
            if_none_match = None
            for name, value in scope["headers"]:
                if name == b"if-none-match":
                    if_none_match = value
                    break
            response = shop.respond(
                scope["method"],
                scope["path"],
                scope["query_string"].decode("latin-1"),
                if_none_match=if_none_match,
                trusted=client is not None and _is_loopback(client[0]),
            )
        await send({"type": "http.response.start", "status": response.status, "headers": response.headers})
        await send({"type": "http.response.body", "body": response.body})


class _Server(uvicorn.Server):
    # The owner of the event loop decides about signals (the CLI stops on SIGTERM/SIGINT; tests never).
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class RunningShops:
    """The shops of one server, in SHOPS order; index by key (shops["nova"])."""

    def __init__(self, shops: Sequence[Shop], catalog: DemoCatalog, server: uvicorn.Server, task: asyncio.Task[None]):
        self._shops = {shop.key: shop for shop in shops}
        self._catalog = catalog
        self._server = server
        self._task = task

    def __getitem__(self, key: str) -> Shop:
        return self._shops[key]

    def __iter__(self) -> Iterator[Shop]:
        return iter(self._shops.values())

    def __len__(self) -> int:
        return len(self._shops)

    @property
    def base_urls(self) -> dict[str, str]:
        return {key: shop.base_url for key, shop in self._shops.items()}

    @property
    def allow_hosts(self) -> tuple[str, ...]:
        """The host:port entries a crawler's address guard must allow for these shops."""
        return allow_hosts(self.base_urls)

    def presets(self) -> tuple[CompetitorPreset, ...]:
        return competitor_presets(self.base_urls, self._catalog)

    def tick(self, count: int = 1) -> None:
        for shop in self:
            shop.tick(count)

    def stop(self) -> None:
        self._server.should_exit = True

    async def wait_closed(self) -> None:
        await asyncio.shield(self._task)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio only turns Nagle off (TCP_NODELAY) on sockets that say they are TCP, and a
    # response written as headers then body would otherwise wait ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError as error:
        sock.close()
        raise OSError(error.errno, f"a demo shop cannot listen on {host}:{port}: {error.strerror}") from None
    return sock


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextlib.asynccontextmanager
async def running_shops(
    *,
    base_port: int = 0,
    host: str = "127.0.0.1",
    clock: Clock = utcnow,
    bucket_seconds: float = DEFAULT_BUCKET_SECONDS,
    catalog: DemoCatalog | None = None,
    keys: Sequence[str] | None = None,
) -> AsyncIterator[RunningShops]:
    """Serve the shops (all, or those in `keys`) on `host`, shop i on `base_port + i`; `base_port` 0 picks free
    ports. The catalog defaults to the demo catalog (generate_catalog())."""
    specs = SHOPS if keys is None else tuple(shop_spec(key) for key in keys)
    if base_port != 0 and not 1 <= base_port <= 65_536 - len(specs):
        raise ValueError(f"base_port must be 0 (free ports) or 1-{65_536 - len(specs)}, got {base_port}")
    catalog = catalog if catalog is not None else generate_catalog()
    sockets: list[socket.socket] = []
    try:
        for index in range(len(specs)):
            sockets.append(_bind(host, base_port + index if base_port else 0))
        shops = [
            Shop(spec, _base_url(host, sock.getsockname()[1]), catalog, clock=clock, bucket_seconds=bucket_seconds)
            for spec, sock in zip(specs, sockets, strict=True)
        ]
        app = ShopsApp({sock.getsockname()[1]: shop for sock, shop in zip(sockets, shops, strict=True)})
        config = uvicorn.Config(
            app, http="httptools", ws="none", lifespan="off", access_log=False, log_config=None, server_header=False
        )
        server = _Server(config)
        task = asyncio.create_task(server.serve(sockets=sockets), name="demo-shops")
        try:
            async with asyncio.timeout(_START_TIMEOUT_SECONDS):
                while not server.started:
                    if task.done():
                        await task
                        raise RuntimeError("the demo shops server stopped while starting")
                    await asyncio.sleep(0.005)
            yield RunningShops(shops, catalog, server, task)
        finally:
            server.should_exit = True
            await task
    finally:
        for sock in sockets:
            sock.close()


@contextlib.contextmanager
def shops_in_thread(
    *,
    base_port: int = 0,
    host: str = "127.0.0.1",
    clock: Clock = utcnow,
    bucket_seconds: float = DEFAULT_BUCKET_SECONDS,
    catalog: DemoCatalog | None = None,
    keys: Sequence[str] | None = None,
) -> Iterator[RunningShops]:
    """running_shops on a thread with its own event loop, for synchronous code (Scrapy tests, benchmarks)."""
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        async with running_shops(
            base_port=base_port, host=host, clock=clock, bucket_seconds=bucket_seconds, catalog=catalog, keys=keys
        ) as shops:
            state["shops"], state["loop"] = shops, asyncio.get_running_loop()
            ready.set()
            await shops.wait_closed()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as error:
            state["error"] = error
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="demo-shops", daemon=True)
    thread.start()
    if not ready.wait(_START_TIMEOUT_SECONDS) or "shops" not in state:
        thread.join(timeout=1)
        raise RuntimeError("the demo shops did not start") from state.get("error")
    shops: RunningShops = state["shops"]
    try:
        yield shops
    finally:
        state["loop"].call_soon_threadsafe(shops.stop)
        thread.join(timeout=_START_TIMEOUT_SECONDS)
