"""GRAPH_DPG_NOTIFICATIONS_URL: empty is off; Graph delivers to HTTPS only (api-reference/v1.0/resources/
subscription.md, notificationUrl), plain http only for the sandbox on loopback."""

from __future__ import annotations

import pytest

from graph_dpg.config import load_settings
from graph_dpg.core.errors import ConfigError
from graph_dpg.services.notifications import NotificationSettings


def test_empty_is_off_and_https_is_taken_without_its_trailing_slash() -> None:
    assert load_settings(env_file=None).notifications_url == ""
    on = load_settings(env_file=None, notifications_url=" https://gw.example.dk/ ")
    assert on.notifications_url == "https://gw.example.dk"
    urls = NotificationSettings.from_base(on.notifications_url)
    assert urls.notification_url == "https://gw.example.dk/graph/notifications"
    assert urls.lifecycle_url == "https://gw.example.dk/graph/lifecycle"
    assert load_settings(env_file=None, notifications_url="http://127.0.0.1:8080").notifications_url


@pytest.mark.parametrize(
    "url", ["http://gw.example.dk", "gw.example.dk", "https://gw.example.dk/?x=1", "ftp://gw.example.dk"]
)
def test_anything_but_https_is_refused(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None, notifications_url=url)
    assert any("NOTIFICATIONS_URL" in p for p in caught.value.problems), caught.value.problems
