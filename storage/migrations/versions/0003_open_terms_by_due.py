"""Open terms by due instant: /my and /overdue read one page of them with one indexed query.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Written by hand and frozen: it must not import storage.tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_terms_open_due",
        "terms",
        ["due", "case_id"],
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_terms_open_due", table_name="terms")
