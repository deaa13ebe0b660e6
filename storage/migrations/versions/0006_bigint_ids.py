"""64-bit ids on PostgreSQL (issue 8): every row id and every column referring to one becomes BIGINT.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Written by hand and frozen: it must not import storage.tables. Self-contained, so it may be re-chained after
another revision without change.

On PostgreSQL 0001 made the ids SERIAL (32-bit): `/case 2147483648` overflowed the driver, and the 2^31st case
could never be written. The columns become BIGINT and their sequences `AS bigint` (a sequence keeps its own
type, and an integer sequence stops at 2^31-1 whatever the column). Each table is altered in one statement, so
it is rewritten once.

On SQLite nothing changes: INTEGER PRIMARY KEY is already a 64-bit rowid alias, and declaring it BIGINT would
break the aliasing (and with it the automatic ids); the other columns are 64-bit INTEGER affinity as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> its columns holding a row id: its own serial id first when it has one.
COLUMNS: dict[str, tuple[str, ...]] = {
    "cases": ("id", "repeat_of"),
    "messages": ("id", "case_id"),
    "assignments": ("case_id",),
    "drafts": ("id", "case_id"),
    "terms": ("id", "case_id"),
    "events": ("id", "case_id"),
    "outbox": ("id", "case_id"),
    "deliveries": ("id", "outbox_id"),
    "cards": ("case_id",),
}
SERIAL = ("cases", "messages", "drafts", "terms", "events", "outbox", "deliveries")


def _retype(sql_type: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in COLUMNS.items():
        changes = ", ".join(f'ALTER COLUMN "{c}" TYPE {sql_type}' for c in columns)
        op.execute(f'ALTER TABLE "{table}" {changes}')
    for table in SERIAL:
        # The sequence's name as PostgreSQL knows it (schema-qualified through the search path).
        name = op.get_bind().exec_driver_sql(f"SELECT pg_get_serial_sequence('{table}', 'id')").scalar()
        if name is not None:
            op.execute(f"ALTER SEQUENCE {name} AS {sql_type}")


def upgrade() -> None:
    _retype("bigint")


def downgrade() -> None:
    # Fails (and rolls back) if an id beyond 2^31-1 has been given out: those rows cannot go back to 32 bits.
    _retype("integer")
