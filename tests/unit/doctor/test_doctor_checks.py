"""Each broken set-up gives the right failing line and fix; a configured tenant is all green."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from graph_dpg.adapters.graph import GraphMailbox, StaticTokenCredential
from graph_dpg.config import load_gateway_text
from graph_dpg.demo.scenario import DEMO_GATEWAY
from graph_dpg.diagnostics.doctor import EXIT_FAILED, EXIT_OK, Status, exit_code
from graph_dpg.domain.permissions import GraphPermission, Probe, required_permissions
from graph_dpg.sandbox.graph import create_app
from graph_dpg.sandbox.graph.permissions import ALL_ROLES, GATEWAY_ROLES
from tests.unit.doctor.conftest import GRAPH_URL, DoctorEnv, fake_jwt, make_env

JOBCENTER = "jobcenter@sandby.dk"
ROGUE_CP = "5b0f3c1e-9d2a-4e8b-a7c6-1f2e3d4c5b6a"


DEMO_TEXT = DEMO_GATEWAY.read_text(encoding="utf-8")


async def test_configured_tenant_is_all_green(env: DoctorEnv) -> None:
    results = await env.run()
    assert [r for r in results.values() if r.status is not Status.OK] == []
    expected = {
        "graph token",
        "ngdp certificate",
        "ngdp",
        "contact points",
        "database",
        *(f"mailbox {a}" for a in env.config.mailboxes),
        *(f"categories {b.address}" for b in env.config.function_mailboxes),
        *(f"permissions {a}" for a in env.config.mailboxes),
        *(f"inbox rules {a}" for a in env.config.mailboxes),
    }
    assert set(results) == expected
    assert results[f"permissions {JOBCENTER}"].detail == (
        "Mail.ReadWrite, MailboxSettings.ReadWrite, Contacts.Read granted on this mailbox "
        "(Mail.Send: no harmless call needs it, not checked)"
    )
    assert "polled folders: sentitems, inbox" in results[f"mailbox {JOBCENTER}"].detail
    assert "3 in NgDP, 2 mapped, 1 unmapped on purpose" in results["contact points"].detail
    assert exit_code(list(results.values())) == EXIT_OK


async def test_token_graph_refuses_is_401_and_skips_the_mailboxes(env: DoctorEnv) -> None:
    env.tenant.tokens = {"another-token"}
    results = await env.run()
    token = results["graph token"]
    assert token.status is Status.FAIL
    assert "401 InvalidAuthenticationToken" in token.detail
    assert token.fix is not None and "sandbox-token" in token.fix
    for address in env.config.mailboxes:
        assert results[f"mailbox {address}"].status is Status.SKIP
        assert results[f"mailbox {address}"].detail == "Graph refused the token"
    assert results["ngdp"].status is Status.OK  # the other sides are still checked
    assert exit_code(list(results.values())) == EXIT_FAILED


async def test_token_with_tenant_wide_roles_is_a_warning(env: DoctorEnv) -> None:
    token = fake_jwt({"aud": "https://graph.microsoft.com", "roles": ["Mail.ReadWrite", "Mail.Send"]})
    env.tenant.tokens = {token}
    graph = GraphMailbox(
        StaticTokenCredential(token), GRAPH_URL, transport=httpx.ASGITransport(app=create_app(env.tenant))
    )
    results = await env.run(graph=graph)
    await graph.aclose()
    result = results["graph token"]
    assert result.status is Status.WARN
    assert "Mail.ReadWrite, Mail.Send" in result.detail
    assert "EVERY mailbox" in result.detail
    assert result.fix is not None and "RBAC for Applications" in result.fix
    assert results[f"mailbox {JOBCENTER}"].status is Status.OK
    assert exit_code(list(results.values())) == EXIT_OK  # warnings do not fail


async def test_token_without_roles_passes(env: DoctorEnv) -> None:
    # RBAC for Applications: the token has no roles claim; access is proven per mailbox.
    token = fake_jwt({"aud": "https://graph.microsoft.com", "appid": "x"})
    env.tenant.tokens = {token}
    graph = GraphMailbox(
        StaticTokenCredential(token), GRAPH_URL, transport=httpx.ASGITransport(app=create_app(env.tenant))
    )
    results = await env.run(graph=graph)
    await graph.aclose()
    assert results["graph token"].status is Status.OK
    assert "no tenant-wide roles" in results["graph token"].detail


async def test_mailbox_outside_the_app_scope_is_403_with_the_rbac_fix(env: DoctorEnv) -> None:
    env.tenant.set_accessible(JOBCENTER, False)
    results = await env.run()
    result = results[f"mailbox {JOBCENTER}"]
    assert result.status is Status.FAIL
    assert "403 ErrorAccessDenied: Access to OData is disabled." in result.detail
    assert result.fix is not None
    assert "Grant-GraphDpgMailboxAccess.ps1" in result.fix
    assert "Test-ServicePrincipalAuthorization" in result.fix
    assert results[f"categories {JOBCENTER}"].status is Status.SKIP
    assert results["graph token"].status is Status.OK
    assert results["mailbox borgerservice@sandby.dk"].status is Status.OK


# Mail.Send has no harmless probe (Probe.NONE): the doctor names it as not checked instead.
PROBED = tuple(p for p in required_permissions() if p.probe is not Probe.NONE)


@pytest.mark.parametrize("row", PROBED, ids=lambda p: p.name)
async def test_token_missing_one_required_permission_names_it_with_the_fix(
    env: DoctorEnv, row: GraphPermission
) -> None:
    # Everything else the app could have, but not this row (Mail.Read still lets the mailbox be read).
    # A ReadWrite permission includes its Read (permissions-reference.md): Contacts.ReadWrite goes too.
    without = {row.name, row.name.removesuffix(".Read") + ".ReadWrite"}
    env.tenant.grant("sandbox-token", (ALL_ROLES - without) | {"Mail.Read"})
    before = {a: env.tenant.master_categories(a) for a in env.config.mailboxes}
    results = await env.run()
    for address in env.config.mailboxes:
        result = results[f"permissions {address}"]
        assert result.status is Status.FAIL, result
        assert f"{row.name} missing: needed to {row.reason}" in result.detail
        assert "403 ErrorAccessDenied: Access is denied. Check credentials and try again." in result.detail
        assert result.fix is not None
        assert f"'{row.exchange_role}'" in result.fix
        assert "Grant-GraphDpgMailboxAccess.ps1" in result.fix and "consent-url" in result.fix
        others = [p.name for p in PROBED if p != row]
        assert f"granted: {', '.join(others)}" in result.detail
    assert results["graph token"].status is Status.OK
    assert exit_code(list(results.values())) == EXIT_FAILED
    # The probes changed nothing.
    assert {a: env.tenant.master_categories(a) for a in env.config.mailboxes} == before


async def test_mailbox_outside_the_management_scope_is_named_as_such(env: DoctorEnv) -> None:
    others = [a for a in env.config.mailboxes if a != JOBCENTER]
    env.tenant.grant("sandbox-token", GATEWAY_ROLES, mailboxes=others)
    results = await env.run()
    result = results[f"permissions {JOBCENTER}"]
    assert result.status is Status.FAIL
    assert "outside the app's management scope" in result.detail
    assert "Access to OData is disabled." in result.detail
    assert result.fix is not None and "Test-ServicePrincipalAuthorization" in result.fix
    assert results[f"mailbox {JOBCENTER}"].status is Status.FAIL
    for address in others:
        assert results[f"permissions {address}"].status is Status.OK


async def test_no_permission_at_all_is_reported_per_permission(env: DoctorEnv) -> None:
    env.tenant.grant("sandbox-token", ["User.Read.All"])
    results = await env.run()
    result = results[f"permissions {JOBCENTER}"]
    assert result.status is Status.FAIL
    for row in PROBED:
        assert f"{row.name} missing" in result.detail
    assert "granted:" not in result.detail


async def test_mailbox_that_does_not_exist(tmp_path: Path) -> None:
    typo = DEMO_TEXT.replace(
        "monitoring_mailbox: it-drift@sandby.dk", "monitoring_mailbox: it-drfit@sandby.dk"
    )
    with make_env(tmp_path, load_gateway_text(typo), absent=frozenset({"it-drfit@sandby.dk"})) as env:
        results = await env.run()
    result = results["mailbox it-drfit@sandby.dk"]
    assert result.status is Status.FAIL
    assert "monitoring: no such mailbox in the tenant (404 ErrorInvalidUser" in result.detail
    assert result.fix is not None and "correct the address in the gateway file" in result.fix
    assert results["mailbox digitalpost@sandby.dk"].status is Status.OK


async def test_inbox_rules_that_cannot_be_honoured_are_listed_with_why(env: DoctorEnv) -> None:
    """GET mailFolders/inbox/messageRules (mailfolder-list-messagerules.md); rules using a condition or
    action the gateway cannot apply to the post it delivers are named with the reason; disabled ones not."""
    env.tenant.add_message_rule(
        JOBCENTER, "Til chefen", conditions={"subjectContains": ["sag"]}, actions={"forwardTo": [{}]}
    )
    env.tenant.add_message_rule(
        JOBCENTER, "Vedhæftet", conditions={"hasAttachments": True}, actions={"assignCategories": ["A"]}
    )
    env.tenant.add_message_rule(
        JOBCENTER, "Kategori", conditions={"subjectContains": ["x"]}, actions={"markAsRead": True}
    )
    env.tenant.add_message_rule(JOBCENTER, "Slukket", actions={"delete": True}, enabled=False)
    results = await env.run()
    result = results[f"inbox rules {JOBCENTER}"]
    assert result.status is Status.WARN
    assert result.detail == (
        "2 of 3 enabled rule(s) cannot be honoured and are not applied to delivered post: "
        "'Til chefen': action forwardTo is not supported; 'Vedhæftet': condition hasAttachments is not supported"
    )
    assert results["inbox rules borgerservice@sandby.dk"].status is Status.OK


async def test_missing_category_fails_and_fix_creates_it(env: DoctorEnv) -> None:
    mailbox = env.tenant.mailbox(JOBCENTER)
    sent = next(
        c for c in env.tenant.master_categories(JOBCENTER) if c["displayName"] == "Digital Post: Sendt"
    )
    env.tenant.delete_category(mailbox, sent["id"])

    results = await env.run()
    result = results[f"categories {JOBCENTER}"]
    assert result.status is Status.FAIL
    assert result.detail == "missing from the master category list: Digital Post: Sendt"
    assert result.fix is not None and "graph-dpg doctor --fix" in result.fix
    assert results["categories borgerservice@sandby.dk"].status is Status.OK

    fixed = await env.run(fix=True)
    assert fixed[f"categories {JOBCENTER}"].status is Status.OK
    assert "created Digital Post: Sendt" in fixed[f"categories {JOBCENTER}"].detail
    present = {c["displayName"]: c["color"] for c in env.tenant.master_categories(JOBCENTER)}
    assert present["Digital Post: Sendt"] == "preset7"
    assert (await env.run())[f"categories {JOBCENTER}"].status is Status.OK


async def test_unreadable_category_list_names_the_missing_permission(env: DoctorEnv) -> None:
    # The app has Mail.ReadWrite but no MailboxSettings permission at all (the emulator's permission model).
    env.tenant.grant("sandbox-token", ["Mail.ReadWrite"])
    result = (await env.run())[f"categories {JOBCENTER}"]
    assert result.status is Status.FAIL
    assert result.detail == (
        "the master category list cannot be read "
        "(403 ErrorAccessDenied: Access is denied. Check credentials and try again.)"
    )
    assert result.fix is not None and "MailboxSettings.ReadWrite" in result.fix


async def test_wrong_category_colour_warns_and_fix_corrects_it(env: DoctorEnv) -> None:
    mailbox = env.tenant.mailbox(JOBCENTER)
    failed = next(
        c for c in env.tenant.master_categories(JOBCENTER) if c["displayName"] == "Digital Post: Fejlet"
    )
    env.tenant.update_category(mailbox, failed["id"], {"color": "preset7"})
    result = (await env.run())[f"categories {JOBCENTER}"]
    assert result.status is Status.WARN
    assert "Digital Post: Fejlet is preset7, configured preset0" in result.detail
    await env.run(fix=True)
    colours = {c["displayName"]: c["color"] for c in env.tenant.master_categories(JOBCENTER)}
    assert colours["Digital Post: Fejlet"] == "preset0"


async def test_missing_polled_folder_fails_and_fix_creates_it(env: DoctorEnv) -> None:
    # The admin adds a line-of-business folder to the gateway file but not to the mailbox.
    env.config = load_gateway_text(
        DEMO_TEXT.replace(
            "  - address: oekonomi@sandby.dk\n",
            "  - address: oekonomi@sandby.dk\n    outgoing_folder: Digital Post/Udgående\n",
        )
    )
    result = (await env.run())["mailbox oekonomi@sandby.dk"]
    assert result.status is Status.FAIL
    assert "folder(s) not found: Digital Post/Udgående" in result.detail
    assert result.fix is not None and "--fix" in result.fix

    fixed = (await env.run(fix=True))["mailbox oekonomi@sandby.dk"]
    assert fixed.status is Status.OK
    assert "created: Digital Post/Udgående" in fixed.detail
    box = env.tenant.mailbox("oekonomi@sandby.dk")
    top = [
        f
        for f in env.tenant.child_folders(box, env.tenant.folder(box, "msgfolderroot"))
        if f.display_name == "Digital Post"
    ]
    assert [f.display_name for f in env.tenant.child_folders(box, top[0])] == ["Udgående"]
    assert (await env.run())["mailbox oekonomi@sandby.dk"].status is Status.OK


async def test_expired_ngdp_certificate(env: DoctorEnv) -> None:
    env.client_cert = env.client_certificate(days=30, not_before=datetime.now(UTC) - timedelta(days=40))
    results = await env.run()
    cert = results["ngdp certificate"]
    assert cert.status is Status.FAIL
    assert "expired on" in cert.detail and "(10 days ago)" in cert.detail
    assert cert.fix is not None and "renew the OCES3 certificate" in cert.fix
    # NgDP refuses the handshake; the line says so and points at the certificate.
    ngdp = results["ngdp"]
    assert ngdp.status is Status.FAIL
    assert "The certificate has expired" in ngdp.detail
    assert results["contact points"].status is Status.SKIP


async def test_certificate_expiring_soon_is_a_warning(env: DoctorEnv) -> None:
    env.client_cert = env.client_certificate(days=12)
    results = await env.run()
    cert = results["ngdp certificate"]
    assert cert.status is Status.WARN
    assert "(11 days left)" in cert.detail
    assert results["ngdp"].status is Status.OK  # still works until then


async def test_wrong_ngdp_api_token(env: DoctorEnv) -> None:
    env.overrides["ngdp_api_token"] = "not-the-token"
    result = (await env.run())["ngdp"]
    assert result.status is Status.FAIL
    assert "HTTP 401" in result.detail
    assert result.fix is not None and "GRAPH_DPG_NGDP_API_TOKEN" in result.fix


async def test_ngdp_unreachable(env: DoctorEnv) -> None:
    env.overrides["ngdp_base_url"] = "https://127.0.0.1:9/apis/v1"
    result = (await env.run())["ngdp"]
    assert result.status is Status.FAIL
    assert "cannot connect" in result.detail
    assert result.fix is not None and "GRAPH_DPG_NGDP_BASE_URL" in result.fix


async def test_contact_point_in_ngdp_not_in_the_gateway_file(env: DoctorEnv) -> None:
    env.state.add_contact_point(ROGUE_CP, "Skoleafdelingen")
    result = (await env.run())["contact points"]
    assert result.status is Status.FAIL
    assert f"in NgDP but not in the gateway file: {ROGUE_CP} (Skoleafdelingen)" in result.detail
    assert result.fix is not None
    assert f"- id: {ROGUE_CP}" in result.fix and "mailbox: null" in result.fix


async def test_contact_point_in_the_gateway_file_not_in_ngdp(env: DoctorEnv) -> None:
    del env.state.contact_points["39b61988-3873-4083-bbb2-7fbe4b4d2127"]
    result = (await env.run())["contact points"]
    assert result.status is Status.FAIL
    assert "in the gateway file but not in NgDP: 39b61988-3873-4083-bbb2-7fbe4b4d2127" in result.detail
    assert result.fix is not None and "correct the id" in result.fix


async def test_database_unreachable(env: DoctorEnv) -> None:
    env.overrides["database_url"] = "postgresql+psycopg://graph:secret-pw@127.0.0.1:9/graph_dpg"
    result = (await env.run())["database"]
    assert result.status is Status.FAIL
    assert "not reachable" in result.detail
    assert "secret-pw" not in result.detail  # the URL is shown without its password
    assert result.fix is not None and "GRAPH_DPG_DATABASE_URL" in result.fix


async def test_database_not_migrated_and_fix_migrates(env: DoctorEnv) -> None:
    path = env.tmp / "empty.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE unrelated (x INTEGER)"))
    engine.dispose()
    env.overrides["database_url"] = f"sqlite:///{path}"
    result = (await env.run())["database"]
    assert result.status is Status.FAIL
    assert "not migrated" in result.detail
    assert result.fix is not None and "--fix" in result.fix
    fixed = (await env.run(fix=True))["database"]
    assert fixed.status is Status.OK and "migrated to revision" in fixed.detail
    assert (await env.run())["database"].status is Status.OK


async def test_database_file_missing_is_not_created_without_fix(env: DoctorEnv) -> None:
    path = env.tmp / "state" / "new.db"
    env.overrides["database_url"] = f"sqlite:///{path}"
    result = (await env.run())["database"]
    assert result.status is Status.FAIL and "does not exist" in result.detail
    assert not path.exists()
    assert (await env.run(fix=True))["database"].status is Status.OK
    assert path.exists()


async def test_database_from_a_newer_version(env: DoctorEnv) -> None:
    engine = create_engine(env.database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    result = (await env.run(fix=True))["database"]
    assert result.status is Status.FAIL
    assert "9999_future, which this version of graph_dpg does not know" in result.detail


@pytest.mark.parametrize(
    ("statuses_", "code"),
    [(["ok", "warn", "skip"], 0), (["ok", "fail"], 1), ([], 0)],
)
def test_exit_code(statuses_: list[str], code: int) -> None:
    from graph_dpg.diagnostics.doctor import CheckResult

    assert exit_code([CheckResult("x", Status(s), "") for s in statuses_]) == code
    assert exit_code([], unusable=True) == 2


@pytest.mark.postgres
async def test_database_on_postgresql_not_migrated_then_fixed(env: DoctorEnv, postgres_url: str) -> None:
    env.overrides["database_url"] = postgres_url
    result = (await env.run())["database"]
    assert result.status is Status.FAIL
    assert "reachable, but not migrated" in result.detail
    fixed = (await env.run(fix=True))["database"]
    assert fixed.status is Status.OK and "migrated to revision" in fixed.detail
    again = (await env.run())["database"]
    assert again.status is Status.OK and "schema at the newest revision" in again.detail


async def test_unusable_app_certificate_fails_the_token_and_skips_mailboxes(env: DoctorEnv) -> None:
    not_a_certificate = env.tmp / "app.pem"
    not_a_certificate.write_text("this is not a certificate\n", encoding="utf-8")
    env.overrides.update(
        credential_kind="certificate",
        tenant_id="contoso.onmicrosoft.com",
        client_id="11111111-2222-3333-4444-555555555555",
        client_certificate_path=not_a_certificate,
    )
    results = await env.run()
    token = results["graph token"]
    assert token.status is Status.FAIL
    assert token.detail.startswith("cannot build the Graph credential:")
    assert token.fix is not None and "GRAPH_DPG_CLIENT_CERTIFICATE_PATH" in token.fix
    assert results[f"mailbox {JOBCENTER}"].status is Status.SKIP
    assert results[f"mailbox {JOBCENTER}"].detail == "the Graph credential cannot be built"


async def test_a_check_that_hangs_fails_after_the_timeout(env: DoctorEnv) -> None:
    # Graph hangs for a minute, the doctor waits 1 s, NgDP answers in milliseconds: wide enough apart
    # that a busy machine cannot swap them.
    env.tenant.latency = 60.0
    results = await env.run(timeout=1.0)
    assert results["graph token"].status is Status.FAIL
    assert results["graph token"].detail == "no answer within 1 s"
    assert results[f"mailbox {JOBCENTER}"].status is Status.SKIP
    assert results["ngdp"].status is Status.OK  # one slow side does not stop the others
