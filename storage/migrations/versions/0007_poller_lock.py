"""Poller lock (issue 8): one row naming the process that polls Telegram, with its heartbeat.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

Written by hand and frozen: it must not import storage.tables, whose future edits belong to later revisions.
Self-contained (a new table only), so it may be re-chained after another revision without change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "poller_lock",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_poller_lock"),
    )


def downgrade() -> None:
    op.drop_table("poller_lock")
