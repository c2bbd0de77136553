"""The admin-consent URL and the permission guidance of `graph-dpg consent-url` (docs/facts/graph.md, "Permissions")."""

from __future__ import annotations

import argparse
import io
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph_dpg.commands.onboarding import (
    DEFAULT_REDIRECT_URI,
    GRAPH_RESOURCE_APP_ID,
    REQUIRED_PERMISSIONS,
    ConsentTarget,
    admin_consent_url,
    render_guidance,
    resolve_target,
    run_consent_url,
)
from graph_dpg.core.errors import ConfigError
from graph_dpg.domain.permissions import PERMISSIONS, required_permissions

TENANT_GUID = "0f1e2d3c-4b5a-4968-8776-655443322110"
CLIENT = "11111111-2222-3333-4444-555555555555"


@pytest.fixture(autouse=True)
def clean_settings_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A developer's GRAPH_DPG_* environment or .env must not decide a result.
    for key in list(os.environ):
        if key.upper().startswith("GRAPH_DPG_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_url_has_the_documented_shape() -> None:
    url = admin_consent_url(TENANT_GUID, CLIENT, "https://localhost/consented", state="xyz")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "login.microsoftonline.com",
        f"/{TENANT_GUID}/adminconsent",
    )
    assert parse_qs(parts.query) == {
        "client_id": [CLIENT],
        "redirect_uri": ["https://localhost/consented"],
        "state": ["xyz"],
    }


def test_tenant_domain_and_client_id_are_normalised_to_lower_case() -> None:
    url = admin_consent_url("Contoso.OnMicrosoft.com", CLIENT.upper(), state="s")
    assert url.startswith("https://login.microsoftonline.com/contoso.onmicrosoft.com/adminconsent?")
    assert parse_qs(urlsplit(url).query)["client_id"] == [CLIENT]


def test_default_state_is_random_and_redirect_uri_default() -> None:
    first, second = (parse_qs(urlsplit(admin_consent_url(TENANT_GUID, CLIENT)).query) for _ in range(2))
    assert first["state"] != second["state"]
    assert len(first["state"][0]) >= 16
    assert first["redirect_uri"] == [DEFAULT_REDIRECT_URI]


@pytest.mark.parametrize("tenant", ["common", "organizations", "consumers", "not a tenant", "", "x"])
def test_multi_tenant_aliases_and_garbage_tenants_are_refused(tenant: str) -> None:
    with pytest.raises(ConfigError, match="tenant"):
        admin_consent_url(tenant, CLIENT)


@pytest.mark.parametrize("client_id", ["", "graph_dpg", "11111111-2222-3333-4444-55555555555"])
def test_client_id_must_be_a_guid(client_id: str) -> None:
    with pytest.raises(ConfigError, match="client id"):
        admin_consent_url(TENANT_GUID, client_id)


@pytest.mark.parametrize(
    "uri", ["http://example.com/cb", "ftp://localhost/x", "localhost", "https://localhost/#frag"]
)
def test_redirect_uri_must_be_https_or_local_http(uri: str) -> None:
    with pytest.raises(ConfigError, match="redirect URI"):
        admin_consent_url(TENANT_GUID, CLIENT, uri)


def test_http_localhost_redirect_is_allowed() -> None:
    url = admin_consent_url(TENANT_GUID, CLIENT, "http://localhost:8400/", state="s")
    assert parse_qs(urlsplit(url).query)["redirect_uri"] == ["http://localhost:8400/"]


@given(state=st.text(min_size=1, max_size=64))
def test_any_state_survives_the_round_trip_through_the_query(state: str) -> None:
    url = admin_consent_url(TENANT_GUID, CLIENT, state=state)
    assert parse_qs(urlsplit(url).query, keep_blank_values=True)["state"] == [state]


def test_consent_asks_for_exactly_the_required_rows_of_the_permission_table() -> None:
    # Secure mail is sent through sendMail, so Mail.Send is asked for (graph_dpg/domain/permissions.py).
    assert required_permissions() == REQUIRED_PERMISSIONS
    assert [p.name for p in REQUIRED_PERMISSIONS] == [
        "Mail.ReadWrite",
        "MailboxSettings.ReadWrite",
        "Mail.Send",
        "Contacts.Read",
    ]
    assert [p.exchange_role for p in REQUIRED_PERMISSIONS] == [
        "Application Mail.ReadWrite",
        "Application MailboxSettings.ReadWrite",
        "Application Mail.Send",
        "Application Contacts.Read",
    ]


def test_guidance_names_no_permission_that_is_not_required() -> None:
    text = render_guidance(ConsentTarget(TENANT_GUID, CLIENT, managed_identity=False), "https://u")
    for row in PERMISSIONS:
        assert (row.app_role_id in text) == row.required, row.name
    assert "Mail.Send" in text


def test_guidance_recommends_rbac_and_warns_against_tenant_wide_consent() -> None:
    url = admin_consent_url(TENANT_GUID, CLIENT, state="s")
    text = render_guidance(ConsentTarget(TENANT_GUID, CLIENT, managed_identity=False), url)
    assert GRAPH_RESOURCE_APP_ID in text
    for permission in REQUIRED_PERMISSIONS:
        assert permission.name in text
        assert permission.app_role_id in text
        assert permission.exchange_role in text
    recommended = text.index("RECOMMENDED: Exchange Online RBAC for Applications")
    legacy = text.index("LEGACY")
    assert recommended < legacy < text.index(url)
    assert "do NOT open the consent URL" in text
    assert "EVERY mailbox" in text
    assert "Grant-GraphDpgMailboxAccess.ps1" in text
    assert f"New-ApplicationAccessPolicy -AppId {CLIENT}" in text
    assert "managed identity" not in text


def test_guidance_mentions_managed_identity_when_the_client_is_one() -> None:
    text = render_guidance(ConsentTarget(TENANT_GUID, CLIENT, managed_identity=True), "https://u")
    assert "managed identity" in text


def test_missing_values_name_the_environment_variables() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_target(None, None)
    problems = "\n".join(info.value.problems)
    assert "GRAPH_DPG_TENANT_ID" in problems
    assert "GRAPH_DPG_CLIENT_ID" in problems


def test_values_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPH_DPG_TENANT_ID", "contoso.onmicrosoft.com")
    monkeypatch.setenv("GRAPH_DPG_CLIENT_ID", CLIENT)
    assert resolve_target(None, None) == ConsentTarget("contoso.onmicrosoft.com", CLIENT, False)
    # An option wins over the setting.
    assert resolve_target(TENANT_GUID, None).tenant == TENANT_GUID


def test_managed_identity_client_id_is_used_for_a_managed_identity(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    certificate = tmp_path / "oces3.pem"
    certificate.write_text("placeholder: only its existence is checked by the settings\n")
    for name, value in {
        "TENANT_ID": TENANT_GUID,
        "CREDENTIAL_KIND": "managed_identity",
        "MANAGED_IDENTITY_CLIENT_ID": CLIENT,
        "NGDP_SYSTEM_ID": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        "NGDP_API_TOKEN": "not-a-real-token",
        "NGDP_CERTIFICATE_PATH": str(certificate),
    }.items():
        monkeypatch.setenv(f"GRAPH_DPG_{name}", value)
    assert resolve_target(None, None) == ConsentTarget(TENANT_GUID, CLIENT, True)


def test_unreadable_settings_are_reported_with_their_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPH_DPG_CREDENTIAL_KIND", "certificate")
    with pytest.raises(ConfigError) as info:
        resolve_target(None, None)
    assert "--tenant/--client-id" in str(info.value)
    assert any("GRAPH_DPG_CLIENT_CERTIFICATE_PATH" in p for p in info.value.problems)


def _args(**values: object) -> argparse.Namespace:
    defaults: dict[str, object] = {
        "tenant": TENANT_GUID,
        "client_id": CLIENT,
        "redirect_uri": DEFAULT_REDIRECT_URI,
        "state": "fixed",
        "url_only": False,
    }
    return argparse.Namespace(**{**defaults, **values})


def test_run_prints_url_only_and_exits_0() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run_consent_url(_args(url_only=True), out, err) == 0
    assert out.getvalue() == admin_consent_url(TENANT_GUID, CLIENT, state="fixed") + "\n"
    assert err.getvalue() == ""


def test_run_exits_2_with_a_clear_message_on_bad_input() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run_consent_url(_args(client_id="nope"), out, err) == 2
    assert out.getvalue() == ""
    assert "client id 'nope' is not a GUID" in err.getvalue()


def test_infra_readme_lists_the_permission_table() -> None:
    readme = (Path(__file__).resolve().parents[3] / "infra" / "README.md").read_text(encoding="utf-8")
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in readme.splitlines()
        if line.startswith("| ") and re.search(r"\| [0-9a-f]{8}-[0-9a-f]{4}-", line)
    ]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (p.name, p.app_role_id, p.exchange_role, "yes" if p.required else "no") for p in PERMISSIONS
    ]
