"""Many open cases written straight into the tables, for tests and benchmarks of the read side at scale.

`fill` writes `others` open cases that belong to nobody in particular (spread over `units` units, terms held by
every role) and `mine` cases owed by one executor of the unit `MINE` (half by the term's unit, half by the
case's assignment: a unit-less executor term), with closed terms as history beside them. Rows are built the way
the repository builds them (storage.repository's value helpers), so a case card reads them as it reads any case;
only the person's cases get their message row (no list reads messages, and it halves the time to fill).
The returned `Filled` says what the queries must answer, computed here from the rows and not from SQL.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.direct import Processor, bind_processor
from storage.repository import _assignment_values, _case_values
from storage.tables import assignments, cases, messages, terms
from workflow.model import Assignment, Case, Procedure, Role

NOW = datetime(2025, 3, 3, 5, 0, tzinfo=UTC)
MINE = "target"  # the unit of the person whose /my is asked
CHUNK = 5_000
HISTORY_EVERY = 3  # one case in so many has a closed term as well
# One other case in so many has its routing proposed (every second one to MINE as well).
PROPOSAL_EVERY = 1_000
APPROVED_EVERY = 300  # of the ПОС cases whose answer the curator holds, one in so many is approved (to post)

# (procedure, status, term id, owner, the term carries the unit): what the other cases' open terms look like.
_OTHER_TERMS: tuple[tuple[Procedure, str, str, Role, bool], ...] = (
    (Procedure.OPEN_SOURCES, "new", "os.publish", Role.OPERATOR, False),
    (Procedure.OPEN_SOURCES, "routed", "os.unit_info", Role.UNIT_OFFICIAL, True),
    (Procedure.OPEN_SOURCES, "draft_review", "os.review", Role.OFFICE_HEAD, False),
    (Procedure.POS, "in_work", "pos.coexec", Role.EXECUTOR, True),
    (Procedure.POS, "in_work", "pos.draft", Role.EXECUTOR, False),
    (Procedure.POS, "approved", "pos.answer", Role.POS_CURATOR, False),
)


async def insert_rows(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Rows (all with the same keys) in one driver-level executemany per CHUNK rows.

    Each value passes through its column's own bind processor (storage.direct.bind_processor: what SQLAlchemy
    would store), memoised per value object, so 100,000 rows cost a second rather than SQLAlchemy's per-row
    parameter handling (about ten times that).
    """
    if not rows:
        return
    dialect = conn.dialect
    names = list(rows[0])
    processors = [bind_processor(table.c[name].type, dialect) for name in names]
    marks = ", ".join("?" if dialect.name == "sqlite" else f"${i}" for i in range(1, len(names) + 1))
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})"
    if dialect.name == "postgresql":  # COPY: asyncpg takes the processed values as they are
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        columns = [
            _converted([row[name] for row in rows], p) for name, p in zip(names, processors, strict=True)
        ]
        await driver.copy_records_to_table(
            table.name, records=list(zip(*columns, strict=True)), columns=names
        )
        return
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        columns = [
            _converted([row[name] for row in chunk], p) for name, p in zip(names, processors, strict=True)
        ]
        await conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))  # type: ignore[arg-type]


def _converted(values: list[Any], processor: Processor) -> list[Any]:
    if processor is None:
        return values
    memo: dict[int, Any] = {}  # by object: the rows share their JSON templates
    out = []
    for item in values:
        if item is None:
            out.append(None)
            continue
        key = id(item)
        if key not in memo:
            memo[key] = processor(item)
        out.append(memo[key])
    return out


@dataclass
class Filled:
    """What was written: the term rows (as dicts with their ids) by whom they are owed."""

    mine: list[dict[str, Any]] = field(default_factory=list)  # open terms the MINE executor owes
    operator: list[dict[str, Any]] = field(default_factory=list)  # open terms the operator role holds
    open_terms: list[dict[str, Any]] = field(default_factory=list)  # every open term
    units_of_case: dict[int, frozenset[str]] = field(default_factory=dict)  # assigned or proposed
    status_of_case: dict[int, tuple[str, str]] = field(default_factory=dict)  # (procedure, status)
    a_case: int = 0  # a case of MINE, for a card read

    def overdue_of(self, unit: str, now: datetime) -> list[dict[str, Any]]:
        """Open terms past due of the cases assigned or proposed to `unit`, by due."""
        return self.by_due(
            [r for r in self.open_terms if r["due"] <= now and unit in self.units_of_case[r["case_id"]]]
        )

    @staticmethod
    def by_due(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(rows, key=lambda r: (r["due"], r["case_id"], r["id"]))


async def fill(engine: AsyncEngine, *, others: int, mine: int, units: int = 40, seed: int = 746) -> Filled:
    """Write the cases, their messages, assignments and terms in a few multi-row INSERTs per table."""
    rnd = random.Random(seed)
    templates: dict[tuple[Procedure, str, tuple[str, ...]], dict[str, Any]] = {}
    assignment_templates: dict[str, dict[str, Any]] = {}

    def case_row(
        case_id: int, procedure: Procedure, status: str, proposed: tuple[str, ...]
    ) -> dict[str, Any]:
        key = (procedure, status, proposed)
        template = templates.get(key)
        if template is None:
            case = Case(id=0, procedure=procedure, status=status, version=1, t0=NOW, proposed_units=proposed)
            template = templates[key] = _case_values(case)
        return {**template, "id": case_id, "t0": NOW, "created_at": NOW, "updated_at": NOW}

    filled = Filled()
    case_rows: list[dict[str, Any]] = []
    message_rows: list[dict[str, Any]] = []
    assignment_rows: list[dict[str, Any]] = []
    term_rows: list[dict[str, Any]] = []

    def add_term(
        case_id: int, term_id: str, owner: Role, unit: str | None, *, closed: bool
    ) -> dict[str, Any]:
        started = NOW - timedelta(minutes=rnd.randrange(0, 60 * 24 * 20))
        row: dict[str, Any] = {
            "id": len(term_rows) + 1, "case_id": case_id, "term_id": term_id, "owner": owner.value,
            "unit": unit, "started_at": started, "due": started + timedelta(minutes=rnd.randrange(60, 60 * 24 * 14)),
            "closed_at": started + timedelta(hours=1) if closed else None, "met": True if closed else None,
            "closed_by": 1 if closed else None, "sent": ",", "next_attention": None, "note": None, "person": None,
        }  # fmt: skip
        term_rows.append(row)
        if not closed:
            filled.open_terms.append(row)
        return row

    total = others + mine
    order = list(range(total))
    rnd.shuffle(order)  # the person's cases interleaved with the others, as they arrive in real life
    for position, which in enumerate(order):
        case_id = position + 1
        proposed: tuple[str, ...] = ()
        if which < mine:
            procedure, status = Procedure.POS, "in_work"
            unit = MINE
            term_id, carries = ("pos.coexec", True) if which % 2 else ("pos.draft", False)
            owed = add_term(case_id, term_id, Role.EXECUTOR, unit if carries else None, closed=False)
            filled.mine.append(owed)
            filled.a_case = filled.a_case or case_id
        elif which % PROPOSAL_EVERY == 0:  # routing proposed, not approved: no assignment yet
            procedure, status, unit = Procedure.OPEN_SOURCES, "routing_proposed", ""
            proposed = (
                (f"u{which % units:02d}", MINE)
                if which % (2 * PROPOSAL_EVERY)
                else (f"u{which % units:02d}",)
            )
            add_term(case_id, "os.route", Role.OFFICE_HEAD, None, closed=False)
        else:
            procedure, status, term_id, owner, carries = _OTHER_TERMS[which % len(_OTHER_TERMS)]
            if term_id == "pos.answer" and which % APPROVED_EVERY != 5:  # approval is a short stay
                status = "in_work"
            unit = f"u{which % units:02d}"
            row = add_term(case_id, term_id, owner, unit if carries else None, closed=False)
            if owner is Role.OPERATOR:
                filled.operator.append(row)
        case_rows.append(case_row(case_id, procedure, status, proposed))
        filled.status_of_case[case_id] = (procedure.value, status)
        filled.units_of_case[case_id] = frozenset({unit, *proposed} - {""})
        if unit:
            assignment = assignment_templates.get(unit)
            if assignment is None:
                assignment = assignment_templates[unit] = _assignment_values(
                    0, 0, Assignment(unit, responsible=True)
                )
            assignment_rows.append({**assignment, "case_id": case_id})
        if case_id % HISTORY_EVERY == 0:  # closed terms beside the open ones, which the lists must skip
            route = "os.route" if procedure is Procedure.OPEN_SOURCES else "pos.route"
            add_term(case_id, route, Role.OPERATOR, None, closed=True)
        if which >= mine:
            continue
        message_rows.append(
            {
                "case_id": case_id, "source": "vk" if procedure is Procedure.OPEN_SOURCES else "pos",
                "source_id": f"bulk{case_id}", "procedure": procedure.value, "text": f"Сообщение № {case_id}",
                "author": "Житель", "link": "", "category": None, "attachments": [], "external_number": "",
                "received_at": NOW, "extra": {}, "detected_at": None, "search": f"сообщение № {case_id}",
                "link_key": None,
            }
        )  # fmt: skip
    async with engine.begin() as conn:
        for table, rows in ((cases, case_rows), (messages, message_rows), (assignments, assignment_rows),
                            (terms, term_rows)):  # fmt: skip
            await insert_rows(conn, table, rows)
        if conn.dialect.name == "postgresql":  # ids were given: move the sequences past them
            for table in (cases, messages, terms):
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), (SELECT max(id) FROM {table.name}))"
                    )
                )
    # Statistics for the planner and, on PostgreSQL, the visibility map index-only scans rely on: what
    # autovacuum gives a live database soon after such a load.
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE cases, messages, assignments, terms"))
    else:
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    return filled
