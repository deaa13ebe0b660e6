"""What the hourly retention job costs on a busy district's database (issue 14): a year of cases, all ended.

    python bench/retention_bench.py                     # SQLite (temp file), 100,000 cases
    python bench/retention_bench.py --cases 20000
    OTKLIK_TEST_PG_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test python bench/retention_bench.py --pg

The database holds `--cases` closed open-sources cases spread over a year, each with its message and
`--events` events. It times the job (bot/retention_job.erase_due) a year on, when each hourly run finds an
hour's cases due (the cost paid every hour), and after a month with the bot down (a month's cases due at once),
and prints the seconds and the cases erased. PostgreSQL runs in a throwaway schema dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.retention_job import erase_due
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.personal_data import PersonalData
from storage.repository import SqlRepository
from storage.tables import cases, events, messages
from tests.support.scratch import scratch_schema
from workflow.retention import RetentionPolicy

TZ = ZoneInfo("Asia/Novosibirsk")
START = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
CHUNK = 5_000


class Clock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


async def fill(engine: AsyncEngine, count: int, per_case: int) -> None:
    step = timedelta(days=365) / count
    async with engine.begin() as conn:
        for first in range(1, count + 1, CHUNK):
            ids = range(first, min(first + CHUNK, count + 1))
            t0 = {i: START + step * i for i in ids}
            await conn.execute(insert(cases), [
                {"id": i, "procedure": "open_sources", "status": "closed", "version": per_case, "t0": t0[i],
                 "category": None, "repeat_of": None, "state": {}, "created_at": t0[i], "updated_at": t0[i]}
                for i in ids
            ])  # fmt: skip
            await conn.execute(insert(messages), [
                {"case_id": i, "source": "vk", "source_id": f"wall-1_{i}", "procedure": "open_sources",
                 "text": f"Сообщение {i}: яма у дома {i % 90}, звоните 8 913 {i:07d}", "author": f"Автор {i}",
                 "link": f"https://vk.com/wall-1_{i}", "category": None, "attachments": [], "external_number": "",
                 "received_at": t0[i], "extra": {"author_id": i, "network": "vk"}, "search": f"сообщение {i}"}
                for i in ids
            ])  # fmt: skip
            await conn.execute(insert(events), [
                {"case_id": i, "action": "close" if k == per_case - 1 else "info", "actor_id": 11,
                 "actor_role": "operator", "at": t0[i] + timedelta(hours=k), "text": f"ответ {k}",
                 "data": {"by": "Оператор"}, "undo": None}
                for i in ids
                for k in range(per_case)
            ])  # fmt: skip


async def timed(pd: PersonalData, at: datetime, policy: RetentionPolicy) -> tuple[float, int]:
    began = time.perf_counter()
    erased = await erase_due(pd, Clock(at), policy, TZ)
    return time.perf_counter() - began, len(erased)


@asynccontextmanager
async def database(pg: bool) -> AsyncIterator[AsyncEngine]:
    if not pg:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
            await upgrade(url)
            engine = create_engine(url)
            try:
                yield engine
            finally:
                await engine.dispose()
        return
    url = os.environ.get("OTKLIK_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    async with scratch_schema(url, "otklik_retention_bench") as connect_args:
        engine = create_engine(url, connect_args=connect_args)
        try:
            await upgrade(engine)
            yield engine
        finally:
            await engine.dispose()


async def main(count: int, per_case: int, pg: bool) -> None:
    policy = RetentionPolicy(open_sources_months=12, pos_months=60, excluded_months=3)
    async with database(pg) as engine:
        began = time.perf_counter()
        await fill(engine, count, per_case)
        print(f"{'PostgreSQL' if pg else 'SQLite'}: {count} cases, {count * per_case} events, "
              f"filled in {time.perf_counter() - began:.1f} s")  # fmt: skip
        pd = PersonalData(SqlRepository(engine, clock=Clock(START)))
        # The cases ended over a year: a year on, each hourly run finds an hour's worth (~11 of 100,000) due.
        first = START + timedelta(days=365, hours=per_case)
        for label, at in (
            ("first run a year on (the first hours' cases due)", first),
            ("the next hourly run (an hour's cases due)", first + timedelta(hours=1)),
            ("the next hourly run", first + timedelta(hours=2)),
            ("after a month down (a month's cases due at once)", first + timedelta(days=31)),
            ("the next hourly run", first + timedelta(days=31, hours=1)),
        ):
            seconds, erased = await timed(pd, at, policy)
            print(f"  {label}: {seconds:.2f} s, {erased} erased")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=6, help="events a case")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL (OTKLIK_TEST_PG_URL) instead of SQLite")
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.events, args.pg))
