"""Network intake (issue 11): the cursor of each network's push feed (VK long-poll ts), saved with its batch.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

Written by hand and frozen: it must not import storage.tables. Self-contained (one new table), so it may be
re-chained after another revision unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_cursors",
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("cursor", sa.String(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", name="pk_channel_cursors"),
    )


def downgrade() -> None:
    op.drop_table("channel_cursors")
