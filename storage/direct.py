"""SQLite's hot statements straight through the driver connection: one thread hop each.

Through SQLAlchemy's async layer a statement on aiosqlite costs four hops to the connection's thread (cursor,
execute, fetch, close) plus SQLAlchemy's own bookkeeping, about 0.3 ms, which made a registration cost ~7 ms
(bench/engine_bench.py). The use cases' hot statements on SQLite go instead through aiosqlite's
`execute_fetchall` (one hop) on the same pooled connection, inside the same transaction. Their SQL is built
from the tables and their parameters pass through the columns' own bind processors (the ones SQLAlchemy
applies: UtcDateTime's naive-UTC text, CleanText's U+0000 refusal, the engine's JSON serializer), so what they
store is what SQLAlchemy would store; errors come back as SQLAlchemy's (IntegrityError, OperationalError ...).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Dialect, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

from storage.types import NaiveDatetimeError, UtcDateTime

# SQLite's default limit of bound variables is 32,766; keep a multi-row insert well below it.
_MAX_VARIABLES = 30_000
_CACHED_ROWS = 32

Processor = Callable[[Any], Any] | None


def instant_text(value: datetime | None) -> str | None:
    """An instant as a `UtcDateTime` column stores it on SQLite: naive UTC in SQLAlchemy's fixed format.

    The same text as SQLAlchemy's own processor (tests/storage/test_direct.py holds them equal) at a fifth of
    its cost: a sweep converts a thousand of them.
    """
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(
            f"naive datetime {value.isoformat()} refused: storage needs a timezone-aware instant"
        )
    # The UTC instant's isoformat ends in "+00:00": cutting it is a third cheaper than a naive copy first.
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:-6]


def instant_from_text(text: str | None) -> datetime | None:
    """A stored SQLite `UtcDateTime` back as an aware UTC instant (the inverse of `instant_text`)."""
    # The offset parsed with the text (tzinfo is `UTC` itself): a tenth of the cost of `.replace(tzinfo=UTC)`,
    # which a sweep pays for thousands of instants.
    return None if text is None else datetime.fromisoformat(text + "+00:00")


def bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    """The conversion SQLAlchemy applies to a parameter of this type on this dialect (None: as is)."""
    if isinstance(type_, UtcDateTime) and dialect.name == "sqlite":
        return instant_text
    return type_.dialect_impl(dialect).bind_processor(dialect)


class Insert:
    """`INSERT INTO table (keys) VALUES (?, ...), ... [RETURNING column]`, for any number of rows."""

    def __init__(
        self,
        table: Table,
        keys: Sequence[str],
        dialect: Dialect,
        *,
        returning: str | None = None,
        suffix: str = "",
    ):
        quote = dialect.identifier_preparer.quote
        self.keys = tuple(keys)
        self._processors = tuple(bind_processor(table.c[key].type, dialect) for key in self.keys)
        # A row's values taken at once (itemgetter), then only the converted columns converted: a registration
        # builds some twenty rows, a sweep a thousand.
        self._values = itemgetter(*self.keys) if len(self.keys) > 1 else lambda row: (row[self.keys[0]],)
        self._converted = tuple((i, p) for i, p in enumerate(self._processors) if p is not None)
        self._head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(k) for k in self.keys)}) VALUES "
        self._group = "(" + ", ".join("?" for _ in self.keys) + ")"
        self._tail = suffix + (f" RETURNING {quote(returning)}" if returning else "")
        self._sql: dict[int, str] = {}
        self.max_rows = max(1, _MAX_VARIABLES // len(self.keys))

    def processor(self, key: str) -> Processor:
        """The conversion of `key`'s parameters (None: passed as is)."""
        return self._processors[self.keys.index(key)]

    def sql(self, rows: int) -> str:
        sql = self._sql.get(rows)
        if sql is None:
            sql = self._head + ", ".join([self._group] * rows) + self._tail
            if (
                rows <= _CACHED_ROWS
            ):  # the usual few rows; a long statement is cheap to build next to running it
                self._sql[rows] = sql
        return sql

    def params(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The parameters of `sql(len(rows))`, converted."""
        if len(rows) == 1:
            return self._row(rows[0])
        return [value for row in rows for value in self._row(row)]

    def row(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """One row's parameters (of `sql(1)`), converted."""
        return tuple(self._row(row))

    def _row(self, row: Mapping[str, Any]) -> list[Any]:
        values = list(self._values(row))
        for index, process in self._converted:
            values[index] = process(values[index])
        return values


async def executemany(driver: Any, sql: str, rows: Sequence[Sequence[Any]]) -> int:
    """Run one statement for each row on the aiosqlite connection (one hop); the rows it changed in all."""
    try:
        cursor = await driver.executemany(sql, rows)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, rows, exc, sqlite3.Error) from None
    count: int = cursor.rowcount
    await cursor.close()
    return count


async def fetchall(driver: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run one statement on the aiosqlite connection (one hop) and return its rows as tuples."""
    try:
        rows = await driver.execute_fetchall(sql, params)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from None
    return [tuple(row) for row in rows]


async def insert(driver: Any, sql: str, params: Sequence[Any]) -> int:
    """Run one single-row INSERT on the aiosqlite connection (one hop); the new row's id (its rowid)."""
    try:
        row = await driver.execute_insert(sql, params)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from None
    return int(row[0])


def insert_now(raw: sqlite3.Connection, sql: str, params: Sequence[Any]) -> int:
    """`insert` on a stdlib sqlite3 connection in the calling thread (the writer's, storage/writer.py).

    The id read as the cursor's `lastrowid`, not by RETURNING: in a registration's transaction a multi-row
    INSERT into `terms` (six indexes) with RETURNING cost three times what one plain INSERT per row did."""
    try:
        cursor = raw.execute(sql, params)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from None
    row_id = cursor.lastrowid
    cursor.close()
    assert row_id is not None  # an INSERT into a rowid table always has one
    return row_id


def executemany_now(raw: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> int:
    """`executemany` on a stdlib sqlite3 connection in the calling thread (the writer's, storage/writer.py)."""
    try:
        cursor = raw.executemany(sql, rows)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, rows, exc, sqlite3.Error) from None
    count = cursor.rowcount
    cursor.close()
    return count


def fetchall_now(raw: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """`fetchall` on a stdlib sqlite3 connection in the calling thread (the writer's, storage/writer.py)."""
    try:
        cursor = raw.execute(sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from None
    cursor.close()
    return rows
