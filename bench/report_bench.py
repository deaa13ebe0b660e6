"""The п.18 report of a busy district's year: seconds and peak memory for the JSON and for the workbook.

    python bench/report_bench.py --cases 100000           # SQLite (a temporary file)
    python bench/report_bench.py --cases 100000 --pg      # PostgreSQL too (OTKLIK_TEST_PG_URL or 127.0.0.1:5432)

The database is filled with `--cases` cases spread over a year (a fifth of them ПОС), with their messages, units,
terms (about six a case: return, route, the units' information, draft, answer...) and events (about seven: route,
accept, information, draft, sometimes a rework or a decline, approval, publication), written straight through the
drivers. Each measurement then runs in a fresh process (so peak RSS is its own, imports included): the report of
the whole year read (storage/reports.py) and printed as JSON; the same read and the workbook built
(views/xlsx.py). Goal (issue 14): each under 10 s and under 300 MB. PostgreSQL runs in a throwaway schema.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.engine import create_engine
from storage.migrate import upgrade
from storage.reports import read_report
from tests.support.pg import PG_URL
from tests.support.scratch import scratch_schema
from views.report_text import ReportNames
from views.xlsx import workbook_bytes
from workflow.reports import period_between, report_json
from workflow.rules import Rules

FIRST, LAST = date(2025, 12, 1), date(2026, 11, 30)
UNITS = ("housing", "education", "social", "culture", "economy", "settlements")
PEOPLE = tuple(f"Сотрудник {i}" for i in range(60))
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)

Rows = dict[str, list[tuple[Any, ...]]]
COLUMNS = {
    "cases": ("id", "procedure", "status", "version", "t0", "category", "state", "created_at", "updated_at"),
    "messages": ("id", "case_id", "source", "source_id", "procedure", "text", "author", "link", "category",
                 "attachments", "external_number", "received_at", "extra"),
    "assignments": ("case_id", "unit", "position", "responsible", "accepted", "info_given", "extra"),
    "terms": ("case_id", "term_id", "owner", "unit", "started_at", "due", "closed_at", "met", "closed_by", "sent",
              "person"),
    "events": ("case_id", "action", "actor_id", "actor_role", "at", "text", "data"),
}  # fmt: skip


def _term(
    out: list[tuple[Any, ...]],
    rng: random.Random,
    case_id: int,
    status: str,
    term_id: str,
    unit: str | None,
    begin: datetime,
    minutes: int,
    late: float,
    who: str,
) -> datetime:
    """One term row: closed in 10 %..100 % of its time, or (with probability `late`) up to 180 %."""
    due = begin + timedelta(minutes=minutes)
    took = timedelta(minutes=minutes * rng.uniform(0.1, 1.0 if rng.random() > late else 1.8))
    closed = begin + took if status != "in_units" or rng.random() < 0.5 else None
    met = None if closed is None else closed <= due
    owner = "operator" if unit is None else "unit_official"
    out.append((case_id, term_id, owner, unit, begin, due, closed, met, 1 if closed else None, ",", who))
    return closed or due


def generate(n_cases: int, seed: int = 14) -> Iterator[Rows]:
    """The rows, a thousand cases at a time (JSON columns as text, instants aware)."""
    rng = random.Random(seed)
    span = (datetime(2026, 12, 1, tzinfo=UTC) - datetime(2025, 12, 1, tzinfo=UTC)).total_seconds()
    start = datetime(2025, 11, 30, 17, 0, tzinfo=UTC)  # 01.12.2025 00:00 in Novosibirsk
    rows: Rows = {k: [] for k in COLUMNS}
    for case_id in range(1, n_cases + 1):
        t0 = start + timedelta(seconds=rng.uniform(0, span))
        pos = rng.random() < 0.2
        status = rng.choices(["answered", "excluded", "returned", "in_units", "closed"], [85, 3, 3, 6, 3])[0]
        procedure = "pos" if pos else "open_sources"
        category = rng.choice(["federal_fast", "local_fast", "other"]) if pos else None
        source = "pos" if pos else rng.choice(["vk", "vk", "ok", "telegram", "intake", "region_curator"])
        network = (
            None
            if pos
            else (source if source in ("vk", "ok", "telegram") else rng.choice(["vk", "ok", None]))
        )
        rows["cases"].append((case_id, procedure, status, 3, t0, category, "{}", t0, t0))
        extra = json.dumps({"network": network} if network else {})
        rows["messages"].append((case_id, case_id, source, f"s{case_id}", procedure, "Текст обращения гражданина",
                                 "Автор", "", category, "[]", "", t0, extra))  # fmt: skip
        units = rng.sample(UNITS, rng.choice([1, 1, 1, 2]))
        for position, unit in enumerate(units):
            rows["assignments"].append((case_id, unit, position, position == 0, True, True, "{}"))
        person = rng.choice(PEOPLE)

        def term(
            term_id: str, unit: str | None, begin: datetime, minutes: int, late: float, who: str
        ) -> datetime:
            return _term(rows["terms"], rng, case_id, status, term_id, unit, begin, minutes, late, who)  # noqa: B023

        if pos:
            routed = term("pos.route", None, t0, 60, 0.05, person)
            for unit in units:
                term("pos.draft", unit, routed, 60 * 24 * 6, 0.1, rng.choice(PEOPLE))
            term("pos.answer", None, t0, 60 * 24 * 14, 0.06, person)
        else:
            rows["terms"].append((case_id, "os.return", "operator", None, t0, t0 + timedelta(minutes=30),
                                  t0 + timedelta(minutes=20), True, 1, ",", person))  # fmt: skip
            routed = term("os.route", None, t0, 60, 0.05, person)
            for unit in units:
                term("os.unit_info", unit, routed, 120, 0.12, rng.choice(PEOPLE))
            term("os.draft", None, t0, 420, 0.08, person)
            term("os.publish", None, t0, 540, 0.07, person)
        at = t0
        actions = ["route", "accept", "info", "submit"]
        actions += ["rework", "submit"] if rng.random() < 0.1 else []
        actions += ["decline"] if rng.random() < 0.03 else []
        actions += ["approve", "publish"]
        for action in actions:
            at += timedelta(minutes=rng.uniform(5, 90))
            rows["events"].append((case_id, action, 1, "operator", at, "", "{}"))
        if case_id % 1000 == 0 or case_id == n_cases:
            yield rows
            rows = {k: [] for k in COLUMNS}


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return v


def fill_sqlite(path: Path, n_cases: int) -> None:
    con = sqlite3.connect(path)
    try:
        for chunk in generate(n_cases):
            for table, columns in COLUMNS.items():
                marks = ", ".join("?" * len(columns))
                con.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                    [tuple(_sqlite_value(v) for v in row) for row in chunk[table]],
                )
        con.commit()
        con.execute("ANALYZE")
    finally:
        con.close()


async def fill_pg(url: str, connect_args: dict[str, Any], n_cases: int) -> None:
    engine = create_engine(url, connect_args=connect_args)
    try:
        async with engine.begin() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            for chunk in generate(n_cases):
                for table, columns in COLUMNS.items():
                    await raw.copy_records_to_table(table, records=chunk[table], columns=list(columns))
        async with engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()


# --- one measurement, in its own process -------------------------------------------------------------------


async def measure(url: str, search_path: str | None, what: str) -> dict[str, Any]:
    rules = Rules.default()
    tz = ZoneInfo("Asia/Novosibirsk")
    connect_args = {"server_settings": {"search_path": search_path}} if search_path else {}
    # As `otklik report` opens it: no memory map (a mapped file counts its whole size into RSS, bot/reports.py).
    engine = create_engine(url, connect_args=connect_args, sqlite_mmap_bytes=0)
    started = time.perf_counter()
    try:
        async with engine.connect() as conn:
            report = await read_report(conn, period_between(FIRST, LAST, tz), NOW,
                                       return_only=rules.return_only_terms)  # fmt: skip
    finally:
        await engine.dispose()
    read = time.perf_counter() - started
    if what == "json":
        size = len(json.dumps(report_json(report), ensure_ascii=False))
    else:
        size = len(workbook_bytes(report, ReportNames.of(rules)))
    total = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"what": what, "read_s": read, "total_s": total, "peak_mb": peak_mb, "bytes": size,
            "terms": report.total.terms, "cases": report.cases.registered}  # fmt: skip


def run_child(url: str, search_path: str | None, what: str) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--measure", what, "--url", url]
    if search_path:
        argv += ["--search-path", search_path]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def show(label: str, result: dict[str, Any]) -> None:
    print(f"{label:<11} {result['what']:<9} {result['read_s']:>8.2f} {result['total_s']:>8.2f} "
          f"{result['peak_mb']:>9.0f} {result['bytes'] / 1024:>9.0f} {result['cases']:>8} {result['terms']:>8}")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL too")
    parser.add_argument("--measure", choices=["json", "workbook"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--search-path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(await measure(args.url, args.search_path, args.measure)))
        return
    print(f"report of {FIRST} .. {LAST}, {args.cases} cases; read = the SQL, total = read + JSON or workbook")
    print(f"{'database':<11} {'output':<9} {'read s':>8} {'total s':>8} {'peak MB':>9} {'KB':>9} {'cases':>8} "
          f"{'terms':>8}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade(url)
        began = time.perf_counter()
        fill_sqlite(path, args.cases)
        print(f"(SQLite filled in {time.perf_counter() - began:.0f} s, {path.stat().st_size / 2**20:.0f} MB)")
        for what in ("json", "workbook"):
            show("sqlite", run_child(url, None, what))
    if args.pg:
        pg_url = os.environ.get("OTKLIK_TEST_PG_URL") or PG_URL
        if not pg_url:
            print("(PostgreSQL skipped: no server on 127.0.0.1:5432 and OTKLIK_TEST_PG_URL not set)")
            return
        async with scratch_schema(pg_url, "otklik_bench") as connect_args:
            engine = create_engine(pg_url, connect_args=connect_args)
            try:
                await upgrade(engine)
            finally:
                await engine.dispose()
            began = time.perf_counter()
            await fill_pg(pg_url, connect_args, args.cases)
            print(f"(PostgreSQL filled in {time.perf_counter() - began:.0f} s)")
            search_path = connect_args["server_settings"]["search_path"]
            for what in ("json", "workbook"):
                show("postgresql", run_child(pg_url, search_path, what))


if __name__ == "__main__":
    asyncio.run(main())
