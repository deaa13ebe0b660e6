"""Clustering and repeat lookups (issue 13): the cost of one new message at the sizes the design caps.

Run: .venv/bin/python bench/clusters_bench.py [--repeat N] [--pg [URL]]
Prints median and p90 over N runs (default 200) of:
- the pure part: signature of the new message + `place` against a full window of 500 recent messages;
- the same through SQLite in one transaction: `cluster_case` with 500 signatures in the window (look up the
  candidates by `signature_terms`, compare, write the signature, its terms and the membership);
- the repeat lookup over 2,000 recent cases: pure `repeat_of`, and `suggest_repeat` through SQLite.
The stored signatures are written with their index rows (`signature_terms`, issue 16), as registration writes
them; the lookups read the candidates sharing a term, at most `SpikeSettings.per_term` per term.
With --pg the stored figures are measured on PostgreSQL too, in a throwaway schema (tests/support/scratch.py).
Texts come from the labelled screening corpus (tests/data/screening/messages.jsonl), so stems are realistic.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from storage.clusters import terms_of  # noqa: E402
from storage.engine import create_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.repository import SqlRepository  # noqa: E402
from storage.tables import case_signatures, cases, messages, signature_terms  # noqa: E402
from tests.support.pg import LOCAL_URL  # noqa: E402
from tests.support.scratch import scratch_schema  # noqa: E402
from workflow.clusters import Earlier, Recent, Window, place, repeat_of, signature  # noqa: E402
from workflow.model import Case, InboundMessage, Procedure, Source  # noqa: E402
from workflow.services.clusters import SpikeSettings, cluster_case, suggest_repeat  # noqa: E402

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WINDOW = Window()  # 5 within 120 minutes, 500 compared
REPEATS = 2_000


class Clock:
    def now(self) -> datetime:
        return NOW


def corpus() -> list[str]:
    path = ROOT / "tests" / "data" / "screening" / "messages.jsonl"
    return [
        json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def figures(label: str, samples: list[float]) -> None:
    samples = sorted(samples)
    p90 = samples[int(len(samples) * 0.9)]
    print(f"{label:<64} median {statistics.median(samples) * 1000:8.3f} ms   p90 {p90 * 1000:8.3f} ms")


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


async def timed_async(fn: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    out: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - start)
    return out


def pure(texts: list[str], repeat: int) -> None:
    recent = [
        Recent(i + 1, NOW - timedelta(seconds=14 * i), signature(texts[i % len(texts)]), None)
        for i in range(WINDOW.cap)
    ]
    new = texts[len(texts) // 2]
    figures(
        f"pure: signature + place against {WINDOW.cap} recent",
        timed(lambda: place(signature(new), NOW, recent, WINDOW), repeat),
    )
    earlier = [
        Earlier(i + 1, NOW - timedelta(minutes=20 * i), f"vk:{i}", signature(texts[i % len(texts)]))
        for i in range(REPEATS)
    ]
    figures(
        f"pure: signature + repeat_of over {REPEATS:,} recent cases",
        timed(lambda: repeat_of(signature(new), "vk:999999", earlier), repeat),
    )


async def stored(texts: list[str], repeat: int, pg_url: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="otklik-clusters-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
        await upgrade(url)
        engine = create_engine(url)
        try:
            await _stored(engine, texts, repeat, "sqlite")
        finally:
            await engine.dispose()
    if pg_url is None:
        return
    async with scratch_schema(pg_url, "otklik_clusters_bench") as connect_args:
        engine = create_engine(pg_url, connect_args=connect_args)
        try:
            await upgrade(engine)
            await _stored(engine, texts, repeat, "postgresql")
        finally:
            await engine.dispose()


async def _stored(engine: AsyncEngine, texts: list[str], repeat: int, name: str) -> None:
    total = REPEATS + repeat + 1
    # 2,000 cases over the last 28 days, of which the newest 500 fall within the two-hour window.
    rows = []
    for i in range(total):
        at = NOW - timedelta(seconds=14 * i) if i < WINDOW.cap else NOW - timedelta(minutes=20 * i)
        rows.append((i + 1, at, signature(texts[i % len(texts)])))
    async with engine.begin() as conn:
        await conn.execute(
            insert(cases),
            [
                {"id": i, "procedure": "open_sources", "status": "new", "version": 1, "t0": at, "state": {},
                 "created_at": at, "updated_at": at}
                for i, at, _ in rows
            ],
        )  # fmt: skip
        await conn.execute(
            insert(messages),
            [
                {"case_id": i, "source": "vk", "source_id": f"b{i}", "procedure": "open_sources",
                 "text": texts[(i - 1) % len(texts)], "author": "", "link": "", "attachments": [],
                 "external_number": "", "received_at": at, "extra": {}}
                for i, at, _ in rows
            ],
        )  # fmt: skip
        await conn.execute(
            insert(case_signatures),
            [
                {"case_id": i, "procedure": "open_sources", "at": at, "stems": s.stored(),
                 "address": s.address or None, "author": f"vk:{i}"}
                for i, at, s in rows[repeat + 1 :]
            ],
        )  # fmt: skip
        await conn.execute(
            insert(signature_terms),
            [
                {"case_id": i, "term": term, "procedure": "open_sources", "at": at}
                for i, at, s in rows[repeat + 1 :]
                for term in terms_of(s.stored(), s.address)
            ],
        )  # fmt: skip
    repo = SqlRepository(engine, clock=Clock())
    settings = SpikeSettings(window=WINDOW)
    spare = iter(rows[: repeat + 1])  # cases without a signature yet: one per timed registration
    new_text = texts[len(texts) // 2]

    async def one_cluster() -> None:
        case_id, _at, _s = next(spare)
        message = InboundMessage(
            Source.VK, f"n{case_id}", Procedure.OPEN_SOURCES, new_text, NOW, author_id=case_id
        )
        case = Case(case_id, Procedure.OPEN_SOURCES, "new", 1, NOW)
        async with repo.transaction() as tx:
            await cluster_case(tx, case, message, signature(new_text), NOW, NOW, settings)

    figures(f"{name}: cluster_case with {WINDOW.cap} in the window (one transaction)",
            await timed_async(one_cluster, repeat))  # fmt: skip

    async def one_repeat() -> None:
        async with repo.transaction() as tx:
            await suggest_repeat(tx, Procedure.OPEN_SOURCES, signature(new_text), "vk:999999", NOW, settings)

    figures(
        f"{name}: suggest_repeat over {REPEATS:,} recent cases (30 days)",
        await timed_async(one_repeat, repeat),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument(
        "--pg", nargs="?", const=LOCAL_URL, default=None, metavar="URL", help="PostgreSQL too"
    )
    args = parser.parse_args()
    texts = corpus()
    print(
        f"corpus: {len(texts)} messages; window {WINDOW.threshold} within {WINDOW.minutes} min, cap {WINDOW.cap};"
        f" repeat scan {SpikeSettings().repeat_scan}, {SpikeSettings().per_term} per term"
    )
    pure(texts, args.repeat)
    asyncio.run(stored(texts, args.repeat, args.pg))


if __name__ == "__main__":
    main()
