"""Notifications (issue 10): the case version a card message was posted at.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

Written by hand and frozen: it must not import storage.tables. Self-contained (one nullable column), so it may
be re-chained after another revision unchanged.

`cards.posted_version` tells delivery whether a chat's card was posted for a change (posted at that version or
later) or stood there before it: a notice of the change right under the card just posted says nothing the card
does not (the card itself is the notice) and is not sent. NULL: a card from before this revision, treated as
older than any change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD COLUMN of a nullable column without a default: in place on both SQLite and PostgreSQL.
    op.add_column("cards", sa.Column("posted_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("cards", "posted_version")
