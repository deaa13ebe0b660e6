"""Throwaway PostgreSQL schemas for tests and benchmarks: nothing else in the database is touched."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import create_engine


@asynccontextmanager
async def scratch_schema(url: str, prefix: str = "otklik_scratch") -> AsyncIterator[dict[str, Any]]:
    """Create a fresh schema and yield the `connect_args` that confine an engine to it; drop it afterwards.

    asyncpg takes no search_path from the URL, so each engine on the schema is built with these arguments
    (`create_engine(url, connect_args=...)`); the caller disposes its engines before the schema goes.
    """
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield {"server_settings": {"search_path": schema}}
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        await admin.dispose()


@asynccontextmanager
async def sqlite_file_engine(name: str = "bench.sqlite3") -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh SQLite file in a temporary folder, disposed and deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="otklik-") as folder:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(folder) / name}")
        try:
            yield engine
        finally:
            await engine.dispose()


@asynccontextmanager
async def scratch_engine(url: str, prefix: str = "otklik_scratch") -> AsyncIterator[AsyncEngine]:
    """An engine confined to a throwaway schema (`scratch_schema`), disposed before the schema goes."""
    async with scratch_schema(url, prefix) as connect_args:
        engine = create_engine(url, connect_args=connect_args)
        try:
            yield engine
        finally:
            await engine.dispose()
