"""Fixtures: every storage test runs on a real SQLite file and, when OTKLIK_TEST_PG_URL is set, on PostgreSQL.

PostgreSQL isolation: each test gets its own schema (search_path set per connection) that is dropped after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repository import SqlRepository
from tests.support.pg import PG_SKIP, PG_URL
from tests.support.scratch import scratch_schema

DIALECTS = ["sqlite", "pg"]


class SettableClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


def require_pg() -> str:
    if not PG_URL:
        pytest.skip(PG_SKIP)
    return PG_URL


@asynccontextmanager
async def pg_schema_engine() -> AsyncIterator[AsyncEngine]:
    """An engine whose connections see only a fresh schema; the schema is dropped afterwards."""
    url = require_pg()
    async with scratch_schema(url, "otklik_test") as connect_args:
        engine = create_engine(url, connect_args=connect_args)
        try:
            yield engine
        finally:
            await engine.dispose()


@asynccontextmanager
async def fresh_engine(dialect: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if dialect == "pg":
        async with pg_schema_engine() as engine:
            yield engine
        return
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'otklik.sqlite3'}")
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(params=DIALECTS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An empty database (no schema yet)."""
    async with fresh_engine(request.param, tmp_path) as engine:
        yield engine


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(datetime(2025, 3, 3, 2, 0, tzinfo=UTC))


@pytest.fixture
async def repo(engine: AsyncEngine, clock: SettableClock) -> SqlRepository:
    """A migrated database behind the repository."""
    await upgrade(engine)
    return SqlRepository(engine, clock=clock)
