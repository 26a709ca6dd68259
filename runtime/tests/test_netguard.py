"""runtime.netguard: fetchable URLs, every spelling of an IP literal, off-limits addresses, vetted lookups."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.errors import InvalidArgument, PermissionDenied, Unavailable
from runtime.netguard import (
    MAX_URL_LENGTH,
    AddressPolicy,
    BlockedDestination,
    Resolver,
    blocked_reason,
    host_and_port,
    parse_ip_literal,
    resolve_checked,
    validate_fetch_url,
)

# ------------------------------------------------------------------------------------------------ URLs


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://shop.example/p/1?x=2", "https://shop.example/p/1?x=2"),
        ("HTTP://Shop.Example:80/a#frag", "http://shop.example/a"),
        ("https://shop.example:443", "https://shop.example/"),
        ("http://shop.example:8080/", "http://shop.example:8080/"),
        ("  https://shop.example/trimmed  ", "https://shop.example/trimmed"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("http://[0:0:0:0:0:0:0:1]/", "http://[::1]/"),
        ("http://0x7f.1:8080/", "http://127.0.0.1:8080/"),
        ("http://2130706433/", "http://127.0.0.1/"),
        ("http://shop.example./", "http://shop.example/"),
    ],
)
def test_fetchable_urls_are_normalised(url: str, normalised: str) -> None:
    assert validate_fetch_url(url) == normalised


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("file://shop.example/no-such-file", "URL scheme 'file' is not allowed"),
        ("gopher://shop.example:70/_x", "URL scheme 'gopher' is not allowed"),
        ("ftp://shop.example/x", "URL scheme 'ftp' is not allowed"),
        ("javascript:alert(1)", "URL scheme 'javascript' is not allowed"),
        ("data:text/html,hi", "URL scheme 'data' is not allowed"),
        ("dict://shop.example:11211/", "URL scheme 'dict' is not allowed"),
        ("shop.example/p/1", "is not an absolute URL"),
        ("localhost:8080/p", "is not an absolute URL"),
        ("/p/1", "is not an absolute URL"),
        ("", "the URL is empty"),
        ("http:shop.example", "has no host"),
        ("http:///p", "the URL has no host"),
        ("http://user:secret@shop.example/", "user names and passwords are not allowed"),
        ("http://shop.example\\@10.0.0.1/", "user names and passwords are not allowed"),
        ("http://shop example/", "whitespace or a control character (U+0020)"),
        ("http://shop.example/\x00", "whitespace or a control character (U+0000)"),
        ("http://shop.example/\u200b", "whitespace or a control character (U+200B)"),
        ("http://shop.example:99999/", "Port out of range"),
        ("http://shop.example:0/", "port must be from 1 to 65535"),
        ("http://shop.example:http/", "malformed URL"),
        ("http://[::1/", "malformed URL"),
        ("http://[fe80::1%25eth0]/", "zone identifiers are not allowed"),
        ("http://%31%32%37.0.0.1/", "contains '%'"),
        ("http://shop..example/", "is not a valid domain name"),
        ("http://" + "a" * 64 + ".example/", "is not a valid domain name"),
        ("https://shop.example/" + "p" * MAX_URL_LENGTH, f"at most {MAX_URL_LENGTH} are allowed"),
    ],
)
def test_unfetchable_urls_are_refused_saying_why(url: str, problem: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        validate_fetch_url(url, field="source.url")
    assert problem in refused.value.message
    assert refused.value.field == "source.url"


def test_host_and_port_of_a_url_fill_in_the_scheme_default() -> None:
    assert host_and_port("https://Shop.Example/p") == ("shop.example", 443)
    assert host_and_port("http://[::1]:8080/") == ("::1", 8080)
    assert host_and_port("http://0177.0.0.1/") == ("127.0.0.1", 80)


# ------------------------------------------------------------------------------------- IP literals


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0X7F.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("10.1", "10.0.0.1"),
        ("0", "0.0.0.0"),
        ("127.0.0.1.", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("fe80::1%eth0", "fe80::1"),
    ],
)
def test_every_spelling_of_an_ip_literal_is_read_as_its_address(host: str, address: str) -> None:
    assert parse_ip_literal(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "host",
    ["shop.example", "localhost", "08.0.0.1", "0x.1", "1..2", ".1", "1.2.3.4.5", "256.1.1.1", "4294967296", "1.2.3.x"],
)
def test_names_and_malformed_numbers_are_not_ip_literals(host: str) -> None:
    assert parse_ip_literal(host) is None


@given(st.text(alphabet="0123456789abcdefxX.", min_size=1, max_size=24).filter(lambda s: not s.endswith(".")))
def test_ipv4_spellings_are_read_exactly_as_the_c_library_reads_them(host: str) -> None:
    try:
        expected: ipaddress.IPv4Address | None = ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        expected = None
    assert parse_ip_literal(host) == expected


# ------------------------------------------------------------------------------------ off limits


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("127.255.0.9", "127.255.0.9 is a loopback address"),
        ("::1", "::1 is a loopback address"),
        ("10.0.0.1", "10.0.0.1 is a private address (RFC 1918)"),
        ("172.16.5.4", "172.16.5.4 is a private address (RFC 1918)"),
        ("192.168.1.1", "192.168.1.1 is a private address (RFC 1918)"),
        ("fd12:3456::1", "fd12:3456::1 is a private (unique local) address"),
        ("169.254.1.1", "169.254.1.1 is a link-local address"),
        ("fe80::1", "fe80::1 is a link-local address"),
        ("224.0.0.251", "224.0.0.251 is a multicast address"),
        ("ff02::1", "ff02::1 is a multicast address"),
        ("0.0.0.0", "0.0.0.0 is the unspecified address"),
        ("0.1.2.3", '0.1.2.3 is a "this network" address'),
        ("::", ":: is the unspecified address"),
        ("240.0.0.1", "240.0.0.1 is a reserved address"),
        ("255.255.255.255", "255.255.255.255 is the broadcast address"),
        ("100.64.0.1", "100.64.0.1 is a shared (carrier-grade NAT) address"),
        ("169.254.169.254", "169.254.169.254 is a cloud metadata address"),
        ("fd00:ec2::254", "fd00:ec2::254 is a cloud metadata address"),
        ("100.100.100.200", "100.100.100.200 is a cloud metadata address"),
        ("192.0.2.10", "192.0.2.10 is a special-purpose (non-public) address"),
        ("2001:db8::1", "2001:db8::1 is a special-purpose (non-public) address"),
        ("::ffff:169.254.169.254", "is an IPv4-mapped form of 169.254.169.254, a cloud metadata address"),
        ("::ffff:10.0.0.1", "is an IPv4-mapped form of 10.0.0.1, a private address (RFC 1918)"),
        ("64:ff9b::7f00:1", "is a translated (NAT64) form of 127.0.0.1, a loopback address"),
        ("64:ff9b:1::a", "is a local-use NAT64 address"),
        ("2002:a9fe:a9fe::1", "is a 6to4 form of 169.254.169.254, a cloud metadata address"),
        ("::127.0.0.1", "is a deprecated IPv4-compatible address"),
    ],
)
def test_off_limits_addresses_are_named_with_the_reason(address: str, reason: str) -> None:
    found = blocked_reason(address)
    assert found is not None
    assert reason in found
    assert blocked_reason(ipaddress.ip_address(address)) == found


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34", "2002:5db8:d822::1"],
)
def test_public_addresses_are_fine(address: str) -> None:
    assert blocked_reason(address) is None


def test_something_that_is_not_an_address_is_invalid() -> None:
    with pytest.raises(InvalidArgument):
        blocked_reason("shop.example")


# --------------------------------------------------------------------------------------- the policy


def test_allow_list_entries_are_normalised() -> None:
    policy = AddressPolicy.of(
        ["Shop.Local", "127.0.0.1:8701", "0x7f.2:9000", "[0::1]:8080", "[fd00::5]", "demo.local."]
    )
    assert policy.allow_hosts == frozenset(
        {"shop.local", "127.0.0.1:8701", "127.0.0.2:9000", "[::1]:8080", "[fd00::5]", "demo.local"}
    )


@pytest.mark.parametrize(
    ("host", "port", "listed"),
    [
        ("shop.local", 1, True),
        ("SHOP.LOCAL.", 443, True),
        ("127.0.0.1", 8701, True),
        ("2130706433", 8701, True),
        ("127.0.0.1", 8702, False),
        ("::1", 8080, True),
        ("[::1]", 8080, True),
        ("::1", 8081, False),
        ("other.local", 8701, False),
    ],
)
def test_allow_listing_matches_host_and_port(host: str, port: int, listed: bool) -> None:
    policy = AddressPolicy.of(["shop.local", "127.0.0.1:8701", "[::1]:8080"])
    assert policy.is_allow_listed(host, port) is listed


@pytest.mark.parametrize(
    "entry", ["", "  ", "shop.local:", "shop.local:0", "shop.local:99999", "::1", "[::1", "[x]:80", ":80"]
)
def test_bad_allow_list_entries_are_refused(entry: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        AddressPolicy.of([entry])
    assert refused.value.field == "fetch_allow_hosts"


def test_check_names_the_host_the_address_and_why() -> None:
    policy = AddressPolicy.of(["shop.local:8080", "127.0.0.1:8701"])
    with pytest.raises(BlockedDestination) as by_name:
        policy.check("intranet.example", 80, "10.1.2.3")
    assert by_name.value.reason == "intranet.example resolves to 10.1.2.3, a private address (RFC 1918)"
    assert (by_name.value.host, by_name.value.address) == ("intranet.example", "10.1.2.3")
    assert isinstance(by_name.value, PermissionDenied)
    with pytest.raises(BlockedDestination, match=r"^0x7f\.1 is 127\.0\.0\.1, a loopback address$"):
        policy.check("0x7f.1", 80, parse_ip_literal("0x7f.1") or "")
    # Listed by name, by address (however it is reached), or a public address: allowed.
    policy.check("shop.local", 8080, "10.1.2.3")
    policy.check("localhost", 8701, "127.0.0.1")
    policy.check("shop.example", 80, "93.184.216.34")


# ------------------------------------------------------------------------------------- name lookups


def answers(table: dict[str, list[str]]) -> tuple[list[str], Resolver]:
    asked: list[str] = []

    async def resolver(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return asked, resolver


async def test_a_name_resolving_to_a_private_address_is_refused_and_a_public_one_allowed() -> None:
    asked, resolver = answers({"intranet.example": ["10.1.2.3"], "shop.example": ["93.184.216.34"]})
    policy = AddressPolicy()

    with pytest.raises(BlockedDestination, match=r"intranet\.example resolves to 10\.1\.2\.3, a private address"):
        await resolve_checked("intranet.example", 443, policy, resolver=resolver)
    assert await resolve_checked("shop.example", 443, policy, resolver=resolver) == ["93.184.216.34"]
    assert asked == ["intranet.example", "shop.example"]


async def test_every_answer_must_be_allowed() -> None:
    _, resolver = answers({"mixed.example": ["93.184.216.34", "93.184.216.34", "fd00:ec2::254"]})
    with pytest.raises(BlockedDestination, match="resolves to fd00:ec2::254, a cloud metadata address"):
        await resolve_checked("mixed.example", 80, AddressPolicy(), resolver=resolver)


async def test_allow_listed_names_resolve_to_whatever_they_resolve_to() -> None:
    _, resolver = answers({"shop.local": ["127.0.0.1", "127.0.0.1", "::1"]})
    found = await resolve_checked("shop.local", 8701, AddressPolicy.of(["shop.local:8701"]), resolver=resolver)
    assert found == ["127.0.0.1", "::1"]


async def test_ip_literals_are_checked_without_a_lookup() -> None:
    asked, resolver = answers({})
    with pytest.raises(BlockedDestination, match=r"2130706433 is 127\.0\.0\.1, a loopback address"):
        await resolve_checked("2130706433", 80, AddressPolicy(), resolver=resolver)
    assert await resolve_checked("0x5d.0xb8.0xd8.0x22", 80, AddressPolicy(), resolver=resolver) == ["93.184.216.34"]
    assert asked == []


async def test_lookups_that_fail_or_hang_are_unavailable() -> None:
    _, resolver = answers({"empty.example": []})
    with pytest.raises(Unavailable, match=r"cannot resolve nowhere\.example"):
        await resolve_checked("nowhere.example", 80, AddressPolicy(), resolver=resolver)
    with pytest.raises(Unavailable, match=r"empty\.example has no addresses"):
        await resolve_checked("empty.example", 80, AddressPolicy(), resolver=resolver)

    async def hangs(host: str, port: int) -> Sequence[str]:
        await asyncio.sleep(10)
        return []

    with pytest.raises(Unavailable, match=r"took longer than 0\.05 s"):
        await resolve_checked("slow.example", 80, AddressPolicy(), resolver=hangs, lookup_seconds=0.05)


async def test_the_system_resolver_is_vetted_too() -> None:
    with pytest.raises(BlockedDestination, match=r"localhost resolves to (127\.0\.0\.1|::1), a loopback address"):
        await resolve_checked("localhost", 80, AddressPolicy())
