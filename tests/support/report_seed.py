"""Rows for the report's tests and benchmark: the plain records of workflow/reports.py written straight into the
tables (cases, messages, assignments, terms, events), in bulk, with the columns the report does not read filled
with valid values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import assignments, cases, events, messages, terms
from workflow.reports import CaseRecord, EventRecord, TermRecord

_OWNER = {"os.unit_info": "unit_official", "pos.answer": "pos_curator"}


def case_rows(
    records: Iterable[CaseRecord],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    case_values: list[dict[str, Any]] = []
    message_values: list[dict[str, Any]] = []
    assignment_values: list[dict[str, Any]] = []
    for c in records:
        procedure = "pos" if c.source == "pos" else "open_sources"
        case_values.append({
            "id": c.case_id, "procedure": procedure, "status": c.status, "version": 1, "t0": c.t0,
            "category": c.category, "repeat_of": None, "state": {}, "created_at": c.t0, "updated_at": c.t0,
            "published_key": None,
        })  # fmt: skip
        message_values.append({
            "id": c.case_id, "case_id": c.case_id, "source": c.source, "source_id": f"s{c.case_id}",
            "procedure": procedure, "text": "Текст обращения", "author": "Автор", "link": "", "category": c.category,
            "attachments": [], "external_number": "", "received_at": c.t0,
            "extra": {"network": c.network} if c.network else {}, "detected_at": None, "search": None,
            "link_key": None,
        })  # fmt: skip
        for position, unit in enumerate(sorted(c.units)):
            assignment_values.append({
                "case_id": c.case_id, "unit": unit, "position": position, "responsible": position == 0,
                "accepted": True, "info_given": False, "extra": {},
            })  # fmt: skip
    return case_values, message_values, assignment_values


def term_rows(records: Iterable[TermRecord]) -> list[dict[str, Any]]:
    return [
        {
            "case_id": t.case_id,
            "term_id": t.term_id,
            "owner": _OWNER.get(t.term_id, "operator"),
            "unit": t.unit,
            "started_at": t.started_at,
            "due": t.due,
            "closed_at": t.closed_at,
            "met": t.met,
            "closed_by": 1 if t.closed_at is not None else None,
            "sent": ",",
            "next_attention": None,
            "note": None,
            "person": t.person or None,
        }
        for t in records
    ]


def event_rows(records: Iterable[EventRecord]) -> list[dict[str, Any]]:
    return [
        {
            "case_id": e.case_id,
            "action": e.action,
            "actor_id": 1,
            "actor_role": "operator",
            "at": e.at,
            "text": "",
            "data": {},
            "undo": None,
        }
        for e in records
    ]


async def insert(
    conn: AsyncConnection, table: Any, rows: Sequence[dict[str, Any]], batch: int = 5000
) -> None:
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        if chunk:
            await conn.execute(table.insert(), list(chunk))


async def seed(
    conn: AsyncConnection,
    case_records: Iterable[CaseRecord],
    term_records: Iterable[TermRecord],
    event_records: Iterable[EventRecord],
) -> None:
    """Writes the records in the caller's transaction."""
    case_values, message_values, assignment_values = case_rows(case_records)
    await insert(conn, cases, case_values)
    await insert(conn, messages, message_values)
    await insert(conn, assignments, assignment_values)
    await insert(conn, terms, term_rows(term_records))
    await insert(conn, events, event_rows(event_records))


def at(value: str, tz: Any) -> datetime:
    """«2026-11-30 09:00» as an aware local instant."""
    return datetime.fromisoformat(value).replace(tzinfo=tz)
