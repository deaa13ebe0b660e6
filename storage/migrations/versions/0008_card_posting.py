"""Card posting (issue 8): a card recorded as "being posted" before its sendMessage, and the case version a
card shows.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

Written by hand and frozen: it must not import storage.tables, whose future edits belong to later revisions.
Self-contained (one new table, one nullable column), so it may be re-chained after another revision unchanged.

`card_posts` is a table of its own rather than a nullable `cards.message_id`: `cards` keeps only messages that
exist (replies and presses look cases up by them), SQLite would have to rebuild `cards` to drop NOT NULL, and
the table stays as small as the posts in flight (a row lives from before the call until the answer is recorded).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "card_posts",
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "chat_id", name="pk_card_posts"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_card_posts_case_id_cases"),
    )
    # ADD COLUMN of a nullable column without a default: in place on both SQLite and PostgreSQL.
    op.add_column("cards", sa.Column("shown_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    # SQLite >= 3.35 drops an unindexed column in place, as PostgreSQL does.
    op.drop_column("cards", "shown_version")
    op.drop_table("card_posts")
