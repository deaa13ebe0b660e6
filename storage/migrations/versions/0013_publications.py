"""Publishing answers back (issue 11): the queue of approved answers posted to the network they answer.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

Written by hand and frozen: it must not import storage.tables. Self-contained (one new table), so it may be
re-chained after another revision unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False)


def _instant(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "publications",
        _id("id"),
        _id("case_id"),
        sa.Column("network", sa.String(), nullable=False),
        sa.Column("item_key", sa.String(), nullable=False),
        sa.Column("item_link", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("link", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.BigInteger(), nullable=False),
        sa.Column("requested_by_name", sa.Text(), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        _instant("next_at", nullable=True),
        sa.Column("claimed_by", sa.String(), nullable=True),
        _instant("created_at"),
        _instant("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_publications"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_publications_case_id_cases"),
    )
    op.create_index("ix_publications_case_id", "publications", ["case_id"])
    op.create_index("ix_publications_state", "publications", ["state", "next_at"])


def downgrade() -> None:
    op.drop_index("ix_publications_state", table_name="publications")
    op.drop_index("ix_publications_case_id", table_name="publications")
    op.drop_table("publications")
