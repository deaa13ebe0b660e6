"""The schema as SQLAlchemy Core tables. Alembic migrations (storage/migrations) must produce exactly this.

Conventions: every instant is `UtcDateTime`; Telegram ids (users, chats, messages) are BIGINT; free text
from people is `CleanText`; identifiers that come from configuration (status, unit, role, term id) are
VARCHAR without a length, so SQLite and PostgreSQL accept the same values.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.sql.elements import TextClause

from storage.types import CleanText, UtcDateTime

# Row ids and the columns referring to them (0006): BIGINT on PostgreSQL, so a case id up to 2^63-1 fits;
# INTEGER on SQLite, where INTEGER PRIMARY KEY is the 64-bit rowid itself (BIGINT would end the aliasing).
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

cases = Table(
    "cases",
    metadata,
    Column("id", Id, primary_key=True),
    Column("procedure", String, nullable=False),
    Column("status", String, nullable=False),
    Column("version", Integer, nullable=False),
    Column("t0", UtcDateTime, nullable=False),
    Column("category", String, nullable=True),
    Column("repeat_of", Id, ForeignKey("cases.id"), nullable=True),
    # Every other Case field except assignments, as JSON (see storage/codec.py): no migration per field.
    Column("state", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # 0010: the published link as compared (workflow.search.link_key), for /case with a link; NULL = none.
    Column("published_key", String, nullable=True),
    # 0016: when the case's personal data were erased (storage/personal_data.py); NULL: kept.
    Column("erased_at", UtcDateTime, nullable=True),
    Index("ix_cases_status", "status"),
    Index("ix_cases_published_key", "published_key"),
)

# 0017: the cases with a routing proposal (a handful at any time): a unit's /overdue shows them to the proposed
# units. The predicate is written out as text, the same in the index and in the query (storage/term_lists.py),
# since a partial index serves a query only when the query states its predicate with the same literals. On
# PostgreSQL json_array_length raises on a non-array, which CASE keeps it from ever seeing.
_HAS_PROPOSAL = {
    "sqlite": "json_array_length(state, '$.proposed_units') > 0",
    "postgresql": (
        "CASE WHEN json_typeof(state -> 'proposed_units') = 'array' "
        "THEN json_array_length(state -> 'proposed_units') ELSE 0 END > 0"
    ),
}
Index(
    "ix_cases_proposed",
    cases.c.id,
    sqlite_where=text(_HAS_PROPOSAL["sqlite"]),
    postgresql_where=text(_HAS_PROPOSAL["postgresql"]),
)


def has_proposal(dialect: str) -> TextClause:
    """The `cases` row in scope has routing proposed to some unit (ix_cases_proposed's predicate)."""
    return text(_HAS_PROPOSAL[dialect])


messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False, unique=True),
    Column("source", String, nullable=False),
    Column("source_id", String, nullable=False),
    Column("procedure", String, nullable=False),
    Column("text", CleanText, nullable=False),
    Column("author", CleanText, nullable=False),
    Column("link", CleanText, nullable=False),
    Column("category", String, nullable=True),
    Column("attachments", JSON, nullable=False),
    Column("external_number", CleanText, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("extra", JSON, nullable=False),  # InboundMessage fields added after this schema
    # Open sources: the ЦУР detection time (T0) when it differs from the post time; 0004.
    Column("detected_at", UtcDateTime, nullable=True),
    # 0010: text, author, link and ПОС number folded (workflow.search.search_text) for /find, and the link as
    # compared (workflow.search.link_key) for /case with a link.
    Column("search", Text, nullable=True),
    Column("link_key", String, nullable=True),
    UniqueConstraint("source", "source_id", name="uq_messages_source"),
    Index("ix_messages_external_number", "external_number"),
    Index("ix_messages_link_key", "link_key"),
)

assignments = Table(
    "assignments",
    metadata,
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("unit", String, nullable=False),
    Column("position", Integer, nullable=False),  # Case.assignments is an ordered tuple
    Column("responsible", Boolean, nullable=False),
    Column("accepted", Boolean, nullable=False),
    Column("info_given", Boolean, nullable=False),
    Column("extra", JSON, nullable=False),  # Assignment fields added after this schema
    PrimaryKeyConstraint("case_id", "unit"),
    Index("ix_assignments_unit", "unit", "case_id"),  # 0017: a unit's cases (unit-role terms, /overdue)
)

drafts = Table(
    "drafts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("text", CleanText, nullable=False),
    Column("author_id", BigInteger, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_drafts_case", "case_id", "version"),
)

terms = Table(
    "terms",
    metadata,
    Column("id", Id, primary_key=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("term_id", String, nullable=False),
    Column("owner", String, nullable=False),
    Column("unit", String, nullable=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("due", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("met", Boolean, nullable=True),
    Column("closed_by", BigInteger, nullable=True),
    # Keys already sent, as ",r50,r80,": a conditional UPDATE (NOT LIKE '%,key,%') makes recording atomic on
    # both dialects without JSON operators.
    Column("sent", Text, nullable=False),
    Column("next_attention", UtcDateTime, nullable=True),
    # 0004: why the term is what it is (Russian, for the card) and the person holding it; NULL = none.
    Column("note", CleanText, nullable=True),
    Column("person", CleanText, nullable=True),
    Index("ix_terms_case", "case_id"),
)
# The sweeper's index: only open terms are in it, ordered by when they next need attention.
Index(
    "ix_terms_attention",
    terms.c.next_attention,
    terms.c.id,
    sqlite_where=terms.c.closed_at.is_(None),
    postgresql_where=terms.c.closed_at.is_(None),
)

# 0020: the points of an open term not sent yet (its reminders and its miss, in their order `n`), computed once
# when the term opens, is re-timed or reopened (workflow/services/sweep.py `reminder_points`): the sweep reads the
# due terms by next_attention and takes their points from here, with no calendar work. The primary key is the
# way from a term to its points; a sent point is deleted, a closed term's points are too.
term_points = Table(
    "term_points",
    metadata,
    Column("term_row_id", Id, ForeignKey("terms.id"), nullable=False),
    Column("n", Integer, nullable=False),
    Column("key", String, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("term_row_id", "n"),
)

# Lists of open terms by due instant (/overdue, the digest's): the walk in due order skips every closed term.
# 0017: with id and term_id, so a page is in (due, case_id, id) order and a count (which leaves the return-only
# terms off) reads the index alone.
Index(
    "ix_terms_open_due",
    terms.c.due,
    terms.c.case_id,
    terms.c.id,
    terms.c.term_id,
    sqlite_where=terms.c.closed_at.is_(None),
    postgresql_where=terms.c.closed_at.is_(None),
)

# 0017: the ways onto a list of open terms (storage/term_lists.py), each walked in (due, case_id, id) order and
# counted from the index alone (term_id: the return-only terms a list leaves off). By owner: /my by role, a queue.
Index(
    "ix_terms_open_owner",
    terms.c.owner, terms.c.due, terms.c.case_id, terms.c.id, terms.c.term_id,
    sqlite_where=terms.c.closed_at.is_(None),
    postgresql_where=terms.c.closed_at.is_(None),
)  # fmt: skip
# By unit and owner: a unit role's terms of a unit, and (unit IS NULL) its common terms.
Index(
    "ix_terms_open_unit",
    terms.c.unit, terms.c.owner, terms.c.due, terms.c.case_id, terms.c.id, terms.c.term_id,
    sqlite_where=terms.c.closed_at.is_(None),
    postgresql_where=terms.c.closed_at.is_(None),
)  # fmt: skip
# By case: the open terms of the cases a unit is assigned (its common terms, its /overdue), of a step's cases.
Index(
    "ix_terms_open_case",
    terms.c.case_id, terms.c.owner, terms.c.unit, terms.c.due, terms.c.id, terms.c.term_id,
    sqlite_where=terms.c.closed_at.is_(None),
    postgresql_where=terms.c.closed_at.is_(None),
)  # fmt: skip

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True),  # append order
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("action", String, nullable=False),
    Column("actor_id", BigInteger, nullable=False),
    Column("actor_role", String, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("text", CleanText, nullable=False),
    Column("data", JSON, nullable=False),
    # 0010: what undoes the action (workflow.model.UndoState); NULL: the event cannot be undone.
    Column("undo", JSON, nullable=True),
    Index("ix_events_case", "case_id", "id"),
)

staff = Table(
    "staff",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),  # Telegram user id
    Column("name", CleanText, nullable=False),
    Column("roles", JSON, nullable=False),
    Column("units", JSON, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True),
    Column("dedup_key", String, nullable=False, unique=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=True),
    Column("kind", String, nullable=False),
    Column("to_role", String, nullable=False),
    Column("unit", String, nullable=True),
    Column("term_id", String, nullable=True),
    Column("at", UtcDateTime, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", UtcDateTime, nullable=True),
    # A drain's lease on an undelivered row (storage.repository.claim_outbox): until `claimed_until` passes,
    # no other drain takes the row, so two processes draining at once do not send it twice. Both NULL: free.
    Column("claimed_until", UtcDateTime, nullable=True),
    Column("claimed_by", String, nullable=True),
)
Index(
    "ix_outbox_pending",
    outbox.c.id,
    sqlite_where=outbox.c.delivered_at.is_(None),
    postgresql_where=outbox.c.delivered_at.is_(None),
)

# One row per (notification, recipient chat): the sender skips chats already here, so a crash mid-fan-out
# resends nothing that was recorded.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("outbox_id", Id, ForeignKey("outbox.id"), nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("message_id", BigInteger, nullable=True),
    Column("delivered_at", UtcDateTime, nullable=False),
    UniqueConstraint("outbox_id", "chat_id", name="uq_deliveries_outbox_chat"),
)

cards = Table(
    "cards",
    metadata,
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("message_id", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # 0008: the case version the message last showed (NULL: not known, a card from before 0008): a card behind
    # its case is stale, and delivery's repair edits it.
    Column("shown_version", Integer, nullable=True),
    # 0012: the case version the message was posted at (NULL: a card from before 0012): a notice of a change
    # the card was posted for is not sent under it (the card itself is the notice).
    Column("posted_version", Integer, nullable=True),
    PrimaryKeyConstraint("case_id", "chat_id"),  # one card per chat
    Index("ix_cards_message", "chat_id", "message_id"),
)

# 0008: a card being posted. Written before the sendMessage that posts it, deleted with the record of Telegram's
# answer (the `cards` row). A row left behind is a post a crash cut short: it may or may not have reached
# Telegram (Telegram offers no way to tell), and delivery posts it once more (at most one duplicate per chat).
card_posts = Table(
    "card_posts",
    metadata,
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("since", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("case_id", "chat_id"),
)

# 0011: which case each bot message is about (a notice, a reminder, a miss alert, a one-off card, a prompt), so a
# reply to any of them lands on that case as a reply to its card would. Written in the transaction that records
# the send (a notice: with its `deliveries` row); cards stay in `cards`, which is looked up first.
bot_messages = Table(
    "bot_messages",
    metadata,
    Column("chat_id", BigInteger, nullable=False),
    Column("message_id", BigInteger, nullable=False),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("kind", String, nullable=False),  # the notification kind, "card" or "prompt"
    Column("at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("chat_id", "message_id"),
)

kv = Table(
    "kv",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", CleanText, nullable=False),
)

# --- issue 8, one poller (migration 0007) -------------------------------------------------------------------
# The process polling Telegram: one row per lock name, taken with a conditional write and kept by a heartbeat.
poller_lock = Table(
    "poller_lock",
    metadata,
    Column("name", String, primary_key=True),
    Column("owner", String, nullable=False),  # unique per process start: host/pid alone repeat after a reboot
    Column("host", String, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("heartbeat_at", UtcDateTime, nullable=False),
)

# --- 0005: the inbox (issue 8) ----------------------------------------------------------------------------
# Every update from outside, saved before it is confirmed to its source (Telegram's next getUpdates offset, a
# webhook's 200): one row per (source, key), handled from here by the worker pool and marked when done, so a
# crash or an outage loses nothing. `lane` orders the handling: rows of one lane (a chat) one at a time, in id
# order. `claimed_by` is the worker process holding the row; claims are released at start.
inbox = Table(
    "inbox",
    metadata,
    Column("id", Id, primary_key=True),  # arrival order
    Column("source", String, nullable=False),  # "telegram"
    Column("key", String, nullable=False),  # the source's id of the update (Telegram's update_id)
    Column("lane", String, nullable=True),  # the chat; NULL: no order to keep
    Column("raw", JSON, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("state", String, nullable=False),  # pending | done | failed
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("claimed_by", String, nullable=True),
    Column("done_at", UtcDateTime, nullable=True),
    UniqueConstraint("source", "key", name="uq_inbox_source_key"),
    Index("ix_inbox_state", "state", "id"),
)

# --- issue 11, network intake (migration 0012) ---------------------------------------------------------------
# Where each network's push feed was read up to (VK long-poll ts), written with the inbox rows of its batch.
channel_cursors = Table(
    "channel_cursors",
    metadata,
    Column("channel", String, primary_key=True),  # "vk"
    Column("cursor", String, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# --- issue 11, publishing answers back (migration 0013) ------------------------------------------------------
# One row per answer queued for a network: written with the «publication requested» event, claimed by the
# publisher worker (state sending, `claimed_by`), marked with the network's answer. The row id is the network's
# idempotency key (VK guid / random_id), so a claim a dead run left is posted again without a second copy.
publications = Table(
    "publications",
    metadata,
    Column("id", Id, primary_key=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("network", String, nullable=False),
    Column("item_key", String, nullable=False),
    Column("item_link", CleanText, nullable=False),
    Column("text", CleanText, nullable=False),
    Column("kind", String, nullable=False),  # final | interim
    Column("state", String, nullable=False),  # pending | sending | published | failed | undeliverable
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("link", CleanText, nullable=True),
    Column("requested_by", BigInteger, nullable=False),  # the Telegram user who pressed «Опубликовать»
    Column("requested_by_name", CleanText, nullable=False),
    Column("confirmed", Boolean, nullable=False),
    Column("next_at", UtcDateTime, nullable=True),  # a pending row is not claimed before this
    Column("claimed_by", String, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_publications_case_id", "case_id"),
    Index("ix_publications_state", "state", "next_at"),
)


# The files of a network item (issue 11): a VK photo's or document's URL is signed and expires, so the bytes are
# fetched when the item is taken in and kept here. One row per item and attachment position (a retry of the
# same item finds its rows); `data` NULL with `error` set: the file could not be fetched (the card says why).
channel_files = Table(
    "channel_files",
    metadata,
    Column("id", Id, primary_key=True),
    Column("item_key", String, nullable=False),  # "vk:-201_5": the network and the item's natural key
    Column("position", Integer, nullable=False),  # the attachment's place in the item's attachments
    Column("kind", String, nullable=False),  # "photo" | "document"
    Column("name", CleanText, nullable=False),
    Column("mime", String, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String, nullable=False),
    Column("data", LargeBinary, nullable=True),
    Column("error", Text, nullable=True),
    Column("fetched_at", UtcDateTime, nullable=False),
    UniqueConstraint("item_key", "position"),
)


# --- issue 14, personal data (migration 0016) ------------------------------------------------------------------
# Every view of a case's personal data (its card with the message, a /find line with its text, an export): who,
# holding which roles, in which chat, what was shown, when. Append-only; the case row outlives its erasure.
access_log = Table(
    "access_log",
    metadata,
    Column("id", Id, primary_key=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("user_id", BigInteger, nullable=False),  # Telegram user id; 0: the system (`otklik pd export`)
    Column("roles", String, nullable=False),  # the viewer's roles, comma-separated, sorted
    Column("chat_id", BigInteger, nullable=True),  # the chat it was shown in; NULL: not in Telegram
    Column("what", String, nullable=False),  # workflow.ports.VIEW_*: "card" | "find" | "choice" | "export"
    Column("at", UtcDateTime, nullable=False),
    Index("ix_access_log_case", "case_id", "at"),
)

# --- issue 13, similar-message clusters and repeats (migration 0018) -----------------------------------------
# A cluster of similar open-source messages (workflow/clusters.py). `reported_at`: when the head's «повышенная
# социальная активность» report was queued (NULL: not yet); set with a conditional write, so it goes once.
clusters = Table(
    "clusters",
    metadata,
    Column("id", Id, primary_key=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("reported_at", UtcDateTime, nullable=True),
)

# One row per registered message: what clustering and repeat suggestions compare, computed once at
# registration, so a new message is compared with the window without re-reading and re-stemming its texts.
case_signatures = Table(
    "case_signatures",
    metadata,
    Column("case_id", Id, ForeignKey("cases.id"), primary_key=True, autoincrement=False),
    Column("procedure", String, nullable=False),
    Column("at", UtcDateTime, nullable=False),  # when the message came (received, at most the registration)
    Column("stems", Text, nullable=False),  # sorted pseudo-stems, space-separated
    Column("address", String, nullable=True),  # "октябрь 14"; NULL: none named
    Column("author", String, nullable=True),  # "vk:42": network and author id; NULL: not known
    Column("cluster_id", Id, ForeignKey("clusters.id"), nullable=True),
    Index("ix_case_signatures_procedure_at", "procedure", "at"),
    Index("ix_case_signatures_author_at", "author", "at"),
    Index("ix_case_signatures_cluster_id", "cluster_id"),
)

# --- issue 16, the stem and address index of signatures (migration 0019) ---------------------------------------
# One row per distinct stem of a signature and one for its address ("@" + the key), with the signature's
# procedure and instant: a new message reads only the signatures that share a term with it, newest first
# (storage/clusters.py). Written with the signature; an erased case's rows go with its stems.
signature_terms = Table(
    "signature_terms",
    metadata,
    Column("case_id", Id, ForeignKey("case_signatures.case_id"), primary_key=True, autoincrement=False),
    Column("term", String, primary_key=True),
    Column("procedure", String, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_signature_terms_procedure_term_at", "procedure", "term", "at", "case_id"),
)


# --- issue 15, MAX as the staff messenger (migration 0021) ---------------------------------------------------
# aiogram names a message by an integer id in its chat, MAX by a string `mid`: the MAX session (bot/max_session.py)
# hands aiogram the message's `seq` and keeps here which `mid` it stands for, so a card posted before a restart
# is still edited, and a message replied to, after it. Written before the id is handed to aiogram.
max_messages = Table(
    "max_messages",
    metadata,
    Column("chat_id", BigInteger, nullable=False),  # the chat as aiogram sees it: a group's id, a user's id
    Column("message_id", BigInteger, nullable=False),  # the message's `seq`
    Column("mid", String, nullable=False),
    PrimaryKeyConstraint("chat_id", "message_id"),
)
