"""The stem and address index of signatures (issue 16): `similar_candidates` must hand clustering and repeats
exactly the similar messages a full scan of the window finds, on SQLite, PostgreSQL and the in-memory fake, and
a crowded window must not change what it finds nor how much it reads."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.migrate import upgrade
from storage.repository import SqlRepository, SqlTransaction
from storage.tables import case_signatures, cases, signature_terms
from tests.fakes import FakeRepository
from tests.storage.conftest import SettableClock, fresh_engine
from workflow.clusters import Earlier, Recent, Signature, near_same, place, repeat_of, similar
from workflow.ports import Repository, SignatureRow
from workflow.services.clusters import SpikeSettings

T0 = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
OS = "open_sources"
SETTINGS = SpikeSettings()
WINDOW = SETTINGS.window
VOCABULARY = [f"стем{i}" for i in range(40)]
ADDRESSES = [f"ленин {i}" for i in range(6)]


@pytest.fixture(params=["sqlite", "pg", "fake"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: SettableClock
) -> AsyncIterator[Repository]:
    if request.param == "fake":
        yield FakeRepository()
        return
    async with fresh_engine(request.param, tmp_path) as engine:
        await upgrade(engine)
        yield SqlRepository(engine, clock=clock)


async def _keep(store: Repository, rows: list[SignatureRow], procedure: str = OS) -> None:
    """The signatures, through the port (which writes their index), with the cases they belong to."""
    async with store.transaction() as tx:
        if isinstance(tx, SqlTransaction):
            await tx.connection.execute(
                insert(cases),
                [
                    {"id": r.case_id, "procedure": procedure, "status": "new", "version": 1, "t0": r.at,
                     "state": {}, "created_at": r.at, "updated_at": r.at}
                    for r in rows
                ],
            )  # fmt: skip
        for r in rows:
            await tx.add_signature(procedure, r)


def _signature(r: SignatureRow) -> Signature:
    return Signature.from_stored(r.stems, r.address)


def _random_signature(rng: random.Random) -> Signature:
    stems = frozenset(rng.sample(VOCABULARY, rng.randint(1, 7)))
    return Signature(stems, rng.choice(ADDRESSES) if rng.random() < 0.3 else "")


async def test_candidates_find_what_a_full_scan_finds(store: Repository) -> None:
    rng = random.Random(16)
    rows = []
    for case_id in range(1, 301):
        s = _random_signature(rng)
        at = T0 + timedelta(seconds=rng.randint(0, 8 * 3600))
        rows.append(SignatureRow(case_id, at, s.stored(), s.address, f"vk:{case_id}"))
    await _keep(store, rows)
    # Another procedure's signatures, sharing every term, are never candidates.
    await _keep(
        store, [SignatureRow(1000 + i, r.at, r.stems, r.address) for i, r in enumerate(rows[:50])], "pos"
    )
    for _ in range(60):
        new = _random_signature(rng)
        at = T0 + timedelta(seconds=rng.randint(0, 8 * 3600))
        since, until = at - WINDOW.span, at + WINDOW.span
        async with store.reading() as tx:
            window = await tx.recent_signatures(OS, since, until, 10_000)
            found = await tx.similar_candidates(
                OS, new.stored(), new.address, since, until, per_term=SETTINGS.per_term, limit=WINDOW.cap + 1
            )
            earlier = await tx.recent_signatures(OS, at - timedelta(days=30), at, 10_000)
            repeats = await tx.similar_candidates(
                OS, new.stored(), "", at - timedelta(days=30), at, per_term=SETTINGS.per_term,
                limit=SETTINGS.repeat_scan,
            )  # fmt: skip
        assert len(window) < WINDOW.cap  # the full scan is whole: what it finds is the truth
        assert {r.case_id for r in found} <= {r.case_id for r in window}
        assert [r for r in found if similar(new, _signature(r))] == [
            r for r in window if similar(new, _signature(r))
        ]
        full = [Recent(r.case_id, r.at, _signature(r), r.cluster_id) for r in window]
        some = [Recent(r.case_id, r.at, _signature(r), r.cluster_id) for r in found]
        assert place(new, at, some, WINDOW) == place(new, at, full, WINDOW)
        assert [r for r in repeats if near_same(new, _signature(r))] == [
            r for r in earlier if near_same(new, _signature(r))
        ]
        by_text = repeat_of(new, "", [Earlier(r.case_id, r.at, "", _signature(r)) for r in repeats])
        assert by_text == repeat_of(new, "", [Earlier(r.case_id, r.at, "", _signature(r)) for r in earlier])


async def test_each_term_reads_its_newest_postings_only(store: Repository) -> None:
    rows = [SignatureRow(i, T0 + timedelta(minutes=i), "вод отключ", "") for i in range(1, 8)]
    rows.append(SignatureRow(8, T0 + timedelta(minutes=8), "двор ям", "ленин 5"))
    rows.append(SignatureRow(9, T0 + timedelta(minutes=9), "свет", "ленин 5"))
    await _keep(store, rows)
    async with store.reading() as tx:
        two = await tx.similar_candidates(OS, "вод", "", T0, T0 + timedelta(hours=1), per_term=2, limit=100)
        address = await tx.similar_candidates(
            OS, "вод", "ленин 5", T0, T0 + timedelta(hours=1), per_term=2, limit=100
        )
        bounded = await tx.similar_candidates(
            OS, "вод отключ", "", T0 + timedelta(minutes=2), T0 + timedelta(minutes=5), per_term=10, limit=3
        )
        nothing = await tx.similar_candidates(OS, "", "", T0, T0 + timedelta(hours=1), per_term=10, limit=10)
    assert [r.case_id for r in two] == [7, 6]
    assert [r.case_id for r in address] == [9, 8, 7, 6]  # the address is one more term
    assert address[0] == SignatureRow(9, T0 + timedelta(minutes=9), "свет", "ленин 5", "", None)
    assert [r.case_id for r in bounded] == [5, 4, 3]  # within the time bound, the newest `limit`
    assert nothing == []


async def test_a_crowded_window_neither_hides_a_match_nor_is_read(store: Repository) -> None:
    """2,000 messages of the window newer than the similar ones: 1,000 share nothing with the new message, 1,000
    share one stop-word-like stem. The old scan of the newest 200 (or 500) missed the three similar messages;
    the candidates find them, and read at most `per_term` of the 1,000 sharing a stem."""
    at = T0 + timedelta(hours=2)
    similar_ones = [
        SignatureRow(i, at - timedelta(minutes=110 - i), "вод горяч отключ подъезд", "") for i in range(1, 4)
    ]
    crowd = [
        SignatureRow(
            10 + i,
            at - timedelta(minutes=100) + timedelta(seconds=3 * i),
            f"жалоб{i % 50} шум{i % 7}" if i % 2 else f"сообщен тем{i % 40} друг{i % 9}",
            "",
        )
        for i in range(2_000)
    ]
    await _keep(store, similar_ones + crowd)
    new = Signature(frozenset({"вод", "горяч", "отключ", "сообщен"}))
    async with store.reading() as tx:
        found = await tx.similar_candidates(
            OS, new.stored(), new.address, at - WINDOW.span, at + WINDOW.span, per_term=SETTINGS.per_term,
            limit=WINDOW.cap + 1,
        )  # fmt: skip
        newest = await tx.recent_signatures(OS, at - WINDOW.span, at + WINDOW.span, WINDOW.cap + 1)
    assert not {r.case_id for r in similar_ones} & {r.case_id for r in newest}  # a capped scan misses them
    assert len(found) == SETTINGS.per_term + len(similar_ones)
    sharing = [r for r in crowd if "сообщен" in r.stems.split()]
    newest_sharing = sorted(sharing, key=lambda r: (r.at, r.case_id), reverse=True)[: SETTINGS.per_term]
    assert {r.case_id for r in found} == {r.case_id for r in similar_ones + newest_sharing}
    recent = [Recent(r.case_id, r.at, _signature(r), r.cluster_id) for r in found]
    placed = place(new, at, recent, WINDOW)
    assert placed is not None and placed.pull == (1, 2, 3) and placed.join is None


async def test_migration_0019_indexes_the_signatures_kept_before_it(engine: AsyncEngine) -> None:
    await upgrade(engine, "0018")
    kept = [
        SignatureRow(1, T0, "вод горяч отключ", "ленин 5", "vk:1"),
        SignatureRow(2, T0 + timedelta(minutes=1), "ям", "", ""),
        SignatureRow(3, T0 + timedelta(minutes=2), "", "", ""),  # an erased one: nothing to index
    ]
    async with engine.begin() as conn:
        await conn.execute(
            insert(cases),
            [
                {"id": r.case_id, "procedure": OS, "status": "new", "version": 1, "t0": r.at, "state": {},
                 "created_at": r.at, "updated_at": r.at}
                for r in kept
            ],
        )  # fmt: skip
        await conn.execute(
            insert(case_signatures),
            [
                {"case_id": r.case_id, "procedure": OS, "at": r.at, "stems": r.stems, "address": r.address or None,
                 "author": r.author or None}
                for r in kept
            ],
        )  # fmt: skip
    await upgrade(engine)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(signature_terms))).all()
    assert sorted((r.case_id, r.term, r.procedure, r.at) for r in rows) == sorted(
        [(1, t, OS, T0) for t in ("вод", "горяч", "отключ", "@ленин 5")] + [(2, "ям", OS, kept[1].at)]
    )
    repo = SqlRepository(engine, clock=SettableClock(T0))
    async with repo.reading() as tx:
        found = await tx.similar_candidates(
            OS, "отключ", "", T0, T0 + timedelta(hours=1), per_term=10, limit=10
        )
    assert [r.case_id for r in found] == [1]


async def test_a_join_reads_back_the_cluster_and_its_size_as_a_fresh_read_would(store: Repository) -> None:
    """PostgreSQL answers `cluster` and `cluster_size` right after a join from the join's own round trip: new
    members, members already in, members moved from another cluster, and a report between, all as counted."""
    rows = [
        SignatureRow(case_id=i, at=T0 + timedelta(minutes=i), stems="яма дорог", address="")
        for i in range(1, 9)
    ]
    await _keep(store, rows)
    async with store.transaction() as tx:
        first, second = await tx.new_cluster(T0), await tx.new_cluster(T0)
        await tx.join_cluster(first, [1, 2, 3])
        assert await tx.cluster_size(first) == 3
        await tx.join_cluster(second, [4, 5])
        assert await tx.cluster_size(second) == 2
        await tx.join_cluster(first, [2, 3, 4, 6])  # two already in, one from the other cluster, one new
        cluster = await tx.cluster(first)
        assert cluster is not None and cluster.reported_at is None
        assert await tx.cluster_size(first) == 5
        assert await tx.cluster_size(second) == 1
        assert await tx.mark_cluster_reported(first, T0 + timedelta(hours=1))
        reported = await tx.cluster(first)
        assert reported is not None and reported.reported_at == T0 + timedelta(hours=1)
        assert await tx.cluster_size(first) == 5
        await tx.join_cluster(first, [7])
        after = await tx.cluster(first)
        assert after is not None and after.reported_at == T0 + timedelta(hours=1)
        assert await tx.cluster_size(first) == 6
        assert [m.case_id for m in await tx.cluster_members(first)] == [1, 2, 3, 4, 6, 7]


async def test_candidates_read_again_are_the_rows_built_before_and_a_join_shows(store: Repository) -> None:
    """SQLite builds each stored row it reads once (a storm reads the window's newest again at every message):
    the same stored values give the same row object, and a row that joined a cluster since comes back with it."""
    rows = [
        SignatureRow(case_id=i, at=T0 + timedelta(minutes=i), stems="яма дорог", address="ленин 5")
        for i in range(1, 4)
    ]
    await _keep(store, rows)
    since, until = T0, T0 + timedelta(hours=1)

    async def read() -> list[SignatureRow]:
        async with store.transaction() as tx:
            return await tx.similar_candidates(OS, "яма дорог", "ленин 5", since, until, per_term=10, limit=10)

    first, again = await read(), await read()
    assert first == again == sorted(rows, key=lambda r: r.at, reverse=True)
    if isinstance(store, SqlRepository) and store.engine.dialect.name == "sqlite":
        assert all(a is b for a, b in zip(first, again, strict=True))
    async with store.transaction() as tx:
        cluster = await tx.new_cluster(T0)
        await tx.join_cluster(cluster, [2])
    joined = {r.case_id: r.cluster_id for r in await read()}
    assert joined == {1: None, 2: cluster, 3: None}
