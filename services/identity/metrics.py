"""Identity's business counters, exposed on the service's /metrics."""

from __future__ import annotations

from prometheus_client import Counter

LOGINS = Counter("omnipricex_identity_logins_total", "Password logins by outcome", ["outcome"])
REFRESH_TOKEN_REUSE = Counter(
    "omnipricex_identity_refresh_token_reuse_total",
    "Retired refresh tokens presented again; each one revoked its whole family",
)
API_KEY_AUTHENTICATIONS = Counter(
    "omnipricex_identity_api_key_authentications_total", "API key checks by outcome", ["outcome"]
)
