"""msgraph-sdk's generated builder modules warn about their own deprecated classes when imported lazily."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:msgraph.*")
