"""Storage fixtures of tests/storage (real SQLite files and PostgreSQL) for the channel tests."""

from tests.storage.conftest import clock, engine, repo

__all__ = ["clock", "engine", "repo"]
