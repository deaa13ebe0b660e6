"""Hot reads built once: a SELECT compiled once per engine and run on SQLite straight through the driver.

A card's refresh and a notice's delivery read a case, its message, terms, events and cards: some fourteen small
SELECTs per citizen's comment in a burst (bench/channels_bench.py). Through SQLAlchemy each one is built anew,
keyed for the compiled cache, run in four hops to aiosqlite's thread and wrapped in a result: about as much CPU
as the rest of the card. Here the statement is a module constant with bind parameters, compiled once for the
engine's dialect; on SQLite it runs as one `execute_fetchall` (storage/direct.py) and each column goes through
the conversion SQLAlchemy would apply to it (the dialect's own result processor: the engine's JSON
deserializer, UtcDateTime's aware UTC instant), so the rows hold the same values. Rows are named tuples: by
position and by column name, as the row mappers read SQLAlchemy's rows.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Dialect, Select
from sqlalchemy.types import TypeEngine

from storage.direct import bind_processor, instant_from_text
from storage.types import UtcDateTime

Processor = Callable[[Any], Any] | None


def result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    """The conversion SQLAlchemy applies to a column of this type read on this dialect (None: as is)."""
    if isinstance(type_, UtcDateTime) and dialect.name == "sqlite":
        return instant_from_text  # the same instant (tests/storage/test_prepared.py), at a fraction of the cost
    processor: Processor = type_.dialect_impl(dialect).result_processor(dialect, None)
    return processor


class CompiledSelect:
    """One SELECT for one engine: its SQL, its parameters' order and conversions, and its columns' conversions."""

    def __init__(self, stmt: Select[Any], dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        if compiled.positiontup is None:
            raise ValueError(f"{dialect.name}: a positional paramstyle is needed, not {dialect.paramstyle}")
        self.sql = compiled.string
        self._names = tuple(compiled.positiontup)
        binds = [compiled.binds[name] for name in self._names]
        self._binds = tuple(bind_processor(bind.type, dialect) for bind in binds)
        # A parameter the statement holds itself (a LIMIT's): its own value unless one is given.
        self._own = {name: bind.value for name, bind in zip(self._names, binds, strict=True) if not bind.required}
        columns = list(stmt.selected_columns)
        keys = [str(column.key) for column in columns]
        # A key that is no identifier (or a duplicate) fails here, once, not on a read.
        row: Any = namedtuple("Row", keys)  # type: ignore[misc]  # the columns are known only here
        self._make: Callable[[Iterable[Any]], Any] = row._make
        self._converted = tuple(
            (index, process)
            for index, column in enumerate(columns)
            if (process := result_processor(column.type, dialect)) is not None
        )

    def params(self, values: Mapping[str, Any]) -> list[Any]:
        """The statement's parameters in order, converted as SQLAlchemy would bind them."""
        own, given = self._own, []
        for name, process in zip(self._names, self._binds, strict=True):
            value = values[name] if name in values or name not in own else own[name]
            given.append(value if process is None else process(value))
        return given

    def rows(self, fetched: Sequence[Sequence[Any]]) -> list[Any]:
        """The driver's rows as named tuples, each column converted as SQLAlchemy would convert it."""
        make, converted = self._make, self._converted
        if not converted:
            return [make(row) for row in fetched]
        rows = []
        for row in fetched:
            values = list(row)
            for index, process in converted:
                values[index] = process(values[index])
            rows.append(make(values))
        return rows


class CompiledSelects:
    """The compiled forms of the module-level SELECTs an engine has run, each compiled on its first use."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        # Keyed by the statement object: the SELECTs are module constants, alive as long as the process.
        self._compiled: dict[int, tuple[Select[Any], CompiledSelect]] = {}

    def __getitem__(self, stmt: Select[Any]) -> CompiledSelect:
        found = self._compiled.get(id(stmt))
        if found is None or found[0] is not stmt:
            found = self._compiled[id(stmt)] = (stmt, CompiledSelect(stmt, self._dialect))
        return found[1]
