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

from sqlalchemy import Dialect, Executable, Row, func, insert, literal, select, true, union_all, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import CursorResult

from storage import direct
from storage.tables import case_signatures, clusters, signature_terms
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


def _row(row: Row[Any]) -> SignatureRow:
    return SignatureRow(
        case_id=row.case_id, at=row.at, stems=row.stems, address=row.address or "", author=row.author or "",
        cluster_id=row.cluster_id,
    )  # fmt: skip


class ClusterStatements:
    """The cluster and signature part of a transaction (ports.Transaction)."""

    _sa_dialect: Dialect
    _dialect: str

    async def _exec(self, stmt: Executable, params: Any = None) -> CursorResult[Any]:
        raise NotImplementedError  # the transaction's own

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError  # the transaction's own (SQLite)

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
        if not terms:
            await self._exec(insert(case_signatures).values(values))
            return
        # PostgreSQL, one round trip: the signature in a CTE, its terms inserted from an array beside it.
        signature = (
            insert(case_signatures).values(values).returning(_c.case_id, _c.procedure, _c.at).cte("signature")
        )
        names = [t["term"] for t in terms]
        array = literal(names, type_=postgresql.ARRAY(_t.term.type))
        term = func.unnest(array).table_valued("term").render_derived(name="t")
        postings = select(signature.c.case_id, term.c.term, signature.c.procedure, signature.c.at)
        await self._exec(
            insert(signature_terms)
            .from_select(["case_id", "term", "procedure", "at"], postings.select_from(signature).join(term, true()))
            .add_cte(signature)
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
        self, procedure: str, terms: Sequence[str], since: datetime, until: datetime, per_term: int, limit: int
    ) -> list[SignatureRow]:
        if not terms or limit <= 0 or per_term <= 0:
            return []
        if self._dialect == "sqlite":
            low, high = direct.instant_text(since), direct.instant_text(until)
            params: list[Any] = []
            for term in terms:
                params.extend((procedure, term, low, high, per_term))
            params.append(limit)
            return [_sqlite_row(r) for r in await self._fetch(_candidates_sqlite(len(terms)), params)]
        postings = [
            select(_t.case_id)
            .where(_t.procedure == procedure, _t.term == term, _t.at >= since, _t.at <= until)
            .order_by(_t.at.desc(), _t.case_id.desc())
            .limit(per_term)
            .subquery()
            for term in terms
        ]
        shared = union_all(*(select(p.c.case_id) for p in postings))
        stmt = (
            select(case_signatures)
            .where(_c.case_id.in_(shared))
            .order_by(_c.at.desc(), _c.case_id.desc())
            .limit(limit)
        )
        return [_row(r) for r in (await self._exec(stmt)).all()]

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
            rows = await self._fetch(_LATEST_BY_AUTHOR_SQLITE, (author, direct.instant_text(since), procedure))
            return _sqlite_row(rows[0]) if rows else None
        stmt = (
            select(case_signatures)
            .where(_c.author == author, _c.at >= since, _c.procedure == procedure)
            .order_by(_c.at.desc(), _c.case_id.desc())
            .limit(1)
        )
        row = (await self._exec(stmt)).one_or_none()
        return None if row is None else _row(row)

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
            await self._exec(
                update(case_signatures).where(_c.case_id.in_(list(case_ids))).values(cluster_id=cluster_id)
            )

    async def cluster(self, cluster_id: int) -> ClusterRow | None:
        if self._dialect == "sqlite":
            found = await self._fetch(_CLUSTER_SQLITE, (cluster_id,))
            if not found:
                return None
            ((key, started, reported),) = found
            return ClusterRow(key, _instant(started), None if reported is None else _instant(reported))
        row = (await self._exec(select(clusters).where(clusters.c.id == cluster_id))).one_or_none()
        return None if row is None else ClusterRow(row.id, row.started_at, row.reported_at)

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
        stmt = select(func.count()).select_from(case_signatures).where(_c.cluster_id == cluster_id)
        return int((await self._exec(stmt)).scalar_one())

    async def mark_cluster_reported(self, cluster_id: int, at: datetime) -> bool:
        stmt = (
            update(clusters)
            .where(clusters.c.id == cluster_id, clusters.c.reported_at.is_(None))
            .values(reported_at=at)
        )
        return bool((await self._exec(stmt)).rowcount)
