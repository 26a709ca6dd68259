"""Access tokens a service mints to call another service in a principal's name, reused until near expiry.

A job or a service acting for someone calls onwards as that person (same organisation, same role), so
the callee's audit log and price events name a person, never a faceless service account.
"""

from __future__ import annotations

import time

from runtime.auth import AccessTokens, Principal
from runtime.clients import auth_metadata

# A token is renewed this long before it expires, so no call starts with one about to lapse.
TOKEN_MARGIN_SECONDS = 60


class Credentials:
    """Short-lived access tokens per principal, reused until shortly before they expire."""

    def __init__(self, tokens: AccessTokens) -> None:
        self._tokens = tokens
        self._issued: dict[tuple[str, str, int], tuple[float, tuple[tuple[str, str], ...]]] = {}

    def metadata(self, principal: Principal) -> tuple[tuple[str, str], ...]:
        key = (principal.organization_id, principal.subject_id, int(principal.role))
        now = time.time()
        cached = self._issued.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        issued = self._tokens.issue(
            user_id=principal.subject_id, organization_id=principal.organization_id, role=principal.role
        )
        metadata = auth_metadata(issued.token)
        if len(self._issued) > 10_000:
            self._issued.clear()
        self._issued[key] = (now + issued.expires_in - TOKEN_MARGIN_SECONDS, metadata)
        return metadata
