"""Which database errors mean "storage is down just now" (keep the work and retry) and which are faults.

A locked, full, read-only or unreachable database is an outage: the same statement succeeds later, so the
caller (the inbox, the worker pool) keeps the work and retries. A constraint violation, a syntax error or a
write inside our own read-only transaction is a fault of the code or the data: retrying changes nothing, so it
is never translated.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError

from workflow.ports import StorageUnavailable

# SQLite result codes (`sqlite_errorname`, Python >= 3.11) that pass: busy/locked, full, read-only, cannot open,
# I/O error (SQLITE_IOERR_* too), and the message texts for drivers that give none.
_SQLITE_NAMES = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_READONLY", "SQLITE_CANTOPEN",
                 "SQLITE_IOERR", "SQLITE_PROTOCOL")  # fmt: skip
_SQLITE_TEXTS = ("database is locked", "database table is locked", "database or disk is full",
                 "attempt to write a readonly database", "unable to open database file", "disk i/o error",
                 "database is busy")  # fmt: skip
# PostgreSQL SQLSTATE classes and codes: 08 connection exception, 53 insufficient resources (disk full, out of
# memory, too many connections), 57P01-57P03 admin/crash shutdown and cannot connect now, 58 system error.
# Not 25006 (read-only transaction): our own reading() is READ ONLY, and a write inside it is a bug.
_PG_CLASSES = ("08", "53", "58")
_PG_CODES = ("57P01", "57P02", "57P03", "40P01")  # 40P01: deadlock victim, the retry succeeds
# asyncpg's client-side errors that name a lost connection (no SQLSTATE).
_PG_CLIENT = ("ConnectionDoesNotExistError", "ConnectionFailureError", "InternalClientError")
_PG_TEXTS = ("connection is closed", "connection was closed", "cannot connect", "connection refused",
             "the database system is", "terminating connection")  # fmt: skip


def _chain(exc: BaseException) -> list[BaseException]:
    """The error, the driver's error under SQLAlchemy's wrapper, and their causes."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or any(item is s for s in seen) or len(seen) > 10:
            continue
        seen.append(item)
        # Not __context__: a fault raised while handling an outage is still a fault.
        todo += [getattr(item, "orig", None), item.__cause__]
    return seen


def _one(exc: BaseException) -> bool:
    if isinstance(exc, StorageUnavailable):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True  # SQLAlchemy saw the connection die under the statement
    if isinstance(exc, sqlite3.Error):
        name = str(getattr(exc, "sqlite_errorname", "") or "")
        text = str(exc).lower()
        return name.startswith(_SQLITE_NAMES) or any(t in text for t in _SQLITE_TEXTS)
    if isinstance(exc, ConnectionError | TimeoutError) or (
        isinstance(exc, OSError)
        and type(exc) is OSError  # "Multiple exceptions: [Errno 111] Connect call failed"
    ):
        return True
    sqlstate = str(getattr(exc, "sqlstate", "") or "")
    if sqlstate:
        return sqlstate[:2] in _PG_CLASSES or sqlstate in _PG_CODES
    if type(exc).__name__ in _PG_CLIENT:
        return True
    if type(exc).__module__.startswith("asyncpg") or "asyncpg" in type(exc).__qualname__.lower():
        return any(t in str(exc).lower() for t in _PG_TEXTS)
    return False


def is_outage(exc: BaseException) -> bool:
    """True when `exc` means the database cannot be read or written just now (retry later, keep the work)."""
    return any(_one(item) for item in _chain(exc))


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Raise StorageUnavailable (from the driver's error) for an outage; let everything else through."""
    try:
        yield
    except StorageUnavailable:
        raise
    except Exception as exc:
        if is_outage(exc):
            raise StorageUnavailable(_one_line(exc)) from exc
        raise


def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {str(orig).splitlines()[0] if str(orig) else ''}"[:300]
