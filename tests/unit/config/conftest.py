"""Every config test starts from an empty GRAPH_DPG_* environment in an empty working directory, so a
developer's own environment or ``.env`` never changes a result."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from graph_dpg.config import ENV_PREFIX


@pytest.fixture(autouse=True)
def clean_settings_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
