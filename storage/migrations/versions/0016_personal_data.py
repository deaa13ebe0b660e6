"""Personal data (issue 14): when a case's personal data were erased, and who viewed whose.

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-03

Written by hand and frozen: it must not import storage.tables. Self-contained (one column, one new table), so
it may be re-chained after another revision unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("cases", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "access_log",
        sa.Column("id", _ID, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("roles", sa.String(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("what", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_access_log_case_id_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_access_log"),
    )
    op.create_index("ix_access_log_case", "access_log", ["case_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_access_log_case", table_name="access_log")
    op.drop_table("access_log")
    op.drop_column("cases", "erased_at")
