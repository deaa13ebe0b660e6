"""Short reads on the event loop's own thread: SQLite's answer to a card's few rows without a thread hop.

Through aiosqlite every statement, BEGIN and COMMIT of a read is a hop to the connection's thread and back, and
each hop waits for the GIL, which the writer thread (storage/writer.py) holds while it runs a burst's
registrations: a card's reads took 5 ms on average, 30 ms at p99, for a dozen statements answered from the page
cache in well under one (bench/channels_bench.py). Here a read runs on a stdlib sqlite3 connection in the calling
thread: with WAL a reader never waits for the writer, and a read of a few rows by key blocks the loop for less
than the hops cost. Only such reads belong here (`SqlRepository.reading(inline=True)`); a report or a search
keeps its own thread. The connections are read-only (`PRAGMA query_only`): a write slipping into such a read
fails loudly instead of going round the writer.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import Connection, Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import SqliteSettings, sqlite_settings, sync_sqlite_engine

# Connections kept open per thread: one per read in progress at once (a burst has a few).
IDLE_PER_THREAD = 4


class InlineReader:
    """Read-only sqlite3 connections on one file, each used by the thread that opened it."""

    def __init__(self, settings: SqliteSettings) -> None:
        self._engine = sync_sqlite_engine(settings)
        self._local = threading.local()
        self._open: weakref.WeakSet[Connection] = weakref.WeakSet()
        self._lock = threading.Lock()
        self.closed = False

    @contextmanager
    def snapshot(self) -> Iterator[tuple[Connection, sqlite3.Connection]]:
        """One read transaction (BEGIN DEFERRED): the SQLAlchemy connection and its sqlite3 connection."""
        idle: list[Connection] = self._idle()
        conn = idle.pop() if idle else self._connect()
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        reusable = False
        try:
            raw.execute("BEGIN DEFERRED")
            yield conn, raw
            reusable = True
        finally:
            reusable = self._end(conn, raw) and reusable
            if reusable and not self.closed and len(idle) < IDLE_PER_THREAD:
                idle.append(conn)
            else:
                self._discard(conn)

    def close(self) -> None:
        """Close every connection that is not in use; one in use is closed when its read ends."""
        self.closed = True
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            if not conn.in_transaction() and not conn.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
                self._discard(conn)
        self._engine.dispose()

    def _idle(self) -> list[Connection]:
        idle: list[Connection] | None = getattr(self._local, "idle", None)
        if idle is None:
            idle = self._local.idle = []
        return idle

    def _connect(self) -> Connection:
        conn = self._engine.connect()
        conn.connection.driver_connection.execute("PRAGMA query_only=ON")  # type: ignore[union-attr]
        with self._lock:
            self._open.add(conn)
        return conn

    @staticmethod
    def _end(conn: Connection, raw: sqlite3.Connection) -> bool:
        """End the read (nothing to keep: it only read); False when the connection is no longer fit for use."""
        try:
            conn.rollback()  # SQLAlchemy's own transaction, when a statement went through it, and the read's
            if raw.in_transaction:
                raw.rollback()
        except sqlite3.Error:
            return False
        return True

    def _discard(self, conn: Connection) -> None:
        with self._lock:
            self._open.discard(conn)
        with suppress(sqlite3.Error):  # a broken connection (or another thread's): nothing more to do with it
            conn.close()


_READERS: weakref.WeakKeyDictionary[Engine, InlineReader] = weakref.WeakKeyDictionary()
_READERS_LOCK = threading.Lock()


def inline_reader_for(engine: AsyncEngine) -> InlineReader:
    """The engine's inline reader (a new one after the engine was disposed)."""
    settings = sqlite_settings(engine)
    if settings is None or not settings.shared:
        raise ValueError("inline reads need an engine from storage.engine.create_engine on a SQLite file")
    key = engine.sync_engine
    with _READERS_LOCK:
        reader = _READERS.get(key)
        if reader is None or reader.closed:
            reader = _READERS[key] = InlineReader(settings)
            if not event.contains(key, "engine_disposed", _on_dispose):
                event.listen(key, "engine_disposed", _on_dispose)
        return reader


def _on_dispose(engine: Engine) -> None:
    with _READERS_LOCK:
        reader = _READERS.pop(engine, None)
    if reader is not None:
        reader.close()
