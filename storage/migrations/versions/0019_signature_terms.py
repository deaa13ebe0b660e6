"""Signature terms (issue 16): a stem and address index of `case_signatures`, so that clustering and repeats
read only the messages that share a word or the address with a new one, not the whole window.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04

Written by hand and frozen: it must not import storage.tables. One row per distinct stem of a signature and one
for its address ("@" + the address key), with the signature's procedure and instant copied, so that the lookup
(procedure, term, newest first within a time bound) is one index range. The backfill splits the stored stems
(sorted, space-separated) in SQL: a recursive CTE on SQLite, `regexp_split_to_table` on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_BACKFILL_SQLITE = """
WITH RECURSIVE split(case_id, procedure, at, term, rest) AS (
    SELECT case_id, procedure, at, '', stems || ' ' FROM case_signatures WHERE stems <> ''
    UNION ALL
    SELECT case_id, procedure, at, substr(rest, 1, instr(rest, ' ') - 1), substr(rest, instr(rest, ' ') + 1)
    FROM split WHERE rest <> ''
)
INSERT INTO signature_terms (case_id, term, procedure, at)
SELECT DISTINCT case_id, term, procedure, at FROM split WHERE term <> ''
"""
_BACKFILL_PG = """
INSERT INTO signature_terms (case_id, term, procedure, at)
SELECT DISTINCT s.case_id, t.term, s.procedure, s.at
FROM case_signatures s CROSS JOIN LATERAL regexp_split_to_table(s.stems, ' ') AS t(term)
WHERE t.term <> ''
"""
_BACKFILL_ADDRESS = """
INSERT INTO signature_terms (case_id, term, procedure, at)
SELECT case_id, '@' || address, procedure, at FROM case_signatures WHERE address IS NOT NULL AND address <> ''
"""


def upgrade() -> None:
    op.create_table(
        "signature_terms",
        sa.Column("case_id", _ID, autoincrement=False, nullable=False),
        sa.Column("term", sa.String(), nullable=False),
        sa.Column("procedure", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_signatures.case_id"], name="fk_signature_terms_case_id_case_signatures"
        ),
        sa.PrimaryKeyConstraint("case_id", "term", name="pk_signature_terms"),
    )
    op.create_index(
        "ix_signature_terms_procedure_term_at", "signature_terms", ["procedure", "term", "at", "case_id"]
    )
    dialect = op.get_bind().dialect.name
    op.execute(_BACKFILL_PG if dialect == "postgresql" else _BACKFILL_SQLITE)
    op.execute(_BACKFILL_ADDRESS)


def downgrade() -> None:
    op.drop_index("ix_signature_terms_procedure_term_at", table_name="signature_terms")
    op.drop_table("signature_terms")
