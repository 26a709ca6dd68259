"""Webhook signatures: what receivers verify with verify_signature."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from services.competitor.alerts.signing import InvalidSignature, sign, signature_header, verify_signature

SECRET = "whsec_test"
BODY = b'{"id":"evt_1","type":"alert.fired"}'
NOW = 1_772_355_600


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == expected
    assert signature_header(SECRET, NOW, BODY) == f"t={NOW},v1={expected}"
    assert verify_signature(SECRET, signature_header(SECRET, NOW, BODY), BODY, 300, now=NOW + 299) == NOW
    assert verify_signature(SECRET, signature_header(SECRET, NOW, BODY), BODY.decode(), 300, now=NOW) == NOW


def test_a_rotated_secret_may_sign_alongside() -> None:
    header = f"t={NOW},v1={sign('old', NOW, BODY)},v1={sign(SECRET, NOW, BODY)}"
    assert verify_signature(SECRET, header, BODY, now=NOW) == NOW


@pytest.mark.parametrize(
    ("header", "body", "now", "reason"),
    [
        (signature_header(SECRET, NOW, BODY), BODY + b" ", NOW, "does not match"),
        (signature_header("other", NOW, BODY), BODY, NOW, "does not match"),
        (signature_header(SECRET, NOW, BODY), BODY, NOW + 301, "replay"),
        (signature_header(SECRET, NOW, BODY), BODY, NOW - 301, "replay"),
        (f"t={NOW + 1},v1={sign(SECRET, NOW, BODY)}", BODY, NOW, "does not match"),
        (f"v1={sign(SECRET, NOW, BODY)}", BODY, NOW, "no timestamp"),
        (f"t={NOW}", BODY, NOW, "no v1"),
        (f"t=soon,v1={sign(SECRET, NOW, BODY)}", BODY, NOW, "one timestamp"),
        ("garbage", BODY, NOW, "key=value"),
    ],
)
def test_bad_signatures_are_refused(header: str, body: bytes, now: int, reason: str) -> None:
    with pytest.raises(InvalidSignature, match=reason):
        verify_signature(SECRET, header, body, 300, now=now)
