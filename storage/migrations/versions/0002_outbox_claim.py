"""Outbox claim: a drain's lease on an undelivered row, so two processes draining at once send it once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Written by hand and frozen: it must not import storage.tables, whose future edits belong to later revisions.
The pending rows are found through ix_outbox_pending (undelivered rows by id); the claim is checked on them,
so it needs no index of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD COLUMN of a nullable column without a default: in place on both SQLite and PostgreSQL.
    op.add_column("outbox", sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("outbox", sa.Column("claimed_by", sa.String(), nullable=True))


def downgrade() -> None:
    # SQLite >= 3.35 drops an unindexed column in place, as PostgreSQL does.
    op.drop_column("outbox", "claimed_by")
    op.drop_column("outbox", "claimed_until")
