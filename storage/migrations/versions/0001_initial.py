"""Initial schema: cases, messages, assignments, drafts, terms, events, staff, outbox, deliveries, cards, kv.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand and frozen: it must not import storage.tables, whose future edits belong to later revisions.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("procedure", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _instant("t0"),
        sa.Column("category", sa.String(), nullable=True),
        sa.Column("repeat_of", sa.Integer(), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        _instant("created_at"),
        _instant("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        sa.ForeignKeyConstraint(["repeat_of"], ["cases.id"], name="fk_cases_repeat_of_cases"),
    )
    op.create_index("ix_cases_status", "cases", ["status"])

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        sa.Column("procedure", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("link", sa.Text(), nullable=False),
        sa.Column("category", sa.String(), nullable=True),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("external_number", sa.Text(), nullable=False),
        _instant("received_at"),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_messages_case_id_cases"),
        sa.UniqueConstraint("case_id", name="uq_messages_case_id"),
        sa.UniqueConstraint("source", "source_id", name="uq_messages_source"),
    )

    op.create_table(
        "assignments",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("responsible", sa.Boolean(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("info_given", sa.Boolean(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "unit", name="pk_assignments"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_assignments_case_id_cases"),
    )

    op.create_table(
        "drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        _instant("at"),
        sa.PrimaryKeyConstraint("id", name="pk_drafts"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_drafts_case_id_cases"),
    )
    op.create_index("ix_drafts_case", "drafts", ["case_id", "version"])

    op.create_table(
        "terms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("term_id", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("unit", sa.String(), nullable=True),
        _instant("started_at"),
        _instant("due"),
        _instant("closed_at", nullable=True),
        sa.Column("met", sa.Boolean(), nullable=True),
        sa.Column("closed_by", sa.BigInteger(), nullable=True),
        sa.Column("sent", sa.Text(), nullable=False),
        _instant("next_attention", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_terms"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_terms_case_id_cases"),
    )
    op.create_index("ix_terms_case", "terms", ["case_id"])
    open_only = sa.text("closed_at IS NULL")
    op.create_index(
        "ix_terms_attention",
        "terms",
        ["next_attention", "id"],
        sqlite_where=open_only,
        postgresql_where=open_only,
    )

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=False),
        sa.Column("actor_role", sa.String(), nullable=False),
        _instant("at"),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_events_case_id_cases"),
    )
    op.create_index("ix_events_case", "events", ["case_id", "id"])

    op.create_table(
        "staff",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("units", sa.JSON(), nullable=False),
        _instant("updated_at"),
        sa.PrimaryKeyConstraint("user_id", name="pk_staff"),
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedup_key", sa.String(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("to_role", sa.String(), nullable=False),
        sa.Column("unit", sa.String(), nullable=True),
        sa.Column("term_id", sa.String(), nullable=True),
        _instant("at"),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _instant("delivered_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_outbox_case_id_cases"),
        sa.UniqueConstraint("dedup_key", name="uq_outbox_dedup_key"),
    )
    undelivered = sa.text("delivered_at IS NULL")
    op.create_index(
        "ix_outbox_pending", "outbox", ["id"], sqlite_where=undelivered, postgresql_where=undelivered
    )

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        _instant("delivered_at"),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], name="fk_deliveries_outbox_id_outbox"),
        sa.UniqueConstraint("outbox_id", "chat_id", name="uq_deliveries_outbox_chat"),
    )

    op.create_table(
        "cards",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        _instant("updated_at"),
        sa.PrimaryKeyConstraint("case_id", "chat_id", name="pk_cards"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_cards_case_id_cases"),
    )
    op.create_index("ix_cards_message", "cards", ["chat_id", "message_id"])

    op.create_table(
        "kv",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_kv"),
    )


def downgrade() -> None:
    for table in (
        "kv",
        "cards",
        "deliveries",
        "outbox",
        "staff",
        "events",
        "terms",
        "drafts",
        "assignments",
        "messages",
        "cases",
    ):
        op.drop_table(table)  # their indexes go with them
