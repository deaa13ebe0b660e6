"""Bot messages (issue 10): which case each message the bot sends about a case is about, so a reply to a notice,
a reminder, a miss alert or a prompt lands on its case as a reply to the card does.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

Written by hand and frozen: it must not import storage.tables, whose future edits belong to later revisions.
Self-contained (one new table), so it may be re-chained after another revision unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bot_messages",
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "message_id", name="pk_bot_messages"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_bot_messages_case_id_cases"),
    )


def downgrade() -> None:
    op.drop_table("bot_messages")
