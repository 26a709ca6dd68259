"""Where outbound fetches may go: URL checks, every spelling of an IP literal, and addresses that are off limits.

Crawls and webhook deliveries fetch URLs that users typed. Without a guard such a URL can reach the machine's
own services (loopback), the private network, or a cloud metadata endpoint that hands out credentials. The
rules here are pure (no I/O) except ``resolve_checked``, which resolves a name and vets every answer, so a
caller connects only to an address that was checked (no DNS rebinding between check and connect).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

import idna

from runtime.errors import InvalidArgument, PermissionDenied, Unavailable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Answers a name lookup: (host, port) -> address strings. Tests inject one; the default asks getaddrinfo.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

MAX_URL_LENGTH: Final = 2048
FETCH_SCHEMES: Final = frozenset({"http", "https"})
DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}
RESOLVE_TIMEOUT_SECONDS: Final = 10.0


class BlockedDestination(PermissionDenied):
    """A fetch would connect to an address the operator has not allow-listed; ``reason`` says which and why."""

    def __init__(self, reason: str, *, host: str, address: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.host = host
        self.address = address


# ---------------------------------------------------------------------------------------------- URLs


def validate_fetch_url(url: str, *, field: str = "url") -> str:
    """An absolute http(s) URL that may be fetched, normalised; anything else is InvalidArgument saying why.

    Normalised: scheme and host in lower case, international host names in IDNA (punycode) form, IPv4
    literals in dotted decimal whatever their spelling, the default port and the fragment dropped, an
    empty path as "/".
    """
    if not isinstance(url, str):
        raise InvalidArgument("a URL must be a string", field=field)
    text = url.strip()
    if not text:
        raise InvalidArgument("the URL is empty", field=field)
    if len(text) > MAX_URL_LENGTH:
        raise InvalidArgument(
            f"the URL is {len(text)} characters long; at most {MAX_URL_LENGTH} are allowed", field=field
        )
    for char in text:
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf"):
            raise InvalidArgument(
                f"the URL contains whitespace or a control character (U+{ord(char):04X})", field=field
            )
    scheme, colon, rest = text.partition(":")
    if not colon or not scheme or not scheme[0].isascii() or not scheme[0].isalpha():
        raise InvalidArgument(
            f"{_shorten(text)!r} is not an absolute URL: it must start with http:// or https://", field=field
        )
    scheme = scheme.lower()
    if scheme not in FETCH_SCHEMES and ("." in scheme or rest[:1].isdigit()):
        # "shop.example:8080/x" or "localhost:8080": a host and port, not a scheme.
        raise InvalidArgument(
            f"{_shorten(text)!r} is not an absolute URL: it must start with http:// or https://", field=field
        )
    if scheme not in FETCH_SCHEMES:
        raise InvalidArgument(
            f"URL scheme {scheme!r} is not allowed: only http and https URLs are fetched", field=field
        )
    if not rest.startswith("//"):
        raise InvalidArgument(f"{_shorten(text)!r} has no host: write it as {scheme}://host/path", field=field)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidArgument(f"malformed URL {_shorten(text)!r}: {exc}", field=field) from None
    if "@" in parts.netloc:
        raise InvalidArgument("user names and passwords are not allowed in URLs", field=field)
    raw_host = parts.netloc.rsplit(":", 1)[0] if port is not None or parts.netloc.endswith(":") else parts.netloc
    host = _normal_host(raw_host, field=field)
    if port == 0:
        raise InvalidArgument("the URL's port must be from 1 to 65535", field=field)
    netloc = host if port is None or port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{path}{query}"


def host_and_port(url: str, *, field: str = "url") -> tuple[str, int]:
    """The host (IPv6 without brackets) and port a validated http(s) URL connects to."""
    parts = urlsplit(validate_fetch_url(url, field=field))
    host = parts.hostname or ""
    return host, parts.port or DEFAULT_PORTS[parts.scheme]


def _normal_host(raw: str, *, field: str) -> str:
    if not raw:
        raise InvalidArgument("the URL has no host", field=field)
    if raw.startswith("["):
        if not raw.endswith("]"):
            raise InvalidArgument(f"malformed IPv6 host {raw!r}", field=field)
        inner = raw[1:-1]
        if "%" in inner:
            raise InvalidArgument("IPv6 zone identifiers are not allowed in URLs", field=field)
        try:
            return f"[{ipaddress.IPv6Address(inner).compressed}]"
        except ValueError:
            raise InvalidArgument(f"{raw!r} is not an IPv6 address", field=field) from None
    literal = parse_ip_literal(raw)
    if isinstance(literal, ipaddress.IPv4Address):
        return str(literal)
    host = raw.lower()
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise InvalidArgument(f"host {raw!r} is not a valid domain name: {exc}", field=field) from None
    name = host[:-1] if host.endswith(".") else host
    bad = next((c for c in name if not (c.isascii() and (c.isalnum() or c in "-._"))), None)
    if bad is not None:
        raise InvalidArgument(f"host {raw!r} contains {bad!r}, which is not allowed in a host name", field=field)
    if not name or len(name) > 253 or any(not 0 < len(label) <= 63 for label in name.split(".")):
        raise InvalidArgument(f"host {raw!r} is not a valid domain name", field=field)
    return name


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------------------------- IP literals


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host string denotes by itself, in any spelling the C library accepts; None for names.

    IPv4 follows inet_aton: one to four parts, each decimal, octal (leading 0) or hex (0x), the last part
    filling the remaining bytes ("127.1", "2130706433", "0177.0.0.1", "0x7f.1"). A trailing dot is also
    read as a literal, as browsers do. IPv6 may be bracketed and carry a zone ("[fe80::1%eth0]"), which
    is dropped. IPv4-mapped IPv6 stays IPv6 (``blocked_reason`` looks inside it).
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    if text.endswith("."):
        text = text[:-1]
    return _inet_aton(text)


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        value = _inet_aton_part(part)
        if value is None:
            return None
        values.append(value)
    *leading, last = values
    if any(v > 0xFF for v in leading) or last >= 1 << (8 * (4 - len(leading))):
        return None
    number = last
    for index, value in enumerate(leading):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def _inet_aton_part(part: str) -> int | None:
    if not part or not part.isascii():
        return None
    lowered = part.lower()
    if lowered.startswith("0x"):
        digits, base, allowed = lowered[2:], 16, "0123456789abcdef"
    elif lowered.startswith("0") and len(lowered) > 1:
        digits, base, allowed = lowered[1:], 8, "01234567"
    else:
        digits, base, allowed = lowered, 10, "0123456789"
    if not digits or any(c not in allowed for c in digits):
        return None
    value = int(digits, base)
    return value if value <= 0xFFFFFFFF else None


# ------------------------------------------------------------------------------- blocked addresses

_METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle ...
        "169.254.170.2",  # AWS ECS task credentials
        "169.254.170.23",  # AWS EKS pod identity
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS over IPv6
        "fd00:ec2::23",  # AWS EKS pod identity over IPv6
    )
)
_V4_RANGES: Final = tuple(
    (ipaddress.IPv4Network(net), kind)
    for net, kind in (
        ("0.0.0.0/32", "the unspecified address"),
        ("0.0.0.0/8", 'a "this network" address'),
        ("127.0.0.0/8", "a loopback address"),
        ("10.0.0.0/8", "a private address (RFC 1918)"),
        ("172.16.0.0/12", "a private address (RFC 1918)"),
        ("192.168.0.0/16", "a private address (RFC 1918)"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        ("169.254.0.0/16", "a link-local address"),
        ("224.0.0.0/4", "a multicast address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("240.0.0.0/4", "a reserved address"),
    )
)
_V6_RANGES: Final = tuple(
    (ipaddress.IPv6Network(net), kind)
    for net, kind in (
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("::/96", "a deprecated IPv4-compatible address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("::/8", "a reserved address"),
        ("fc00::/7", "a private (unique local) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    )
)
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_TRANSLATED: Final = ipaddress.IPv6Network("::ffff:0:0:0/96")


def blocked_reason(address: IPAddress | str) -> str | None:
    """Why no fetch may connect to this address ("169.254.169.254 is a cloud metadata address"), or None."""
    ip = _as_address(address)
    kind = address_kind(ip)
    return None if kind is None else f"{ip} is {kind}"


def address_kind(address: IPAddress) -> str | None:
    """What makes an address off limits ("a loopback address"), or None for a public unicast address."""
    if address in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv4Address):
        for net, kind in _V4_RANGES:
            if address in net:
                return kind
        return None if address.is_global else "a special-purpose (non-public) address"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        how, v4 = embedded
        inner = address_kind(v4)
        return None if inner is None else f"{how} of {v4}, {inner}"
    for net6, kind6 in _V6_RANGES:
        if address in net6:
            return kind6
    return None if address.is_global else "a special-purpose (non-public) address"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    # These IPv6 forms reach an IPv4 host: the kernel (mapped), a translator (NAT64, SIIT) or a relay (6to4).
    if address.ipv4_mapped is not None:
        return "an IPv4-mapped form", address.ipv4_mapped
    if address in _NAT64 or address in _IPV4_TRANSLATED:
        return "a translated (NAT64) form", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return "a 6to4 form", address.sixtofour
    return None


def _as_address(address: IPAddress | str) -> IPAddress:
    if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return address
    try:
        return ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        raise InvalidArgument(f"{address!r} is not an IP address", field="address") from None


# ---------------------------------------------------------------------------------------- the policy


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Destinations that may be reached although their address is off limits (a local test shop, a demo).

    Entries are "host" (any port) or "host:port"; IPv6 as "[::1]" or "[::1]:8080". They are normalised on
    construction (lower case, IPv4 literals in dotted decimal, IPv6 compressed and bracketed). An entry that
    is an IP literal allows that address however it was reached, since naming it gives no further access.
    """

    allow_hosts: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        object.__setattr__(self, "allow_hosts", frozenset(_normal_entry(e) for e in self.allow_hosts))

    @classmethod
    def of(cls, entries: Iterable[str]) -> AddressPolicy:
        return cls(frozenset(entries))

    def is_allow_listed(self, host: str, port: int) -> bool:
        key = _host_key(host)
        return key in self.allow_hosts or f"{key}:{port}" in self.allow_hosts

    def check(self, host: str, port: int, address: IPAddress | str) -> None:
        """Raise BlockedDestination unless connecting to ``address`` for ``host``:``port`` is allowed."""
        ip = _as_address(address)
        kind = address_kind(ip)
        if kind is None or self.is_allow_listed(host, port) or self.is_allow_listed(str(ip), port):
            return
        literal = parse_ip_literal(host)
        if literal is None:
            reason = f"{host} resolves to {ip}, {kind}"
        elif host.strip().strip("[]").lower() == str(ip):
            reason = f"{ip} is {kind}"
        else:
            reason = f"{host} is {ip}, {kind}"
        raise BlockedDestination(reason, host=host, address=str(ip))


def _host_key(host: str) -> str:
    literal = parse_ip_literal(host)
    if isinstance(literal, ipaddress.IPv6Address):
        return f"[{literal.compressed}]"
    if literal is not None:
        return str(literal)
    lowered = host.strip().lower()
    return lowered[:-1] if lowered.endswith(".") else lowered


def _normal_entry(entry: str) -> str:
    field_name = "fetch_allow_hosts"
    if not isinstance(entry, str) or not entry.strip():
        raise InvalidArgument("an allow-list entry must be a non-empty 'host' or 'host:port'", field=field_name)
    text = entry.strip().lower()
    port_text = ""
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or (close + 1 < len(text) and text[close + 1] != ":"):
            raise InvalidArgument(f"allow-list entry {entry!r}: write IPv6 as [::1] or [::1]:8080", field=field_name)
        host, port_text = text[: close + 1], text[close + 2 :]
        if parse_ip_literal(host) is None:
            raise InvalidArgument(f"allow-list entry {entry!r}: {host} is not an IPv6 address", field=field_name)
    elif text.count(":") > 1:
        raise InvalidArgument(f"allow-list entry {entry!r}: write IPv6 in brackets, as [::1]:8080", field=field_name)
    else:
        host, _, port_text = text.partition(":")
        if not host:
            raise InvalidArgument(f"allow-list entry {entry!r} has no host", field=field_name)
        _normal_host(host, field=field_name)
    key = _host_key(host)
    if not port_text and ":" not in text.removeprefix(host):
        return key
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise InvalidArgument(f"allow-list entry {entry!r}: the port must be from 1 to 65535", field=field_name)
    return f"{key}:{int(port_text)}"


# ------------------------------------------------------------------------------------ name lookups


async def resolve_checked(
    host: str,
    port: int,
    policy: AddressPolicy,
    *,
    resolver: Resolver | None = None,
    lookup_seconds: float = RESOLVE_TIMEOUT_SECONDS,
) -> list[str]:
    """The addresses to connect to for host:port, each one allowed by ``policy``.

    IP literals (any spelling) are checked as they are; names are resolved and EVERY answer must be
    allowed, since a client may try any of them. Raises BlockedDestination when one is not, Unavailable
    when the name does not resolve. Connect to one of the returned addresses, never to the name again.
    """
    literal = parse_ip_literal(host)
    if literal is not None:
        policy.check(host, port, literal)
        return [str(literal)]
    lookup = resolver or _system_resolve
    try:
        async with asyncio.timeout(lookup_seconds):
            answers = await lookup(host, port)
    except TimeoutError:
        raise Unavailable(f"looking up {host} took longer than {lookup_seconds:g} s") from None
    except OSError as exc:
        raise Unavailable(f"cannot resolve {host}: {exc.strerror or exc}") from None
    addresses = list(dict.fromkeys(_as_address(a) for a in answers))
    if not addresses:
        raise Unavailable(f"{host} has no addresses")
    for address in addresses:
        policy.check(host, port, address)
    return [str(a) for a in addresses]


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]
