"""The audit log: callers record only their own changes; admins read their organisation's, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runtime.audit import AuditRecord
from runtime.auth import Principal, Role
from runtime.errors import InvalidArgument, PermissionDenied
from services.identity.local import LocalAuditSink
from services.identity.tests.support import FakeClock, Org, add_member
from services.identity.use_cases import IdentityUseCases, NewAuditEntry

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _entry(
    caller: Principal, action: str = "UpdateProduct", *, time: datetime | None = T0, **changes: str
) -> NewAuditEntry:
    values = {
        "organization_id": caller.organization_id,
        "actor_id": caller.subject_id,
        "action": f"/omnipricex.product.v1.ProductService/{action}",
        "resource": "product/SKU-1",
        "outcome": "OK",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    }
    values.update(changes)
    return NewAuditEntry(time=time, **values)


async def test_a_caller_records_its_own_changes(identity: IdentityUseCases, acme: Org, clock: FakeClock) -> None:
    manager = await add_member(identity, acme, "manager@acme.test", Role.PRICING_MANAGER)
    await identity.audit.record(manager, [_entry(manager), _entry(manager, "ArchiveProduct", time=None)])
    page = await identity.audit.list_entries(acme.owner, actor_id="", page_size=0, page_token="")
    assert [(e.action.rsplit("/", 1)[-1], e.time) for e in page.items] == [
        ("ArchiveProduct", clock().replace(microsecond=123000)),
        ("UpdateProduct", T0),
    ]
    assert all(e.id for e in page.items)


async def test_entries_of_another_organisation_or_subject_are_refused_and_nothing_is_written(
    identity: IdentityUseCases, acme: Org, globex: Org
) -> None:
    manager = await add_member(identity, acme, "manager@acme.test", Role.PRICING_MANAGER)
    for foreign in (
        _entry(manager, organization_id=globex.id),
        _entry(manager, actor_id=acme.owner.subject_id),
    ):
        with pytest.raises(PermissionDenied):
            await identity.audit.record(manager, [_entry(manager), foreign])
    for org in (acme, globex):
        assert (await identity.audit.list_entries(org.owner, actor_id="", page_size=0, page_token="")).items == []


async def test_at_most_a_thousand_entries_per_call(identity: IdentityUseCases, acme: Org) -> None:
    await identity.audit.record(acme.owner, [_entry(acme.owner)] * 1000)
    with pytest.raises(InvalidArgument):
        await identity.audit.record(acme.owner, [_entry(acme.owner)] * 1001)


async def test_a_retried_batch_with_ids_is_stored_once(identity: IdentityUseCases, acme: Org) -> None:
    batch = [_entry(acme.owner, id="e-1"), _entry(acme.owner, id="e-2")]
    await identity.audit.record(acme.owner, batch)
    await identity.audit.record(acme.owner, batch)
    page = await identity.audit.list_entries(acme.owner, actor_id="", page_size=0, page_token="")
    assert sorted(e.id for e in page.items) == ["e-1", "e-2"]


async def test_reading_the_log_needs_the_admin_role(identity: IdentityUseCases, acme: Org) -> None:
    manager = await add_member(identity, acme, "manager@acme.test", Role.PRICING_MANAGER)
    with pytest.raises(PermissionDenied):
        await identity.audit.list_entries(manager, actor_id="", page_size=0, page_token="")


async def test_the_log_pages_newest_first_and_filters_by_actor(
    identity: IdentityUseCases, acme: Org, globex: Org
) -> None:
    analyst = await add_member(identity, acme, "analyst@acme.test", Role.ANALYST)
    await identity.audit.record(
        acme.owner, [_entry(acme.owner, f"A{n}", time=T0 + timedelta(seconds=n)) for n in range(5)]
    )
    await identity.audit.record(analyst, [_entry(analyst, "B", time=T0 + timedelta(seconds=2))])
    await identity.audit.record(globex.owner, [_entry(globex.owner, "G")])
    actions: list[str] = []
    token = ""
    while True:
        page = await identity.audit.list_entries(acme.owner, actor_id="", page_size=2, page_token=token)
        actions += [e.action.rsplit("/", 1)[-1] for e in page.items]
        token = page.next_page_token
        if not token:
            break
    assert actions[:2] == ["A4", "A3"]
    assert sorted(actions[2:4]) == ["A2", "B"]
    assert actions[4:] == ["A1", "A0"]
    by_analyst = await identity.audit.list_entries(acme.owner, actor_id=analyst.subject_id, page_size=0, page_token="")
    assert [e.action.rsplit("/", 1)[-1] for e in by_analyst.items] == ["B"]


@pytest.mark.parametrize("token", ["garbage!", "eyJ0IjoxfQ", "eyJ0Ijoibm90LWEtdGltZSIsImkiOiJ4In0"])
async def test_a_forged_audit_page_token_is_refused(identity: IdentityUseCases, acme: Org, token: str) -> None:
    with pytest.raises(InvalidArgument):
        await identity.audit.list_entries(acme.owner, actor_id="", page_size=0, page_token=token)


async def test_the_local_sink_writes_identitys_own_records(identity: IdentityUseCases, acme: Org) -> None:
    sink = LocalAuditSink(identity.audit)
    record = AuditRecord(
        organization_id=acme.id,
        actor_id=acme.owner.subject_id,
        action="/omnipricex.identity.v1.UserService/CreateUser",
        resource="user",
        outcome="OK",
        trace_id="",
        time=T0 + timedelta(microseconds=1500),
    )
    await sink.record([record], credential="")
    [entry] = (await identity.audit.list_entries(acme.owner, actor_id="", page_size=0, page_token="")).items
    assert (entry.action, entry.outcome, entry.time) == (record.action, "OK", T0 + timedelta(milliseconds=1))
