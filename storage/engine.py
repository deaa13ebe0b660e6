"""Async engines for the two supported databases: SQLite (aiosqlite, the default) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import sqlite3
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, PoolResetState
from sqlalchemy.util import await_only

log = logging.getLogger(__name__)

SQLITE_BEGIN = "sqlite_begin"
"""Execution option: how a SQLite transaction begins ("IMMEDIATE" by default, "DEFERRED" for reads)."""

DEFAULT_BUSY_TIMEOUT_MS = 10_000
# Reads through a memory map share the OS page cache across pooled connections; with SQLite's default 2 MB
# per-connection cache, the sweep slowed down once the terms table outgrew it (bench/storage_sweep_bench.py).
DEFAULT_SQLITE_MMAP_BYTES = 256 * 1024 * 1024

# Cyrillic stays readable in the JSON columns instead of \uXXXX escapes.
_json_dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class SqliteSettings:
    """What `create_engine` made of a SQLite URL: the file, and the PRAGMAs every connection on it gets."""

    url: URL
    busy_timeout_ms: int
    mmap_bytes: int
    writer: bool = True
    # `on_sqlite_connect`'s hooks, run on every new connection to the file: the pool's and the writer's.
    connect_hooks: list[Callable[[Any], None]] = field(default_factory=list, compare=False, repr=False)

    @property
    def shared(self) -> bool:
        """Whether another connection on this URL sees the same database (a file, not `:memory:`)."""
        database = self.url.database or ""
        return database not in ("", ":memory:") and "mode=memory" not in database


# The SQLite settings of each engine `create_engine` made, for the writer's own connection (storage/writer.py).
_SQLITE_SETTINGS: weakref.WeakKeyDictionary[Engine, SqliteSettings] = weakref.WeakKeyDictionary()


def sqlite_settings(engine: AsyncEngine) -> SqliteSettings | None:
    """The SQLite settings of an engine from `create_engine` (None: PostgreSQL, or made elsewhere)."""
    return _SQLITE_SETTINGS.get(engine.sync_engine)


def on_sqlite_connect(engine: AsyncEngine, hook: Callable[[Any], None]) -> Callable[[], None]:
    """Run `hook(dbapi_connection)` on every connection opened from now on to this SQLite engine's file, the
    pool's and the writer's alike (storage/writer.py has a connection of its own, which a listener on the
    engine's pool never sees); returns what removes the hook. Tests stand a full disk up with it (a page limit)."""
    settings = sqlite_settings(engine)
    if settings is None:
        raise ValueError("on_sqlite_connect needs an engine from create_engine on SQLite")
    settings.connect_hooks.append(hook)
    return lambda: settings.connect_hooks.remove(hook)


def create_engine(
    url: str | URL,
    *,
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    sqlite_mmap_bytes: int = DEFAULT_SQLITE_MMAP_BYTES,
    sqlite_writer: bool = True,
    **kwargs: Any,
) -> AsyncEngine:
    """An async engine for `sqlite+aiosqlite:///path` or `postgresql+asyncpg://...`.

    `busy_timeout_ms`, `sqlite_mmap_bytes` (0 turns memory-mapped reads off) and `sqlite_writer` (False: use
    cases' writes go through the engine's pooled connections, not storage/writer.py) apply to SQLite only.
    Extra keyword arguments go to SQLAlchemy's `create_async_engine` (e.g. `connect_args`).
    """
    sa_url = make_url(url)
    backend, driver = sa_url.get_backend_name(), sa_url.get_driver_name()
    if backend == "sqlite":
        if driver != "aiosqlite":
            raise ValueError(
                f"SQLite needs the async driver: use sqlite+aiosqlite:///..., not {sa_url.drivername}"
            )
        # A connection goes back to the pool rolled back only if a transaction is still open on it (see
        # _on_reset): the unconditional rollback was one more hop to the connection's thread per transaction.
        kwargs.setdefault("pool_reset_on_return", None)
        engine = create_async_engine(sa_url, json_serializer=_json_dumps, **kwargs)
        settings = SqliteSettings(sa_url, busy_timeout_ms, sqlite_mmap_bytes, sqlite_writer)
        _configure_sqlite(engine.sync_engine, settings)
        _SQLITE_SETTINGS[engine.sync_engine] = settings
        return engine
    if backend == "postgresql":
        if driver != "asyncpg":
            raise ValueError(
                f"PostgreSQL needs the async driver: use postgresql+asyncpg://..., not {sa_url.drivername}"
            )
        kwargs.setdefault("pool_pre_ping", True)
        # SQLAlchemy's default keeps 5 connections and closes every overflow one when it comes back: with 16
        # registrations at once, 11 of them reconnected (a backend started, auth, asyncpg's type introspection)
        # for every transaction, so 16 at once were slower than one at a time (bench/engine_bench.py).
        kwargs.setdefault("pool_size", 16)
        pg = create_async_engine(sa_url, json_serializer=_json_dumps, **kwargs)
        if pg.sync_engine.pool._pre_ping and hasattr(pg.dialect, "do_ping"):
            pg.dialect.do_ping = _ping_once  # type: ignore[method-assign]  # this engine's dialect only
        return pg
    raise ValueError(
        f"unsupported database {sa_url.drivername!r}: use sqlite+aiosqlite or postgresql+asyncpg"
    )


def _ping_once(dbapi_connection: Any) -> bool:
    """The pre-ping of a pooled PostgreSQL connection in one round trip: `SELECT 1` by the simple query protocol
    (no prepared statement, so it is safe behind a transaction-mode pooler too; asyncpg trips on the answer to
    an empty statement there). SQLAlchemy's asyncpg ping wraps its `;` in a transaction of its own: three round
    trips (BEGIN, `;`, ROLLBACK) before every transaction a use case opens. A dead connection fails here as
    there, through the adapter's error translation, and the pool replaces it."""
    try:
        await_only(dbapi_connection._connection.execute("SELECT 1"))
    except Exception as error:
        dbapi_connection._handle_exception(error)
    return True


def sync_sqlite_engine(settings: SqliteSettings) -> Engine:
    """A synchronous engine (stdlib sqlite3 through `sqlite+pysqlite`) on the same file as an async one.

    Same PRAGMAs, same JSON serializer and the same column types, so its statements store the same bytes. No
    pool and no BEGIN of its own: its users, the writer (storage/writer.py) and the inline reads
    (storage/inline_reads.py), begin and commit on the raw connection.
    """
    engine = create_sync_engine(
        settings.url.set(drivername="sqlite+pysqlite"), json_serializer=_json_dumps, poolclass=NullPool
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        _sqlite_pragmas(dbapi_connection, settings.busy_timeout_ms, settings.mmap_bytes)
        # The writer runs each job of a batch in a SAVEPOINT (an inline read has no use for it, nor harm): the sub-journal (the first copy of every page a
        # job changes, as do multi-row statements) stays in memory instead of spilling to a temporary file past
        # 64 KiB; that spill cost a job of a few dozen inserts a third more CPU. Nothing stored changes.
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA temp_store=MEMORY")
        finally:
            cursor.close()
        for hook in list(settings.connect_hooks):
            hook(dbapi_connection)

    return engine


def _sqlite_pragmas(dbapi_connection: Any, busy_timeout_ms: int, mmap_bytes: int) -> None:
    # Take BEGIN from the sqlite3 driver (it skips BEGIN before SELECT and DDL); "begin" below emits it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer and vice versa
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
        cursor.execute("PRAGMA foreign_keys=ON")  # off by default, per connection
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute(f"PRAGMA mmap_size={int(mmap_bytes)}")
    finally:
        cursor.close()


def _configure_sqlite(engine: Engine, settings: SqliteSettings) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        _sqlite_pragmas(dbapi_connection, settings.busy_timeout_ms, settings.mmap_bytes)
        for hook in list(settings.connect_hooks):
            hook(dbapi_connection)

    @event.listens_for(engine, "reset")
    def _on_reset(dbapi_connection: Any, _record: ConnectionPoolEntry, state: PoolResetState) -> None:
        # Committed or rolled back already (the usual case): nothing to undo, no hop. A connection given back
        # mid-transaction is rolled back, as the pool's default reset would.
        if (
            state.asyncio_safe
            and not state.terminate_only
            and dbapi_connection.driver_connection.in_transaction
        ):
            dbapi_connection.rollback()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front (waiting up to busy_timeout). A DEFERRED transaction that
        # reads and then writes can fail at once with SQLITE_BUSY when another writer committed in between;
        # the busy handler cannot help there because waiting would deadlock.
        mode = str(conn.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")).upper()
        if mode not in ("IMMEDIATE", "DEFERRED", "EXCLUSIVE"):
            raise ValueError(f"{SQLITE_BEGIN} must be IMMEDIATE, DEFERRED or EXCLUSIVE, not {mode!r}")
        # Straight on the aiosqlite connection: one hop to its thread, where a statement through SQLAlchemy is
        # three (cursor, execute, close) and every transaction pays it (bench/engine_bench.py).
        sql = f"BEGIN {mode}"
        dbapi = conn.connection.dbapi_connection
        try:
            try:
                dbapi.run_async(lambda driver: driver.execute_fetchall(sql))  # type: ignore[union-attr]
            except sqlite3.OperationalError as exc:
                if "within a transaction" not in str(exc):
                    raise
                # A transaction left open on this pooled connection (see below): undo it, then begin ours.
                log.warning("SQLite: соединение вернулось в пул с открытой транзакцией; она отменена")
                dbapi.run_async(lambda driver: driver.rollback())  # type: ignore[union-attr]
                dbapi.run_async(lambda driver: driver.execute_fetchall(sql))  # type: ignore[union-attr]
        except asyncio.CancelledError:
            # Cancelled (a stop, a crash test) while the BEGIN waited in aiosqlite's thread: the thread still
            # runs it, but SQLAlchemy will think no transaction began, and the reset on return reads
            # `in_transaction` before the BEGIN lands, so the connection would go back to the pool holding the
            # write lock, stalling every other writer. Queue a ROLLBACK behind the BEGIN (the thread keeps
            # order), then let the cancellation go on.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                dbapi.run_async(lambda driver: driver.rollback())  # type: ignore[union-attr]
            raise
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, (), exc, sqlite3.Error) from None
