"""The use-case fixtures of tests/engine (fake, SQLite file and PostgreSQL repositories) for the channel tests;
storage-level tests here import tests/storage's own fixtures in their module; the `world` tests take the e2e
World's fixtures in their module and its `messenger` from here."""

from tests.e2e.conftest import messenger  # the e2e World's staff messenger, for the tests that take `world`
from tests.engine.conftest import calendar, clock, db, notifier, repo, services

__all__ = ["calendar", "clock", "db", "messenger", "notifier", "repo", "services"]
