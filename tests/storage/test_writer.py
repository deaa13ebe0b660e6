"""SQLite writes through one writer thread (storage/writer.py): the same bytes stored, group commit, isolation of a
failing job, a failing COMMIT, outages, cancellation, reads beside the writer, and its stop."""

from __future__ import annotations

import asyncio
import functools
import random
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

import bot.simulate
from bot.cli import main
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repository import SqlRepository, SqlTransaction
from storage.writer import NestedWrite, SuspendedWrite, current_writer, stop_writer
from tests.storage.conftest import SettableClock
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import Action, ActionPayload
from workflow.model import Actor, DomainError, Event, InboundMessage, Procedure, Role, Source
from workflow.ports import StorageUnavailable, Transaction
from workflow.rules import DEFAULT_RULES
from workflow.services import Services

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
START = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
UNITS = tuple(DEFAULT_RULES.units)


def dump(path: Path) -> list[str]:
    """Everything stored in the file, as SQL text (every value as stored)."""
    db = sqlite3.connect(path)
    try:
        return list(db.iterdump())
    finally:
        db.close()


async def migrated(path: Path, *, writer: bool = True, **kwargs: Any) -> AsyncEngine:
    engine = create_engine(f"sqlite+aiosqlite:///{path}", sqlite_writer=writer, **kwargs)
    await upgrade(engine)
    return engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await migrated(tmp_path / "writer.sqlite3")
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def repo(engine: AsyncEngine) -> SqlRepository:
    return SqlRepository(engine, clock=SettableClock(START))


def message(n: int, text_: str = "") -> InboundMessage:
    return InboundMessage(
        source=Source.VK,
        source_id=f"wall-1_{n}",
        procedure=Procedure.OPEN_SOURCES,
        text=text_ or f"На улице Ленина у дома {n} яма на дороге, когда отремонтируют?",
        received_at=START,
        author="Житель района",
    )


OPERATOR = Actor(user_id=1, roles=frozenset({Role.OPERATOR}), name="operator")


async def kv(repo: SqlRepository, key: str) -> str | None:
    async with repo.reading() as tx:
        return await tx.kv_get(key)


def setting(key: str, value: str) -> Callable[[Any], Awaitable[None]]:
    async def body(tx: SqlTransaction) -> None:
        await tx.kv_set(key, value)

    return body


class Gate:
    """A job that holds the writer's thread (inside its transaction) until opened: later jobs queue up."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    async def body(self, tx: SqlTransaction) -> str:
        await tx.kv_set("gate", "held")  # the transaction has the write lock now
        self.entered.set()
        assert self.opened.wait(10)  # blocks the writer's thread; the coroutine itself never suspends
        return "gate"

    async def hold(self, repo: SqlRepository) -> asyncio.Task[str]:
        task = asyncio.create_task(repo.write(self.body))
        assert await asyncio.to_thread(self.entered.wait, 10)
        return task


async def queued(count: int) -> None:
    """Let `count` freshly created write tasks reach the writer's queue."""
    for _ in range(count + 2):
        await asyncio.sleep(0)


# --- the same bytes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["open_sources_day", "pos_day"])
def test_example_scenarios_store_the_same_bytes_with_and_without_the_writer(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = str(EXAMPLES / f"{name}.toml")
    with_writer, without = tmp_path / "writer.sqlite3", tmp_path / "pooled.sqlite3"
    assert main(["simulate", scenario, "--json", "--db", str(with_writer)]) == 0
    out_writer = capsys.readouterr().out
    monkeypatch.setattr(bot.simulate, "create_engine", functools.partial(create_engine, sqlite_writer=False))
    assert main(["simulate", scenario, "--json", "--db", str(without)]) == 0
    out_pooled = capsys.readouterr().out
    assert out_writer == out_pooled
    stored = dump(with_writer)
    assert any(line.startswith('INSERT INTO "cases"') for line in stored)
    assert stored == dump(without)


async def random_workload(path: Path, *, writer: bool, seed: int) -> list[str]:
    """Registrations (repeats, duplicates, similar texts) and actions of every kind by every role, many refused;
    what each returned or raised."""
    engine = await migrated(path, writer=writer)
    try:
        return await workload_on(engine, seed)
    finally:
        await engine.dispose()


async def workload_on(engine: AsyncEngine, seed: int) -> list[str]:
    """`random_workload` on a migrated engine of either dialect (tests/storage/test_pg_round_trips.py)."""
    rng = random.Random(seed)
    clock = SettableClock(START)
    services = Services(
        repo=SqlRepository(engine, clock=clock), clock=clock, calendar=WorkingCalendar(), rules=DEFAULT_RULES
    )
    actors = [Actor(user_id=10 + i, roles=frozenset({role}), units=frozenset(UNITS), name=role.value)
              for i, role in enumerate(Role)]  # fmt: skip
    texts = [
        "яма на дороге у дома {n}",
        "не горит фонарь на улице Мира",
        "мусор во дворе дома {n} не вывозят",
    ]
    said: list[str] = []
    case_ids: list[int] = []
    for step in range(250):
        clock.advance(timedelta(minutes=rng.randint(1, 90)))
        try:
            if not case_ids or rng.random() < 0.35:
                n = rng.randint(0, 40)
                repeat_of = rng.choice([None, None, None, 999_999, *case_ids[-3:]])
                msg = message(n, rng.choice(texts).format(n=n))
                outcome = await services.register(msg, rng.choice(actors), repeat_of=repeat_of)
                case_ids.append(outcome.case.id)
            else:
                payload = ActionPayload(
                    text="Проект ответа: яму заделают до пятницы.", reason="причина",
                    units=tuple(rng.sample(UNITS, k=rng.randint(1, 2))), link="https://vk.com/wall-1_1",
                    origin=rng.choice(["", f"tg:1:{step}", "tg:1:1"]),
                )  # fmt: skip
                case_id, action = rng.choice(case_ids), rng.choice(list(Action))
                for who in rng.sample(actors, len(actors)):  # the first role allowed to act
                    try:
                        outcome = await services.act(case_id, action, who, payload=payload)
                        break
                    except DomainError as exc:
                        if exc.code != "forbidden":
                            raise
                else:
                    raise DomainError("nobody may", code="forbidden")
            said.append(f"{step} ok {outcome.case.id} v{outcome.case.version} {outcome.case.status}"
                        f" {outcome.created} {outcome.replayed} {len(outcome.notifications)}")  # fmt: skip
        except DomainError as exc:
            said.append(f"{step} refused {exc.code}")
    await services.sweep()
    return said


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_random_workload_stores_the_same_bytes_with_and_without_the_writer(
    seed: int, tmp_path: Path
) -> None:
    said_writer = await random_workload(tmp_path / "writer.sqlite3", writer=True, seed=seed)
    said_pooled = await random_workload(tmp_path / "pooled.sqlite3", writer=False, seed=seed)
    assert said_writer == said_pooled
    assert sum(" ok " in line for line in said_writer) > 50  # the workload did work, not only refusals
    assert dump(tmp_path / "writer.sqlite3") == dump(tmp_path / "pooled.sqlite3")


# --- group commit and idempotency ------------------------------------------------------------------------------


async def test_concurrent_registrations_are_group_committed_and_stay_one_case_per_message(
    engine: AsyncEngine, repo: SqlRepository
) -> None:
    services = Services(
        repo=repo, clock=SettableClock(START), calendar=WorkingCalendar(), rules=DEFAULT_RULES
    )
    await services.register(message(1000), OPERATOR)
    writer = current_writer(engine)
    assert writer is not None
    batches, jobs = writer.batches, writer.jobs_run
    outcomes = await asyncio.gather(*(services.register(message(n % 16), OPERATOR) for n in range(32)))
    by_message: dict[int, set[int]] = {}
    for n, outcome in enumerate(outcomes):
        by_message.setdefault(n % 16, set()).add(outcome.case.id)
    assert all(len(ids) == 1 for ids in by_message.values())
    assert sum(outcome.created for outcome in outcomes) == 16
    assert writer.jobs_run - jobs == 32
    assert writer.batches - batches < 32  # several registrations shared a COMMIT
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM cases"))).scalar_one() == 17
        assert (await conn.execute(text("SELECT count(*) FROM messages"))).scalar_one() == 17


async def test_a_failing_job_undoes_only_its_own_work_and_the_batch_still_commits(
    engine: AsyncEngine, repo: SqlRepository
) -> None:
    services = Services(
        repo=repo, clock=SettableClock(START), calendar=WorkingCalendar(), rules=DEFAULT_RULES
    )

    async def failing(tx: SqlTransaction) -> None:
        await tx.kv_set("failing", "written, then undone")
        raise ValueError("the job's own fault")

    gate = Gate()
    held = await gate.hold(repo)
    writer = current_writer(engine)
    assert writer is not None
    batches = writer.batches
    first = asyncio.create_task(services.register(message(1), OPERATOR))
    bad = asyncio.create_task(repo.write(failing))
    repeat = asyncio.create_task(services.register(message(2), OPERATOR, repeat_of=999_999))
    last = asyncio.create_task(services.register(message(3), OPERATOR))
    await queued(4)
    gate.opened.set()
    assert await held == "gate"
    assert (await first).created and (await last).created
    with pytest.raises(ValueError, match="own fault"):
        await bad
    with pytest.raises(DomainError, match="не найдено"):
        await repeat
    assert writer.batches - batches == 1  # the four queued jobs ran in one transaction
    assert await kv(repo, "failing") is None
    assert await kv(repo, "gate") == "held"
    async with repo.reading() as tx:
        assert await tx.find_case_by_source("vk", "wall-1_2") is None
        assert await tx.find_case_by_source("vk", "wall-1_3") == (await last).case.id


async def test_the_register_race_still_answers_with_the_winners_case(repo: SqlRepository) -> None:
    """A unique (source, source id) violation inside a write reaches `register`, whose fallback reads the
    winner's case, as before."""
    services = Services(
        repo=repo, clock=SettableClock(START), calendar=WorkingCalendar(), rules=DEFAULT_RULES
    )
    winner = await services.register(message(7), OPERATOR)

    async def duplicate(tx: SqlTransaction) -> None:
        case = winner.case
        await tx.add_case(case, message(7))

    with pytest.raises(IntegrityError):
        await repo.write(duplicate)
    # Seen by `register` as a lost race: its find sees the winner (a write that finds it returns it too).
    again = await services.register(message(7), OPERATOR)
    assert again.case.id == winner.case.id and not again.created


async def test_a_body_that_awaits_something_else_fails_loudly_and_writes_nothing(repo: SqlRepository) -> None:
    async def suspending(tx: SqlTransaction) -> None:
        await tx.kv_set("suspending", "never committed")
        await asyncio.sleep(0)

    with pytest.raises(SuspendedWrite):
        await repo.write(suspending)
    assert await kv(repo, "suspending") is None
    await repo.write(setting("after", "fine"))  # the writer goes on
    assert await kv(repo, "after") == "fine"


async def test_a_failing_commit_fails_every_job_of_its_batch(
    engine: AsyncEngine, repo: SqlRepository
) -> None:
    async def orphan_event(tx: SqlTransaction) -> None:
        # Foreign keys checked at COMMIT: an event of no case makes the COMMIT itself fail.
        await tx._exec(text("PRAGMA defer_foreign_keys = ON"))
        await tx.append_event(999_999, Event("note", 1, Role.OPERATOR, START))

    gate = Gate()
    held = await gate.hold(repo)
    bad = asyncio.create_task(repo.write(orphan_event))
    innocent = asyncio.create_task(repo.write(setting("innocent", "lost with its batch")))
    await queued(2)
    gate.opened.set()
    assert await held == "gate"  # its own batch, taken before the others queued
    for task in (bad, innocent):
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            await task
    assert await kv(repo, "innocent") is None and await kv(repo, "gate") == "held"
    await repo.write(setting("next", "committed"))  # the next batch is a fresh transaction
    assert await kv(repo, "next") == "committed"


async def test_a_locked_database_is_storage_unavailable_and_the_writer_recovers(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite3"
    engine = await migrated(path, busy_timeout_ms=50)
    repo = SqlRepository(engine, clock=SettableClock(START))
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StorageUnavailable):
            await repo.write(setting("k", "v"))
        other.execute("ROLLBACK")
        await repo.write(setting("k", "v"))
        assert await kv(repo, "k") == "v"
    finally:
        other.close()
        await engine.dispose()


# --- cancellation, reads, stop ----------------------------------------------------------------------------------


async def test_a_cancelled_caller_leaves_no_half_job_the_job_runs_to_its_end(repo: SqlRepository) -> None:
    gate = Gate()
    held = await gate.hold(repo)
    task = asyncio.create_task(repo.write(setting("cancelled", "committed anyway")))
    await queued(1)
    task.cancel()
    gate.opened.set()
    await held
    with pytest.raises(asyncio.CancelledError):
        await task
    await repo.write(setting("flush", "x"))  # after the cancelled job's batch
    assert await kv(repo, "cancelled") == "committed anyway"


async def test_reads_never_wait_for_the_writer(repo: SqlRepository) -> None:
    await repo.write(setting("before", "1"))
    gate = Gate()
    held = await gate.hold(repo)  # the writer holds the write lock, mid-transaction
    try:
        async with asyncio.timeout(5):
            assert await kv(repo, "before") == "1"
            assert await kv(repo, "gate") is None  # not committed yet
    finally:
        gate.opened.set()
    await held
    assert await kv(repo, "gate") == "held"


async def test_stop_lets_queued_jobs_finish_and_a_later_write_starts_a_new_writer(
    engine: AsyncEngine, repo: SqlRepository
) -> None:
    gate = Gate()
    held = await gate.hold(repo)
    writer = current_writer(engine)
    assert writer is not None
    queued_jobs = [asyncio.create_task(repo.write(setting(f"q{i}", "done"))) for i in range(3)]
    await queued(3)
    stopping = asyncio.create_task(stop_writer(engine))
    await asyncio.sleep(0.05)
    gate.opened.set()
    await stopping
    await held
    await asyncio.gather(*queued_jobs)
    assert writer.closed and [await kv(repo, f"q{i}") for i in range(3)] == ["done"] * 3
    await repo.write(setting("later", "new writer"))
    assert current_writer(engine) is not writer
    assert await kv(repo, "later") == "new writer"


async def test_dispose_ends_the_writers_thread(tmp_path: Path) -> None:
    engine = await migrated(tmp_path / "dispose.sqlite3")
    repo = SqlRepository(engine, clock=SettableClock(START))
    await repo.write(setting("k", "v"))
    writer = current_writer(engine)
    assert writer is not None
    await engine.dispose()
    assert writer.closed and current_writer(engine) is None
    assert writer._thread is not None and not writer._thread.is_alive()


async def test_in_memory_sqlite_and_disabled_writer_use_the_pooled_connections(tmp_path: Path) -> None:
    engine = await migrated(tmp_path / "off.sqlite3", writer=False)
    try:
        repo = SqlRepository(engine, clock=SettableClock(START))
        await repo.write(setting("k", "v"))
        assert current_writer(engine) is None and await kv(repo, "k") == "v"
    finally:
        await engine.dispose()


# --- transactions on the pooled connections take their turn --------------------------------------------------


async def test_a_pooled_transaction_waits_for_the_batch_then_holds_the_file_alone(tmp_path: Path) -> None:
    """With a busy_timeout of 50 ms, a transaction that had to contend for SQLite's lock with a batch holding it
    for longer would fail as locked; it takes its turn instead, after the batch, and the writer's next jobs wait
    for it (they see what it wrote)."""
    engine = await migrated(tmp_path / "turn.sqlite3", busy_timeout_ms=50)
    repo = SqlRepository(engine, clock=SettableClock(START))
    try:
        gate = Gate()
        held = await gate.hold(repo)
        order: list[str] = []

        async def pooled() -> None:
            async with repo.transaction() as tx:
                order.append("turn")
                await asyncio.sleep(0.2)  # longer than busy_timeout: the writer is not contending meanwhile
                await tx.kv_set("pooled", "committed")

        async def after(tx: SqlTransaction) -> str | None:
            order.append("after")
            return await tx.kv_get("pooled")

        turn = asyncio.create_task(pooled())
        await queued(2)
        later = asyncio.create_task(repo.write(after))
        await queued(2)
        await asyncio.sleep(0.1)  # past busy_timeout while the gate holds the lock
        assert order == []
        gate.opened.set()
        assert await held == "gate"
        await turn
        assert await later == "committed"  # queued after the turn, it ran after it
        assert order == ["turn", "after"]
    finally:
        await engine.dispose()


async def test_a_write_inside_a_pooled_transaction_fails_at_once_instead_of_waiting_for_itself(
    repo: SqlRepository,
) -> None:
    with pytest.raises(NestedWrite):
        async with repo.transaction() as tx:
            await tx.kv_set("outer", "rolled back")
            await repo.write(setting("inner", "never"))
    assert await kv(repo, "outer") is None and await kv(repo, "inner") is None
    await repo.write(setting("next", "fine"))  # the file was handed back
    assert await kv(repo, "next") == "fine"


async def test_a_transaction_cancelled_while_waiting_for_its_turn_gives_the_turn_straight_back(
    repo: SqlRepository,
) -> None:
    gate = Gate()
    held = await gate.hold(repo)

    async def pooled() -> None:
        async with repo.transaction() as tx:
            await tx.kv_set("cancelled", "never")

    waiting = asyncio.create_task(pooled())
    await queued(2)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    gate.opened.set()
    assert await held == "gate"
    await asyncio.wait_for(repo.write(setting("after", "ran")), 10)  # the writer did not wait for a dead turn
    assert await kv(repo, "after") == "ran" and await kv(repo, "cancelled") is None


async def test_an_urgent_write_runs_next_and_a_batch_under_way_commits_early_for_it(repo: SqlRepository) -> None:
    order: list[str] = []

    def noting(name: str) -> Callable[[SqlTransaction], Awaitable[None]]:
        async def body(tx: SqlTransaction) -> None:
            order.append(name)
            await tx.kv_set(name, "written")

        return body

    first, second = Gate(), Gate()
    held = await first.hold(repo)

    async def second_gate(tx: SqlTransaction) -> str:
        order.append("second")
        return await second.body(tx)

    batch = [asyncio.create_task(repo.write(second_gate))]
    batch += [asyncio.create_task(repo.write(noting(name))) for name in ("a", "b")]
    await queued(3)
    first.opened.set()  # the next batch takes «second», «a» and «b»; «second» holds it
    assert await held == "gate"
    assert await asyncio.to_thread(second.entered.wait, 10)
    urgent = asyncio.create_task(repo.write(noting("urgent"), urgent=True))
    await queued(1)
    second.opened.set()
    await asyncio.gather(urgent, *batch)
    assert order == ["second", "urgent", "a", "b"]  # the batch committed after «second», then gave way
    for name in ("a", "b", "urgent"):
        assert await kv(repo, name) == "written"


async def test_a_task_started_inside_a_pooled_transaction_waits_for_its_turn_instead_of_failing(
    repo: SqlRepository,
) -> None:
    """Only the task holding the turn is refused a write (it would wait for itself); a task it starts (a wake
    of delivery, say) inherits the context but not the turn: its write runs once the transaction has ended."""
    async with repo.transaction() as tx:
        await tx.kv_set("outer", "committed")
        later = asyncio.create_task(repo.write(setting("inner", "after the turn")))
        await queued(2)
        assert not later.done()
    await later
    assert await kv(repo, "outer") == "committed" and await kv(repo, "inner") == "after the turn"


async def test_the_writer_keeps_its_sub_journals_in_memory(repo: SqlRepository) -> None:
    """Each job runs in a SAVEPOINT: its sub-journal stays in memory (temp_store=MEMORY, 2) on the writer's
    connection instead of spilling to a temporary file; the pooled connections keep SQLite's default."""

    async def temp_store(tx: Transaction) -> int:
        assert isinstance(tx, SqlTransaction) and tx._raw is not None  # in the writer's thread
        ((mode,),) = tx._raw.execute("PRAGMA temp_store").fetchall()
        return int(mode)

    assert await repo.write(temp_store) == 2
    async with repo.engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA temp_store")).scalar_one() == 0
