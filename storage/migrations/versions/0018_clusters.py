"""Similar-message clusters and repeats (issue 13): `clusters` and `case_signatures`.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03

Written by hand and frozen: it must not import storage.tables. Self-contained (two new tables), so it may be
re-chained after another revision unchanged. Messages registered before it have no signature: they are not
compared (a window of two hours and a repeat lookup of 30 days fill up by themselves).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("id", _ID, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_clusters"),
    )
    op.create_table(
        "case_signatures",
        sa.Column("case_id", _ID, autoincrement=False, nullable=False),
        sa.Column("procedure", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stems", sa.Text(), nullable=False),
        sa.Column("address", sa.String(), nullable=True),
        sa.Column("author", sa.String(), nullable=True),
        sa.Column("cluster_id", _ID, nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_signatures_case_id_cases"),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name="fk_case_signatures_cluster_id_clusters"
        ),
        sa.PrimaryKeyConstraint("case_id", name="pk_case_signatures"),
    )
    op.create_index("ix_case_signatures_procedure_at", "case_signatures", ["procedure", "at"])
    op.create_index("ix_case_signatures_author_at", "case_signatures", ["author", "at"])
    op.create_index("ix_case_signatures_cluster_id", "case_signatures", ["cluster_id"])


def downgrade() -> None:
    op.drop_index("ix_case_signatures_cluster_id", table_name="case_signatures")
    op.drop_index("ix_case_signatures_author_at", table_name="case_signatures")
    op.drop_index("ix_case_signatures_procedure_at", table_name="case_signatures")
    op.drop_table("case_signatures")
    op.drop_table("clusters")
