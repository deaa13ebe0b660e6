"""Sweeps that do no calendar work (issue 16): each open term's reminder and miss instants, stored.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04

Written by hand and frozen: it must not import storage.tables. `term_points` holds the points of an open term
that are not sent yet, in their order (`n`); the sweep reads the due terms through ix_terms_attention as before
and takes their points from here instead of computing them with the calendar. A table only, no rows: the
points of terms opened before this revision are computed by the sweep when such a term first falls due (a
due open term with no stored point), since a migration must not import the calendar either.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "term_points",
        sa.Column("term_row_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("term_row_id", "n", name="pk_term_points"),
        sa.ForeignKeyConstraint(["term_row_id"], ["terms.id"], name="fk_term_points_term_row_id_terms"),
    )


def downgrade() -> None:
    op.drop_table("term_points")
