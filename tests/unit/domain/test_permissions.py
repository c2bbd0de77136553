"""The one permission table (graph_dpg/domain/permissions.py; docs/facts/graph.md, "Permissions")."""

from __future__ import annotations

import re

import pytest

from graph_dpg.domain.permissions import PERMISSIONS, Probe, permission, required_permissions

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_app_role_ids_are_the_graph_permissions_references() -> None:
    # concepts/permissions-reference.md: a typo here would ask for (or grant) another role.
    assert {p.name: p.app_role_id for p in PERMISSIONS} == {
        "Mail.ReadWrite": "e2a3a72e-5f79-4c64-b1b1-878b674786c9",
        "MailboxSettings.ReadWrite": "6931bccd-447a-43d1-b442-00a195474933",
        "Mail.Send": "b633e1c5-b582-4048-a93e-9f11b44c7e96",
        "Contacts.Read": "089fe4d0-434a-44c5-8827-41ba8a0b17f5",
    }


def test_rows_are_well_formed() -> None:
    names = [p.name for p in PERMISSIONS]
    assert len(set(names)) == len(names)
    for row in PERMISSIONS:
        assert GUID.fullmatch(row.app_role_id)
        # RBAC for Applications names each role "Application <Graph permission>" (application-rbac).
        assert row.exchange_role == f"Application {row.name}"
        assert row.reason
        assert row.calls


def test_only_what_the_code_calls_is_required() -> None:
    # Secure mail is sent as MIME through sendMail (Mail.Send); recipients' certificates are read from the
    # mailbox's contacts (Contacts.Read); nothing reads the directory (no GET /users/{id}).
    assert [p.name for p in required_permissions()] == [
        "Mail.ReadWrite",
        "MailboxSettings.ReadWrite",
        "Mail.Send",
        "Contacts.Read",
    ]
    assert permission("Contacts.Read").probe is Probe.CONTACTS_READ
    assert permission("Mail.Send").required
    assert not any(p.name.startswith("User.") for p in PERMISSIONS)


def test_every_required_row_but_mail_send_is_probed_by_the_doctor() -> None:
    # Every call that needs Mail.Send sends a mail: no harmless probe exists; the doctor says so.
    assert [p.name for p in required_permissions() if p.probe is Probe.NONE] == ["Mail.Send"]


def test_unknown_permission_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        permission("Mail.Read")
