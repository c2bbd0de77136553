"""The console's settings: served only when all five are set and sound; Secure cookies except on plain-http
loopback (the sandbox); the sandbox offers its two demo users."""

from __future__ import annotations

from graph_dpg.bootstrap.console import console_options, console_problems
from graph_dpg.config import load_settings
from graph_dpg.demo.player import demo_users_line

FULL = {
    "console_authority": "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555",
    "console_client_id": "client",
    "console_client_secret": "secret",
    "console_redirect_uri": "https://dpg.kommune.dk/console/auth/callback",
    "console_session_secret": "x" * 32,
}


def _settings(**values: object):
    return load_settings(env_file=None, credential_kind="sandbox", **values)


def test_no_console_settings_no_console_and_no_complaint():
    settings = _settings()
    assert console_options(settings) is None
    assert console_problems(settings) == []


def test_all_five_settings_give_options_with_secure_cookies_and_hidden_secrets():
    options = console_options(_settings(**FULL))
    assert options is not None
    assert options.secure_cookies
    assert "secret" not in repr(options).replace("client_secret", "").replace("session_secret", "")


def test_a_partial_or_unsound_console_configuration_is_refused_with_the_reasons():
    partial = _settings(console_authority=FULL["console_authority"])
    assert console_options(partial) is None
    assert "GRAPH_DPG_CONSOLE_CLIENT_ID is not set" in console_problems(partial)
    unsound = _settings(
        **{**FULL, "console_authority": "http://login.example/t", "console_session_secret": "short"}
    )
    assert console_options(unsound) is None
    problems = " ".join(console_problems(unsound))
    assert "https" in problems
    assert "32 characters" in problems


def test_plain_http_loopback_is_the_one_place_cookies_are_not_secure():
    options = console_options(
        _settings(**{**FULL, "console_redirect_uri": "http://127.0.0.1:8080/console/auth/callback"})
    )
    assert options is not None
    assert not options.secure_cookies
    remote = console_options(
        _settings(**{**FULL, "console_redirect_uri": "http://dpg.kommune.dk/console/auth/callback"})
    )
    assert remote is not None
    assert remote.secure_cookies  # plain http anywhere else still gets Secure cookies (and so no session)


def test_the_sandbox_names_its_demo_users_and_their_roles():
    assert demo_users_line() == "reader (Gateway.Reader), admin (Gateway.Admin)"
