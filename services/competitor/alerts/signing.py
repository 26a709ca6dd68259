"""Webhook signatures: `X-OmniPriceX-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.

The timestamp is inside the signed text, so a captured delivery cannot be replayed later with a fresh
timestamp; receivers refuse timestamps outside their tolerance. Receivers verify with verify_signature.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-OmniPriceX-Signature"
DEFAULT_TOLERANCE_SECONDS = 300
SCHEME = "v1"


class InvalidSignature(ValueError):
    """The delivery is not signed with the secret, is malformed, or is too old (or too far ahead)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of f"{timestamp}.{body}" with the secret."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},{SCHEME}={sign(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes | str,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> int:
    """Check a delivery's signature header against its raw body; the signed timestamp when it is valid.

    Raises InvalidSignature when the header is malformed, no v1 signature matches (several are accepted,
    for a secret being rotated), or the timestamp is more than `tolerance_seconds` away from `now`.
    """
    raw = body.encode() if isinstance(body, str) else body
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, separator, value = part.strip().partition("=")
        if not separator:
            raise InvalidSignature("the signature header is not a list of key=value pairs")
        if key == "t":
            if timestamp is not None or not value.isdigit():
                raise InvalidSignature("the signature header must carry one timestamp t=<unix seconds>")
            timestamp = int(value)
        elif key == SCHEME:
            candidates.append(value)
    if timestamp is None:
        raise InvalidSignature("the signature header has no timestamp")
    if not candidates:
        raise InvalidSignature(f"the signature header has no {SCHEME} signature")
    expected = sign(secret, timestamp, raw)
    # Every candidate is compared, in constant time each, so timing tells nothing about which matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate, expected)
    if not matched:
        raise InvalidSignature("the signature does not match the body and secret")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise InvalidSignature(
            f"the signature's timestamp is {int(current - timestamp)} s away from now "
            f"(tolerance {int(tolerance_seconds)} s): refusing a possible replay"
        )
    return timestamp
