"""The pure rules: input normalisation, password policy, role rules, credential shapes, audit checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from runtime.auth import CredentialKind, Principal, Role
from runtime.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.identity import domain
from services.identity.domain import AuditEntry, User

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def _user(user_id: str = "u2", role: Role = Role.ANALYST, *, org: str = "org1", disabled: bool = False) -> User:
    return User(user_id, org, f"{user_id}@acme.test", role, disabled, "hash", NOW)


def _principal(role: Role, subject: str = "u1", org: str = "org1") -> Principal:
    return Principal(org, subject, role, CredentialKind.ACCESS_TOKEN)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Admin@Demo.Local", "admin@demo.local"),
        ("  jane.doe+pricing@shop.example.com \n", "jane.doe+pricing@shop.example.com"),
        ("o'brien@xn--bcher-kva.example", "o'brien@xn--bcher-kva.example"),
    ],
)
def test_emails_are_trimmed_and_lower_cased(raw: str, expected: str) -> None:
    assert domain.normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "no-at-sign",
        "two@@ats.test",
        "spaces in@acme.test",
        "dots..twice@acme.test",
        ".leading@acme.test",
        "nodomain@",
        "@nolocal.test",
        "single@label",
        "unicode@bücher.example",
        "émile@acme.test",
        "trailing@acme.test.",
        "hyphen@-acme.test",
        ("a" * 65) + "@acme.test",
        "a@" + ".".join(["b" * 60] * 5) + ".test",
        "x" * 100_000 + "@acme.test",
    ],
)
def test_malformed_or_overlong_emails_are_refused(raw: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        domain.normalise_email(raw, field="owner_email")
    assert refused.value.field == "owner_email"


def test_an_email_of_254_characters_is_accepted_and_255_is_not() -> None:
    domain_part = ".".join(["d" * 60] * 3) + "." + "e" * 5  # 188 characters
    local = "l" * 64
    longest = f"{local}@{domain_part}"
    assert len(longest) == 253
    assert domain.normalise_email(longest + "e") == longest + "e"
    with pytest.raises(InvalidArgument):
        domain.normalise_email(longest + "ee")


@pytest.mark.parametrize("length", [domain.MIN_PASSWORD_LENGTH, domain.MAX_PASSWORD_LENGTH])
def test_passwords_within_the_policy_are_accepted(length: int) -> None:
    domain.check_password_policy("p" * length)


@pytest.mark.parametrize(
    "password", ["", "p" * (domain.MIN_PASSWORD_LENGTH - 1), "p" * (domain.MAX_PASSWORD_LENGTH + 1), " " * 20]
)
def test_passwords_outside_the_policy_are_refused(password: str) -> None:
    with pytest.raises(InvalidArgument):
        domain.check_password_policy(password)


def test_passwords_are_compared_in_one_unicode_form() -> None:
    composed, decomposed = "caf\u00e9-au-lait-1234", "cafe\u0301-au-lait-1234"
    assert composed != decomposed
    assert domain.normalise_password(composed) == domain.normalise_password(decomposed)


def test_names_are_collapsed_and_bounded() -> None:
    assert domain.clean_name("  Demo   Retail ", field="name", max_length=20) == "Demo Retail"
    for bad in ("", "   ", "x" * 21, "bell\x07"):
        with pytest.raises(InvalidArgument):
            domain.clean_name(bad, field="name", max_length=20)


@pytest.mark.parametrize("number", [0, 6, -1])
def test_unknown_role_numbers_are_refused(number: int) -> None:
    with pytest.raises(InvalidArgument):
        domain.role_from_number(number)


def test_a_caller_grants_at_most_its_own_role() -> None:
    domain.check_can_grant(_principal(Role.ADMIN), Role.ADMIN)
    domain.check_can_grant(_principal(Role.ADMIN), Role.VIEWER)
    domain.check_can_grant(_principal(Role.OWNER), Role.OWNER)
    with pytest.raises(PermissionDenied):
        domain.check_can_grant(_principal(Role.ADMIN), Role.OWNER)
    with pytest.raises(PermissionDenied):
        domain.check_can_grant(_principal(Role.PRICING_MANAGER), Role.ADMIN)


def test_a_caller_manages_only_others_of_its_organisation_at_or_below_its_role() -> None:
    admin = _principal(Role.ADMIN)
    domain.check_can_manage(admin, _user(role=Role.ADMIN))
    with pytest.raises(PermissionDenied):
        domain.check_can_manage(admin, _user(role=Role.OWNER))
    with pytest.raises(PermissionDenied):
        domain.check_can_manage(admin, _user(org="org2"))
    with pytest.raises(FailedPrecondition):
        domain.check_can_manage(admin, _user("u1", Role.ADMIN))


def test_losing_an_owner_means_an_enabled_owner_stops_being_one() -> None:
    owner = _user(role=Role.OWNER)
    assert domain.loses_an_owner(owner, domain.with_role(owner, Role.ADMIN))
    assert domain.loses_an_owner(owner, domain.disabled(owner))
    assert not domain.loses_an_owner(owner, owner)
    assert not domain.loses_an_owner(_user(role=Role.ADMIN), domain.disabled(_user(role=Role.ADMIN)))
    assert not domain.loses_an_owner(_user(role=Role.OWNER, disabled=True), _user(role=Role.ADMIN, disabled=True))


def test_api_key_text_splits_back_into_id_and_secret() -> None:
    text = domain.api_key_text("01jd5x", "s3cr_et-with_underscores")
    assert text == "opx_01jd5x_s3cr_et-with_underscores"
    assert domain.split_api_key(text) == ("01jd5x", "s3cr_et-with_underscores")
    prefix = domain.api_key_display_prefix("01jd5x", "s3cr_et-with_underscores")
    assert text.startswith(prefix)
    assert len(prefix) < len(text)


@pytest.mark.parametrize("text", ["", "opx_", "opx_id", "opx_id_", "opx__secret", "sk_id_secret", "eyJhbGciOi.x.y"])
def test_malformed_api_keys_do_not_split(text: str) -> None:
    assert domain.split_api_key(text) is None


def test_secrets_hash_to_sha256_hex() -> None:
    assert domain.sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_refresh_tokens_store_the_hash_and_know_when_they_are_spent() -> None:
    user = _user()
    token = domain.refresh_token(
        token="opaque", token_id="t1", family_id="f1", user=user, now=NOW, ttl=timedelta(hours=1)
    )
    assert token.token_hash == domain.sha256_hex("opaque")
    assert "opaque" not in repr(token)
    assert not token.retired
    assert not token.expired(NOW + timedelta(minutes=59))
    assert token.expired(NOW + timedelta(hours=1))
    assert replace(token, used_at=NOW).retired
    assert replace(token, revoked_at=NOW).retired


def _entry(**changes: str) -> AuditEntry:
    values = {
        "id": "e1",
        "organization_id": "org1",
        "actor_id": "u1",
        "action": "/omnipricex.product.v1.ProductService/UpdateProduct",
        "resource": "product/SKU-1",
        "outcome": "OK",
        "trace_id": "",
    }
    values.update(changes)
    return AuditEntry(time=NOW, **values)


def test_audit_entries_belong_to_the_caller() -> None:
    caller = _principal(Role.VIEWER)
    domain.check_audit_entry(_entry(), caller, 0)
    with pytest.raises(PermissionDenied, match=r"entries\[3\]"):
        domain.check_audit_entry(_entry(organization_id="org2"), caller, 3)
    with pytest.raises(PermissionDenied):
        domain.check_audit_entry(_entry(actor_id="someone-else"), caller, 0)


@pytest.mark.parametrize(
    "changes",
    [{"action": ""}, {"outcome": ""}, {"action": "a" * 257}, {"resource": "r" * 1025}, {"trace_id": "t" * 65}],
)
def test_audit_entries_need_an_action_and_outcome_of_sane_size(changes: dict[str, str]) -> None:
    with pytest.raises(InvalidArgument):
        domain.check_audit_entry(_entry(**changes), _principal(Role.VIEWER), 0)
