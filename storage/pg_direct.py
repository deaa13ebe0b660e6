"""PostgreSQL's hot statements straight through the asyncpg connection (issue 16 item 3).

Through SQLAlchemy a statement built per call cost more CPU than PostgreSQL spent running it: a registration
paid ~5 ms of client CPU for a dozen statements (building and compiling them, SQLAlchemy's execution context
and result), which with 16 registrations at once made the client's one thread the limit (bench/engine_bench.py).
The registration's statements go instead as fixed SQL text with `$n` parameters to asyncpg's `fetch` on the same
pooled connection, inside the same transaction: asyncpg prepares each text once per connection. Parameters pass
through the columns' own bind processors (UtcDateTime's UTC instant and naive refusal, CleanText's U+0000
refusal, the engine's JSON serializer), and every parameter is cast to its column's type as SQLAlchemy renders
it, so what they store is what SQLAlchemy would store; errors come back as SQLAlchemy's (IntegrityError, ...).

This leans on the asyncpg adapter of SQLAlchemy 2 (its lazily begun transaction, its lock and its error
translation); `available` says whether a connection has them, and callers go through SQLAlchemy when not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Dialect, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import direct

Processor = Callable[[Any], Any] | None
_CACHED_ROWS = 32
# PostgreSQL binds at most 65,535 parameters per statement.
_MAX_PARAMETERS = 60_000


def cast(table: Table, key: str, dialect: Dialect) -> str:
    """The column's type as SQLAlchemy renders a parameter's cast (`$1::VARCHAR`)."""
    return table.c[key].type.compile(dialect=dialect)


class Columns:
    """The conversions and casts of some columns of a table, in order."""

    def __init__(self, table: Table, keys: Sequence[str], dialect: Dialect) -> None:
        self.table = table
        self.keys = tuple(keys)
        self.processors: tuple[Processor, ...] = tuple(
            direct.bind_processor(table.c[key].type, dialect) for key in self.keys
        )
        self.casts = tuple(cast(table, key, dialect) for key in self.keys)

    def row(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """One row's parameters, converted as SQLAlchemy converts them."""
        return tuple(
            row[key] if process is None else process(row[key])
            for key, process in zip(self.keys, self.processors, strict=True)
        )

    def placeholders(self, first: int) -> str:
        """`$first::TYPE, $first+1::TYPE, ...` for one row."""
        return ", ".join(f"${first + i}::{c}" for i, c in enumerate(self.casts))


class Insert:
    """`INSERT INTO table (keys) VALUES ($1::T, ...), ... [suffix] [RETURNING column]`, any number of rows."""

    def __init__(
        self,
        table: Table,
        keys: Sequence[str],
        dialect: Dialect,
        *,
        returning: str | None = None,
        suffix: str = "",
    ) -> None:
        quote = dialect.identifier_preparer.quote
        self.columns = Columns(table, keys, dialect)
        self._head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(k) for k in keys)}) VALUES "
        self._tail = suffix + (f" RETURNING {quote(returning)}" if returning else "")
        self._sql: dict[tuple[int, int], str] = {}
        self.max_rows = max(1, _MAX_PARAMETERS // len(self.columns.keys))

    def sql(self, rows: int, first: int = 1) -> str:
        """The statement for `rows` rows, its parameters numbered from `$first` (after another statement's, when
        it is a CTE of that one)."""
        sql = self._sql.get((rows, first))
        if sql is None:
            width = len(self.columns.keys)
            groups = (f"({self.columns.placeholders(first + r * width)})" for r in range(rows))
            sql = self._head + ", ".join(groups) + self._tail
            if rows <= _CACHED_ROWS:
                self._sql[rows, first] = sql
        return sql

    def params(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The parameters of `sql(len(rows))`, converted."""
        row = self.columns.row
        return [value for values in rows for value in row(values)]


def available(adapted: Any) -> bool:
    """Whether SQLAlchemy's adapted asyncpg connection has what `fetch` relies on."""
    return all(
        hasattr(adapted, name)
        for name in (
            "_transaction",
            "_start_transaction",
            "_execute_mutex",
            "_handle_exception",
            "_connection",
        )
    )


async def fetch(conn: AsyncConnection, adapted: Any, sql: str, params: Sequence[Any]) -> list[Any]:
    """Run one statement on the asyncpg connection under `conn`, in its transaction; its rows (asyncpg Records).

    `adapted` is SQLAlchemy's adapted connection of `conn` (`available` holds). The transaction is begun first
    if no statement began it yet, as SQLAlchemy's own cursor does, so the statement never runs outside it.
    `before_cursor_execute` listeners are called with the statement (cursor and context None).
    """
    sync = conn.sync_connection
    if sync is not None and sync.dispatch.before_cursor_execute:
        # Listeners of SQLAlchemy's statement event (SQL logging, the round trips bench/engine_bench.py and the
        # tests count) see these statements too; there is no cursor nor execution context to give them.
        for listener in sync.dispatch.before_cursor_execute:
            listener(sync, None, sql, params, None, False)
    try:
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                await adapted._start_transaction()
            try:
                rows: list[Any] = await adapted._connection.fetch(sql, *params)
            except Exception as error:
                adapted._handle_exception(error)  # raises the DBAPI error SQLAlchemy's cursor would
            return rows
    except adapted.dbapi.Error as exc:
        invalidated = conn.dialect.is_disconnect(exc, adapted, None)
        if invalidated:
            await conn.invalidate(exc)
        raise DBAPIError.instance(
            sql, params, exc, adapted.dbapi.Error, connection_invalidated=invalidated
        ) from None
