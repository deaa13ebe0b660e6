"""VK comments become cases by themselves: the real vk-api against the VK emulator, a real SQLite inbox and
repository, the reader and the workers of `otklik run` (bot/channel_reader.py, bot/polling.py).

Each test waits for a state (a case, a call the emulator saw), never for a deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channel_reader import ChannelReader, row_handler, stop
from bot.polling import OutageWatch, Pacing, WorkerPool
from channels.vk import VkLongPoll, VkReconciler, inbox_key, make_api
from channels.vk_session import vk_session
from emulators.vk import VkEmulator
from storage.inbox import Cursor, Inbox, Incoming
from storage.migrate import upgrade
from storage.repository import SqlRepository
from storage.tables import inbox as inbox_table
from storage.tables import messages
from tests.engine.conftest import at
from tests.fakes import FakeClock, RecordingNotifier
from tests.storage.conftest import fresh_engine
from workflow.calendar import WorkingCalendar
from workflow.model import Source
from workflow.ports import ChannelBatch
from workflow.rules import DEFAULT_RULES
from workflow.services import Services

GID = 201
CITIZEN = 42
MODERATOR = 7
SEEN = at(2026, 12, 2, 9, 12)


class Killed(BaseException):
    """The process dies here (kill -9): nothing after it runs, no except clause of ours catches it."""


class KillingInbox(Inbox):
    """Dies on the first batch of events it is asked to save, before anything is written."""

    async def save_batch(self, items: Sequence[Incoming], *, cursor: Cursor | None = None) -> int:
        if items:
            raise Killed
        return await super().save_batch(items, cursor=cursor)


@pytest.fixture
async def emu() -> AsyncIterator[VkEmulator]:
    async with VkEmulator(max_wait=1, now=1_790_000_000, rate_limit=None) as emulator:
        emulator.add_user(CITIZEN, "Иван", "Петров")
        emulator.add_user(MODERATOR, "Мария", "Иванова")
        emulator.add_group(GID, "Администрация Северного района")
        yield emulator


@pytest.fixture(params=["sqlite", "pg"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated SQLite file, or a fresh PostgreSQL schema."""
    async with fresh_engine(request.param, tmp_path) as engine:
        await upgrade(engine)
        yield engine


@dataclass
class Run:
    """One `otklik run`'s VK part: a reader, the workers, over the shared database."""

    reader: ChannelReader
    pool: WorkerPool
    task: asyncio.Task[None] | None = None
    bot: Bot | None = None

    async def start(self, *, workers: bool = True) -> None:
        if workers:
            await self.pool.start()
        self.task = asyncio.create_task(self.reader.run())

    async def stop(self) -> None:
        await stop(self.task)
        await self.pool.stop(1.0)
        if self.bot is not None:
            await self.bot.session.close()


@dataclass
class Rig:
    emu: VkEmulator
    engine: AsyncEngine
    clock: FakeClock = field(default_factory=lambda: FakeClock(SEEN))
    notifier: RecordingNotifier = field(default_factory=RecordingNotifier)
    runs: list[Run] = field(default_factory=list)

    def run(
        self,
        *,
        inbox_class: type[Inbox] = Inbox,
        sweep: bool = True,
        reconcile_seconds: float = 3600,
        pacing: Pacing | None = None,
    ) -> Run:
        group = make_api(self.emu.group_token(GID), vk_session(self.emu.base_url))
        service = make_api(self.emu.service_key(), vk_session(self.emu.base_url))
        source = VkLongPoll(group, GID, wait=1)
        repo = SqlRepository(self.engine, clock=self.clock)
        services = Services(repo=repo, clock=self.clock, calendar=WorkingCalendar(), rules=DEFAULT_RULES,
                            notifier=self.notifier)  # fmt: skip
        inbox = inbox_class(self.engine, clock=self.clock)
        pacing = pacing or Pacing()

        async def tell(text: str) -> None:
            raise AssertionError(f"no outage here: {text}")

        watch = OutageWatch(pacing=pacing, clock=self.clock, tell=tell)
        bot = Bot("42:TEST")  # Telegram is not part of these tests; the pool's Telegram handler is unused
        pool = WorkerPool(inbox=inbox, dispatcher=Dispatcher(), bot=bot, size=2, pacing=pacing, watch=watch,
                          handlers={"vk": row_handler(source, services, self.clock)})  # fmt: skip
        reconciler = VkReconciler(service, GID)
        reader = ChannelReader(source=source, inbox=inbox, pool=pool, clock=self.clock, pacing=pacing,
                               watch=watch, key_of=inbox_key, sweep=reconciler.sweep if sweep else None,
                               reconcile_seconds=reconcile_seconds)  # fmt: skip
        run = Run(reader, pool, bot=bot)
        self.runs.append(run)
        return run

    async def cases(self) -> list[tuple[str, str]]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(select(messages.c.source_id, messages.c.text).order_by(messages.c.id))
            ).all()
            await conn.rollback()
        return [(r.source_id, r.text) for r in rows]

    async def authors(self) -> list[str]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(messages.c.author).order_by(messages.c.id))).all()
            await conn.rollback()
        return [r.author for r in rows]

    async def inbox_rows(self) -> int:
        async with self.engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(inbox_table))
            await conn.rollback()
        return int(count or 0)

    async def until(self, check: Callable[[], object], timeout: float = 15.0) -> None:
        """Wait for a state the system reaches by itself (polled; the deadline only fails a stuck test)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return
            assert loop.time() < deadline, "the expected state was not reached"
            await asyncio.sleep(0.02)

    async def listening(self) -> None:
        """Every run so far holds a long-poll key (its ts is from then: later events reach it)."""
        await self.until(
            lambda: (
                sum(1 for r in self.emu.calls("groups.getLongPollServer") if r.finished_at) >= len(self.runs)
            )
        )

    async def handled(self, count: int) -> None:
        async def done() -> bool:
            return len(await self.cases()) >= count and all(
                r.pool.quiet() for r in self.runs if r.pool.tasks()
            )

        await self.until(done)


@pytest.fixture
async def rig(emu: VkEmulator, engine: AsyncEngine) -> AsyncIterator[Rig]:
    rig = Rig(emu, engine)
    yield rig
    for run in rig.runs:
        await run.stop()


async def test_a_comment_delivered_five_times_is_one_case(rig: Rig) -> None:
    run = rig.run()
    await run.start()
    post = rig.emu.add_post(GID, "Ремонт дорог")
    comment = rig.emu.add_comment(GID, post.id, CITIZEN, "Когда починят дорогу у дома 5?")
    rig.emu.redeliver(GID, rig.emu.last_event_id(GID), times=4)
    await rig.handled(1)
    await rig.until(lambda: run.reader._last_sweep is not None)
    assert await rig.cases() == [(f"-{GID}_{comment.id}", "Когда починят дорогу у дома 5?")]
    assert await rig.inbox_rows() == 1
    assert await rig.authors() == [f"Иван Петров (id{CITIZEN})"]  # users.get named the author
    case = rig.notifier.woken[0]
    assert (case.kind, len(rig.notifier.woken)) == ("registered", 1)  # one card to the intake chat


async def test_a_comment_the_long_poll_lost_is_recovered_by_reconciliation(rig: Rig) -> None:
    run = rig.run()
    await run.start()
    post = rig.emu.add_post(GID, "Ремонт дорог")
    await rig.until(lambda: rig.emu.calls("wall.getComments"))  # the start's sweep is over: nothing there
    sweeps = len(rig.emu.calls("wall.get"))
    # The comment and the loss together: the waiting long poll answers failed 1 with a ts past the comment.
    comment = rig.emu.add_comment(GID, post.id, CITIZEN, "Фонарь не горит")
    rig.emu.fail_longpoll(GID, 1)
    await rig.handled(1)
    assert await rig.cases() == [(f"-{GID}_{comment.id}", "Фонарь не горит")]
    assert len(rig.emu.calls("wall.get")) > sweeps  # found by the sweep after failed 1
    assert await rig.authors() == [f"Иван Петров (id{CITIZEN})"]  # from the sweep's profiles


async def test_a_kill_between_receiving_and_saving_reads_the_batch_again(rig: Rig) -> None:
    post = rig.emu.add_post(GID, "Ремонт дорог")
    first = rig.run(sweep=False)
    await first.start()
    await rig.listening()
    rig.emu.add_comment(GID, post.id, CITIZEN, "Первый")
    await rig.handled(1)
    await first.stop()
    # The next process receives the second comment's batch and dies before the inbox write.
    dying = rig.run(inbox_class=KillingInbox, sweep=False)
    await dying.start(workers=False)
    second = rig.emu.add_comment(GID, post.id, CITIZEN, "Второй")
    assert dying.task is not None
    with pytest.raises(Killed):
        await dying.task
    dying.task = None
    # Restarted, without a sweep: the saved cursor alone brings the batch back; with one, still one case each.
    again = rig.run(sweep=False)
    await again.start()
    await rig.handled(2)
    last = rig.run()
    await last.start()
    await rig.until(lambda: last.reader._last_sweep is not None)
    await rig.handled(2)
    assert [text for _, text in await rig.cases()] == ["Первый", "Второй"]
    assert (await rig.cases())[1][0] == f"-{GID}_{second.id}"


async def test_a_kill_after_saving_and_before_handling_handles_the_rows_at_restart(rig: Rig) -> None:
    post = rig.emu.add_post(GID, "Ремонт дорог")
    saving = rig.run(sweep=False)
    await saving.start(workers=False)  # the workers never get to it: the process dies first
    await rig.listening()
    rig.emu.add_comment(GID, post.id, CITIZEN, "Сохранён, не обработан")
    await rig.until(lambda: rig.inbox_rows())
    await saving.stop()
    assert await rig.cases() == []
    rig.clock.advance(at(2026, 12, 2, 9, 30) - SEEN)
    restarted = rig.run()
    await restarted.start()
    await rig.handled(1)
    assert await rig.inbox_rows() == 1
    case_t0 = rig.notifier.woken[0]
    assert case_t0.kind == "registered"
    async with rig.engine.connect() as conn:
        received = await conn.scalar(select(messages.c.received_at))
        await conn.rollback()
    assert received == SEEN  # T0 is when Otklik first saw it, not when it was handled


async def test_our_own_answer_coming_back_is_no_case(rig: Rig) -> None:
    run = rig.run()
    await run.start()
    post = rig.emu.add_post(GID, "Ремонт дорог")
    rig.emu.add_comment(GID, post.id, -GID, "Ответ администрации")
    citizen = rig.emu.add_comment(GID, post.id, CITIZEN, "Спасибо")
    await rig.handled(1)
    await rig.until(lambda: run.reader._last_sweep is not None)
    assert await rig.cases() == [(f"-{GID}_{citizen.id}", "Спасибо")]


async def test_edits_deletions_and_restores_reach_the_case(rig: Rig) -> None:
    run = rig.run()
    await run.start()
    post = rig.emu.add_post(GID, "Ремонт дорог")
    comment = rig.emu.add_comment(GID, post.id, CITIZEN, "Яма у дома 5")
    await rig.handled(1)
    rig.emu.edit_comment(GID, comment.id, "Яма у дома 7")
    rig.emu.delete_comment(GID, comment.id)
    rig.emu.restore_comment(GID, comment.id)
    rig.emu.delete_comment(GID, comment.id, deleter_id=MODERATOR)
    repo = SqlRepository(rig.engine, clock=rig.clock)

    async def recorded() -> list[str]:
        async with repo.reading() as tx:
            case_id = await tx.find_case_by_source(Source.VK.value, f"-{GID}_{comment.id}")
            assert case_id is not None
            return [e.action for e in await tx.events(case_id)]

    async def all_there() -> bool:
        return len(await recorded()) == 5

    await rig.until(all_there)
    assert await recorded() == [
        "register",
        "source_edited",
        "source_deleted",
        "source_restored",
        "source_deleted",
    ]
    async with repo.reading() as tx:
        case_id = await tx.find_case_by_source(Source.VK.value, f"-{GID}_{comment.id}")
        assert case_id is not None
        got = await tx.events(case_id)
    assert [e.data.get("by_author") for e in got if e.action == "source_deleted"] == [True, False]
    assert len(await rig.cases()) == 1


async def test_hostile_events_change_nothing_and_intake_goes_on(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    run = rig.run()
    await run.start()
    post = rig.emu.add_post(GID, "Ремонт дорог")
    await rig.listening()
    await rig.until(lambda: run.reader._last_sweep is not None)
    with caplog.at_level(logging.WARNING):
        rig.emu.push_event(GID, "wall_reply_new", {"id": "x"})
        rig.emu.push_event(GID, "group_join", {"user_id": 5})
        rig.emu.push_event(
            GID, "wall_reply_delete", {"owner_id": -GID, "id": 999, "deleter_id": 1, "post_id": post.id}
        )
        rig.emu.push_event(GID, "wall_reply_new", {"id": 2**70, "from_id": 1, "post_id": 1, "owner_id": -GID})
        huge = rig.emu.add_comment(GID, post.id, CITIZEN, "Я" * 100_000 + "\x00\x1b")
        rig.emu.fail_longpoll(GID, 2)
        after = rig.emu.add_comment(GID, post.id, CITIZEN, "После всего этого")
        await rig.handled(2)
    cases = dict(await rig.cases())
    assert set(cases) == {f"-{GID}_{huge.id}", f"-{GID}_{after.id}"}
    cut = cases[f"-{GID}_{huge.id}"]
    assert len(cut) == 10_000 and set(cut) == {"Я"}
    assert not any(r.exc_info for r in caplog.records)  # logged lines, no traceback
    said = [r.getMessage() for r in caplog.records if r.name == "channels.vk"]
    assert sum("сокращён" in line for line in said) == 1  # one line per event, not one per parse
    assert sum("пропущено" in line for line in said) == 3  # two broken comments and the unknown type


async def test_a_community_message_becomes_a_case_and_our_reply_does_not(rig: Rig) -> None:
    run = rig.run()
    await run.start()
    await rig.listening()
    message = rig.emu.push_message(GID, CITIZEN, "Когда вывезут мусор?")
    await rig.handled(1)
    # The community answers (messages.send): its message_reply event comes back and is no case.
    group = make_api(rig.emu.group_token(GID), vk_session(rig.emu.base_url))
    await asyncio.to_thread(
        group.method, "messages.send", {"peer_id": CITIZEN, "message": "Завтра", "random_id": 5}
    )
    rig.emu.edit_message(GID, message.id, "Когда вывезут мусор с ул. Ленина?")
    repo = SqlRepository(rig.engine, clock=rig.clock)

    async def edited() -> bool:
        async with repo.reading() as tx:
            case_id = await tx.find_case_by_source("vk", f"dm:{CITIZEN}:{message.conversation_message_id}")
            return case_id is not None and [e.action for e in await tx.events(case_id)] == [
                "register",
                "source_edited",
            ]

    await rig.until(edited)
    assert await rig.cases() == [(f"dm:{CITIZEN}:{message.conversation_message_id}", "Когда вывезут мусор?")]


async def test_failed_2_and_3_and_a_broken_server_answer_are_waited_out(rig: Rig) -> None:
    post = rig.emu.add_post(GID, "Ремонт дорог")
    # The first getLongPollServer answers an HTML page: the reader logs it, waits and asks again.
    rig.emu.fail_next(kind="non_json", methods=["groups.getLongPollServer"])
    run = rig.run()
    await run.start()
    await rig.until(
        lambda: sum(1 for r in rig.emu.calls("groups.getLongPollServer") if r.failure is None) >= 1
    )
    assert rig.emu.calls("groups.getLongPollServer")[0].failure == "non_json"
    rig.emu.fail_longpoll(GID, 2)  # the key expires: a new key, the same ts
    first = rig.emu.add_comment(GID, post.id, CITIZEN, "После нового ключа")
    await rig.handled(1)
    sweeps = len(rig.emu.calls("wall.get"))
    rig.emu.fail_longpoll(GID, 3)  # key and ts lost: a new key and ts, and a sweep for what fell between
    await rig.until(lambda: len(rig.emu.calls("wall.get")) > sweeps)
    second = rig.emu.add_comment(GID, post.id, CITIZEN, "После нового ts")
    await rig.handled(2)
    assert {key for key, _ in await rig.cases()} == {f"-{GID}_{first.id}", f"-{GID}_{second.id}"}


async def test_the_sweep_runs_again_every_n_minutes(rig: Rig) -> None:
    rig.emu.add_post(GID, "Ремонт дорог")
    monotonic = [1000.0]  # the reader's sense of elapsed time, moved by the test (time is data)
    run = rig.run(reconcile_seconds=15 * 60, pacing=Pacing(monotonic=lambda: monotonic[0]))
    await run.start()
    # The start's sweep, and one after the first connection (no saved ts: what came between is swept too).
    await rig.until(lambda: len(rig.emu.calls("wall.getComments")) >= 2)
    sweeps = len(rig.emu.calls("wall.get"))
    monotonic[0] += 14 * 60
    # A batch: the reader looks at the time after it.
    post = rig.emu.add_comment(GID, 1, CITIZEN, "Раньше срока сверки")
    await rig.handled(1)
    assert len(rig.emu.calls("wall.get")) == sweeps
    monotonic[0] += 60
    await rig.until(lambda: len(rig.emu.calls("wall.get")) > sweeps)  # after the next (empty) long poll
    assert [key for key, _ in await rig.cases()] == [f"-{GID}_{post.id}"]


async def test_a_stop_while_the_long_poll_waits_is_at_once(rig: Rig) -> None:
    run = rig.run(sweep=False)
    run.reader.source = VkLongPoll(
        make_api(rig.emu.group_token(GID), vk_session(rig.emu.base_url)), GID, wait=60
    )
    await run.start()
    await rig.listening()
    loop = asyncio.get_running_loop()
    began = loop.time()
    await run.stop()
    assert loop.time() - began < 2  # not the 60 s the long poll would hold


async def test_a_bug_in_reading_is_logged_and_reading_goes_on(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    run = rig.run(sweep=False)
    real = run.reader.source
    calls = [0]

    class Flaky:
        channel = real.channel
        item = real.item

        async def next_batch(self, cursor: str | None) -> ChannelBatch:
            calls[0] += 1
            if calls[0] == 1:
                raise AttributeError("a bug")
            return await real.next_batch(cursor)

    run.reader.source = Flaky()
    with caplog.at_level(logging.ERROR):
        await run.start()
        await rig.listening()
        post = rig.emu.add_post(GID, "Ремонт дорог")
        rig.emu.add_comment(GID, post.id, CITIZEN, "Всё равно дошло")
        await rig.handled(1)
    assert [r.getMessage() for r in caplog.records if r.name == "bot.channel_reader"] == [
        "vk: чтение не удалось: AttributeError; повтор"
    ]
