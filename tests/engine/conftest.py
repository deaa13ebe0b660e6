"""Use cases over every repository: the in-memory fake, a real SQLite file and (when configured) PostgreSQL.

`repo` is parametrized over ["fake", "sqlite", "pg"]. The PostgreSQL variant runs only when
OTKLIK_TEST_PG_URL is set (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test); each test then gets a
fresh schema of its own (the connections' search_path points there) that is dropped afterwards, so tests
never see each other's rows, nor rows of anyone else using the same database.

`db` is the database behind `repo`: `await db.open()` builds another engine and repository over the same
data (a restarted process, a second sweeper), `await db.close(repo)` disposes one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repository import SqlRepository
from tests.fakes import FakeClock, FakeRepository, RecordingNotifier
from tests.support.pg import PG_SKIP, PG_URL
from tests.support.scratch import scratch_schema
from workflow.calendar import WorkingCalendar
from workflow.model import Actor, Case, Event, InboundMessage, Procedure, Role, Source, Term
from workflow.ports import OutboxItem, Repository
from workflow.rules import DEFAULT_RULES
from workflow.services import Services

BACKENDS = ["fake", "sqlite", "pg"]

NSK = ZoneInfo("Asia/Novosibirsk")


def at(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0) -> datetime:
    """A Novosibirsk wall-clock instant."""
    return datetime(y, mo, d, h, mi, s, tzinfo=NSK)


# One person per role, in every unit (as the simulator does); the tests name roles, not people.
_ALL_UNITS = frozenset(DEFAULT_RULES.units)


def actor(role: Role, *units: str) -> Actor:
    return Actor(
        user_id=100 + list(Role).index(role),
        roles=frozenset({role}),
        units=frozenset(units) if units else _ALL_UNITS,
        name=role.value,
    )


def os_message(
    source_id: str = "wall-1_100", received_at: datetime | None = None, **kw: Any
) -> InboundMessage:
    return InboundMessage(
        source=kw.pop("source", Source.VK),
        source_id=source_id,
        procedure=Procedure.OPEN_SOURCES,
        text=kw.pop("text", "На ул. Ленина у дома 5 яма на дороге. Когда отремонтируют?"),
        received_at=received_at or at(2026, 12, 1, 9, 40),
        author=kw.pop("author", "Пётр Смирнов"),
        **kw,
    )


def pos_message(
    source_id: str = "pos-2026-000100",
    received_at: datetime | None = None,
    category: str = "other",
    **kw: Any,
) -> InboundMessage:
    return InboundMessage(
        source=Source.POS,
        source_id=source_id,
        procedure=Procedure.POS,
        text=kw.pop("text", "Во дворе дома 12 по ул. Садовой третью неделю не вывозят мусор."),
        received_at=received_at or at(2026, 11, 2, 17, 30),
        author=kw.pop("author", "Анна Иванова"),
        category=category,
        **kw,
    )


@dataclass
class Database:
    """The storage behind one test. For "fake" every `open()` returns the same in-memory repository."""

    kind: str
    url: str = ""
    connect_args: dict[str, Any] = field(default_factory=dict)
    clock: FakeClock | None = None
    _fake: FakeRepository | None = None
    _engines: list[AsyncEngine] = field(default_factory=list)

    @property
    def sql(self) -> bool:
        return self.kind != "fake"

    def engine(self) -> AsyncEngine:
        engine = create_engine(self.url, connect_args=self.connect_args)
        self._engines.append(engine)
        return engine

    async def open(self) -> Repository:
        if self._fake is not None:
            # FakeTransaction lacks the delivery-side methods (staff, cards, deliveries) the use cases never
            # call, so it is not a full `Transaction` to mypy.
            return cast(Repository, self._fake)
        return SqlRepository(self.engine(), clock=self.clock)

    async def close(self, repo: Repository) -> None:
        if isinstance(repo, SqlRepository):
            await repo.engine.dispose()
            self._engines.remove(repo.engine)

    async def dispose_all(self) -> None:
        for engine in self._engines:
            await engine.dispose()
        self._engines.clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(at(2026, 12, 1, 9, 40))


@pytest.fixture
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Database]:
    kind: str = request.param
    if kind == "fake":
        yield Database("fake", _fake=FakeRepository())
        return
    if kind == "sqlite":
        database = Database("sqlite", url=f"sqlite+aiosqlite:///{tmp_path / 'otklik.sqlite3'}", clock=clock)
        await upgrade(database.url)
        try:
            yield database
        finally:
            await database.dispose_all()
        return
    if not PG_URL:
        pytest.skip(PG_SKIP)
    async with scratch_schema(PG_URL, "otklik_engine") as connect_args:
        database = Database("pg", url=PG_URL, connect_args=connect_args, clock=clock)
        try:
            migrator = database.engine()
            await upgrade(migrator)
            await migrator.dispose()
            database._engines.remove(migrator)
            yield database
        finally:
            await database.dispose_all()


@pytest.fixture
async def repo(db: Database) -> Repository:
    return await db.open()


def make_services(
    repo: Repository, clock: FakeClock, calendar: WorkingCalendar, notifier: RecordingNotifier | None = None
) -> Services:
    return Services(repo=repo, clock=clock, calendar=calendar, rules=DEFAULT_RULES, notifier=notifier)


@pytest.fixture
def services(
    repo: Repository, clock: FakeClock, calendar: WorkingCalendar, notifier: RecordingNotifier
) -> Services:
    return make_services(repo, clock, calendar, notifier)


# --- reading the state back ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Everything a use case may write about some cases: compared before and after a refusal."""

    cases: tuple[Case | None, ...]
    events: tuple[tuple[Event, ...], ...]
    terms: tuple[tuple[Term, ...], ...]
    drafts: tuple[str | None, ...]
    outbox: tuple[str, ...]


async def snapshot(repo: Repository, case_ids: Sequence[int]) -> Snapshot:
    async with repo.transaction() as tx:
        return Snapshot(
            cases=tuple([await tx.get_case(c) for c in case_ids]),
            events=tuple([tuple(await tx.events(c)) for c in case_ids]),
            terms=tuple([tuple(await tx.terms(c, open_only=False)) for c in case_ids]),
            drafts=tuple([await tx.latest_draft(c) for c in case_ids]),
            outbox=tuple(item.notification.dedup_key for item in await tx.pending_outbox(limit=1_000_000)),
        )


async def outbox(repo: Repository) -> list[OutboxItem]:
    async with repo.transaction() as tx:
        return await tx.pending_outbox(limit=1_000_000)


async def all_terms(repo: Repository, case_id: int) -> list[Term]:
    async with repo.transaction() as tx:
        return await tx.terms(case_id, open_only=False)


async def open_terms(repo: Repository, case_id: int) -> list[Term]:
    async with repo.transaction() as tx:
        return await tx.terms(case_id, open_only=True)


async def events(repo: Repository, case_id: int) -> list[Event]:
    async with repo.transaction() as tx:
        return await tx.events(case_id)
