"""Citizens' personal data in the database (issue 14): the cases due for erasure, erasure, export, the access log.

Erasure keeps what the reports count and the audit trail of who did what when: the case row (procedure, status,
T0, category, units), its terms (due, closed, met), its events' actions, actors and instants, the source and
the network's message id (so a message delivered again is still recognised as taken in). It removes what tells
about the citizen: the author's name and network id, the message text (with the ПОС phone and address written
into the author line), the link to the citizen's post, the attachments (the kept files' bytes, `channel_files`),
the search text, and whatever staff wrote about the case (event texts, drafts, the published answer's text,
notices' texts in the outbox). `cases.erased_at` marks the case and a `pd_erased` event records it.

Not reached: messages Telegram already delivered to staff chats (cards), and raw updates in the inbox, which
the daily inbox purge deletes within `[scheduler] inbox_retention_days`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update

from storage.repository import SqlRepository, SqlTransaction
from storage.tables import (
    access_log,
    case_signatures,
    cases,
    channel_files,
    drafts,
    events,
    messages,
    outbox,
    publications,
    signature_terms,
)
from storage.types import UtcDateTime
from workflow.lifecycle import FINAL_STATUSES, Status
from workflow.model import Actor, Event, Procedure, Role
from workflow.ports import ACTIVE_PUBLICATION, VIEW_EXPORT, AccessEntry
from workflow.retention import ERASED_TEXT, PD_ERASED, PD_EXPORTED, CandidateBounds, EndedCase, author_matches

# A kept file's attachment ref (bot/channel_files.KEPT_PREFIX, tested equal): "kept:<item_key>#<position>".
KEPT_REF = "kept:"
# Message fields kept in `messages.extra` that name the citizen.
_EXTRA_PERSONAL = ("author_id",)
# Keys of event data and outbox payloads that carry what people wrote (the rest are ids, units, instants).
_DATA_PERSONAL = ("text", "raw", "attachments", "subject", "sender")
ERASE_BATCH = 200  # cases erased in one transaction (SQLite's one writer is not held long)


@dataclass(frozen=True, slots=True)
class AuthorCases:
    """The cases whose messages `otklik pd … --author` names, not yet erased; `open_ids`: those still in work."""

    query: str
    case_ids: tuple[int, ...]
    open_ids: tuple[int, ...] = ()

    @property
    def ended_ids(self) -> tuple[int, ...]:
        return tuple(i for i in self.case_ids if i not in self.open_ids)


def _kept(ref: str) -> tuple[str, int] | None:
    """A kept file's (item key, position) from its attachment ref; None for any other ref."""
    if not ref.startswith(KEPT_REF):
        return None
    item, _, position = ref[len(KEPT_REF) :].rpartition("#")
    return (item, int(position)) if item and position.isdigit() else None


def _without(data: Any, keys: Sequence[str]) -> tuple[dict[str, Any], bool]:
    if not isinstance(data, dict):
        return {}, data is not None and data != {}
    kept = {k: v for k, v in data.items() if k not in keys}
    return kept, len(kept) != len(data)


class PersonalData:
    """The personal-data side of the database, over the repository's transactions."""

    def __init__(self, repo: SqlRepository) -> None:
        self.repo = repo

    async def ended_cases(
        self, bounds: CandidateBounds, *, after_id: int = 0, limit: int = 5_000
    ) -> list[EndedCase]:
        """Cases in a final status, not erased, whose last event is before their kind's bound, by id past
        `after_id` (workflow.retention.candidate_bounds: about the cases due, not every ended one)."""
        last = func.max(events.c.at, type_=UtcDateTime())
        excluded = cases.c.status == Status.EXCLUDED.value
        stmt = (
            select(cases.c.id, cases.c.procedure, cases.c.status, last.label("last_at"))
            .join(events, events.c.case_id == cases.c.id)
            .where(
                cases.c.id > after_id,
                cases.c.erased_at.is_(None),
                cases.c.status.in_([s.value for s in FINAL_STATUSES]),
            )
            .group_by(cases.c.id, cases.c.procedure, cases.c.status)
            .having(
                or_(
                    and_(excluded, last < bounds.excluded),
                    and_(~excluded, cases.c.procedure == Procedure.POS.value, last < bounds.pos),
                    and_(
                        ~excluded,
                        cases.c.procedure == Procedure.OPEN_SOURCES.value,
                        last < bounds.open_sources,
                    ),
                )
            )
            .order_by(cases.c.id)
            .limit(limit)
        )
        async with self.repo.reading() as tx:
            rows = (await tx.connection.execute(stmt)).all()
        return [EndedCase(r.id, Procedure(r.procedure), r.status, r.last_at) for r in rows]

    async def cases_of_author(self, query: str) -> AuthorCases:
        """The not yet erased cases whose message is the named author's (workflow.retention.author_matches)."""
        stmt = (
            select(messages.c.case_id, messages.c.author, messages.c.extra, cases.c.status)
            .join(cases, cases.c.id == messages.c.case_id)
            .where(cases.c.erased_at.is_(None))
            .order_by(messages.c.case_id)
        )
        found: list[int] = []
        still_open: list[int] = []
        final = {s.value for s in FINAL_STATUSES}
        async with self.repo.reading() as tx:
            result = await tx.connection.stream(stmt)
            async for row in result:
                extra = row.extra if isinstance(row.extra, dict) else {}
                author_id = extra.get("author_id")
                if author_matches(query, row.author, author_id if isinstance(author_id, int) else None):
                    found.append(row.case_id)
                    if row.status not in final:
                        still_open.append(row.case_id)
        return AuthorCases(query, tuple(found), tuple(still_open))

    async def erase(self, case_ids: Iterable[int], *, at: datetime, actor: Actor, reason: str) -> list[int]:
        """Erase the personal data of those of the cases that are ended and not erased yet, each with a
        `pd_erased` event; the erased ids."""
        ids = list(dict.fromkeys(case_ids))
        erased: list[int] = []
        for start in range(0, len(ids), ERASE_BATCH):
            async with self.repo.transaction() as tx:
                erased += await self._erase_batch(tx, ids[start : start + ERASE_BATCH], at, actor, reason)
        return erased

    async def _erase_batch(
        self, tx: SqlTransaction, ids: list[int], at: datetime, actor: Actor, reason: str
    ) -> list[int]:
        conn = tx.connection
        # Marked first: a second erasure running at once waits for this one and then finds nothing to do. Only a
        # case still ended: one reopened since it was listed is in work again and keeps its data.
        final = [s.value for s in FINAL_STATUSES]
        marked = await conn.execute(
            update(cases)
            .where(cases.c.id.in_(ids), cases.c.erased_at.is_(None), cases.c.status.in_(final))
            .values(erased_at=at)
            .returning(cases.c.id)
        )
        todo = sorted(r.id for r in marked)
        if not todo:
            return []
        rows = (
            await conn.execute(
                select(messages.c.case_id, messages.c.attachments, messages.c.extra).where(
                    messages.c.case_id.in_(todo)
                )
            )
        ).all()
        items: set[str] = set()
        for row in rows:
            for attachment in row.attachments if isinstance(row.attachments, list) else []:
                ref = attachment.get("ref") if isinstance(attachment, dict) else None
                if isinstance(ref, str) and (kept := _kept(ref)) is not None:
                    items.add(kept[0])
            extra, _changed = _without(row.extra, _EXTRA_PERSONAL)
            await conn.execute(
                update(messages)
                .where(messages.c.case_id == row.case_id)
                .values(
                    text=ERASED_TEXT,
                    author="",
                    link="",
                    attachments=[],
                    extra=extra,
                    search=None,
                    link_key=None,
                )
            )
        if items:
            await conn.execute(delete(channel_files).where(channel_files.c.item_key.in_(sorted(items))))
        await conn.execute(update(drafts).where(drafts.c.case_id.in_(todo)).values(text=""))
        # Clustering's copy of the message (issue 13): its stems, address and author key go, and their index rows
        # (issue 16); the cluster stays, so a spike already reported still counts the case.
        await conn.execute(delete(signature_terms).where(signature_terms.c.case_id.in_(todo)))
        await conn.execute(
            update(case_signatures)
            .where(case_signatures.c.case_id.in_(todo))
            .values(stems="", address=None, author=None)
        )
        # An answer still on its way to the network goes out as approved; a finished one is emptied.
        await conn.execute(
            update(publications)
            .where(publications.c.case_id.in_(todo), publications.c.state.notin_(sorted(ACTIVE_PUBLICATION)))
            .values(text="", item_link="")
        )
        await conn.execute(update(events).where(events.c.case_id.in_(todo)).values(text=""))
        for table, column in ((events, events.c.data), (outbox, outbox.c.payload)):
            found = (await conn.execute(select(table.c.id, column).where(table.c.case_id.in_(todo)))).all()
            for row_id, content in found:
                remaining, changed = _without(content, _DATA_PERSONAL)
                if changed:
                    await conn.execute(
                        update(table).where(table.c.id == row_id).values({column.key: remaining})
                    )
        role = min(actor.roles) if actor.roles else Role.SYSTEM
        for case_id in todo:
            data: dict[str, object] = {"reason": reason}
            if actor.name:
                data["by"] = actor.name
            await tx.append_event(case_id, Event(PD_ERASED, actor.user_id, role, at, "", data))
        return todo

    async def export(self, case_ids: Sequence[int], *, at: datetime, actor: Actor) -> list[dict[str, object]]:
        """Everything kept about the cases, as JSON-ready objects; the export is recorded (event, access log)
        in the same transaction, so nothing is handed out unrecorded."""
        out: list[dict[str, object]] = []
        shown: list[int] = []
        role = min(actor.roles) if actor.roles else Role.SYSTEM
        roles = frozenset(r.value for r in actor.roles)
        async with self.repo.transaction() as tx:
            for case_id in case_ids:
                item = await self._case_json(tx, case_id)
                if item is None:
                    continue
                out.append(item)
                shown.append(case_id)
                data: dict[str, object] = {"by": actor.name} if actor.name else {}
                await tx.append_event(case_id, Event(PD_EXPORTED, actor.user_id, role, at, "", data))
            await tx.record_access(
                [AccessEntry(i, actor.user_id, roles, None, VIEW_EXPORT, at) for i in shown]
            )
        return out

    async def _case_json(self, tx: SqlTransaction, case_id: int) -> dict[str, object] | None:
        case = await tx.get_case(case_id)
        message = await tx.get_message(case_id)
        if case is None or message is None:
            return None
        conn = tx.connection
        draft_rows = (
            await conn.execute(
                select(drafts.c.version, drafts.c.text, drafts.c.at)
                .where(drafts.c.case_id == case_id)
                .order_by(drafts.c.id)
            )
        ).all()
        access_rows = (
            await conn.execute(
                select(access_log).where(access_log.c.case_id == case_id).order_by(access_log.c.id)
            )
        ).all()
        attachments: list[dict[str, object]] = []
        for a in message.attachments:  # the files are described, not copied: the bytes stay in the database
            entry: dict[str, object] = {"kind": a.kind, "name": a.name}
            if (kept := _kept(a.ref)) is not None:
                file = next((f for f in await tx.channel_files(kept[0]) if f.position == kept[1]), None)
                if file is not None:
                    entry.update(mime=file.mime, size=file.size, sha256=file.sha256)
            attachments.append(entry)
        return {
            "case": case.id,
            "procedure": case.procedure.value,
            "status": case.status,
            "t0": case.t0.isoformat(),
            "category": case.category,
            "units": list(case.units),
            "message": {
                "source": message.source.value,
                "source_id": message.source_id,
                "received_at": message.received_at.isoformat(),
                "author": message.author,
                "author_id": message.author_id,
                "text": message.text,
                "link": message.link,
                "external_number": message.external_number,
                "attachments": attachments,
            },
            "events": [
                {
                    "at": e.at.isoformat(),
                    "action": e.action,
                    "role": e.actor_role.value,
                    "by": e.data.get("by", ""),
                    "text": e.text,
                }
                for e in await tx.events(case_id)
            ],
            "terms": [
                {
                    "term": t.term_id,
                    "due": t.due.isoformat(),
                    "met": t.met,
                    "closed_at": t.closed_at.isoformat() if t.closed_at else None,
                }
                for t in await tx.terms(case_id, open_only=False)
            ],
            "drafts": [{"version": d.version, "text": d.text, "at": d.at.isoformat()} for d in draft_rows],
            "access": [
                {
                    "at": r.at.isoformat(),
                    "user_id": r.user_id,
                    "roles": r.roles,
                    "chat_id": r.chat_id,
                    "what": r.what,
                }
                for r in access_rows
            ],
        }
