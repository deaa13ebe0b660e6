"""The use-case fixtures of tests/engine (fake, SQLite file and PostgreSQL repositories) for the channel tests;
storage-level tests here import tests/storage's own fixtures in their module."""

from tests.engine.conftest import calendar, clock, db, notifier, repo, services

__all__ = ["calendar", "clock", "db", "notifier", "repo", "services"]
