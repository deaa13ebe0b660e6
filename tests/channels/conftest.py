"""The use-case fixtures of tests/engine (fake, SQLite file and PostgreSQL repositories) for the channel tests;
storage-level tests here import tests/storage's own fixtures in their module; the `world` tests take the e2e
World's fixtures in their module and its `messenger` from here."""

import pytest

from tests.engine.conftest import calendar, clock, db, notifier, repo, services


@pytest.fixture
def messenger(request: pytest.FixtureRequest) -> str:
    """The e2e World's staff messenger for the tests that take `world`: Telegram unless a test asks for MAX
    (``indirect=True``). These tests are about the citizens' networks (VK, OK, the Telegram channel, MAX), not
    the staff's messenger, which tests/e2e runs on both."""
    return str(getattr(request, "param", "telegram"))

__all__ = ["calendar", "clock", "db", "messenger", "notifier", "repo", "services"]
