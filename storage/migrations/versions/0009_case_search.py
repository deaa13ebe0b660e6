"""Case search and undo (issue 10): folded search text and link keys of messages, the published link's key
of a case, and what an action's event keeps to be undone.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

Written by hand and frozen: it must not import storage.tables (whose future edits belong to later revisions);
it imports workflow.search for the folding, whose keys it backfills. Self-contained (nullable columns and
indexes only), so it may be re-chained after another revision unchanged.

- `messages.search`: text, author, link and ПОС number folded (workflow.search.search_text): /find matches a
  substring of it with LIKE on both dialects, Cyrillic included (SQLite's LIKE folds ASCII only).
- `messages.link_key`, `cases.published_key`: a network link as compared (workflow.search.link_key), indexed,
  so /case with a link is an index lookup; `messages.external_number` indexed for /case with the ПОС number.
- `events.undo`: the case before an action and the term rows it changed (workflow.model.UndoState), JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from workflow.search import link_key, search_text

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def upgrade() -> None:
    op.add_column("messages", sa.Column("search", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("link_key", sa.String(), nullable=True))
    op.add_column("cases", sa.Column("published_key", sa.String(), nullable=True))
    op.add_column("events", sa.Column("undo", sa.JSON(), nullable=True))
    op.create_index("ix_messages_external_number", "messages", ["external_number"])
    op.create_index("ix_messages_link_key", "messages", ["link_key"])
    op.create_index("ix_cases_published_key", "cases", ["published_key"])
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT id, text, author, link, external_number FROM messages WHERE id > :last"
                " ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": _BATCH},
        ).all()
        if not rows:
            break
        conn.execute(
            sa.text("UPDATE messages SET search = :s, link_key = :k WHERE id = :i"),
            [
                {
                    "i": r.id,
                    "s": search_text(r.text, r.author, r.link, r.external_number),
                    "k": link_key(r.link),
                }
                for r in rows
            ],
        )
        last = rows[-1].id
    last = 0
    while True:
        rows = conn.execute(
            sa.text("SELECT id, state FROM cases WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": _BATCH},
        ).all()
        if not rows:
            break
        updates = []
        for r in rows:
            state = r.state if isinstance(r.state, dict) else json.loads(r.state or "{}")
            key = link_key(str(state.get("published_link") or ""))
            if key:
                updates.append({"i": r.id, "k": key})
        if updates:
            conn.execute(sa.text("UPDATE cases SET published_key = :k WHERE id = :i"), updates)
        last = rows[-1].id


def downgrade() -> None:
    op.drop_index("ix_cases_published_key", table_name="cases")
    op.drop_index("ix_messages_link_key", table_name="messages")
    op.drop_index("ix_messages_external_number", table_name="messages")
    op.drop_column("events", "undo")
    op.drop_column("cases", "published_key")
    op.drop_column("messages", "link_key")
    op.drop_column("messages", "search")
