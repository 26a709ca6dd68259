"""Local servers the safety tests crawl: a shop with a request log, listeners that count connections, proxies.

Each runs in threads of the test process, so what they saw is the listening side's own account,
independent of the crawl under test.
"""

from __future__ import annotations

import http.client
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import urlsplit


class CountingListener:
    """A listening socket that accepts connections, counts them and closes them: the proof of "no connection"."""

    def __init__(self, host: str) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, 0))
        self._socket.listen(64)
        self._socket.setblocking(False)
        self.port: int = self._socket.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._socket, selectors.EVENT_READ)
            while not self._stop.is_set():
                if not selector.select(timeout=0.05):
                    continue
                try:
                    connection, _ = self._socket.accept()
                except BlockingIOError:
                    continue
                self.accepted += 1
                connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._socket.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    # Seconds to wait before answering (a robots.txt that times out).
    delay: float = 0.0


def page(text: str) -> Answer:
    html = f"<!doctype html><html><head><title>{text}</title></head><body><p>{text}</p></body></html>"
    return Answer(body=html.encode(), headers=(("Content-Type", "text/html; charset=utf-8"),))


def redirect(location: str, status: int = 302) -> Answer:
    return Answer(status=status, headers=(("Location", location),))


def text(body: str, status: int = 200) -> Answer:
    return Answer(status=status, body=body.encode(), headers=(("Content-Type", "text/plain; charset=utf-8"),))


@dataclass(frozen=True)
class Hit:
    path: str
    at: float
    user_agent: str
    via: str


@dataclass
class _ShopState:
    answers: dict[str, Answer] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Shop:
    """An HTTP server on 127.0.0.1 answering fixed paths (404 otherwise) and logging every request it gets."""

    def __init__(self) -> None:
        self._state = _ShopState()
        state = self._state

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path
                with state.lock:
                    state.hits.append(
                        Hit(path, time.monotonic(), self.headers.get("User-Agent", ""), self.headers.get("Via", ""))
                    )
                    answer = state.answers.get(path, Answer(status=404, body=b"not found"))
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    # The client gave up (a robots.txt that timed out): nothing more to say.
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.port: int = self._server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def answer(self, path: str, answer: Answer) -> None:
        with self._state.lock:
            self._state.answers[path] = answer

    def hits(self) -> list[Hit]:
        with self._state.lock:
            return list(self._state.hits)

    def paths(self) -> list[str]:
        return [h.path for h in self.hits()]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ForwardProxy:
    """A plain HTTP forward proxy (absolute-URI GET, no CONNECT) that marks what it relays with a Via header."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.relayed: list[str] = []
        relayed = self.relayed
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with lock:
                    relayed.append(self.path)
                target = urlsplit(self.path)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
                headers["Via"] = f"1.1 {name}"
                try:
                    upstream = http.client.HTTPConnection(target.hostname or "", target.port or 80, timeout=5)
                    path = target.path + (f"?{target.query}" if target.query else "")
                    upstream.request("GET", path or "/", headers=headers)
                    response = upstream.getresponse()
                    body = response.read()
                    status, upstream_headers = response.status, response.getheaders()
                    upstream.close()
                except OSError:
                    status, upstream_headers, body = 502, [], b"bad gateway"
                self.send_response(status)
                for key, value in upstream_headers:
                    if key.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def listeners() -> Iterator[tuple[CountingListener, CountingListener]]:
    with CountingListener("127.0.0.1") as v4, CountingListener("::1") as v6:
        yield v4, v6
