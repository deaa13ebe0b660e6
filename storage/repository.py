"""`Repository` / `Transaction` of workflow.ports over SQLAlchemy Core, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    BindParameter,
    Boolean,
    ColumnElement,
    Connection,
    CursorResult,
    Dialect,
    Executable,
    Row,
    Select,
    Text,
    and_,
    bindparam,
    column,
    delete,
    exists,
    false,
    func,
    null,
    or_,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy import (
    case as sql_case,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.schema import Table

from storage import codec, direct, pg_direct, term_lists
from storage.clusters import ClusterStatements
from storage.engine import SQLITE_BEGIN
from storage.inline_reads import inline_reader_for
from storage.outage import translated
from storage.prepared import CompiledSelects
from storage.reports import read_report
from storage.tables import (
    access_log,
    assignments,
    bot_messages,
    card_posts,
    cards,
    cases,
    channel_files,
    deliveries,
    drafts,
    events,
    kv,
    messages,
    outbox,
    publications,
    staff,
    term_points,
    terms,
)
from storage.types import NaiveDatetimeError, NulCharacterError
from storage.writer import exclusive_turn, run_write, writes_through_writer
from workflow.model import (
    Actor,
    Assignment,
    Case,
    Event,
    InboundMessage,
    Network,
    Procedure,
    Role,
    Source,
    Term,
    TermHandover,
    TermHolder,
    TermStart,
    TermStop,
    UndoState,
)
from workflow.ports import (
    SENDING,
    AccessEntry,
    Clock,
    DueTerm,
    FoundCase,
    Notification,
    OutboxItem,
    OwedBy,
    Point,
    Publication,
    Retimed,
    SentRecord,
    StaleVersion,
    TermPage,
)
from workflow.reports import Period, Report
from workflow.search import like_pattern, link_key, search_text

if TYPE_CHECKING:
    from workflow.ports import Repository, Transaction

_T = TypeVar("_T")

# Case fields with their own columns (queryable) or table; every other field goes to `cases.state`.
CASE_COLUMNS = ("id", "procedure", "status", "version", "t0", "category", "repeat_of")
_CASE_NOT_IN_STATE = (*CASE_COLUMNS, "assignments")
MESSAGE_COLUMNS = (
    "source",
    "source_id",
    "procedure",
    "text",
    "author",
    "link",
    "category",
    "attachments",
    "external_number",
    "received_at",
    "detected_at",
)
ASSIGNMENT_COLUMNS = ("unit", "responsible", "accepted", "info_given")
_LAST_ERROR_MAX = 4000
_FOUND_TEXT = 200  # characters of a message's text read for a /case or /find line


# The hot statements are built once, with bound parameters: building them per call (`.values(**row)`) cost more
# CPU than executing them (bench/engine_bench.py).
_INSERT_CASE = cases.insert().returning(cases.c.id)
_INSERT_MESSAGE = messages.insert()
_INSERT_EVENT = events.insert()
_INSERT_DRAFT = drafts.insert()
_INSERT_TERM = terms.insert().returning(terms.c.id)
_INSERT_TERMS = terms.insert().returning(terms.c.id, sort_by_parameter_order=True)
_MOVE_ATTENTION = (
    update(terms)
    .where(terms.c.id == bindparam("term_row_id"), terms.c.closed_at.is_(None))
    .values(next_attention=bindparam("next_attention", type_=terms.c.next_attention.type))
)
_RECORD_SENT = (
    update(terms)
    .where(
        terms.c.id == bindparam("term_row_id"),
        terms.c.closed_at.is_(None),
        terms.c.sent.not_like(bindparam("pattern", type_=Text()), escape="/"),
    )
    .values(
        sent=terms.c.sent + bindparam("suffix", type_=Text()),
        next_attention=bindparam("next_attention", type_=terms.c.next_attention.type),
    )
)


# The sweep's conditional write for all its terms at once: one statement whatever the number of terms, its rows
# in one JSON parameter (so the statement text never changes and stays prepared). `sent` only ever grows by
# appending "key,", so its length is its version: a term whose length moved since the sweep read it was written
# by another sweep, and is left to that one. PostgreSQL re-checks the condition after waiting for a row lock;
# SQLite serialises writers.
_RECORD_SENT_MANY_SQLITE = (
    "UPDATE terms SET sent = terms.sent || v.suffix, next_attention = v.next_attention"
    " FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.seen') AS seen,"
    " json_extract(value, '$.suffix') AS suffix, json_extract(value, '$.next') AS next_attention"
    " FROM json_each(?)) AS v"
    " WHERE terms.id = v.id AND terms.closed_at IS NULL AND length(terms.sent) = v.seen"
    " RETURNING terms.id"
)
_RECORD_SENT_MANY_PG = text(
    "UPDATE terms SET sent = terms.sent || v.suffix, next_attention = v.next"
    " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(id integer, seen integer, suffix text, next timestamptz)"
    " WHERE terms.id = v.id AND terms.closed_at IS NULL AND length(terms.sent) = v.seen"
    " RETURNING terms.id"
)
# PostgreSQL's outbox insert likewise takes its rows as one JSON parameter: a sweep's 1,000 notifications were
# 9,000 bound parameters, each through SQLAlchemy's processing. The rows go in their order, so ids follow it.
# (SQLite: one executemany through storage/direct.py.)
_ENQUEUE_PG = (
    "INSERT INTO outbox (dedup_key, case_id, kind, to_role, unit, term_id, at, payload, attempts)"
    " SELECT v.k, v.c, v.kind, v.r, v.u, v.t, v.at, v.p, 0"
    " FROM ROWS FROM (json_to_recordset(CAST($1 AS json)) AS (k text, c integer, kind text, r text,"
    " u text, t text, at timestamptz, p json)) WITH ORDINALITY AS v(k, c, kind, r, u, t, at, p, n)"
    " ORDER BY v.n"
    " ON CONFLICT (dedup_key) DO NOTHING RETURNING id"
)
# The sweep's query: `closed_at IS NULL` spelled exactly as the partial index's predicate, so both planners use
# it. PostgreSQL locks the terms this sweep handles and skips those another holds (SQLite renders nothing).
_NEEDING_ATTENTION = (
    select(
        terms.c.id, terms.c.case_id, terms.c.term_id, terms.c.owner, terms.c.unit, terms.c.started_at,
        terms.c.due, terms.c.sent, terms.c.person,
    )
    .where(terms.c.closed_at.is_(None), terms.c.next_attention <= bindparam("now", type_=terms.c.due.type))
    .order_by(terms.c.next_attention, terms.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)  # fmt: skip
# The drain's claim: the oldest undelivered rows whose lease is free or past, leased to one owner. `delivered_at
# IS NULL` spelled as ix_outbox_pending's predicate. PostgreSQL locks the rows it takes and skips those another
# claim is taking (SQLite renders no FOR UPDATE: BEGIN IMMEDIATE serialises its writers).
_CLAIMABLE = (
    select(outbox.c.id)
    .where(
        outbox.c.delivered_at.is_(None),
        or_(
            outbox.c.claimed_until.is_(None),
            outbox.c.claimed_until <= bindparam("now", type_=outbox.c.claimed_until.type),
        ),
    )
    .order_by(outbox.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM_OUTBOX = (
    update(outbox)
    .where(outbox.c.id.in_(_CLAIMABLE.scalar_subquery()))
    .values(
        claimed_until=bindparam("until", type_=outbox.c.claimed_until.type),
        claimed_by=bindparam("owner", type_=outbox.c.claimed_by.type),
    )
    .returning(*outbox.c)
)
# SQLite, through storage/direct.py: the registration's lookup and the sweep's query.
_FIND_CASE_SQLITE = "SELECT case_id FROM messages WHERE source = ? AND source_id = ?"

# The reads of a card's refresh and a notice's delivery, built once (storage/prepared.py: on SQLite they run
# straight through the driver, elsewhere as SQLAlchemy statements with bound parameters).
_CASE_ID: BindParameter[int] = bindparam("case_id")
_CASE_BY_ID = select(cases).where(cases.c.id == _CASE_ID)
_ASSIGNMENTS_OF_CASE = (
    select(assignments).where(assignments.c.case_id == _CASE_ID).order_by(assignments.c.position)
)
_MESSAGE_OF_CASE = select(messages).where(messages.c.case_id == _CASE_ID)
_EVENTS_OF_CASE = select(events).where(events.c.case_id == _CASE_ID).order_by(events.c.id)
_TERMS_OF_CASE = select(terms).where(terms.c.case_id == _CASE_ID).order_by(terms.c.id)
_OPEN_TERMS_OF_CASE = _TERMS_OF_CASE.where(terms.c.closed_at.is_(None))
_LATEST_PUBLICATION = (
    select(publications).where(publications.c.case_id == _CASE_ID).order_by(publications.c.id.desc()).limit(1)
)
_LATEST_DRAFT = (
    select(drafts.c.text)
    .where(drafts.c.case_id == _CASE_ID)
    .order_by(drafts.c.version.desc(), drafts.c.id.desc())
    .limit(1)
)
_LATEST_DRAFT_UPTO = (
    select(drafts.c.text)
    .where(drafts.c.case_id == _CASE_ID, drafts.c.version <= bindparam("upto"))
    .order_by(drafts.c.version.desc(), drafts.c.id.desc())
    .limit(1)
)
_CARDS_OF_CASE = select(cards.c.chat_id, cards.c.message_id).where(cards.c.case_id == _CASE_ID)
_POSTED_VERSIONS = select(cards.c.chat_id, cards.c.posted_version).where(cards.c.case_id == _CASE_ID)
_CARD_POSTS_OF_CASE = select(card_posts.c.chat_id).where(card_posts.c.case_id == _CASE_ID)
_DELIVERED_CHATS = select(deliveries.c.chat_id).where(deliveries.c.outbox_id == bindparam("outbox_id"))
_FIND_CASE_PG = "SELECT case_id FROM messages WHERE source = $1::VARCHAR AND source_id = $2::VARCHAR"
# `closed_at IS NULL` spelled exactly as the partial index's predicate; closed_at, met and next_attention of an
# open term need no reading.
_NEEDING_ATTENTION_SQLITE = (
    "SELECT id, case_id, term_id, owner, unit, started_at, due, sent, person FROM terms"
    " WHERE closed_at IS NULL AND next_attention <= ? ORDER BY next_attention, id LIMIT ?"
)
# The sweep's read (issue 16): the due terms as _NEEDING_ATTENTION_SQLITE selects them, one row each, with what
# their stored points (term_points, by its primary key) say at now: the keys of those at or before now, the
# instant of the first after now (both in the points' order) and whether the term has any (a due term with none
# has its points computed by the sweep, workflow/services/sweep.py). The walk of ix_terms_attention is the
# order, so nothing is sorted: a join with the points and its sort cost as much as the rest of the sweep's SQL
# and three rows a term to read back. An aggregate's order is SQLite's choice: each key comes with its position
# ([[n, key], ...]) and `_passed_keys` puts them in order.
_DUE_TERMS_SQLITE = (
    "SELECT id, case_id, term_id, owner, unit, started_at, due, sent, person,"
    " (SELECT json_group_array(json_array(p.n, p.key)) FROM term_points AS p WHERE p.term_row_id = terms.id"
    " AND p.at <= ?1),"
    " (SELECT p.at FROM term_points AS p WHERE p.term_row_id = terms.id AND p.at > ?1 ORDER BY p.n LIMIT 1),"
    " EXISTS (SELECT 1 FROM term_points AS p WHERE p.term_row_id = terms.id)"
    " FROM terms WHERE closed_at IS NULL AND next_attention <= ?1 ORDER BY next_attention, id LIMIT ?2"
)
# PostgreSQL: the same, the terms locked for this transaction and those another holds skipped (as
# _NEEDING_ATTENTION), in a CTE so that the lock is on the terms alone; one aggregate of each term's points (in
# their order) gives the three (correlated subqueries made PostgreSQL hash all of term_points for the third).
_DUE_TERMS_PG = (
    text(
        "WITH t AS (SELECT id, case_id, term_id, owner, unit, started_at, due, sent, person, next_attention"
        " FROM terms WHERE closed_at IS NULL AND next_attention <= :now ORDER BY next_attention, id"
        " LIMIT :limit FOR UPDATE SKIP LOCKED)"
        " SELECT t.id, t.case_id, t.term_id, t.owner, t.unit, t.started_at, t.due, t.sent, t.person,"
        " p.passed, p.next_at[1] AS next_at, p.known"
        " FROM t CROSS JOIN LATERAL (SELECT array_agg(key ORDER BY n) FILTER (WHERE at <= :now) AS passed,"
        " array_agg(at ORDER BY n) FILTER (WHERE at > :now) AS next_at, count(*) > 0 AS known"
        " FROM term_points WHERE term_row_id = t.id) AS p"
        " ORDER BY t.next_attention, t.id"
    )
    .bindparams(bindparam("now", type_=terms.c.due.type), bindparam("limit"))
    .columns(
        terms.c.id, terms.c.case_id, terms.c.term_id, terms.c.owner, terms.c.unit, terms.c.started_at,
        terms.c.due, terms.c.sent, terms.c.person, column("passed", postgresql.ARRAY(Text())),
        column("next_at", term_points.c.at.type),
        column("known", Boolean()),
    )
)  # fmt: skip
# A sweep's winners' points that it sent: the ids in one JSON parameter, as the conditional write's rows.
_DROP_SWEPT_SQLITE = (
    "DELETE FROM term_points WHERE term_row_id IN (SELECT value FROM json_each(?)) AND at <= ?"
)
_DROP_SWEPT_PG = text(
    "DELETE FROM term_points USING jsonb_array_elements_text(CAST(:ids AS jsonb)) AS v(id)"
    " WHERE term_points.term_row_id = CAST(v.id AS bigint) AND term_points.at <= :swept"
).bindparams(bindparam("swept", type_=term_points.c.at.type))
_POINT_KEYS = ("term_row_id", "n", "key", "at")
_CASE_KEYS = (*CASE_COLUMNS[1:], "state", "created_at", "updated_at", "published_key")
_MESSAGE_KEYS = ("case_id", *MESSAGE_COLUMNS, "extra", "search", "link_key")
_EVENT_KEYS = ("case_id", "action", "actor_id", "actor_role", "at", "text", "data", "undo")
_OUTBOX_KEYS = ("dedup_key", "case_id", "kind", "to_role", "unit", "term_id", "at", "payload", "attempts")
_TERM_KEYS = (
    "case_id", "term_id", "owner", "unit", "started_at", "due", "sent", "next_attention", "note", "person",
)  # fmt: skip
# SQLite: delivery's bookkeeping of cards and deliveries (bot/delivery.py) as fixed SQL in the writer's thread:
# small statements, but SQLAlchemy built, compiled and cache-keyed each per call at more CPU than SQLite ran it.
_DELIVERY_KEYS = ("outbox_id", "chat_id", "message_id", "delivered_at")
_CARD_KEYS = ("case_id", "chat_id", "message_id", "updated_at", "shown_version", "posted_version")
_CARD_UPSERT = " ON CONFLICT (case_id, chat_id) DO UPDATE SET " + ", ".join(
    f"{key} = excluded.{key}" for key in _CARD_KEYS[2:]
)
_MARK_DELIVERED_SQLITE = (
    "UPDATE outbox SET delivered_at = ?, claimed_until = NULL, claimed_by = NULL"
    " WHERE id = ? AND delivered_at IS NULL"
)
_END_CARD_POST_SQLITE = "DELETE FROM card_posts WHERE case_id = ? AND chat_id = ?"


# Values codec.encode_mapping keeps as they are (exactly these types: an Enum member or a subclass is converted).
_PLAIN_JSON = frozenset({str, int, float, bool, type(None)})


def _payload(n: Notification) -> Mapping[str, Any]:
    """`codec.encode_mapping(n.payload)`: the payload itself when every key is text and every value plain JSON
    (what encode_mapping would hand back unchanged, in the same order)."""
    payload = n.payload
    if all(type(key) is str and type(value) in _PLAIN_JSON for key, value in payload.items()):
        return payload
    return codec.encode_mapping(payload, where="Notification.payload")


def _json(value: object) -> str:
    # As the engine's JSON serializer (storage/engine.py): Cyrillic stays readable.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# What JSONEncoder(ensure_ascii=False) quotes text with (the C function where there is one).
_quote = json.encoder.encode_basestring


def _plain_object_text(mapping: Mapping[Any, Any], quoted: dict[str, str]) -> str | None:
    """`_json(mapping)` for text keys and values that are text, None, a bool or an int; None for any other.

    A sweep encodes a thousand payloads of a few keys whose texts repeat: json.dumps built an encoder for each
    (about as much as the sweep's own SQL); here each distinct text is quoted once (`quoted`, per batch) and
    the rest is joins. tests/storage/test_sweep_text.py holds it equal to `_json`.
    """
    parts: list[str] = []
    for key, value in mapping.items():
        if type(key) is not str:
            return None
        name = quoted.get(key)
        if name is None:
            name = quoted[key] = _quote(key)
        kind = type(value)
        if kind is str:
            text = quoted.get(value)
            if text is None:
                text = quoted[value] = _quote(value)
        elif value is None:
            text = "null"
        elif kind is bool:
            text = "true" if value else "false"
        elif kind is int:
            text = int.__repr__(value)
        else:
            return None
        parts.append(f"{name}:{text}")
    return "{" + ",".join(parts) + "}"


class _SqliteDirect:
    """SQLite's hot inserts and the instant conversions (storage/direct.py), built once per engine."""

    def __init__(self, dialect: Dialect) -> None:
        # Single-row INSERTs whose id is read as the driver's lastrowid (direct.insert_now), not by RETURNING.
        self.case = direct.Insert(cases, _CASE_KEYS, dialect)
        self.selects = CompiledSelects(dialect)
        self.message = direct.Insert(messages, _MESSAGE_KEYS, dialect)
        self.event = direct.Insert(events, _EVENT_KEYS, dialect)
        self.term = direct.Insert(terms, _TERM_KEYS, dialect)
        self.point = direct.Insert(term_points, _POINT_KEYS, dialect)
        self.outbox = direct.Insert(
            outbox, _OUTBOX_KEYS, dialect, suffix=" ON CONFLICT (dedup_key) DO NOTHING"
        )
        self.delivery = direct.Insert(
            deliveries, _DELIVERY_KEYS, dialect, suffix=" ON CONFLICT (outbox_id, chat_id) DO NOTHING",
            returning="id",
        )  # fmt: skip
        self.card_post = direct.Insert(
            card_posts, ("case_id", "chat_id", "since"), dialect,
            suffix=" ON CONFLICT (case_id, chat_id) DO UPDATE SET since = excluded.since",
        )  # fmt: skip
        self.card = direct.Insert(cards, _CARD_KEYS, dialect, suffix=_CARD_UPSERT)
        # `outbox_rows` converts only these two columns; any other column with a conversion: the generic rows.
        converted = {key for key in _OUTBOX_KEYS if self.outbox.processor(key) is not None}
        self.payload_text = self.outbox.processor("payload") if converted <= {"at", "payload"} else None
        # `_plain_object_text` writes the serializer's text only if the engine's serializer is storage/engine.py's
        # (json.dumps, Cyrillic kept, no spaces): checked once on a probe, else every payload goes through it.
        probe = {"текст": 'a"\\\n\u2028\x7f/', "n": None, "b": True, "f": False, "i": -7}
        self.plain_text = self.payload_text is not None and self.payload_text(probe) == _plain_object_text(
            probe, {}
        )

    def outbox_rows(self, notifications: Iterable[Notification]) -> list[tuple[Any, ...]]:
        """The parameters of `outbox.sql(1)` for each notification: `outbox.row(_notification_values(n))`, the same
        values, built per batch (a sweep queues a thousand). Its notifications share one instant, converted once;
        a payload of plain JSON values (a sweep's are) needs no codec pass, which would hand it back as it is."""
        payload_text = self.payload_text
        if payload_text is None:
            return [self.outbox.row(_notification_values(n)) for n in notifications]
        instants: dict[datetime, str | None] = {}
        roles: dict[Role | str, str] = {}
        quoted: dict[str, str] = {}
        plain = self.plain_text
        rows: list[tuple[Any, ...]] = []
        for n in notifications:
            at = instants.get(n.at)
            if at is None:
                at = instants[n.at] = direct.instant_text(n.at)
            role = roles.get(n.to_role)
            if role is None:
                role = roles[n.to_role] = Role(n.to_role).value
            payload = _plain_object_text(n.payload, quoted) if plain else None
            if payload is None:
                payload = payload_text(_payload(n))
            rows.append((n.dedup_key, n.case_id, n.kind, role, n.unit, n.term_id, at, payload, 0))
        return rows


def _pg_outbox_rows(dialect: Dialect, notifications: Iterable[Notification]) -> str:
    """_ENQUEUE_PG's parameter: `_json` of the rows {k, c, kind, r, u, t, at, p}, each built as its text."""
    instant_text = _instant_text(dialect)
    instants: dict[datetime, str | None] = {}  # a sweep's notifications share one instant
    roles: dict[Role | str, str] = {}
    quoted: dict[str, str] = {}
    texts: list[str] = []
    for n in notifications:
        at = instants.get(n.at)
        if at is None:
            at = instants[n.at] = instant_text(n.at)
        role = roles.get(n.to_role)
        if role is None:
            role = roles[n.to_role] = Role(n.to_role).value
        row = {
            "k": n.dedup_key,
            "c": n.case_id,
            "kind": n.kind,
            "r": role,
            "u": n.unit,
            "t": n.term_id,
            "at": at,
        }
        head = _plain_object_text(row, quoted)
        payload = _plain_object_text(n.payload, quoted)
        if head is None or payload is None:
            texts.append(_json({**row, "p": _payload(n)}))
        else:  # "p" last, as the row's own key order would put it
            texts.append(f'{head[:-1]},"p":{payload}}}')
    return "[" + ",".join(texts) + "]"


class _PgDirect:
    """PostgreSQL's hot statements of a registration as fixed SQL text (storage/pg_direct.py), built once per
    engine (its JSON serializer is the dialect's)."""

    def __init__(self, dialect: Dialect) -> None:
        case = pg_direct.Columns(cases, _CASE_KEYS, dialect)
        self.message = pg_direct.Columns(messages, _MESSAGE_KEYS[1:], dialect)
        self.case = case
        quote = dialect.identifier_preparer.quote
        # One round trip: the case's row in a CTE, its message inserted from the id the CTE returns.
        self.case_and_message = (
            f"WITH new_case AS (INSERT INTO cases ({', '.join(quote(k) for k in case.keys)})"
            f" VALUES ({case.placeholders(1)}) RETURNING id)"
            f" INSERT INTO messages (case_id, {', '.join(quote(k) for k in self.message.keys)})"
            f" SELECT new_case.id, {self.message.placeholders(1 + len(case.keys))} FROM new_case"
            " RETURNING case_id"
        )
        self.event = pg_direct.Insert(events, _EVENT_KEYS, dialect)
        self._events_and_outbox: dict[int, str] = {}
        # A case's terms and their points in one round trip: the terms' columns as arrays, inserted in their
        # order (ids grow in it, as SQLAlchemy's sort_by_parameter_order relies on), each point joined to its
        # term by the term's position. The ids come back in the terms' order.
        self.term = pg_direct.Columns(terms, _TERM_KEYS, dialect)
        self.point = pg_direct.Columns(term_points, ("n", "key", "at"), dialect)
        names = ", ".join(quote(k) for k in _TERM_KEYS)
        arrays = ", ".join(f"${i + 1}::{c}[]" for i, c in enumerate(self.term.casts))
        first = len(_TERM_KEYS) + 1
        point_arrays = ", ".join(f"${first + 1 + i}::{c}[]" for i, c in enumerate(self.point.casts))
        self.terms_and_points = (
            f"WITH v AS (SELECT * FROM unnest({arrays}) WITH ORDINALITY AS v({names}, k)),"
            f" t AS (INSERT INTO terms ({names}) SELECT {names} FROM v ORDER BY k RETURNING id),"
            " r AS (SELECT id, row_number() OVER (ORDER BY id) AS k FROM t),"
            " p AS (INSERT INTO term_points (term_row_id, n, key, at) SELECT r.id, p.n, p.key, p.at"
            f" FROM unnest(${first}::BIGINT[], {point_arrays}) AS p(k, n, key, at) JOIN r ON r.k = p.k)"
            " SELECT id FROM r ORDER BY k"
        )

    def events_and_outbox(self, rows: int) -> str:
        """_ENQUEUE_PG with `rows` events inserted by a CTE of it (their parameters after its `$1`): one round trip
        for a step's events and its notifications. The outbox rows' statement reads no events, so the CTE's
        snapshot (it cannot see the events it inserts) changes nothing."""
        sql = self._events_and_outbox.get(rows)
        if sql is None:
            sql = f"WITH e AS ({self.event.sql(rows, first=2)}) {_ENQUEUE_PG}"
            if rows <= _EVENT_CTE_CACHED_ROWS:
                self._events_and_outbox[rows] = sql
        return sql

    def terms_and_points_params(
        self, rows: Sequence[Mapping[str, Any]], points: Sequence[Sequence[Point]]
    ) -> list[Any]:
        converted = [self.term.row(row) for row in rows]
        params: list[Any] = [list(column) for column in zip(*converted, strict=True)]
        where: list[int] = []
        n_s: list[int] = []
        keys: list[str] = []
        ats: list[Any] = []
        process_at = self.point.processors[2]
        for k, term_points_ in enumerate(points, start=1):
            for n, (key, at) in enumerate(term_points_):
                where.append(k)
                n_s.append(n)
                keys.append(key)
                ats.append(at if process_at is None else process_at(at))
        return [*params, where, n_s, keys, ats]


_EVENT_CTE_CACHED_ROWS = 32
_INSTANT_TEXT: dict[str, Callable[[datetime | None], str | None]] = {}


def _instant_text(dialect: Dialect) -> Callable[[datetime | None], str | None]:
    """An instant as text the dialect reads back as the column would store it (for JSON parameters).

    SQLite: the very text the `UtcDateTime` column stores (naive UTC in SQLAlchemy's fixed format, whose order
    is time order); PostgreSQL: ISO 8601 with the offset, cast to timestamptz. Naive instants are refused.
    """
    if dialect.name == "sqlite":
        return direct.instant_text
    convert = _INSTANT_TEXT.get(dialect.name)
    if convert is None:
        column_type = terms.c.next_attention.type
        process = column_type.dialect_impl(dialect).bind_processor(dialect)

        def convert(value: datetime | None) -> str | None:
            bound = process(value) if process is not None else value
            return bound if bound is None or isinstance(bound, str) else bound.isoformat()

        _INSTANT_TEXT[dialect.name] = convert
    return convert


class SqlRepository:
    """The database behind the use cases. `clock` stamps bookkeeping columns (created/updated) only."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock) -> None:
        self.engine = engine
        self._clock = clock
        self._direct = _SqliteDirect(engine.dialect) if engine.dialect.name == "sqlite" else None
        self._pg_direct = _PgDirect(engine.dialect) if engine.dialect.name == "postgresql" else None
        # SQLite on a file: writes through the engine's one writer thread (storage/writer.py). An in-memory
        # database is private to its connection, so there writes stay on the engine's own.
        self._writes_through_writer = writes_through_writer(engine)

    async def write(self, body: Callable[[Transaction], Awaitable[_T]], *, urgent: bool = False) -> _T:
        """Run `body` in one writing transaction; its result once committed (workflow.ports.Repository).

        SQLite: in the writer's thread, group-committed with the writes waiting with it; `body` must await
        nothing but the transaction (a body that suspends fails loudly). Elsewhere: `transaction()`.
        """
        if not self._writes_through_writer:
            async with self.transaction() as tx:
                return await body(tx)
        clock, fast = self._clock, self._direct

        def run(conn: Connection, raw: sqlite3.Connection) -> Awaitable[_T]:
            return body(SqlTransaction.on_writer(conn, raw, clock, fast))

        async with translated():
            return await run_write(self.engine, run, urgent=urgent)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlTransaction]:
        """One writing transaction: commit on a clean exit, roll back on an exception.

        On SQLite it begins IMMEDIATE: it takes the write lock up front (waiting up to busy_timeout).
        """
        # Driver errors meaning "storage is down" (locked, full, read-only, server gone) leave as
        # StorageUnavailable, whether from the connect, a statement or the commit (storage/outage.py).
        if not self._writes_through_writer:
            async with translated(), self.engine.connect() as conn, conn.begin():
                tx = SqlTransaction(conn, self._clock, self._direct, self._pg_direct)
                yield tx
                await tx.flush()  # PostgreSQL: events still held for the next statement go before the commit
            return
        # The file's writer hands it over first (storage/writer.py): no contention for its lock.
        async with translated(), exclusive_turn(self.engine), self.engine.connect() as conn, conn.begin():
            yield SqlTransaction(conn, self._clock, self._direct, self._pg_direct)

    @asynccontextmanager
    async def reading(self, *, inline: bool = False) -> AsyncIterator[SqlTransaction]:
        """A read-only transaction: one snapshot of the database, and no write lock.

        On SQLite it begins DEFERRED (with WAL, readers never wait for the writer); on PostgreSQL it is
        READ ONLY, so a write inside it fails loudly instead of slipping through. `inline`: a read of a few
        rows by key (a card's, a notice's), which on a SQLite file runs on the calling thread, without a hop
        to aiosqlite's (storage/inline_reads.py); elsewhere the same as without.
        """
        if inline and self._writes_through_writer:
            async with translated():
                with inline_reader_for(self.engine).snapshot() as (conn, raw):
                    yield SqlTransaction.on_writer(conn, raw, self._clock, self._direct)
            return
        async with translated(), self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                await conn.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
            else:
                await conn.execution_options(postgresql_readonly=True)
            async with conn.begin():
                yield SqlTransaction(conn, self._clock, self._direct, self._pg_direct)


@dataclass(frozen=True, slots=True)
class ChannelFile:
    """A network item's file as kept (storage.tables.channel_files); `data` None: not fetched, `error` says why."""

    item_key: str
    position: int
    kind: str
    name: str
    mime: str
    size: int
    sha256: str
    data: bytes | None
    error: str | None
    fetched_at: datetime


class SqlTransaction(ClusterStatements):
    def __init__(
        self,
        conn: AsyncConnection,
        clock: Clock,
        sqlite_direct: _SqliteDirect | None = None,
        pg_direct: _PgDirect | None = None,
    ) -> None:
        self._conn: AsyncConnection | None = conn
        self._sync: Connection | None = None
        self._sa_dialect: Dialect = conn.dialect
        self._clock = clock
        self._dialect = conn.dialect.name
        self._direct = sqlite_direct if self._dialect == "sqlite" else None
        self._driver: Any = None
        self._raw: sqlite3.Connection | None = None
        self._pgd = pg_direct if self._dialect == "postgresql" else None
        self._adapted: Any = None
        self._pg_fetch = False
        # PostgreSQL: the converted parameters of events appended and not sent yet (see append_events).
        self._held_events: list[Any] = []
        self._held_rows = 0

    @classmethod
    def on_writer(
        cls, conn: Connection, raw: sqlite3.Connection, clock: Clock, sqlite_direct: _SqliteDirect | None
    ) -> SqlTransaction:
        """A transaction in the SQLite writer's thread (storage/writer.py), on its synchronous connection (or an
        inline read's, storage/inline_reads.py).

        Its `async def` methods never suspend there: statements run at once on `conn` (SQLAlchemy on the
        stdlib driver, the same SQL and type processing as the async engine) and the hot ones on `raw`.
        """
        tx = cls.__new__(cls)
        tx._conn = None
        tx._sync = conn
        tx._sa_dialect = conn.dialect
        tx._clock = clock
        tx._dialect = conn.dialect.name
        tx._direct = sqlite_direct
        tx._driver = None
        tx._raw = raw
        tx._pgd = None
        tx._adapted = None
        tx._pg_fetch = False
        tx._held_events = []
        tx._held_rows = 0
        return tx

    # --- plumbing ------------------------------------------------------------------------------------------

    async def _exec(self, stmt: Executable, params: Any = None) -> CursorResult[Any]:
        if self._held_rows:
            await self.flush()
        self._statements += 1
        try:
            if self._sync is not None:
                return self._sync.execute(stmt, params)
            assert self._conn is not None
            return await self._conn.execute(stmt, params)
        except StatementError as exc:
            # SQLAlchemy wraps errors raised while binding; surface ours as themselves, they are the message.
            if isinstance(exc.orig, NaiveDatetimeError | NulCharacterError):
                raise exc.orig from None
            raise

    async def _driver_connection(self) -> Any:
        """SQLite: the aiosqlite connection under this transaction's connection (storage/direct.py)."""
        if self._driver is None:
            self._driver = (await self._async_conn().get_raw_connection()).driver_connection
        return self._driver

    def _async_conn(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError(
                "this transaction runs in the SQLite writer's thread: it has no async connection"
            )
        return self._conn

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """SQLite: one statement straight through the driver connection, in this transaction."""
        if self._raw is not None:
            return direct.fetchall_now(self._raw, sql, params)
        return await direct.fetchall(await self._driver_connection(), sql, params)

    async def _insert_id(self, sql: str, params: Sequence[Any]) -> int:
        """SQLite: one single-row INSERT straight through the driver connection, in this transaction; its id."""
        if self._raw is not None:
            return direct.insert_now(self._raw, sql, params)
        return await direct.insert(await self._driver_connection(), sql, params)

    async def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """SQLite: one statement for each row straight through the driver connection; the rows it changed."""
        if self._raw is not None:
            return direct.executemany_now(self._raw, sql, rows)
        return await direct.executemany(await self._driver_connection(), sql, rows)

    async def _pg(self, sql: str, params: Sequence[Any]) -> Sequence[Any]:
        """PostgreSQL: one statement straight through asyncpg, in this transaction (storage/pg_direct.py); its
        rows, each indexable by position. Events held back (append_events) are sent first."""
        if self._held_rows:
            await self.flush()
        return await self._pg_now(sql, params)

    async def _pg_now(self, sql: str, params: Sequence[Any]) -> Sequence[Any]:
        self._statements += 1
        conn = self._async_conn()
        adapted = self._adapted
        if adapted is None:
            adapted = self._adapted = (await conn.get_raw_connection()).dbapi_connection
            self._pg_fetch = pg_direct.available(adapted)  # asked once per transaction, not per statement
        if self._pg_fetch:
            return await pg_direct.fetch(conn, adapted, sql, params)
        # An adapter without what pg_direct relies on: the same SQL through SQLAlchemy (an INSERT without
        # RETURNING has no rows to fetch there, where asyncpg's fetch gives an empty list).
        result = await conn.exec_driver_sql(sql, tuple(params))
        return result.all() if result.returns_rows else []

    async def _rows(self, stmt: Select[Any], params: Mapping[str, Any]) -> Sequence[Any]:
        """A module-level SELECT's rows (by position and by column name): on SQLite one statement through the
        driver, its values converted as SQLAlchemy converts them (storage/prepared.py)."""
        if (fast := self._direct) is not None:
            query = fast.selects[stmt]
            return query.rows(await self._fetch(query.sql, query.params(params)))
        return (await self._exec(stmt, params)).all()

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """The dialect's INSERT, which has ON CONFLICT on both."""
        return postgresql.insert(table) if self._dialect == "postgresql" else sqlite.insert(table)

    # --- cases ---------------------------------------------------------------------------------------------

    async def find_case_by_source(self, source: str, source_id: str) -> int | None:
        if self._direct is not None:
            rows = await self._fetch(_FIND_CASE_SQLITE, (source, source_id))
            return int(rows[0][0]) if rows else None
        if self._pgd is not None:
            found = await self._pg(_FIND_CASE_PG, (source, source_id))
            return int(found[0][0]) if found else None
        stmt = select(messages.c.case_id).where(
            messages.c.source == source, messages.c.source_id == source_id
        )
        result: int | None = (await self._exec(stmt)).scalar_one_or_none()
        return result

    async def add_case(self, case: Case, message: InboundMessage) -> Case:
        now = self._clock.now()
        values = {**_case_values(case), "created_at": now, "updated_at": now}
        if (fast := self._direct) is not None:
            case_id = await self._insert_id(fast.case.sql(1), fast.case.row(values))
            row = {"case_id": case_id, **_message_values(message)}
            await self._fetch(fast.message.sql(1), fast.message.params([row]))
        elif (pgd := self._pgd) is not None:
            params = [*pgd.case.row(values), *pgd.message.row(_message_values(message))]
            ((case_id,),) = await self._pg(pgd.case_and_message, params)
        else:
            case_id = (await self._exec(_INSERT_CASE, values)).scalar_one()
            await self._exec(_INSERT_MESSAGE, {"case_id": case_id, **_message_values(message)})
        await self._write_assignments(case_id, case.assignments)
        return replace(case, id=case_id)

    async def get_case(self, case_id: int) -> Case | None:
        found = await self._rows(_CASE_BY_ID, {"case_id": case_id})
        if not found:
            return None
        (row,) = found
        case_assignments = await self._rows(_ASSIGNMENTS_OF_CASE, {"case_id": case_id})
        return _case_from_row(row, map(_assignment_from_row, case_assignments))

    async def cases(self, *, open_only: bool = True, limit: int = 200) -> list[Case]:
        stmt = select(cases).order_by(cases.c.id).limit(limit)
        if open_only:
            stmt = stmt.where(exists().where(terms.c.case_id == cases.c.id, terms.c.closed_at.is_(None)))
        rows = (await self._exec(stmt)).all()
        by_case = await self._assignments([row.id for row in rows])
        return [_case_from_row(row, by_case.get(row.id, ())) for row in rows]

    async def save_case(self, case: Case, expected_version: int) -> None:
        if case.version <= expected_version:
            # Writing the same version back would let a concurrent writer with the same expectation win too.
            raise ValueError(f"case {case.id}: new version {case.version} must exceed {expected_version}")
        stmt = (
            update(cases)
            .where(cases.c.id == case.id, cases.c.version == expected_version)
            .values(**_case_values(case), updated_at=self._clock.now())
        )
        if (await self._exec(stmt)).rowcount == 0:
            raise StaleVersion(case.id)
        await self._exec(delete(assignments).where(assignments.c.case_id == case.id))
        await self._write_assignments(case.id, case.assignments)

    async def get_message(self, case_id: int) -> InboundMessage | None:
        found = await self._rows(_MESSAGE_OF_CASE, {"case_id": case_id})
        if not found:
            return None
        (row,) = found
        return _message_from_row(row)

    async def _write_assignments(self, case_id: int, items: Sequence[Assignment]) -> None:
        if items:
            await self._exec(
                assignments.insert(),
                [_assignment_values(case_id, position, a) for position, a in enumerate(items)],
            )

    async def _assignments(self, case_ids: Sequence[int]) -> dict[int, tuple[Assignment, ...]]:
        if not case_ids:
            return {}
        stmt = (
            select(assignments)
            .where(assignments.c.case_id.in_(case_ids))
            .order_by(assignments.c.case_id, assignments.c.position)
        )
        grouped: dict[int, list[Assignment]] = {}
        for row in await self._exec(stmt):
            grouped.setdefault(row.case_id, []).append(_assignment_from_row(row))
        return {case_id: tuple(items) for case_id, items in grouped.items()}

    # --- events and drafts --------------------------------------------------------------------------------

    async def append_event(self, case_id: int, event: Event) -> None:
        await self._exec(_INSERT_EVENT, _event_values(case_id, event))

    async def append_events(self, case_id: int, items: Sequence[Event]) -> None:
        rows = [_event_values(case_id, event) for event in items]
        if (fast := self._direct) is not None:
            for chunk in _chunks(rows, fast.event.max_rows):
                await self._fetch(fast.event.sql(len(chunk)), fast.event.params(chunk))
        elif (pgd := self._pgd) is not None:
            if rows and self._held_rows + len(rows) <= pgd.event.max_rows:
                # Held for the next statement: a step's notifications (enqueue) take them along in one round
                # trip; any other statement, and the commit, sends them first (flush). Their parameters are
                # converted now, so a value storage refuses still fails here.
                self._held_events += pgd.event.params(rows)
                self._held_rows += len(rows)
                return
            for chunk in _chunks(rows, pgd.event.max_rows):
                await self._pg(pgd.event.sql(len(chunk)), pgd.event.params(chunk))
        elif rows:
            await self._exec(_INSERT_EVENT, rows)

    async def flush(self) -> None:
        """PostgreSQL: send the events append_events held back (nothing elsewhere, or when none are held)."""
        if not self._held_rows:
            return
        assert self._pgd is not None
        params, rows = self._held_events, self._held_rows
        self._held_events, self._held_rows = [], 0
        await self._pg_now(self._pgd.event.sql(rows), params)

    async def events(self, case_id: int) -> list[Event]:
        return [
            Event(
                action=row.action,
                actor_id=row.actor_id,
                actor_role=Role(row.actor_role),
                at=row.at,
                text=row.text,
                data=dict(row.data),
                undo=None if row.undo is None else codec.decode(row.undo, UndoState, where="Event.undo"),
                id=row.id,
            )
            for row in await self._rows(_EVENTS_OF_CASE, {"case_id": case_id})
        ]

    async def add_draft(self, case_id: int, version: int, text: str, author_id: int, at: datetime) -> None:
        values = {"case_id": case_id, "version": version, "text": text, "author_id": author_id, "at": at}
        await self._exec(_INSERT_DRAFT, values)

    async def latest_draft(self, case_id: int, upto: int | None = None) -> str | None:
        if upto is None:
            found = await self._rows(_LATEST_DRAFT, {"case_id": case_id})
        else:  # an undone submit's draft stays stored but is no longer the case's
            found = await self._rows(_LATEST_DRAFT_UPTO, {"case_id": case_id, "upto": upto})
        text: str | None = found[0][0] if found else None
        return text

    # --- terms -------------------------------------------------------------------------------------------

    async def open_term(self, case_id: int, start: TermStart, next_attention: datetime | None) -> int:
        values = _term_values(case_id, start, next_attention)
        term_row_id: int = (await self._exec(_INSERT_TERM, values)).scalar_one()
        return term_row_id

    async def open_terms(
        self, case_id: int, starts: Sequence[tuple[TermStart, Sequence[Point]]]
    ) -> list[int]:
        if not starts:
            return []
        rows = [_term_values(case_id, start, points[0][1] if points else None) for start, points in starts]
        if (fast := self._direct) is not None:
            # One INSERT per row (a registration opens a few terms): the ids in the order the rows were inserted.
            sql = fast.term.sql(1)
            ids = [await self._insert_id(sql, fast.term.row(row)) for row in rows]
        elif (pgd := self._pgd) is not None:
            params = pgd.terms_and_points_params(rows, [points for _, points in starts])
            return [int(row[0]) for row in await self._pg(pgd.terms_and_points, params)]
        else:
            ids = list((await self._exec(_INSERT_TERMS, rows)).scalars())
        await self._insert_points(list(zip(ids, (points for _, points in starts), strict=True)))
        return ids

    async def _insert_points(self, items: Sequence[tuple[int, Sequence[Point]]]) -> None:
        """Store these terms' points (none stored yet), each in its order."""
        rows = [
            {"term_row_id": row_id, "n": n, "key": key, "at": at}
            for row_id, points in items
            for n, (key, at) in enumerate(points)
        ]
        if not rows:
            return
        if (fast := self._direct) is not None:
            for chunk in _chunks(rows, fast.point.max_rows):
                await self._fetch(fast.point.sql(len(chunk)), fast.point.params(chunk))
            return
        await self._exec(term_points.insert(), rows)

    async def _drop_points(self, term_row_ids: Sequence[int]) -> None:
        if term_row_ids:
            ids = sorted(set(term_row_ids))
            await self._exec(delete(term_points).where(term_points.c.term_row_id.in_(ids)))

    async def _replace_points(self, items: Sequence[tuple[int, Sequence[Point]]]) -> None:
        await self._drop_points([row_id for row_id, _ in items])
        await self._insert_points(items)

    async def close_terms(self, case_id: int, stops: Sequence[TermStop], at: datetime, by: int) -> list[Term]:
        """Close matching open terms (see `Transaction.close_terms` for what `met` becomes)."""
        closed: list[Term] = []
        # In this order: a term matched by a done and a cancelled stop counts as done.
        past_due = sql_case((terms.c.due < at, false()), else_=null())
        groups: tuple[tuple[Callable[[TermStop], bool], Any], ...] = (
            (lambda s: not s.cancelled and s.met is True, true()),
            (lambda s: not s.cancelled and s.met is False, false()),
            (lambda s: not s.cancelled and s.met is None, terms.c.due >= at),
            (lambda s: s.cancelled and s.keep_miss, past_due),  # a miss is history (RULES.md §6)
            (lambda s: s.cancelled and not s.keep_miss, null()),
        )
        for chosen, met in groups:
            matches = [
                terms.c.term_id == stop.term_id
                if stop.unit is None
                else and_(terms.c.term_id == stop.term_id, terms.c.unit == stop.unit)
                for stop in stops
                if chosen(stop)
            ]
            if not matches:
                continue
            stmt = (
                update(terms)
                .where(terms.c.case_id == case_id, terms.c.closed_at.is_(None), or_(*matches))
                .values(closed_at=at, met=met, closed_by=by, next_attention=None)
                .returning(*terms.c)
            )
            closed.extend(_term_from_row(row) for row in await self._exec(stmt))
        await self._drop_points([term.id for term in closed])  # a closed term keeps no point
        return sorted(closed, key=lambda t: t.id)

    async def hand_over_terms(self, case_id: int, handovers: Sequence[TermHandover]) -> None:
        for handover in handovers:
            where = [
                terms.c.case_id == case_id,
                terms.c.closed_at.is_(None),
                terms.c.term_id == handover.term_id,
            ]
            if handover.unit is not None:
                where.append(terms.c.unit == handover.unit)
            stmt = (
                update(terms)
                .where(*where)
                .values(
                    owner=Role(handover.owner).value, unit=handover.new_unit, person=handover.person or None
                )
            )
            await self._exec(stmt)

    async def restore_terms(
        self,
        case_id: int,
        *,
        reopen: Sequence[tuple[int, Sequence[Point]]],
        cancel: Sequence[int],
        holders: Sequence[TermHolder],
        at: datetime,
        by: int,
    ) -> None:
        if cancel:
            await self._drop_points(cancel)
            past_due = sql_case((terms.c.due < at, false()), else_=null())  # a miss is history (RULES.md §6)
            await self._exec(
                update(terms)
                .where(terms.c.case_id == case_id, terms.c.id.in_(list(cancel)), terms.c.closed_at.is_(None))
                .values(closed_at=at, met=past_due, closed_by=by, next_attention=None)
            )
        reopened: list[tuple[int, Sequence[Point]]] = []
        for row_id, points in reopen:
            attention = points[0][1] if points else None
            result = await self._exec(
                update(terms)
                .where(terms.c.case_id == case_id, terms.c.id == row_id, terms.c.closed_at.is_not(None))
                .values(closed_at=None, met=None, closed_by=None, next_attention=attention)
            )
            if result.rowcount:
                reopened.append((row_id, points))
        await self._replace_points(reopened)
        for holder in holders:
            await self._exec(
                update(terms)
                .where(terms.c.case_id == case_id, terms.c.id == holder.row_id, terms.c.closed_at.is_(None))
                .values(owner=Role(holder.owner).value, unit=holder.unit, person=holder.person or None)
            )

    async def retime_terms(self, case_id: int, items: Sequence[Retimed]) -> None:
        moved: list[tuple[int, Sequence[Point]]] = []
        for item in items:
            attention = item.points[0][1] if item.points else None
            stmt = (
                update(terms)
                .where(
                    terms.c.id == item.term_row_id, terms.c.case_id == case_id, terms.c.closed_at.is_(None)
                )
                .values(started_at=item.started_at, due=item.due, next_attention=attention)
            )
            if (await self._exec(stmt)).rowcount:
                moved.append((item.term_row_id, item.points))
        await self._replace_points(moved)

    async def terms(self, case_id: int, *, open_only: bool = True) -> list[Term]:
        stmt = _OPEN_TERMS_OF_CASE if open_only else _TERMS_OF_CASE
        return [_term_from_row(row) for row in await self._rows(stmt, {"case_id": case_id})]

    async def terms_needing_attention(self, now: datetime, limit: int = 10_000) -> list[Term]:
        # Only what an open term has: closed_at, met and next_attention need no reading and converting.
        if self._direct is not None:
            rows: Iterable[Sequence[Any]] = await self._fetch(
                _NEEDING_ATTENTION_SQLITE, (direct.instant_text(now), limit)
            )
            instant: Callable[[Any], Any] = direct.instant_from_text
        else:
            rows = await self._exec(_NEEDING_ATTENTION, {"now": now, "limit": limit})
            instant = _same
        return [
            Term(
                id=row_id,
                case_id=case_id,
                term_id=term_id,
                owner=Role(owner),
                unit=unit,
                started_at=instant(started_at),
                due=instant(due),
                sent=frozenset(key for key in sent.split(",") if key),
                person=person or "",
            )
            for row_id, case_id, term_id, owner, unit, started_at, due, sent, person in rows
        ]

    async def owed_terms(
        self, owed: OwedBy, limit: int, *, silent: frozenset[str] = frozenset(), now: datetime | None = None
    ) -> TermPage:
        ways = term_lists.owed_ways(owed, self._dialect)
        lapsed = None
        if silent and now is not None:  # a return-only term past due lapsed into acceptance
            lapsed = and_(terms.c.term_id.in_(sorted(silent)), terms.c.due < now)
        return await self._term_page(ways, limit, lapsed)

    async def overdue_terms(
        self, now: datetime, limit: int, *, silent: frozenset[str] = frozenset()
    ) -> TermPage:
        # ix_terms_open_due walks open terms in due order, so the page costs its own rows plus the filter.
        return await self._term_page([term_lists.Way(terms.c.due <= now)], limit, _silent(silent))

    async def _term_page(
        self, ways: list[term_lists.Way], limit: int, excluded: ColumnElement[bool] | None = None
    ) -> TermPage:
        if not ways or limit <= 0:
            return TermPage(terms=(), total=0 if not ways else await self._count(ways, excluded))
        if self._dialect == "postgresql" and any(way.joined for way in ways):
            # A generic plan of the prepared statement (from its sixth run on) knows neither the units nor the
            # instant and joins the wrong way round: 3x slower at 100k open cases (bench/queries_bench.py).
            await self._exec(_CUSTOM_PLANS)
        rows = (await self._exec(term_lists.page_statement(ways, limit, excluded))).all()
        return TermPage(terms=tuple(_term_from_row(row) for row in rows), total=rows[0].total if rows else 0)

    async def _count(self, ways: list[term_lists.Way], excluded: ColumnElement[bool] | None) -> int:
        total: int = (await self._exec(term_lists.count_statement(ways, excluded))).scalar_one()
        return total

    async def due_terms(self, now: datetime, limit: int = 10_000) -> list[DueTerm]:
        ordered: Callable[[Any], tuple[str, ...]] = _pg_keys
        if self._direct is not None:
            rows: Iterable[Sequence[Any]] = await self._fetch(
                _DUE_TERMS_SQLITE, (direct.instant_text(now), limit)
            )
            instant: Callable[[Any], Any] = direct.instant_from_text
            # A thousand due terms hold a few distinct lists of passed points: each is parsed once.
            texts: dict[str | None, tuple[str, ...]] = {None: ()}

            def parsed(passed: str | None) -> tuple[str, ...]:
                keys = texts.get(passed)
                if keys is None:
                    assert passed is not None
                    keys = texts[passed] = _passed_keys(passed)
                return keys

            ordered = parsed
        else:
            rows = await self._exec(_DUE_TERMS_PG, {"now": now, "limit": limit})
            instant = _same
        found: list[DueTerm] = []
        # ... and a few distinct roles and sent lists: each is converted once.
        roles: dict[str, Role] = {}
        sent_keys: dict[str, frozenset[str]] = {}
        for row in rows:
            row_id, case_id, term_id, owner, unit, started_at, due, sent, person, passed, next_at, known = row
            role = roles.get(owner)
            if role is None:
                role = roles[owner] = Role(owner)
            keys = sent_keys.get(sent)
            if keys is None:
                keys = sent_keys[sent] = frozenset(key for key in sent.split(",") if key)
            # Positional, in Term's field order (id, case_id, term_id, owner, unit, started_at, due, closed_at,
            # met, sent, note, person): a thousand keyword calls cost a third more.
            term = Term(
                row_id, case_id, term_id, role, unit, instant(started_at), instant(due), None, None, keys, "",
                person or "",
            )  # fmt: skip
            found.append(DueTerm(term, ordered(passed), instant(next_at), bool(known)))
        return found

    async def earliest_attention(self) -> datetime | None:
        stmt = select(func.min(terms.c.next_attention)).where(terms.c.closed_at.is_(None))
        result: datetime | None = (await self._exec(stmt)).scalar_one()
        return result

    # --- /case and /find (issue 10) ----------------------------------------------------------------------

    def _seen_by_units(self, units: frozenset[str]) -> Any:
        """The `cases` row in scope is assigned or proposed to one of `units` (workflow.visibility): the
        assignments' primary key, and the short proposed_units list inside the case's state."""
        assigned = exists().where(assignments.c.case_id == cases.c.id, assignments.c.unit.in_(sorted(units)))
        return or_(assigned, self._proposed_to(units))

    def _proposed_to(self, units: frozenset[str]) -> ColumnElement[bool]:
        """The `cases` row in scope has routing proposed to one of `units` (in its state's proposed_units)."""
        if self._dialect == "postgresql":
            proposed = func.json_array_elements_text(cases.c.state["proposed_units"]).table_valued("value")
        else:
            proposed = func.json_each(cases.c.state, "$.proposed_units").table_valued("value")
        return exists(select(proposed.c.value).where(proposed.c.value.in_(sorted(units))))

    async def _found(self, where: Any, limit: int) -> list[FoundCase]:
        stmt = (
            select(
                cases.c.id, cases.c.procedure, cases.c.status, cases.c.state,
                func.substr(messages.c.text, 1, _FOUND_TEXT).label("text"), messages.c.external_number,
                messages.c.author,
            )
            .select_from(cases.join(messages, messages.c.case_id == cases.c.id))
            .where(where)
            .order_by(cases.c.id.desc())
            .limit(limit)
        )  # fmt: skip
        rows = (await self._exec(stmt)).all()
        by_case = await self._assignments([row.id for row in rows])
        found = []
        for row in rows:
            proposed = (row.state or {}).get("proposed_units") or []
            units = {a.unit for a in by_case.get(row.id, ())} | {str(u) for u in proposed}
            found.append(
                FoundCase(
                    case_id=row.id, procedure=row.procedure, status=row.status, text=row.text or "",
                    external_number=row.external_number, units=frozenset(units), author=row.author or "",
                )
            )  # fmt: skip
        return found

    async def cases_by_external_number(self, number: str, limit: int) -> list[FoundCase]:
        return await self._found(messages.c.external_number == number, limit)  # ix_messages_external_number

    async def cases_by_link(self, key: str, limit: int) -> list[FoundCase]:
        # Two indexed equalities (ix_messages_link_key, ix_cases_published_key) instead of an OR over a join.
        by_message = select(messages.c.case_id).where(messages.c.link_key == key)
        by_answer = select(cases.c.id).where(cases.c.published_key == key)
        return await self._found(cases.c.id.in_(by_message.union(by_answer)), limit)

    async def found_cases(self, case_ids: Sequence[int]) -> list[FoundCase]:
        if not case_ids:
            return []
        return await self._found(cases.c.id.in_(list(case_ids)), len(case_ids))

    async def find_cases(
        self,
        needle: str,
        *,
        final: frozenset[str],
        closed_since: datetime,
        units: frozenset[str] | None,
        limit: int,
    ) -> list[FoundCase]:
        # `search` is folded at registration, so one LIKE matches alike on SQLite (which folds ASCII only) and
        # PostgreSQL; the query is folded by the caller.
        where = and_(
            messages.c.search.like(like_pattern(needle), escape="/"),
            or_(cases.c.status.not_in(sorted(final)), cases.c.updated_at >= closed_since),
        )
        if units is not None:
            where = and_(where, self._seen_by_units(units))
        return await self._found(where, limit)

    async def overdue_terms_of_units(
        self, now: datetime, limit: int, units: frozenset[str], *, silent: frozenset[str] = frozenset()
    ) -> TermPage:
        ways = term_lists.unit_overdue_ways(now, units, self._dialect, self._proposed_to(units))
        return await self._term_page(ways, limit, _silent(silent))

    async def record_sent(self, term_row_id: int, key: str, next_attention: datetime | None) -> bool:
        params: dict[str, object]
        if not key:  # no key: only move the attention point
            params = {"term_row_id": term_row_id, "next_attention": next_attention}
            return (await self._exec(_MOVE_ATTENTION, params)).rowcount > 0
        if "," in key:
            raise ValueError(f"term key {key!r} must not contain a comma")
        # One conditional UPDATE: of two overlapping sweeps only one matches the row (PostgreSQL re-checks the
        # condition after waiting for the row lock; SQLite serialises writers).
        escaped = key.replace("/", "//").replace("%", "/%").replace("_", "/_")
        params = {
            "term_row_id": term_row_id,
            "pattern": f"%,{escaped},%",
            "suffix": f"{key},",
            "next_attention": next_attention,
        }
        return (await self._exec(_RECORD_SENT, params)).rowcount > 0

    async def record_sent_many(
        self, items: Sequence[SentRecord], *, swept: datetime | None = None
    ) -> set[int]:
        if not items:
            return set()
        won = await self._record_sent_many(items)
        if not won:
            return won
        if swept is not None:
            ids = _json(sorted(won))
            if self._direct is not None:
                await self._fetch(_DROP_SWEPT_SQLITE, (ids, direct.instant_text(swept)))
            else:
                await self._exec(_DROP_SWEPT_PG, {"ids": ids, "swept": swept})
        replaced: list[tuple[int, Sequence[Point]]] = [
            (r.term_row_id, r.points) for r in items if r.points is not None and r.term_row_id in won
        ]
        await self._replace_points(replaced)
        return won

    async def _record_sent_many(self, items: Sequence[SentRecord]) -> set[int]:
        instant_text = _instant_text(self._sa_dialect)
        # A sweep's thousand records hold a few distinct key lists and instants: each is converted once, and
        # each row's JSON is written as text (the parameter of `_json` of the rows {id, seen, suffix, next}).
        instants: dict[datetime | None, str] = {None: "null"}
        lengths: dict[frozenset[str], int] = {}
        suffixes: dict[tuple[str, ...], str] = {}
        rows: list[str] = []
        for record in items:
            suffix = suffixes.get(record.keys)
            if suffix is None:
                if any("," in key for key in record.keys):
                    raise ValueError(f"term keys {record.keys!r} must not contain a comma")
                suffix = suffixes[record.keys] = _quote("".join(f"{key}," for key in record.keys))
            seen = lengths.get(record.seen)
            if seen is None:
                # The stored text is "," followed by "key," for each sent key: its length.
                seen = lengths[record.seen] = 1 + sum(len(key) + 1 for key in record.seen)
            after = record.next_attention
            next_text = instants.get(after)
            if next_text is None:
                converted = instant_text(after)
                next_text = instants[after] = "null" if converted is None else _quote(converted)
            rows.append(f'{{"id":{record.term_row_id:d},"seen":{seen},"suffix":{suffix},"next":{next_text}}}')
        param = "[" + ",".join(rows) + "]"
        if self._direct is not None:
            return {row[0] for row in await self._fetch(_RECORD_SENT_MANY_SQLITE, (param,))}
        return set((await self._exec(_RECORD_SENT_MANY_PG, {"rows": param})).scalars())

    # --- outbox ------------------------------------------------------------------------------------------

    async def enqueue(self, notifications: Sequence[Notification]) -> int:
        unique: dict[str, Notification] = {}
        for n in notifications:
            unique.setdefault(n.dedup_key, n)  # the first of a key within one batch, as across batches
        if not unique:
            return 0
        if (fast := self._direct) is not None:
            return await self._executemany(fast.outbox.sql(1), fast.outbox_rows(unique.values()))
        outbox_rows = _pg_outbox_rows(self._sa_dialect, unique.values())
        if not self._held_rows or self._pgd is None:
            return len(await self._pg(_ENQUEUE_PG, (outbox_rows,)))
        # The events held back go in the same round trip, inserted by a CTE of the outbox's statement.
        params, rows = self._held_events, self._held_rows
        self._held_events, self._held_rows = [], 0
        return len(await self._pg_now(self._pgd.events_and_outbox(rows), (outbox_rows, *params)))

    async def pending_outbox(self, limit: int = 100) -> list[OutboxItem]:
        stmt = select(outbox).where(outbox.c.delivered_at.is_(None)).order_by(outbox.c.id).limit(limit)
        return [_outbox_from_row(row) for row in await self._exec(stmt)]

    async def claim_outbox(self, now: datetime, owner: str, lease: timedelta, limit: int) -> list[OutboxItem]:
        # One statement, so atomic on both dialects: PostgreSQL locks the rows it takes and skips the ones
        # another claim holds (a row claimed and committed meanwhile fails the re-checked condition); SQLite's
        # writers are serialised by BEGIN IMMEDIATE.
        if limit <= 0:
            return []
        result = await self._exec(
            _CLAIM_OUTBOX,
            {"now": now, "until": now + lease, "owner": owner, "limit": limit},
        )
        return sorted((_outbox_from_row(row) for row in result), key=lambda item: item.id)

    async def release_outbox(self, outbox_id: int, owner: str) -> None:
        stmt = (
            update(outbox)
            .where(outbox.c.id == outbox_id, outbox.c.claimed_by == owner, outbox.c.delivered_at.is_(None))
            .values(claimed_until=None, claimed_by=None)
        )
        await self._exec(stmt)

    async def release_foreign_claims(self, owner: str) -> int:
        # Start-up only, and only because one process runs per database (the poller lock): every other claim
        # is a dead process's, and waiting out its lease would hold its rows back for minutes.
        stmt = (
            update(outbox)
            .where(
                outbox.c.delivered_at.is_(None),
                outbox.c.claimed_by.is_not(None),
                outbox.c.claimed_by != owner,
            )
            .values(claimed_until=None, claimed_by=None)
        )
        return (await self._exec(stmt)).rowcount or 0

    async def mark_delivered(self, outbox_id: int, at: datetime) -> None:
        if self._direct is not None:
            await self._fetch(_MARK_DELIVERED_SQLITE, (direct.instant_text(at), outbox_id))
            return
        stmt = (
            update(outbox)
            .where(outbox.c.id == outbox_id, outbox.c.delivered_at.is_(None))
            .values(delivered_at=at, claimed_until=None, claimed_by=None)
        )
        await self._exec(stmt)

    async def mark_failed(self, outbox_id: int, error: str) -> None:
        error = error.replace("\x00", "\\x00")[:_LAST_ERROR_MAX]
        stmt = (
            update(outbox)
            .where(outbox.c.id == outbox_id)
            .values(attempts=outbox.c.attempts + 1, last_error=error)
        )
        await self._exec(stmt)

    async def record_delivery(
        self, outbox_id: int, chat_id: int, message_id: int | None, at: datetime
    ) -> bool:
        if (fast := self._direct) is not None:
            values = {"outbox_id": outbox_id, "chat_id": chat_id, "message_id": message_id, "delivered_at": at}
            return bool(await self._fetch(fast.delivery.sql(1), fast.delivery.params([values])))
        stmt = (
            self._insert(deliveries)
            .values(outbox_id=outbox_id, chat_id=chat_id, message_id=message_id, delivered_at=at)
            .on_conflict_do_nothing(index_elements=[deliveries.c.outbox_id, deliveries.c.chat_id])
            .returning(deliveries.c.id)
        )
        return (await self._exec(stmt)).first() is not None

    async def deliveries(self, outbox_id: int) -> set[int]:
        return {row[0] for row in await self._rows(_DELIVERED_CHATS, {"outbox_id": outbox_id})}

    # --- cards -------------------------------------------------------------------------------------------

    async def begin_card_post(self, case_id: int, chat_id: int, at: datetime) -> None:
        if (fast := self._direct) is not None:
            values = {"case_id": case_id, "chat_id": chat_id, "since": at}
            await self._fetch(fast.card_post.sql(1), fast.card_post.params([values]))
            return
        insert = self._insert(card_posts).values(case_id=case_id, chat_id=chat_id, since=at)
        stmt = insert.on_conflict_do_update(
            index_elements=[card_posts.c.case_id, card_posts.c.chat_id], set_={"since": insert.excluded.since}
        )
        await self._exec(stmt)

    async def set_card(
        self, case_id: int, chat_id: int, message_id: int, shown_version: int | None = None
    ) -> None:
        if (fast := self._direct) is not None:
            values = {
                "case_id": case_id, "chat_id": chat_id, "message_id": message_id, "updated_at": self._clock.now(),
                "shown_version": shown_version, "posted_version": shown_version,
            }  # fmt: skip
            await self._fetch(fast.card.sql(1), fast.card.params([values]))
            await self._fetch(_END_CARD_POST_SQLITE, (case_id, chat_id))  # no longer "being posted"
            return
        insert = self._insert(cards).values(
            case_id=case_id,
            chat_id=chat_id,
            message_id=message_id,
            updated_at=self._clock.now(),
            shown_version=shown_version,
            posted_version=shown_version,
        )
        stmt = insert.on_conflict_do_update(
            index_elements=[cards.c.case_id, cards.c.chat_id],
            set_={
                "message_id": insert.excluded.message_id,
                "updated_at": insert.excluded.updated_at,
                "shown_version": insert.excluded.shown_version,
                "posted_version": insert.excluded.posted_version,
            },
        )
        await self._exec(stmt)
        # The post is answered and recorded: it is no longer "being posted" (same transaction).
        await self._exec(
            delete(card_posts).where(card_posts.c.case_id == case_id, card_posts.c.chat_id == chat_id)
        )

    async def end_card_post(self, case_id: int, chat_id: int) -> None:
        if self._direct is not None:
            await self._fetch(_END_CARD_POST_SQLITE, (case_id, chat_id))
            return
        await self._exec(
            delete(card_posts).where(card_posts.c.case_id == case_id, card_posts.c.chat_id == chat_id)
        )

    async def card_shown(self, case_id: int, chat_id: int, message_id: int, version: int) -> None:
        # Only the message still recorded (a repost meanwhile has its own version), and never backwards.
        stmt = (
            update(cards)
            .where(
                cards.c.case_id == case_id,
                cards.c.chat_id == chat_id,
                cards.c.message_id == message_id,
                or_(cards.c.shown_version.is_(None), cards.c.shown_version < version),
            )
            .values(shown_version=version)
        )
        await self._exec(stmt)

    async def card_posts(self, case_id: int) -> set[int]:
        return {row[0] for row in await self._rows(_CARD_POSTS_OF_CASE, {"case_id": case_id})}

    async def unfinished_card_posts(self, after: tuple[int, int] | None, limit: int) -> list[tuple[int, int]]:
        # By primary key, a page at a time: a crash leaves at most the posts then in flight.
        stmt = (
            select(card_posts.c.case_id, card_posts.c.chat_id)
            .order_by(card_posts.c.case_id, card_posts.c.chat_id)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(tuple_(card_posts.c.case_id, card_posts.c.chat_id) > tuple_(*after))
        return [(row.case_id, row.chat_id) for row in await self._exec(stmt)]

    async def open_cases_after(self, after_id: int, limit: int) -> list[Case]:
        # A walk by primary key with an index probe per case (ix_terms_case): a page costs `limit` rows
        # however many cases there are.
        stmt = (
            select(cases)
            .where(
                cases.c.id > after_id,
                exists().where(terms.c.case_id == cases.c.id, terms.c.closed_at.is_(None)),
            )
            .order_by(cases.c.id)
            .limit(limit)
        )
        rows = (await self._exec(stmt)).all()
        by_case = await self._assignments([row.id for row in rows])
        return [_case_from_row(row, by_case.get(row.id, ())) for row in rows]

    async def card_versions(self, case_ids: Sequence[int]) -> dict[int, dict[int, int | None]]:
        found: dict[int, dict[int, int | None]] = {case_id: {} for case_id in case_ids}
        if not case_ids:
            return found
        stmt = select(cards.c.case_id, cards.c.chat_id, cards.c.shown_version).where(
            cards.c.case_id.in_(list(case_ids))
        )
        for row in await self._exec(stmt):
            found[row.case_id][row.chat_id] = row.shown_version
        return found

    async def posted_versions(self, case_id: int) -> dict[int, int | None]:
        return dict(await self._rows(_POSTED_VERSIONS, {"case_id": case_id}))

    async def cards(self, case_id: int) -> dict[int, int]:
        return dict(await self._rows(_CARDS_OF_CASE, {"case_id": case_id}))

    async def case_for_card(self, chat_id: int, message_id: int) -> int | None:
        stmt = select(cards.c.case_id).where(cards.c.chat_id == chat_id, cards.c.message_id == message_id)
        case_id: int | None = (await self._exec(stmt)).scalars().first()
        return case_id

    async def remember_messages(
        self, case_id: int, chat_id: int, message_ids: Sequence[int], kind: str, at: datetime
    ) -> None:
        rows = [
            {"chat_id": chat_id, "message_id": m, "case_id": case_id, "kind": kind, "at": at}
            for m in dict.fromkeys(message_ids)
            if m > 0
        ]
        if rows:
            # A resend after a crash is a new message id; the same id recorded twice (a re-handled update) is one.
            await self._exec(
                self._insert(bot_messages)
                .values(rows)
                .on_conflict_do_nothing(index_elements=[bot_messages.c.chat_id, bot_messages.c.message_id])
            )

    async def case_for_message(self, chat_id: int, message_id: int) -> int | None:
        found = await self.case_for_card(chat_id, message_id)
        if found is not None:
            return found
        stmt = select(bot_messages.c.case_id).where(
            bot_messages.c.chat_id == chat_id, bot_messages.c.message_id == message_id
        )
        case_id: int | None = (await self._exec(stmt)).scalars().first()
        return case_id

    # --- staff -------------------------------------------------------------------------------------------

    async def upsert_staff(self, actor: Actor) -> None:
        insert = self._insert(staff).values(
            user_id=actor.user_id,
            name=actor.name,
            roles=sorted(Role(r).value for r in actor.roles),
            units=sorted(actor.units),
            updated_at=self._clock.now(),
        )
        stmt = insert.on_conflict_do_update(
            index_elements=[staff.c.user_id],
            set_={c: insert.excluded[c] for c in ("name", "roles", "units", "updated_at")},
        )
        await self._exec(stmt)

    async def get_staff(self, user_id: int) -> Actor | None:
        row = (await self._exec(select(staff).where(staff.c.user_id == user_id))).one_or_none()
        return None if row is None else _actor_from_row(row)

    async def staff(self, *, role: Role | None = None, unit: str | None = None) -> list[Actor]:
        # The staff list is small and roles/units are JSON lists: filter here, identically on both dialects.
        actors = [_actor_from_row(row) for row in await self._exec(select(staff).order_by(staff.c.user_id))]
        return [a for a in actors if (role is None or role in a.roles) and (unit is None or unit in a.units)]

    async def remove_staff(self, user_id: int) -> bool:
        return (await self._exec(delete(staff).where(staff.c.user_id == user_id))).rowcount > 0

    # --- network items' files (issue 11) -----------------------------------------------------------------

    async def save_channel_files(self, files: Sequence[ChannelFile]) -> int:
        """Keep the files; a position already kept for the item is left as it is. How many were new."""
        if not files:
            return 0
        rows = [
            {"item_key": f.item_key, "position": f.position, "kind": f.kind, "name": f.name, "mime": f.mime,
             "size": f.size, "sha256": f.sha256, "data": f.data, "error": f.error, "fetched_at": f.fetched_at}
            for f in files
        ]  # fmt: skip
        stmt = self._insert(channel_files).on_conflict_do_nothing(index_elements=["item_key", "position"])
        return len((await self._exec(stmt.returning(channel_files.c.id), rows)).all())

    async def channel_files(self, item_key: str) -> list[ChannelFile]:
        """The item's files in their attachment order."""
        stmt = (
            select(channel_files)
            .where(channel_files.c.item_key == item_key)
            .order_by(channel_files.c.position)
        )
        return [
            ChannelFile(r.item_key, r.position, r.kind, r.name, r.mime, r.size, r.sha256, r.data, r.error,
                        r.fetched_at)
            for r in (await self._exec(stmt)).all()
        ]  # fmt: skip

    # --- key/value ----------------------------------------------------------------------------------------

    async def kv_get(self, key: str) -> str | None:
        value: str | None = (await self._exec(select(kv.c.value).where(kv.c.key == key))).scalar_one_or_none()
        return value

    async def kv_set(self, key: str, value: str) -> None:
        insert = self._insert(kv).values(key=key, value=value)
        await self._exec(
            insert.on_conflict_do_update(index_elements=[kv.c.key], set_={"value": insert.excluded.value})
        )

    # --- the п.18 report (issue 14; storage/reports.py aggregates it in SQL) --------------------------------

    async def report(
        self, period: Period, now: datetime, *, return_only: frozenset[str], units: frozenset[str] | None
    ) -> Report:
        await self.flush()
        return await read_report(self._async_conn(), period, now, return_only=return_only, units=units)

    # --- the office head's digest (workflow/services/digest.py) -------------------------------------------

    async def new_cases_by_procedure(self, since: datetime, until: datetime) -> dict[str, int]:
        # Once a working day (the digest's decision is recorded): a count over the day's registrations.
        stmt = (
            select(cases.c.procedure.label("what"), func.count().label("n"))
            .where(cases.c.created_at >= since, cases.c.created_at < until)
            .group_by(cases.c.procedure)
        )
        return {str(row.what): int(row.n) for row in await self._exec(stmt)}

    async def open_cases_by_status(self) -> dict[str, int]:
        # ix_cases_status groups; the open-term probe is ix_terms_case, as open_cases_after has it.
        stmt = (
            select(cases.c.status.label("what"), func.count().label("n"))
            .where(exists().where(terms.c.case_id == cases.c.id, terms.c.closed_at.is_(None)))
            .group_by(cases.c.status)
        )
        return {str(row.what): int(row.n) for row in await self._exec(stmt)}

    async def terms_due_between(
        self, after: datetime, until: datetime, limit: int, *, silent: frozenset[str] = frozenset()
    ) -> TermPage:
        way = term_lists.Way(and_(terms.c.due > after, terms.c.due <= until))  # ix_terms_open_due
        return await self._term_page([way], limit, _silent(silent))

    # --- row <-> domain -----------------------------------------------------------------------------------------

    # --- publications (issue 11) -------------------------------------------------------------------------

    async def add_publication(self, publication: Publication, at: datetime) -> Publication:
        values = _publication_values(publication)
        values.update(created_at=at, updated_at=at)
        row = (await self._exec(publications.insert().values(values).returning(*publications.c))).one()
        return _publication_from_row(row)

    async def get_publication(self, publication_id: int) -> Publication | None:
        stmt = select(publications).where(publications.c.id == publication_id)
        row = (await self._exec(stmt)).first()
        return _publication_from_row(row) if row is not None else None

    # --- personal data (issue 14; the rest is storage/personal_data.py) -------------------------------------

    @property
    def connection(self) -> AsyncConnection:
        """The transaction's connection, for storage modules with statements of their own (personal_data)."""
        if self._held_rows:
            # Statements sent past this transaction would overtake the events held for its next one.
            raise RuntimeError("events appended and not sent yet: call flush() before using the connection")
        return self._async_conn()

    async def record_access(self, entries: Sequence[AccessEntry]) -> None:
        if entries:
            await self._exec(access_log.insert(), [
                {"case_id": e.case_id, "user_id": e.user_id, "roles": ",".join(sorted(e.roles)),
                 "chat_id": e.chat_id, "what": e.what, "at": e.at}
                for e in entries
            ])  # fmt: skip

    async def latest_publication(self, case_id: int) -> Publication | None:
        found = await self._rows(_LATEST_PUBLICATION, {"case_id": case_id})
        return _publication_from_row(found[0]) if found else None

    async def claim_publications(self, now: datetime, owner: str, limit: int) -> list[Publication]:
        # One statement: PostgreSQL locks the rows it takes and skips those another claim holds; SQLite's
        # writers are serialised by BEGIN IMMEDIATE (FOR UPDATE is not rendered there).
        if limit <= 0:
            return []
        due = (
            select(publications.c.id)
            .where(
                publications.c.state == "pending",
                or_(publications.c.next_at.is_(None), publications.c.next_at <= now),
            )
            .order_by(publications.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(publications)
            .where(publications.c.id.in_(due.scalar_subquery()), publications.c.state == "pending")
            .values(state=SENDING, claimed_by=owner, attempts=publications.c.attempts + 1, updated_at=now)
            .returning(*publications.c)
        )
        rows = (await self._exec(stmt)).all()
        return sorted((_publication_from_row(r) for r in rows), key=lambda p: p.id)

    async def foreign_publication_claims(self, owner: str) -> list[Publication]:
        """Rows being sent by another run: at start (one process a database) a dead run's."""
        stmt = select(publications).where(
            publications.c.state == SENDING,
            or_(publications.c.claimed_by.is_(None), publications.c.claimed_by != owner),
        )
        return [_publication_from_row(r) for r in await self._exec(stmt)]

    async def set_publication(
        self,
        publication_id: int,
        state: str,
        at: datetime,
        *,
        error: str = "",
        link: str = "",
        next_at: datetime | None = None,
        expect: str | None = None,
    ) -> bool:
        """Move a row to `state` (with `expect`: only from that state); the claim ends. False: not moved."""
        where = [publications.c.id == publication_id]
        if expect is not None:
            where.append(publications.c.state == expect)
        stmt = (
            update(publications)
            .where(*where)
            .values(
                state=state,
                error=error.replace("\x00", "")[:_LAST_ERROR_MAX] or None,
                link=link or None,
                next_at=next_at,
                claimed_by=None,
                updated_at=at,
            )
        )
        return bool((await self._exec(stmt)).rowcount)

    async def next_publication_at(self) -> datetime | None:
        """The earliest back-off instant of a pending row (None: none waits)."""
        stmt = select(func.min(publications.c.next_at)).where(publications.c.state == "pending")
        value: datetime | None = (await self._exec(stmt)).scalar_one_or_none()
        return value


def _case_values(case: Case) -> dict[str, Any]:
    return {
        "procedure": Procedure(case.procedure).value,
        "status": case.status,
        "version": case.version,
        "t0": case.t0,
        "category": case.category,
        "repeat_of": case.repeat_of,
        "state": codec.encode_fields(case, codec.other_fields(Case, _CASE_NOT_IN_STATE)),
        "published_key": link_key(case.published_link) or None,
    }


def _case_from_row(row: Row[Any], case_assignments: Iterable[Assignment]) -> Case:
    kwargs = codec.decode_fields(Case, row.state, exclude=_CASE_NOT_IN_STATE)
    kwargs.update(
        id=row.id,
        procedure=Procedure(row.procedure),
        status=row.status,
        version=row.version,
        t0=row.t0,
        category=row.category,
        repeat_of=row.repeat_of,
        assignments=tuple(case_assignments),
    )
    case: Case = codec.build(Case, kwargs)
    return case


def _assignment_values(case_id: int, position: int, a: Assignment) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "position": position,
        "unit": a.unit,
        "responsible": a.responsible,
        "accepted": a.accepted,
        "info_given": a.info_given,
        "extra": codec.encode_fields(a, codec.other_fields(Assignment, ASSIGNMENT_COLUMNS)),
    }


def _assignment_from_row(row: Row[Any]) -> Assignment:
    kwargs = codec.decode_fields(Assignment, row.extra, exclude=ASSIGNMENT_COLUMNS)
    kwargs.update(
        unit=row.unit, responsible=row.responsible, accepted=row.accepted, info_given=row.info_given
    )
    assignment: Assignment = codec.build(Assignment, kwargs)
    return assignment


def _message_values(m: InboundMessage) -> dict[str, Any]:
    hints = codec.field_hints(InboundMessage)
    return {
        "source": Source(m.source).value,
        "source_id": m.source_id,
        "procedure": Procedure(m.procedure).value,
        "text": m.text,
        "author": m.author,
        "link": m.link,
        "category": m.category,
        "attachments": codec.encode(m.attachments, hints["attachments"], where="InboundMessage.attachments"),
        "external_number": m.external_number,
        "received_at": m.received_at,
        "detected_at": m.detected_at,
        "extra": codec.encode_fields(m, codec.other_fields(InboundMessage, MESSAGE_COLUMNS)),
        "search": search_text(m.text, m.author, m.link, m.external_number),
        "link_key": link_key(m.link) or None,
    }


def _message_from_row(row: Row[Any]) -> InboundMessage:
    hints = codec.field_hints(InboundMessage)
    kwargs = codec.decode_fields(InboundMessage, row.extra, exclude=MESSAGE_COLUMNS)
    kwargs.update(
        source=Source(row.source),
        source_id=row.source_id,
        procedure=Procedure(row.procedure),
        text=row.text,
        author=row.author,
        link=row.link,
        category=row.category,
        attachments=codec.decode(row.attachments, hints["attachments"], where="InboundMessage.attachments"),
        external_number=row.external_number,
        received_at=row.received_at,
        detected_at=row.detected_at,
    )
    message: InboundMessage = codec.build(InboundMessage, kwargs)
    return message


def _term_from_row(row: Row[Any]) -> Term:
    return Term(
        id=row.id,
        case_id=row.case_id,
        term_id=row.term_id,
        owner=Role(row.owner),
        unit=row.unit,
        started_at=row.started_at,
        due=row.due,
        closed_at=row.closed_at,
        met=row.met,
        sent=frozenset(key for key in row.sent.split(",") if key),
        note=row.note or "",
        person=row.person or "",
    )


_CUSTOM_PLANS = text(
    "SET LOCAL plan_cache_mode = force_custom_plan"
)  # PostgreSQL, until the transaction ends


def _silent(silent: frozenset[str]) -> ColumnElement[bool] | None:
    """The return-only terms a list of what is overdue leaves off (they lapse into acceptance, no one owes them)."""
    return terms.c.term_id.in_(sorted(silent)) if silent else None


def _same(value: Any) -> Any:
    return value


def _passed_keys(text: str) -> tuple[str, ...]:
    """_DUE_TERMS_SQLITE's [[n, key], ...] (in any order) as the keys in the points' order."""
    items: list[list[Any]] = json.loads(text)
    if len(items) > 1:
        items.sort()  # by n, the primary key's: no two alike
    return tuple(key for _, key in items)


def _pg_keys(passed: list[str] | None) -> tuple[str, ...]:
    """_DUE_TERMS_PG's array of passed keys, in the points' order already."""
    return () if passed is None else tuple(passed)


def _chunks(rows: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def _event_values(case_id: int, event: Event) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "action": event.action,
        "actor_id": event.actor_id,
        "actor_role": Role(event.actor_role).value,
        "at": event.at,
        "text": event.text,
        "data": codec.encode_mapping(event.data, where="Event.data"),
        "undo": None if event.undo is None else codec.encode(event.undo, UndoState, where="Event.undo"),
    }


def _term_values(case_id: int, start: TermStart, next_attention: datetime | None) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "term_id": start.term_id,
        "owner": Role(start.owner).value,
        "unit": start.unit,
        "started_at": start.started_at,
        "due": start.due,
        "sent": ",",
        "next_attention": next_attention,
        "note": start.note or None,
        "person": start.person or None,
    }


def _notification_values(n: Notification) -> dict[str, Any]:
    return {
        "dedup_key": n.dedup_key,
        "case_id": n.case_id,
        "kind": n.kind,
        "to_role": Role(n.to_role).value,
        "unit": n.unit,
        "term_id": n.term_id,
        "at": n.at,
        "payload": codec.encode_mapping(n.payload, where="Notification.payload"),
        "attempts": 0,
    }


def _outbox_from_row(row: Row[Any]) -> OutboxItem:
    notification = Notification(
        dedup_key=row.dedup_key,
        case_id=row.case_id,
        kind=row.kind,
        to_role=Role(row.to_role),
        at=row.at,
        term_id=row.term_id,
        unit=row.unit,
        payload=dict(row.payload),
    )
    return OutboxItem(
        id=row.id, notification=notification, attempts=row.attempts, delivered_at=row.delivered_at
    )


def _actor_from_row(row: Row[Any]) -> Actor:
    return Actor(
        user_id=row.user_id,
        roles=frozenset(Role(r) for r in row.roles),
        units=frozenset(row.units),
        name=row.name,
    )


def _publication_values(p: Publication) -> dict[str, Any]:
    return {
        "case_id": p.case_id,
        "network": p.network.value,
        "item_key": p.item_key,
        "item_link": p.item_link,
        "text": p.text,
        "kind": p.kind,
        "state": p.state,
        "attempts": p.attempts,
        "error": p.error or None,
        "link": p.link or None,
        "requested_by": p.requested_by,
        "requested_by_name": p.requested_by_name,
        "confirmed": p.confirmed,
        "next_at": p.next_at,
    }


def _publication_from_row(row: Row[Any]) -> Publication:
    return Publication(
        id=row.id,
        case_id=row.case_id,
        network=Network(row.network),
        item_key=row.item_key,
        item_link=row.item_link,
        text=row.text,
        state=row.state,
        kind=row.kind,
        attempts=row.attempts,
        error=row.error or "",
        link=row.link or "",
        requested_by=row.requested_by,
        requested_by_name=row.requested_by_name,
        confirmed=bool(row.confirmed),
        next_at=row.next_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


if TYPE_CHECKING:
    # mypy proves the Protocols are implemented; nothing runs.
    def _conforms(repo: SqlRepository, tx: SqlTransaction) -> tuple[Repository, Transaction]:
        return repo, tx


if TYPE_CHECKING:
    from workflow.services.digest import DigestRepository, DigestTransaction

    # mypy proves the digest's Protocols are implemented; nothing runs.
    def _digest_conforms(
        repo: SqlRepository, tx: SqlTransaction
    ) -> tuple[DigestRepository, DigestTransaction]:
        return repo, tx
