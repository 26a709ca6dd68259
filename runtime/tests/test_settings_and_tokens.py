from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from pydantic import ValidationError

from runtime.auth import AccessTokens, Role, credential_from_metadata
from runtime.errors import InvalidArgument, Unauthenticated
from runtime.pagination import decode_token, encode_token, page_size
from runtime.settings import Settings

SECRET = "s" * 64


def tokens(**overrides: object) -> AccessTokens:
    options: dict[str, object] = {"issuer": "omnipricex", "audience": "omnipricex-api", "ttl_seconds": 60}
    options.update(overrides)
    return AccessTokens(SECRET, **options)  # type: ignore[arg-type]


def test_production_refuses_missing_or_short_secrets() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(env="production")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(env="production", jwt_secret="short", bootstrap_token="b" * 40)
    assert Settings(env="production", jwt_secret="j" * 40, bootstrap_token="b" * 40).require_jwt_secret() == "j" * 40


def test_invalid_values_fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIPRICEX_GATEWAY_PORT", "not-a-port")
    with pytest.raises(ValidationError):
        Settings()


def test_development_secrets_are_generated_once_per_data_dir(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).require_jwt_secret()
    assert len(first) >= 32
    assert Settings(data_dir=tmp_path).require_jwt_secret() == first
    assert (tmp_path / "secrets" / "jwt_secret").stat().st_mode & 0o077 == 0
    assert Settings(data_dir=tmp_path / "other").require_jwt_secret() != first


def test_access_token_round_trip() -> None:
    issued = tokens().issue(user_id="u1", organization_id="o1", role=Role.ANALYST)
    principal = tokens().verify(issued.token)
    assert (principal.organization_id, principal.subject_id, principal.role) == ("o1", "u1", Role.ANALYST)


def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": "omnipricex",
        "aud": "omnipricex-api",
        "sub": "u1",
        "org": "o1",
        "role": "owner",
        "typ": "access",
        "iat": now,
        "exp": now + 60,
    }
    claims.update(overrides)
    return claims


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode(_claims(), key="", algorithm="none"),
        jwt.encode(_claims(aud="someone-else"), SECRET, algorithm="HS256"),
        jwt.encode(_claims(iss="evil"), SECRET, algorithm="HS256"),
        jwt.encode(_claims(exp=int(time.time()) - 600), SECRET, algorithm="HS256"),
        jwt.encode(_claims(typ="refresh"), SECRET, algorithm="HS256"),
        jwt.encode(_claims(role="superuser"), SECRET, algorithm="HS256"),
        jwt.encode(_claims(), "another-secret-of-enough-length-0000", algorithm="HS256"),
        jwt.encode(_claims(), SECRET, algorithm="HS512"),
        "opaque-refresh-token-value",
        "",
    ],
    ids=[
        "alg-none",
        "wrong-aud",
        "wrong-iss",
        "expired",
        "refresh-typ",
        "bad-role",
        "other-key",
        "hs512",
        "opaque",
        "empty",
    ],
)
def test_bad_access_tokens_are_refused(token: str) -> None:
    with pytest.raises(Unauthenticated):
        tokens().verify(token)


def test_credentials_come_from_metadata() -> None:
    assert credential_from_metadata([("authorization", "Bearer abc")]) == "abc"
    assert credential_from_metadata([("x-api-key", "opx_1_2")]) == "opx_1_2"
    assert credential_from_metadata([("other", "x")]) is None
    with pytest.raises(Unauthenticated):
        credential_from_metadata([("authorization", "Basic Zm9vOmJhcg==")])


def test_page_tokens() -> None:
    assert decode_token(encode_token({"after": "SKU-9"})) == {"after": "SKU-9"}
    assert decode_token("") == {}
    with pytest.raises(InvalidArgument):
        decode_token("!!not-a-token!!")
    assert page_size(0) == 50
    assert page_size(5000) == 1000
    with pytest.raises(InvalidArgument):
        page_size(-1)
