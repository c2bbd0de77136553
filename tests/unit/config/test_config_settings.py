"""Settings: defaults, environment / .env / override precedence, validation messages, secrets masked."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from pydantic import SecretStr

from graph_dpg.config import SECRET_MASK, Settings, load_settings
from graph_dpg.core.errors import ConfigError

SECRET = "s3cr3t-Ærlig-value"


def problems_of(**kwargs: object) -> list[str]:
    env_file = kwargs.pop("env_file", None)
    with pytest.raises(ConfigError) as info:
        load_settings(env_file, **kwargs)  # type: ignore[arg-type]
    return info.value.problems


def real_setup(tmp_path: Path, **extra: object) -> dict[str, object]:
    """A complete certificate-based configuration with files that exist."""
    app_cert = tmp_path / "app.pem"
    oces = tmp_path / "oces3.p12"
    app_cert.write_text("-----BEGIN CERTIFICATE-----\n")
    oces.write_bytes(b"\x30\x82")
    values: dict[str, object] = {
        "credential_kind": "certificate",
        "tenant_id": "Contoso.onmicrosoft.com",
        "client_id": "8F1B3C6E-7D2A-4B9C-9E0F-1A2B3C4D5E6F",
        "client_certificate_path": str(app_cert),
        "ngdp_system_id": "system-1",
        "ngdp_api_token": SECRET,
        "ngdp_certificate_path": str(oces),
        "ngdp_certificate_password": SECRET,
    }
    values.update(extra)
    return values


def test_defaults_are_the_sandbox_and_documented_values() -> None:
    s = load_settings(None)
    assert s.credential_kind == "sandbox"
    assert s.is_sandbox
    assert s.graph_base_url == "https://graph.microsoft.com/v1.0"
    assert s.ngdp_base_url == "https://api.test.digitalpost.dk/apis/v1"
    assert s.database_url == "sqlite:///./graph-dpg.db"
    assert s.gateway_file == Path("gateway.yaml")
    assert (s.outbound_poll_seconds, s.inbound_poll_seconds, s.receipts_poll_seconds) == (30, 60, 300)
    assert s.contact_points_refresh_seconds == 3600
    assert (s.http_host, s.http_port) == ("127.0.0.1", 8080)
    assert s.lease_seconds == 60
    assert (s.log_format, s.log_level) == ("console", "INFO")
    assert (s.receipt_language, s.memo_version) == ("da", "1.2")
    assert (s.send_concurrency, s.graph_max_concurrency_per_mailbox) == (8, 4)
    assert s.rule_timeout_seconds == 5.0
    assert s.replica_id == f"{socket.gethostname()}-{os.getpid()}"
    assert s.client_secret is None and s.ngdp_api_token is None and s.push_token is None


def test_every_field_is_documented() -> None:
    undocumented = [name for name, info in Settings.model_fields.items() if not info.description]
    assert undocumented == []


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPH_DPG_OUTBOUND_POLL_SECONDS", "12")
    monkeypatch.setenv("graph_dpg_log_level", "debug")  # names and the level are case-insensitive
    monkeypatch.setenv("GRAPH_DPG_LOG_FORMAT", "json")
    monkeypatch.setenv("GRAPH_DPG_PUSH_TOKEN", SECRET)
    s = load_settings(None)
    assert s.outbound_poll_seconds == 12
    assert s.log_level == "DEBUG"
    assert s.log_format == "json"
    assert isinstance(s.push_token, SecretStr)
    assert s.push_token.get_secret_value() == SECRET


def test_precedence_override_then_environment_then_env_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = tmp_path / "settings.env"
    env_file.write_text(
        "GRAPH_DPG_HTTP_PORT=9001\nGRAPH_DPG_INBOUND_POLL_SECONDS=61\nGRAPH_DPG_RECEIPTS_POLL_SECONDS=301\n"
    )
    monkeypatch.setenv("GRAPH_DPG_INBOUND_POLL_SECONDS", "62")
    monkeypatch.setenv("GRAPH_DPG_RECEIPTS_POLL_SECONDS", "302")
    s = load_settings(env_file, receipts_poll_seconds=303)
    assert s.http_port == 9001  # only in the file
    assert s.inbound_poll_seconds == 62  # environment beats the file
    assert s.receipts_poll_seconds == 303  # an explicit override beats both


def test_default_env_file_is_dot_env_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GRAPH_DPG_RECEIPT_LANGUAGE=en\n")
    assert load_settings().receipt_language == "en"
    assert load_settings(None).receipt_language == "da"


def test_empty_values_mean_not_set(tmp_path: Path) -> None:
    env_file = tmp_path / "x.env"
    env_file.write_text("GRAPH_DPG_CLIENT_SECRET=\nGRAPH_DPG_REPLICA_ID=\nGRAPH_DPG_HTTP_PORT=\n")
    s = load_settings(env_file)
    assert s.client_secret is None
    assert s.replica_id  # the hostname-pid default
    assert s.http_port == 8080


def test_unknown_key_in_env_file_is_reported_with_line_and_suggestion(tmp_path: Path) -> None:
    env_file = tmp_path / "typo.env"
    env_file.write_text("# comment\nOTHER_TOOL=1\nexport GRAPH_DPG_TENANTID=contoso.onmicrosoft.com\n")
    assert problems_of(env_file=env_file) == [
        f"{env_file}:3: GRAPH_DPG_TENANTID: not a known setting; did you mean 'GRAPH_DPG_TENANT_ID'?"
    ]


def test_invalid_value_in_env_file_carries_its_line(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# settings\nGRAPH_DPG_LOG_LEVEL=INFO\n\nGRAPH_DPG_HTTP_PORT=99999\n"
        'GRAPH_DPG_PUSH_ALLOWED_IPS="10.0.0.0/33"\n',
        encoding="utf-8",
    )
    problems = problems_of(env_file=env_file)
    assert any(p.startswith(f"{env_file}:4: GRAPH_DPG_HTTP_PORT: ") for p in problems), problems
    assert any(p.startswith(f"{env_file}:5: GRAPH_DPG_PUSH_ALLOWED_IPS: ") for p in problems), problems


def test_the_last_assignment_is_the_line_named(tmp_path: Path) -> None:
    """python-dotenv (and so pydantic-settings) keeps the last value of a key given twice."""
    env_file = tmp_path / ".env"
    env_file.write_text("GRAPH_DPG_HTTP_PORT=8080\nGRAPH_DPG_HTTP_PORT=0\n", encoding="utf-8")
    assert problems_of(env_file=env_file)[0].startswith(f"{env_file}:2: GRAPH_DPG_HTTP_PORT: ")


def test_a_value_from_the_environment_names_no_env_file_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("GRAPH_DPG_HTTP_PORT=0\n", encoding="utf-8")
    monkeypatch.setenv("GRAPH_DPG_HTTP_PORT", "-1")  # the environment wins over the file
    assert problems_of(env_file=env_file)[0].startswith("GRAPH_DPG_HTTP_PORT: ")


def test_a_missing_file_named_in_env_file_carries_its_line(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("GRAPH_DPG_NGDP_CA_BUNDLE=/nonexistent/ca.pem\n", encoding="utf-8")
    assert problems_of(env_file=env_file) == [
        f"{env_file}:1: GRAPH_DPG_NGDP_CA_BUNDLE: file '/nonexistent/ca.pem' does not exist or is not a file"
    ]


def test_typo_and_invalid_value_together_both_located(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("GRAPH_DPG_LOG_LEVL=debug\nGRAPH_DPG_LOG_LEVEL=chatty\n", encoding="utf-8")
    problems = problems_of(env_file=env_file)
    assert problems[0] == (
        f"{env_file}:1: GRAPH_DPG_LOG_LEVL: not a known setting; did you mean 'GRAPH_DPG_LOG_LEVEL'?"
    )
    assert problems[1].startswith(f"{env_file}:2: GRAPH_DPG_LOG_LEVEL: ")


def test_a_line_that_is_no_assignment_is_reported_without_its_text(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"GRAPH_DPG_LOG_LEVEL=INFO\nGRAPH_DPG_PUSH_TOKEN {SECRET}\n", encoding="utf-8")
    problems = problems_of(env_file=env_file)
    assert problems == [f"{env_file}:2: not a KEY=value line (python-dotenv would ignore it)"]
    assert SECRET not in " ".join(problems)


def test_unknown_override_is_reported() -> None:
    assert problems_of(http_prot=1) == ["http_prot: not a known setting; did you mean 'http_port'?"]


def test_certificate_kind_lists_everything_it_needs() -> None:
    problems = problems_of(credential_kind="certificate")
    assert problems == [
        "GRAPH_DPG_TENANT_ID: required when GRAPH_DPG_CREDENTIAL_KIND=certificate (the Entra tenant)",
        "GRAPH_DPG_CLIENT_ID: required when GRAPH_DPG_CREDENTIAL_KIND=certificate "
        "(the app registration's client id)",
        "GRAPH_DPG_CLIENT_CERTIFICATE_PATH: required when GRAPH_DPG_CREDENTIAL_KIND=certificate "
        "(the app certificate (PEM or PKCS#12))",
        "GRAPH_DPG_NGDP_SYSTEM_ID: required when GRAPH_DPG_CREDENTIAL_KIND=certificate (the NgDP system id)",
        "GRAPH_DPG_NGDP_API_TOKEN: required when GRAPH_DPG_CREDENTIAL_KIND=certificate (the NgDP API token)",
        "GRAPH_DPG_NGDP_CERTIFICATE_PATH: required when GRAPH_DPG_CREDENTIAL_KIND=certificate "
        "(the OCES3 certificate for mutual TLS)",
    ]


def test_client_secret_kind_needs_the_secret(tmp_path: Path) -> None:
    values = real_setup(tmp_path, credential_kind="client_secret")
    problems = problems_of(**values)
    assert problems == [
        "GRAPH_DPG_CLIENT_SECRET: required when GRAPH_DPG_CREDENTIAL_KIND=client_secret (the app's client secret)"
    ]
    s = load_settings(None, **values, client_secret=SECRET)
    assert s.client_secret is not None and s.client_secret.get_secret_value() == SECRET


def test_managed_identity_needs_no_app_credential(tmp_path: Path) -> None:
    values = real_setup(tmp_path, credential_kind="managed_identity", client_certificate_path=None)
    s = load_settings(None, **values)
    assert s.credential_kind == "managed_identity"


def test_complete_certificate_setup_is_valid_and_normalised(tmp_path: Path) -> None:
    s = load_settings(None, **real_setup(tmp_path))
    assert s.tenant_id == "contoso.onmicrosoft.com"
    assert s.client_id == "8f1b3c6e-7d2a-4b9c-9e0f-1a2b3c4d5e6f"


def test_missing_files_are_reported(tmp_path: Path) -> None:
    values = real_setup(tmp_path, ngdp_ca_bundle=str(tmp_path / "nope.pem"))
    values["client_certificate_path"] = str(tmp_path / "missing.pfx")
    assert problems_of(**values) == [
        f"GRAPH_DPG_CLIENT_CERTIFICATE_PATH: file {str(tmp_path / 'missing.pfx')!r} does not exist or is not a file",
        f"GRAPH_DPG_NGDP_CA_BUNDLE: file {str(tmp_path / 'nope.pem')!r} does not exist or is not a file",
    ]


def test_every_field_error_is_listed_at_once() -> None:
    problems = problems_of(
        http_port=70000,
        graph_base_url="http://graph.example.com/v1.0",
        database_url="mysql://db/x",
        credential_kind="password",
        client_id="not-a-guid",
        log_format="xml",
        memo_version="1.0",
        graph_max_concurrency_per_mailbox=5,
    )
    by_name = {p.split(":", 1)[0] for p in problems}
    assert by_name == {
        "GRAPH_DPG_HTTP_PORT",
        "GRAPH_DPG_GRAPH_BASE_URL",
        "GRAPH_DPG_DATABASE_URL",
        "GRAPH_DPG_CREDENTIAL_KIND",
        "GRAPH_DPG_CLIENT_ID",
        "GRAPH_DPG_LOG_FORMAT",
        "GRAPH_DPG_MEMO_VERSION",
        "GRAPH_DPG_GRAPH_MAX_CONCURRENCY_PER_MAILBOX",
    }
    assert any("must use https://" in p for p in problems)
    assert any(
        p == "GRAPH_DPG_HTTP_PORT: Input should be less than or equal to 65535 (got 70000)" for p in problems
    )


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8765/v1.0", "http://localhost:9000/apis/v1", "https://graph.microsoft.com/beta/"],
)
def test_plain_http_only_on_loopback(url: str) -> None:
    s = load_settings(None, graph_base_url=url, ngdp_base_url=url)
    assert s.graph_base_url == url.rstrip("/")


def test_postgres_url_is_accepted() -> None:
    url = "postgresql+psycopg://gw:pw@db.internal:5432/graph_dpg"
    assert load_settings(None, database_url=url).database_url == url


def test_secrets_are_never_shown(tmp_path: Path) -> None:
    s = load_settings(
        None,
        **real_setup(tmp_path),
        client_certificate_password=SECRET,
        client_secret=SECRET,
        push_token=SECRET,
    )
    rendered = [repr(s), str(s), s.model_dump_json(), str(s.model_dump()), str(s.summary())]
    for text in rendered:
        assert SECRET not in text
    summary = dict(s.summary())
    for name in (
        "GRAPH_DPG_CLIENT_CERTIFICATE_PASSWORD",
        "GRAPH_DPG_CLIENT_SECRET",
        "GRAPH_DPG_NGDP_API_TOKEN",
        "GRAPH_DPG_NGDP_CERTIFICATE_PASSWORD",
        "GRAPH_DPG_PUSH_TOKEN",
    ):
        assert summary[name] == SECRET_MASK
    assert summary["GRAPH_DPG_TENANT_ID"] == "contoso.onmicrosoft.com"


def test_secrets_are_not_echoed_in_error_messages(tmp_path: Path) -> None:
    values = real_setup(tmp_path, ngdp_certificate_path=str(tmp_path / "gone.p12"), http_port="x")
    problems = problems_of(**values, client_secret=SECRET, push_token=SECRET)
    assert problems  # the port and the missing file
    assert all(SECRET not in p for p in problems)


def test_summary_lists_every_field_once() -> None:
    names = [name for name, _ in load_settings(None).summary()]
    assert names == [f"GRAPH_DPG_{n.upper()}" for n in Settings.model_fields]
    assert dict(load_settings(None).summary())["GRAPH_DPG_CLIENT_SECRET"] == "(not set)"


def test_field_errors_and_consistency_problems_are_reported_together() -> None:
    problems = problems_of(
        credential_kind="client_secret", http_port=0, ngdp_system_id="s", ngdp_api_token=SECRET
    )
    assert problems[0] == "GRAPH_DPG_HTTP_PORT: Input should be greater than or equal to 1 (got 0)"
    assert [p.split(":")[0] for p in problems[1:]] == [
        "GRAPH_DPG_TENANT_ID",
        "GRAPH_DPG_CLIENT_ID",
        "GRAPH_DPG_CLIENT_SECRET",
        "GRAPH_DPG_NGDP_CERTIFICATE_PATH",
    ]
