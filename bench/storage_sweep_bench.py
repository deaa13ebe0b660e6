"""How long the sweeper's query takes as open terms pile up: it should follow what is due, not what is open.

    python bench/storage_sweep_bench.py                      # SQLite (temp file)
    OTKLIK_TEST_PG_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test python bench/storage_sweep_bench.py

For each size the database holds N open terms (of which `--due` need attention now, the rest later or never),
N/2 closed terms as history, and one case per 10 terms. It prints the median and p10 of `terms_needing_attention(now)`
over `--repeat` runs, a naive "load every open term and filter" for contrast, and the plan the database
chose. The sizes are timed side by side, calls alternating between them, so machine load hits each alike. PostgreSQL runs in a throwaway schema that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.migrate import upgrade
from storage.repository import SqlRepository, SqlTransaction
from storage.tables import cases, terms
from tests.support.scratch import scratch_engine, sqlite_file_engine

NOW = datetime(2025, 3, 3, 5, 0, tzinfo=UTC)
CHUNK = 10_000


async def fill(engine: AsyncEngine, open_terms: int, due: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    n_cases = max(1, (open_terms + open_terms // 2) // 10)
    async with engine.begin() as conn:
        for start in range(0, n_cases, CHUNK):
            rows = [
                {
                    "id": i + 1,
                    "procedure": "open_sources",
                    "status": "routed",
                    "version": 1,
                    "t0": NOW - timedelta(days=1),
                    "state": {},
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(start, min(start + CHUNK, n_cases))
            ]
            await conn.execute(insert(cases), rows)

        def term(i: int) -> dict[str, Any]:
            started = NOW - timedelta(hours=rnd.uniform(0, 48))
            row: dict[str, Any] = {
                "case_id": i % n_cases + 1,
                "term_id": "os.publish",
                "owner": "operator",
                "unit": None,
                "started_at": started,
                "due": started + timedelta(hours=9),
                "closed_at": None,
                "met": None,
                "closed_by": None,
                "sent": ",",
                "next_attention": None,
            }
            if i < due:  # needs attention now
                row["next_attention"] = NOW - timedelta(minutes=rnd.uniform(0, 600))
            elif i < open_terms:
                # Later (most), or never again (missed and fully alerted, still open): neither is due.
                quiet = rnd.random() < 0.05
                row["next_attention"] = (
                    None if quiet else NOW + timedelta(minutes=rnd.uniform(1, 60 * 24 * 30))
                )
            else:  # history
                row.update(closed_at=started + timedelta(hours=2), met=True, closed_by=1)
            return row

        total = open_terms + open_terms // 2
        order = list(range(total))
        rnd.shuffle(order)  # due, later and closed rows interleaved on disk, as in real life
        for start in range(0, total, CHUNK):
            await conn.execute(insert(terms), [term(i) for i in order[start : start + CHUNK]])
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))


async def plan(engine: AsyncEngine) -> str:
    stmt = (
        "SELECT * FROM terms WHERE closed_at IS NULL AND next_attention <= :now ORDER BY next_attention, id"
    )
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            param = NOW.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
            rows = await conn.execute(text("EXPLAIN QUERY PLAN " + stmt), {"now": param})
            return "; ".join(row[-1] for row in rows)
        rows = await conn.execute(text("EXPLAIN " + stmt), {"now": NOW})
        return "; ".join(row[0].strip(" ->") for row in rows if "Scan" in row[0])


async def sweep(tx: SqlTransaction) -> int:
    return len(await tx.terms_needing_attention(NOW))


async def naive(tx: SqlTransaction) -> int:
    """For contrast: read every open term and filter, which grows with what is open."""
    rows = (await tx._conn.execute(select(terms).where(terms.c.closed_at.is_(None)))).all()
    return sum(1 for r in rows if r.next_attention is not None and r.next_attention <= NOW)


async def compare(label: str, factory: Callable[[], Any], sizes: list[int], due: int, repeat: int) -> None:
    timings: dict[str, list[list[float]]] = {"sweep": [[] for _ in sizes], "naive": [[] for _ in sizes]}
    fills: list[float] = []
    plans: list[str] = []
    async with AsyncExitStack() as stack:
        txs: list[SqlTransaction] = []
        for size in sizes:
            engine = await stack.enter_async_context(factory())
            await upgrade(engine)
            started = time.perf_counter()
            await fill(engine, size, due)
            fills.append(time.perf_counter() - started)
            plans.append(await plan(engine))
            txs.append(await stack.enter_async_context(SqlRepository(engine, clock=_UtcClock()).reading()))
        calls: list[tuple[str, Callable[[SqlTransaction], Awaitable[int]], int]] = [
            ("sweep", sweep, repeat),
            ("naive", naive, max(3, repeat // 10)),
        ]
        for name, call, rounds in calls:
            for tx in txs:
                await call(tx)  # warm-up: page cache, statement cache
            for _ in range(rounds):
                for i, tx in enumerate(txs):
                    started = time.perf_counter()
                    count = await call(tx)
                    timings[name][i].append((time.perf_counter() - started) * 1000)
                    assert count == due, (name, count, due)
    for i, size in enumerate(sizes):
        swept = timings["sweep"][i]
        print(
            f"{label:<10} {size:>8,} {size // 2:>8,} {due:>6,} {statistics.median(swept):>9.2f}"
            f" {statistics.quantiles(swept, n=10)[0]:>8.2f} {statistics.median(timings['naive'][i]):>11.1f}"
            f" {fills[i]:>7.1f}s"
        )
        print(f"{'':<10} plan: {plans[i]}")


def sqlite_engine() -> AbstractAsyncContextManager[AsyncEngine]:
    return sqlite_file_engine("bench.sqlite3")


def pg_engine(url: str) -> AbstractAsyncContextManager[AsyncEngine]:
    return scratch_engine(url, "otklik_bench")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="open terms")
    parser.add_argument("--due", type=int, nargs="+", default=[1_000], help="of which need attention")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    pg_url = os.environ.get("OTKLIK_TEST_PG_URL", "")

    print(f"terms_needing_attention(now): {args.repeat} runs per size, interleaved; times in ms")
    print(
        f"{'database':<10} {'open':>8} {'closed':>8} {'due':>6} {'median':>9} {'p10':>8} {'naive scan':>11}"
        f" {'fill':>8}"
    )
    targets: list[tuple[str, Callable[[], Any]]] = [("sqlite", sqlite_engine)]
    if pg_url:
        targets.append(("postgresql", lambda: pg_engine(pg_url)))
    else:
        print("(PostgreSQL skipped: set OTKLIK_TEST_PG_URL to include it)")
    for label, factory in targets:
        for due in args.due:
            await compare(label, factory, args.sizes, due, args.repeat)


class _UtcClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


if __name__ == "__main__":
    asyncio.run(main())
