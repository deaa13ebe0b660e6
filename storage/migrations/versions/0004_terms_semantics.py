"""Terms semantics (issue 9): the ЦУР detection time of a message; a term's note and the person holding it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Written by hand and frozen: it must not import storage.tables, whose future edits belong to later revisions.
Self-contained (only adds nullable columns), so it may be re-chained after another revision without change.
Every other new field (Case: detected/received instants, the order of officials, the ПОС due date; Assignment:
waiting for its turn) lives in the JSON state / extra columns and needs no schema change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD COLUMN of a nullable column without a default: in place on both SQLite and PostgreSQL.
    op.add_column("messages", sa.Column("detected_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("terms", sa.Column("note", sa.Text(), nullable=True))
    op.add_column("terms", sa.Column("person", sa.Text(), nullable=True))


def downgrade() -> None:
    # SQLite >= 3.35 drops an unindexed column in place, as PostgreSQL does.
    op.drop_column("terms", "person")
    op.drop_column("terms", "note")
    op.drop_column("messages", "detected_at")
