"""Static checks of infra/*.bicep, the parameter example and the Dockerfile that checkov does not make.

checkov (infra/check) has no rules for Container Apps or PostgreSQL Flexible Server in Bicep, so the
properties this deployment promises (infra/README.md) are asserted here on the text: no
secrets or tenant ids, TLS and private networking for PostgreSQL, Key Vault hardening, probes and replicas
of the container app, and every GRAPH_DPG_* variable it sets being a real setting of graph_dpg.config.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from graph_dpg.config import Settings, env_name

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Built-in Azure role definition ids: the same in every tenant, so not tenant data.
BUILT_IN_ROLES = {
    "4633458b-17de-408a-b874-0445c86b69e6",  # Key Vault Secrets User
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",  # Key Vault Secrets Officer
    "a4417e6f-fecd-4de8-b567-7b0420556985",  # Key Vault Certificates Officer
}


def bicep(name: str) -> str:
    return (INFRA / name).read_text(encoding="utf-8")


def without_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


def test_the_expected_modules_exist() -> None:
    assert {p.relative_to(INFRA).as_posix() for p in BICEP_FILES} == {
        "main.bicep",
        "modules/containerapp.bicep",
        "modules/identity.bicep",
        "modules/keyvault.bicep",
        "modules/monitoring.bicep",
        "modules/network.bicep",
        "modules/postgres.bicep",
    }


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.name)
def test_no_tenant_ids_or_other_guids_except_built_in_roles(path: Path) -> None:
    assert set(GUID.findall(path.read_text(encoding="utf-8"))) <= BUILT_IN_ROLES


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.name)
def test_secret_parameters_are_secure_and_have_no_real_default(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for match in re.finditer(r"^param (\w+) string(?: = (.*))?$", text, flags=re.M):
        name, default = match.group(1), match.group(2)
        if re.search(r"(?i)password|secret|token|key$", name):
            before = text[: match.start()].rstrip().splitlines()[-1]
            assert before == "@secure()", f"{name} must be @secure()"
            assert default in (None, "''"), f"{name} must not have a default value"
    # Nothing that looks like a credential assigned as a literal.
    assert not re.search(r"(?i)(password|secret|apiToken|sharedKey)\s*:\s*'[^']+'", without_comments(text))


def test_parameter_example_holds_no_secret_and_only_known_parameters() -> None:
    example = json.loads((INFRA / "main.parameters.example.json").read_text(encoding="utf-8"))
    declared = set(re.findall(r"^param (\w+) ", bicep("main.bicep"), flags=re.M))
    assert set(example["parameters"]) <= declared
    assert "postgresAdministratorPassword" not in example["parameters"]
    assert not GUID.search(json.dumps(example))


def test_postgres_is_private_with_tls_backups_and_entra() -> None:
    text = without_comments(bicep("modules/postgres.bicep"))
    assert "publicNetworkAccess: 'Disabled'" in text
    assert "delegatedSubnetResourceId: delegatedSubnetId" in text
    assert "privateDnsZoneArmResourceId: privateDnsZone.id" in text
    assert ".private.postgres.database.azure.com'" in text
    assert re.search(r"name: 'require_secure_transport'\s+properties: \{\s+value: 'on'", text)
    assert re.search(r"name: 'ssl_min_protocol_version'\s+properties: \{\s+value: 'TLSv1.2'", text)
    assert "activeDirectoryAuth: 'Enabled'" in text
    assert "param geoRedundantBackup string = 'Enabled'" in text
    assert "param backupRetentionDays int = 35" in text
    assert "Microsoft.DBforPostgreSQL/flexibleServers/administrators" in text


def test_key_vault_is_rbac_only_private_and_unpurgeable() -> None:
    text = without_comments(bicep("modules/keyvault.bicep"))
    for expected in (
        "enableRbacAuthorization: true",
        "enablePurgeProtection: true",
        "enableSoftDelete: true",
        "publicNetworkAccess: 'Disabled'",
        "defaultAction: 'Deny'",
        "groupIds: [\n            'vault'",
        "privatelink.vaultcore.azure.net",
    ):
        assert expected in text
    assert "accessPolicies" not in text
    # The app's identity can read secrets and nothing more.
    assert re.search(r"appSecretsUser[^\n]*\n(?:.*\n){0,4}.*keyVaultSecretsUser", text)


def test_container_app_probes_replicas_ingress_and_identity() -> None:
    text = without_comments(bicep("modules/containerapp.bicep"))
    probes = re.findall(r"type: '(\w+)'\s+httpGet: \{\s+path: '([^']+)'", text)
    assert ("Liveness", "/healthz") in probes
    assert ("Readiness", "/readyz") in probes
    assert "allowInsecure: false" in text
    assert "@minValue(1)\nparam minReplicas int = 1" in text
    assert "minReplicas: minReplicas" in text
    assert "rules: [" in text
    assert "keyVaultUrl: secret.keyVaultUrl" in text
    assert "identity: identityId" in text
    assert "type: 'UserAssigned'" in text
    assert "args: [\n            'run'\n          ]" in text
    assert not re.search(r"\bvalue: '[^']*'", text.split("resource app")[1].split("probes")[0]), (
        "environment values come from parameters, never literals"
    )


def test_every_graph_dpg_variable_is_a_real_setting() -> None:
    known = {env_name(name) for name in Settings.model_fields}
    used = set(re.findall(r"name: '(GRAPH_DPG_\w+)'", bicep("main.bicep")))
    assert used, "main.bicep sets no GRAPH_DPG_* variable"
    assert used - known == set()
    for required in (
        "GRAPH_DPG_TENANT_ID",
        "GRAPH_DPG_CLIENT_ID",
        "GRAPH_DPG_CREDENTIAL_KIND",
        "GRAPH_DPG_DATABASE_URL",
        "GRAPH_DPG_NGDP_BASE_URL",
        "GRAPH_DPG_NGDP_SYSTEM_ID",
        "GRAPH_DPG_NGDP_API_TOKEN",
        "GRAPH_DPG_NGDP_CERTIFICATE_PATH",
        "GRAPH_DPG_PUSH_TOKEN",
        "GRAPH_DPG_GATEWAY_FILE",
        "GRAPH_DPG_LOG_FORMAT",
        "GRAPH_DPG_HTTP_HOST",
        "GRAPH_DPG_HTTP_PORT",
    ):
        assert required in used


def test_secret_settings_come_from_key_vault_references_only() -> None:
    text = bicep("main.bicep")
    secret_fields = {
        env_name(n) for n, f in Settings.model_fields.items() if "SecretStr" in str(f.annotation)
    }
    for match in re.finditer(r"name: '(GRAPH_DPG_\w+)'\s+(value|secretRef): ", text):
        if match.group(1) in secret_fields or match.group(1) == "GRAPH_DPG_DATABASE_URL":
            assert match.group(2) == "secretRef", f"{match.group(1)} must be a Key Vault reference"


def test_dockerfile_is_slim_multi_stage_non_root_with_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.findall(r"^FROM (\S+)", text, flags=re.M) == ["python:3.11-slim", "python:3.11-slim"]
    assert "COPY --from=build /opt/venv /opt/venv" in text
    users = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert re.search(
        r"^HEALTHCHECK .*\n\s+CMD \[\"python\", \"-c\", \".*urllib.request.*/healthz", text, re.M
    )
    assert 'ENTRYPOINT ["graph-dpg"]' in text
    assert 'CMD ["run"]' in text


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_context() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert lines[lines.index("**") :][:4] == ["**", "!pyproject.toml", "!README.md", "!graph_dpg/"]
    for pattern in ("**/.env", "**/*.db", "**/*.pem", "**/*.pfx", "**/*.p12"):
        assert pattern in lines


def test_push_identifies_ngdp_by_certificate_and_address_not_by_an_invented_token() -> None:
    """The ingress forwards a presented client certificate (accept: Graph notifications and the admin console
    share it) and the app reads it and X-Forwarded-For one hop deep; the shared secret is optional."""
    main = bicep("main.bicep")
    app = without_comments(bicep("modules/containerapp.bicep"))
    assert "param clientCertificateMode string = 'accept'" in app
    assert "clientCertificateMode: clientCertificateMode" in app
    assert "param pushClientCertificateMode string = 'accept'" in main
    for name, value in (
        ("GRAPH_DPG_PUSH_FORWARDED_CLIENT_CERT", "'true'"),
        ("GRAPH_DPG_PUSH_PROXY_HOPS", "'1'"),
    ):
        assert re.search(rf"name: '{name}'\s+value: {value}", main), name
    assert re.search(r"name: 'GRAPH_DPG_PUSH_ALLOWED_IPS'\s+value: join\(ingressAllowedCidrs, ','\)", main)
    assert "var pushSecrets = exposePushEndpoints && pushRequiresToken ?" in main
    assert "param pushRequiresToken bool = false" in main


def test_graph_notifications_open_a_public_https_ingress_and_set_the_url() -> None:
    main = bicep("main.bicep")
    module = without_comments(bicep("modules/containerapp.bicep"))
    assert "param graphNotifications bool = false" in main  # off unless chosen: it makes the ingress public
    assert "graphNotifications: graphNotifications" in main
    assert "var publicIngress = exposePushEndpoints || graphNotifications" in module
    assert "external: publicIngress" in module and "internal: !publicIngress" in module
    assert "allowInsecure: false" in module  # Graph requires https (resources/subscription.md)
    raw = bicep("modules/containerapp.bicep")
    assert "value: empty(notificationsBaseUrl) ? 'https://${appFqdn}' : notificationsBaseUrl" in raw
    known = {env_name(name) for name in Settings.model_fields}
    used = set(re.findall(r"name: '(GRAPH_DPG_\w+)'", module))
    assert (
        {"GRAPH_DPG_NOTIFICATIONS_URL", "GRAPH_DPG_POLL_INTERVAL_WITH_NOTIFICATIONS_SECONDS"} <= used <= known
    )
