"""The SQL of similar-message clusters and repeat lookups (issue 13): tables `clusters` and `case_signatures`.

A mixin of `storage.repository.SqlTransaction`: each method is one indexed statement, so comparing a new
message with its window (at most `Window.cap` rows by `ix_case_signatures_procedure_at`) or finding an author's
last message (`ix_case_signatures_author_at`) costs the same whatever the database holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, Row, func, insert, select, update
from sqlalchemy.engine import CursorResult

from storage.tables import case_signatures, clusters
from workflow.ports import ClusterRow, SignatureRow

_c = case_signatures.c


def _row(row: Row[Any]) -> SignatureRow:
    return SignatureRow(
        case_id=row.case_id, at=row.at, stems=row.stems, address=row.address or "", author=row.author or "",
        cluster_id=row.cluster_id,
    )  # fmt: skip


class ClusterStatements:
    """The cluster and signature part of a transaction (ports.Transaction)."""

    async def _exec(self, stmt: Executable, params: Any = None) -> CursorResult[Any]:
        raise NotImplementedError  # the transaction's own

    async def add_signature(self, procedure: str, row: SignatureRow) -> None:
        await self._exec(
            insert(case_signatures).values(
                case_id=row.case_id, procedure=procedure, at=row.at, stems=row.stems,
                address=row.address or None, author=row.author or None,
            )
        )  # fmt: skip

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
        if case_ids:
            await self._exec(
                update(case_signatures).where(_c.case_id.in_(list(case_ids))).values(cluster_id=cluster_id)
            )

    async def cluster(self, cluster_id: int) -> ClusterRow | None:
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
        stmt = select(func.count()).select_from(case_signatures).where(_c.cluster_id == cluster_id)
        return int((await self._exec(stmt)).scalar_one())

    async def mark_cluster_reported(self, cluster_id: int, at: datetime) -> bool:
        stmt = (
            update(clusters)
            .where(clusters.c.id == cluster_id, clusters.c.reported_at.is_(None))
            .values(reported_at=at)
        )
        return bool((await self._exec(stmt)).rowcount)
