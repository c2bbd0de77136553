"""Name lookups are off unless configured; half a configuration is named (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph_dpg.config import load_settings
from graph_dpg.core.errors import ConfigError


def test_off_by_default() -> None:
    settings = load_settings(None)
    assert not settings.cpr_lookup_enabled and not settings.cvr_lookup_enabled
    assert settings.name_cache_ttl_seconds == 3600 and settings.recipient_precheck is False


def test_cpr_needs_token_url_client_id_and_a_certificate(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, datafordeler_client_id="x")
    text = " ".join(caught.value.problems)
    assert "GRAPH_DPG_DATAFORDELER_TOKEN_URL" in text and "GRAPH_DPG_DATAFORDELER_CERTIFICATE_PATH" in text
    cert = tmp_path / "c.pem"
    cert.write_text("not read here")
    settings = load_settings(
        None,
        datafordeler_client_id="x",
        datafordeler_token_url="https://auth.example/token",
        datafordeler_certificate_path=cert,
    )
    assert settings.cpr_lookup_enabled


def test_cvr_needs_all_three() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, cvr_base_url="https://cvr.example", cvr_username="u")
    assert "GRAPH_DPG_CVR_PASSWORD" in " ".join(caught.value.problems)
    assert load_settings(
        None, cvr_base_url="https://cvr.example", cvr_username="u", cvr_password="p"
    ).cvr_lookup_enabled


def test_plain_http_only_on_loopback() -> None:
    with pytest.raises(ConfigError):
        load_settings(None, cvr_base_url="http://distribution.virk.dk", cvr_username="u", cvr_password="p")
    assert load_settings(
        None, cvr_base_url="http://127.0.0.1:9200", cvr_username="u", cvr_password="p"
    ).cvr_base_url
