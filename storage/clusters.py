"""The SQL of similar-message clusters and repeat lookups (issues 13, 16): tables `clusters`, `case_signatures`
and their stem and address index `signature_terms`.

A mixin of `storage.repository.SqlTransaction`: each method is one indexed statement (or a few), so comparing a
new message with its window or its repeat span costs the same whatever the database holds. A new message reads
only the signatures that share a term with it (`similar_candidates`): for each of its stems and its address,
the newest `per_term` postings within the time bound (one backward range of `ix_signature_terms_procedure_term_at`
each, which also bounds a stop-word-like stem that half the window shares), and of those signatures the newest
`limit`. On SQLite the hot statements go straight through the driver (storage/direct.py): the same SQL
parameters and stored bytes, without SQLAlchemy's per-row decoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Dialect, Executable, Row, insert, select, update
from sqlalchemy.engine import CursorResult

from storage import direct
from storage.tables import case_signatures, clusters, signature_terms
from storage.types import UtcDateTime
from workflow.ports import ClusterRow, SignatureRow

_c = case_signatures.c
_t = signature_terms.c
# Terms per candidate statement: SQLite allows 500 terms in a compound SELECT; a longer message (a few hundred
# distinct stems) is looked up in several statements.
TERMS_PER_STATEMENT = 200
_SIGNATURE_KEYS = ("case_id", "procedure", "at", "stems", "address", "author")
_TERM_KEYS = ("case_id", "term", "procedure", "at")
_COLUMNS_SQLITE = "case_id, at, stems, address, author, cluster_id"
_POSTINGS_SQLITE = (
    "SELECT case_id FROM (SELECT case_id FROM signature_terms WHERE procedure = ? AND term = ? AND at >= ?"
    " AND at <= ? ORDER BY at DESC, case_id DESC LIMIT ?)"
)
_CANDIDATES_SQLITE: dict[int, str] = {}
# The registration's other cluster statements on SQLite (one driver hop each instead of SQLAlchemy's four).
_LATEST_BY_AUTHOR_SQLITE = (
    f"SELECT {_COLUMNS_SQLITE} FROM case_signatures WHERE author = ? AND at >= ? AND procedure = ?"
    " ORDER BY at DESC, case_id DESC LIMIT 1"
)
_CLUSTER_SQLITE = "SELECT id, started_at, reported_at FROM clusters WHERE id = ?"
_CLUSTER_SIZE_SQLITE = "SELECT count(*) FROM case_signatures WHERE cluster_id = ?"
# PostgreSQL: the same statements as fixed text through asyncpg (storage/pg_direct.py), prepared once per
# connection; SQLAlchemy built the candidates' statement anew for every message, one subquery per term, and that
# cost more of the registration's CPU than anything else. The terms come as one array, each term's newest
# `per_term` postings read by LATERAL: the same rows as a UNION ALL of one subquery per term.
# In SignatureRow's order, "" for an unknown address or author, so that a row is built from a record as it is.
_COLUMNS_PG = "case_id, at, stems, coalesce(address, ''), coalesce(author, ''), cluster_id"
_CANDIDATES_PG = (
    f"SELECT {_COLUMNS_PG} FROM case_signatures WHERE case_id IN ("
    "SELECT p.case_id FROM unnest($2::VARCHAR[]) AS w(term) CROSS JOIN LATERAL ("
    "SELECT case_id FROM signature_terms WHERE procedure = $1::VARCHAR AND term = w.term"
    " AND at >= $3::TIMESTAMP WITH TIME ZONE AND at <= $4::TIMESTAMP WITH TIME ZONE"
    " ORDER BY at DESC, case_id DESC LIMIT $5::INTEGER) AS p)"
    " ORDER BY at DESC, case_id DESC LIMIT $6::INTEGER"
)
_LATEST_BY_AUTHOR_PG = (
    f"SELECT {_COLUMNS_PG} FROM case_signatures WHERE author = $1::VARCHAR"
    " AND at >= $2::TIMESTAMP WITH TIME ZONE AND procedure = $3::VARCHAR"
    " ORDER BY at DESC, case_id DESC LIMIT 1"
)
# The signature and its terms in one round trip: the signature in a CTE, its terms from an array beside it.
_ADD_SIGNATURE_PG = (
    "WITH s AS (INSERT INTO case_signatures (case_id, procedure, at, stems, address, author)"
    " VALUES ($1::BIGINT, $2::VARCHAR, $3::TIMESTAMP WITH TIME ZONE, $4::TEXT, $5::VARCHAR, $6::VARCHAR)"
    " RETURNING case_id, procedure, at)"
    " INSERT INTO signature_terms (case_id, term, procedure, at)"
    " SELECT s.case_id, w.term, s.procedure, s.at FROM s CROSS JOIN unnest($7::VARCHAR[]) AS w(term)"
)
# Joining a cluster reads back the cluster and its size in the same round trip (a registration asks for both
# right after joining): the count is of the snapshot before the update, plus the rows it moved in, so the
# signatures already in the cluster are left unwritten.
_JOIN_CLUSTER_PG = (
    "WITH moved AS (UPDATE case_signatures SET cluster_id = $1::BIGINT WHERE case_id = ANY($2::BIGINT[])"
    " AND cluster_id IS DISTINCT FROM $1::BIGINT RETURNING case_id)"
    " SELECT c.id, c.started_at, c.reported_at,"
    " (SELECT count(*) FROM case_signatures WHERE cluster_id = $1::BIGINT) + (SELECT count(*) FROM moved)"
    " FROM clusters AS c WHERE c.id = $1::BIGINT"
)
_CLUSTER_PG = "SELECT id, started_at, reported_at FROM clusters WHERE id = $1::BIGINT"
_CLUSTER_SIZE_PG = "SELECT count(*) FROM case_signatures WHERE cluster_id = $1::BIGINT"


def terms_of(stems: str, address: str) -> list[str]:
    """The index terms of a signature: each distinct stem, and "@" + the address key when it names one."""
    found = sorted(set(stems.split()))
    if address:
        found.append("@" + address)
    return found


def _candidates_sqlite(terms: int) -> str:
    sql = _CANDIDATES_SQLITE.get(terms)
    if sql is None:
        sql = (
            f"SELECT {_COLUMNS_SQLITE} FROM case_signatures WHERE case_id IN ("
            + " UNION ALL ".join([_POSTINGS_SQLITE] * terms)
            + ") ORDER BY at DESC, case_id DESC LIMIT ?"
        )
        _CANDIDATES_SQLITE[terms] = sql
    return sql


class _SqliteInserts:
    def __init__(self, dialect: Dialect) -> None:
        self.signature = direct.Insert(case_signatures, _SIGNATURE_KEYS, dialect)
        self.term = direct.Insert(signature_terms, _TERM_KEYS, dialect)


_INSERTS: list[_SqliteInserts] = []  # built once (SQLite's processors do not depend on the engine)


def _instant(text: str) -> datetime:
    """A stored SQLite instant (never NULL here) as direct.instant_from_text reads it (the same instant, tzinfo
    `UTC`): parsing the offset costs a tenth of `.replace(tzinfo=...)`, and a registration reads hundreds."""
    return datetime.fromisoformat(text + "+00:00")


# SignatureRow is frozen: its __init__ sets each field through object.__setattr__, most of what a candidate row
# cost, and a registration reads a few hundred. A stored row is built here by setting its slots directly (what
# that __init__ does, without its per-field lookups); tests/storage/test_signature_terms.py compares the rows.
_SIGNATURE_SLOTS = tuple(
    getattr(SignatureRow, name).__set__ for name in ("case_id", "at", "stems", "address", "author", "cluster_id")
)


def _sqlite_row(row: tuple[Any, ...]) -> SignatureRow:
    case_id, at, stems, address, author, cluster_id = row
    built: SignatureRow = object.__new__(SignatureRow)
    set_case, set_at, set_stems, set_address, set_author, set_cluster = _SIGNATURE_SLOTS
    set_case(built, case_id)
    set_at(built, _instant(at))
    set_stems(built, stems)
    set_address(built, address or "")
    set_author(built, author or "")
    set_cluster(built, cluster_id)
    return built


# A storm's registrations read mostly the same stored rows again (the window's newest): each row read is built
# once, process-wide, keyed by all its stored values (a row that joined a cluster is another key). The rows are
# immutable, so sharing one between transactions (or databases) is sharing equal values.
_ROWS: dict[tuple[Any, ...], SignatureRow] = {}
_ROWS_CAP = 8_192  # rows kept; past it the cache starts again (it only saves building them)


def _sqlite_rows(found: list[tuple[Any, ...]]) -> list[SignatureRow]:
    """`_sqlite_row` of each row read, through `_ROWS`."""
    rows, get = [], _ROWS.get
    for values in found:
        row = get(values)
        if row is None:
            if len(_ROWS) >= _ROWS_CAP:
                _ROWS.clear()
            row = _ROWS[values] = _sqlite_row(values)
        rows.append(row)
    return rows


def _pg_row(row: Any) -> SignatureRow:
    """A record of _COLUMNS_PG (address and author coalesced to '' on the server), built by its slots as
    _sqlite_row builds one: half the cost of SignatureRow(*row), which a storm's registration paid ~340 times."""
    case_id, at, stems, address, author, cluster_id = row
    built: SignatureRow = object.__new__(SignatureRow)
    set_case, set_at, set_stems, set_address, set_author, set_cluster = _SIGNATURE_SLOTS
    set_case(built, case_id)
    set_at(built, at)
    set_stems(built, stems)
    set_address(built, address)
    set_author(built, author)
    set_cluster(built, cluster_id)
    return built


_UTC_DATETIME = UtcDateTime()


def _pg_instant(value: datetime, dialect: Dialect) -> datetime | None:
    """A parameter of a `UtcDateTime` column, as its bind processor converts it (UTC; naive refused)."""
    return _UTC_DATETIME.process_bind_param(value, dialect)


def _row(row: Row[Any]) -> SignatureRow:
    return SignatureRow(
        case_id=row.case_id, at=row.at, stems=row.stems, address=row.address or "", author=row.author or "",
        cluster_id=row.cluster_id,
    )  # fmt: skip


class ClusterStatements:
    """The cluster and signature part of a transaction (ports.Transaction)."""

    _sa_dialect: Dialect
    _dialect: str
    # PostgreSQL: statements this transaction sent (`_exec` and `_pg` count them), and the cluster and size the
    # last join read back, at that count: `cluster` and `cluster_size` answer from it while no statement has
    # been sent since (so nothing this transaction did can have changed them).
    _statements: int = 0
    _joined: tuple[int, int, ClusterRow | None, int] | None = None

    async def _exec(self, stmt: Executable, params: Any = None) -> CursorResult[Any]:
        raise NotImplementedError  # the transaction's own

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError  # the transaction's own (SQLite)

    async def _pg(self, sql: str, params: Sequence[Any]) -> Sequence[Any]:
        raise NotImplementedError  # the transaction's own (PostgreSQL)

    async def add_signature(self, procedure: str, row: SignatureRow) -> None:
        values = {
            "case_id": row.case_id, "procedure": procedure, "at": row.at, "stems": row.stems,
            "address": row.address or None, "author": row.author or None,
        }  # fmt: skip
        terms = [
            {"case_id": row.case_id, "term": term, "procedure": procedure, "at": row.at}
            for term in terms_of(row.stems, row.address)
        ]
        if self._dialect == "sqlite":
            if not _INSERTS:
                _INSERTS.append(_SqliteInserts(self._sa_dialect))
            fast = _INSERTS[0]
            await self._fetch(fast.signature.sql(1), fast.signature.params([values]))
            for start in range(0, len(terms), fast.term.max_rows):
                chunk = terms[start : start + fast.term.max_rows]
                await self._fetch(fast.term.sql(len(chunk)), fast.term.params(chunk))
            return
        at = _pg_instant(row.at, self._sa_dialect)
        names = [t["term"] for t in terms]
        await self._pg(
            _ADD_SIGNATURE_PG,
            (row.case_id, procedure, at, row.stems, row.address or None, row.author or None, names),
        )

    async def similar_candidates(
        self,
        procedure: str,
        stems: str,
        address: str,
        since: datetime,
        until: datetime,
        *,
        per_term: int,
        limit: int,
    ) -> list[SignatureRow]:
        terms = terms_of(stems, address)
        if len(terms) <= TERMS_PER_STATEMENT:  # one statement: its rows come newest first, at most `limit`
            return await self._candidates(procedure, terms, since, until, per_term, limit)
        found: dict[int, SignatureRow] = {}
        for start in range(0, len(terms), TERMS_PER_STATEMENT):
            chunk = terms[start : start + TERMS_PER_STATEMENT]
            for row in await self._candidates(procedure, chunk, since, until, per_term, limit):
                found[row.case_id] = row
        newest = sorted(found.values(), key=lambda r: (r.at, r.case_id), reverse=True)
        return newest[:limit]

    async def _candidates(
        self,
        procedure: str,
        terms: Sequence[str],
        since: datetime,
        until: datetime,
        per_term: int,
        limit: int,
    ) -> list[SignatureRow]:
        if not terms or limit <= 0 or per_term <= 0:
            return []
        if self._dialect == "sqlite":
            low, high = direct.instant_text(since), direct.instant_text(until)
            params: list[Any] = []
            for term in terms:
                params.extend((procedure, term, low, high, per_term))
            params.append(limit)
            return _sqlite_rows(await self._fetch(_candidates_sqlite(len(terms)), params))
        bounds = (_pg_instant(since, self._sa_dialect), _pg_instant(until, self._sa_dialect))
        found = await self._pg(_CANDIDATES_PG, (procedure, list(terms), *bounds, per_term, limit))
        return [_pg_row(r) for r in found]

    async def recent_signatures(
        self, procedure: str, since: datetime, until: datetime, limit: int
    ) -> list[SignatureRow]:
        stmt = (
            select(case_signatures)
            .where(_c.procedure == procedure, _c.at >= since, _c.at <= until)
            .order_by(_c.at.desc(), _c.case_id.desc())
            .limit(limit)
        )
        return [_row(r) for r in (await self._exec(stmt)).all()]

    async def latest_by_author(self, procedure: str, author: str, since: datetime) -> SignatureRow | None:
        if self._dialect == "sqlite":
            rows = await self._fetch(
                _LATEST_BY_AUTHOR_SQLITE, (author, direct.instant_text(since), procedure)
            )
            return _sqlite_row(rows[0]) if rows else None
        found = await self._pg(
            _LATEST_BY_AUTHOR_PG, (author, _pg_instant(since, self._sa_dialect), procedure)
        )
        return _pg_row(found[0]) if found else None

    async def new_cluster(self, started_at: datetime) -> int:
        stmt = insert(clusters).values(started_at=started_at).returning(clusters.c.id)
        cluster_id: int = (await self._exec(stmt)).scalar_one()
        return cluster_id

    async def join_cluster(self, cluster_id: int, case_ids: Sequence[int]) -> None:
        if case_ids and self._dialect == "sqlite":
            marks = ", ".join("?" for _ in case_ids)
            sql = f"UPDATE case_signatures SET cluster_id = ? WHERE case_id IN ({marks})"
            await self._fetch(sql, (cluster_id, *case_ids))
        elif case_ids:
            found = await self._pg(_JOIN_CLUSTER_PG, (cluster_id, list(case_ids)))
            row = ClusterRow(*found[0][:3]) if found else None
            self._joined = (self._statements, cluster_id, row, int(found[0][3]) if found else 0)

    def _joined_now(self, cluster_id: int) -> tuple[int, int, ClusterRow | None, int] | None:
        """What the last join read back, if it was of this cluster and no statement went since."""
        joined = self._joined
        if joined is not None and joined[0] == self._statements and joined[1] == cluster_id:
            return joined
        return None

    async def cluster(self, cluster_id: int) -> ClusterRow | None:
        if self._dialect == "sqlite":
            found = await self._fetch(_CLUSTER_SQLITE, (cluster_id,))
            if not found:
                return None
            ((key, started, reported),) = found
            return ClusterRow(key, _instant(started), None if reported is None else _instant(reported))
        if (joined := self._joined_now(cluster_id)) is not None:
            return joined[2]
        rows = await self._pg(_CLUSTER_PG, (cluster_id,))
        if not rows:
            return None
        ((key, started, reported),) = rows
        return ClusterRow(key, started, reported)

    async def cluster_members(
        self,
        cluster_id: int,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[SignatureRow]:
        stmt = select(case_signatures).where(_c.cluster_id == cluster_id)
        if since is not None:
            stmt = stmt.where(_c.at >= since)
        if until is not None:
            stmt = stmt.where(_c.at <= until)
        stmt = stmt.order_by(_c.at, _c.case_id).offset(offset).limit(limit)
        return [_row(r) for r in (await self._exec(stmt)).all()]

    async def cluster_size(self, cluster_id: int) -> int:
        if self._dialect == "sqlite":
            ((count,),) = await self._fetch(_CLUSTER_SIZE_SQLITE, (cluster_id,))
            return int(count)
        if (joined := self._joined_now(cluster_id)) is not None and joined[2] is not None:
            return joined[3]
        ((count,),) = await self._pg(_CLUSTER_SIZE_PG, (cluster_id,))
        return int(count)

    async def mark_cluster_reported(self, cluster_id: int, at: datetime) -> bool:
        stmt = (
            update(clusters)
            .where(clusters.c.id == cluster_id, clusters.c.reported_at.is_(None))
            .values(reported_at=at)
        )
        return bool((await self._exec(stmt)).rowcount)
