"""MAX messages (issue 15): which MAX `mid` each message id handed to aiogram stands for, durable across restarts.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04

Written by hand and frozen: it must not import storage.tables, whose future edits belong to later revisions.
Self-contained (one new table), so it may be re-chained after another revision unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "max_messages",
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("mid", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "message_id", name="pk_max_messages"),
    )


def downgrade() -> None:
    op.drop_table("max_messages")
