"""The read side at any number of open cases (issue 16): indexes for the ways onto /my, queues and /overdue.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03

Written by hand and frozen: it must not import storage.tables. Indexes only (no table or row changes), so it
may be re-chained after other revisions unchanged; ix_terms_open_due (0003) is rebuilt wider. storage/term_lists.py says which list uses which.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = sa.text("closed_at IS NULL")
# The same text as storage/tables.py: a partial index serves a query that states its predicate literally.
_HAS_PROPOSAL_SQLITE = "json_array_length(state, '$.proposed_units') > 0"
_HAS_PROPOSAL_PG = (
    "CASE WHEN json_typeof(state -> 'proposed_units') = 'array' "
    "THEN json_array_length(state -> 'proposed_units') ELSE 0 END > 0"
)


def upgrade() -> None:
    # ix_terms_open_due (0003) widened: id and term_id, for the order of a page and an index-only count.
    op.drop_index("ix_terms_open_due", table_name="terms")
    op.create_index(
        "ix_terms_open_due", "terms", ["due", "case_id", "id", "term_id"],
        sqlite_where=_OPEN, postgresql_where=_OPEN,
    )  # fmt: skip
    op.create_index(
        "ix_terms_open_owner", "terms", ["owner", "due", "case_id", "id", "term_id"],
        sqlite_where=_OPEN, postgresql_where=_OPEN,
    )  # fmt: skip
    op.create_index(
        "ix_terms_open_unit", "terms", ["unit", "owner", "due", "case_id", "id", "term_id"],
        sqlite_where=_OPEN, postgresql_where=_OPEN,
    )  # fmt: skip
    op.create_index(
        "ix_terms_open_case", "terms", ["case_id", "owner", "unit", "due", "id", "term_id"],
        sqlite_where=_OPEN, postgresql_where=_OPEN,
    )  # fmt: skip
    op.create_index("ix_assignments_unit", "assignments", ["unit", "case_id"])
    op.create_index(
        "ix_cases_proposed", "cases", ["id"],
        sqlite_where=sa.text(_HAS_PROPOSAL_SQLITE), postgresql_where=sa.text(_HAS_PROPOSAL_PG),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_cases_proposed", table_name="cases")
    op.drop_index("ix_assignments_unit", table_name="assignments")
    op.drop_index("ix_terms_open_case", table_name="terms")
    op.drop_index("ix_terms_open_unit", table_name="terms")
    op.drop_index("ix_terms_open_owner", table_name="terms")
    op.drop_index("ix_terms_open_due", table_name="terms")
    op.create_index(
        "ix_terms_open_due", "terms", ["due", "case_id"], sqlite_where=_OPEN, postgresql_where=_OPEN
    )
