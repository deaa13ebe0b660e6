"""The inbox end to end: nothing confirmed to Telegram before it is saved, nothing lost to a crash or an outage
(a locked file, a full disk, PostgreSQL gone, ten minutes of it), the same update handled twice changes
nothing, and never more handlers at once than workers.

Time is data: the app's back-off sleeps and its monotonic source are a FakeTime, so a ten-minute outage takes
as long as the retries it makes, and nothing here waits for a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select, text

from bot.app import OtklikApp
from bot.polling import MAX_DELAY, Pacing
from emulators.staff import visible_text
from storage.engine import create_engine, on_sqlite_connect
from storage.inbox import InboxRow
from storage.tables import drafts, inbox, messages
from tests.e2e.conftest import (
    HOUSING,
    HOUSING_CHAT,
    INTAKE_CHAT,
    OFFICE_CHAT,
    OPERATOR,
    REGION_CHAT,
    REGION_CURATOR,
    SOCIAL_CHAT,
    World,
    max_fails,
)
from tests.support.pg import PG_URL
from tests.support.tcpproxy import TcpProxy
from views import texts


class FakeTime:
    """The app's monotonic source and sleep: a sleep moves the time on at once (and lets others run)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        # Sleepers side by side (the poller, each worker) sleep at once, as on a real clock: the time moves
        # to the latest wake-up, not by the sum of all sleeps.
        self.slept.append(seconds)
        wake = self.now + seconds
        await asyncio.sleep(0)
        self.now = max(self.now, wake)

    def pacing(self) -> Pacing:
        return Pacing(sleep=self.sleep, monotonic=self.monotonic)


def confirmed_beyond(w: World, update_id: int) -> bool:
    """Whether the messenger has been told `update_id` was received (Telegram: an offset past it; MAX: a marker)."""
    return w.confirmed(update_id)


# A ЦУР card stating its detection time: registered at once, no question to press (INTAKE).
DETECTED_LINE = "\nВыявлено: 01.12.2026 09:25"


def intake_update_ids(w: World, count: int, words: str = "Яма во дворе") -> list[int]:
    ids = []
    for n in range(count):
        w.emu.push_message(INTAKE_CHAT, OPERATOR.user_id, f"{words} № {n}: дом {n + 1}{DETECTED_LINE}")
        ids.append(w.update_id(w.emu.pending_updates[-1]))
    return ids


async def count(w: World, table: Any) -> int:
    async with w.app.engine.connect() as conn:
        found = await conn.scalar(select(func.count()).select_from(table))
        await conn.rollback()
    return int(found or 0)


def outage_notes(w: World) -> list[str]:
    return [visible_text(m) for m in w.emu.sent(OFFICE_CHAT) if visible_text(m)[:1] in ("⚠", "✅")]


def short_busy_timeout(app: OtklikApp) -> None:
    """A locked file answers «database is locked» after 50 ms instead of 10 s (the retries are the test)."""

    def on_connect(dbapi_connection: Any) -> None:
        dbapi_connection.cursor().execute("PRAGMA busy_timeout=50")

    on_sqlite_connect(app.engine, on_connect)


async def test_an_update_is_in_the_inbox_before_its_offset_is_asked(world: World) -> None:
    w = world
    app = await w.start()
    started, gate = asyncio.Event(), asyncio.Event()
    save = app.inbox.save_batch

    async def slow_save(items: Any) -> int:
        started.set()
        await gate.wait()
        return await save(items)

    app.inbox.save_batch = slow_save  # type: ignore[method-assign]
    [update_id] = intake_update_ids(w, 1)
    await asyncio.wait_for(started.wait(), w.timeout)
    # Held in the write: Telegram has not been told, so a crash now would get it again.
    assert not confirmed_beyond(w, update_id) and w.emu.pending_updates
    gate.set()
    await w.wait(lambda: confirmed_beyond(w, update_id), "the confirming offset")
    await w.settle()
    async with app.engine.connect() as conn:
        row = (await conn.execute(select(inbox).where(inbox.c.key == str(update_id)))).one()
    assert (row.source, row.state, row.lane, row.attempts) == ("telegram", "done", str(INTAKE_CHAT), 1)
    assert await count(w, messages) == 1


async def test_a_crash_after_saving_and_before_handling_is_handled_once_at_restart(world: World) -> None:
    w = world
    app = await w.start()
    stuck = asyncio.Event()

    async def never(row: InboxRow) -> None:
        stuck.set()
        await asyncio.Event().wait()

    app.pool._handle = never  # type: ignore[method-assign]
    [update_id] = intake_update_ids(w, 1)
    await asyncio.wait_for(stuck.wait(), w.timeout)
    await w.wait(lambda: confirmed_beyond(w, update_id), "the update confirmed to Telegram")
    await w.crash()  # Telegram will not send it again: only the inbox has it

    await w.start()
    await w.settle()
    assert await count(w, messages) == 1
    assert len(w.cards(INTAKE_CHAT, 1)) == 1
    assert w.notes(INTAKE_CHAT, 1) == []  # NOTIFY: no «Новое сообщение» right under the card just posted
    registered = [
        m for m in w.emu.sent(INTAKE_CHAT) if visible_text(m).startswith("Зарегистрировано: сообщение № 1")
    ]
    assert len(registered) == 1


async def test_a_locked_file_loses_nothing_and_confirms_nothing_meanwhile(world: World) -> None:
    """BEGIN EXCLUSIVE held by another connection for over ten (fake) minutes: polling pauses and retries
    with back-off, the office head is told once that it is down and once that it is back; nothing is lost."""
    w = world
    ft = FakeTime()
    app = await w.start(pacing=ft.pacing(), prepare=short_busy_timeout)
    await w.settle()
    # In a thread of its own: its wait for the lock must not block the loop the app's transactions finish on.
    holder = sqlite3.connect(w.db_path, isolation_level=None, check_same_thread=False, timeout=30)
    await asyncio.to_thread(holder.execute, "BEGIN EXCLUSIVE")
    try:
        first = intake_update_ids(w, 5)
        await w.wait(lambda: app.watch.down, "the outage seen")
        await w.wait(lambda: ft.now > 1000 + 600, "ten minutes of outage (fake time)", timeout=60)
        more = intake_update_ids(w, 3, "Нет света")
        await w.wait(lambda: ft.now > 1000 + 700, "more retries", timeout=60)
        assert not confirmed_beyond(w, first[0])  # nothing confirmed that is not saved
        assert len(w.emu.pending_updates) == 8
        # Back-off: 0.5 s doubling to the 30 s cap.
        assert set(ft.slept) == {0.5, 1.0, 2.0, 4.0, 8.0, 16.0, MAX_DELAY}
    finally:
        holder.rollback()
        holder.close()
    await w.wait(lambda: confirmed_beyond(w, more[-1]), "everything confirmed once saved")
    await w.settle()
    assert await count(w, messages) == 8
    # The «back» note follows the backlog it counts: wait for it rather than assume settle() saw it queued.
    await w.wait(lambda: len(outage_notes(w)) >= 2, "the note that the database is back")
    await w.settle()
    notes = outage_notes(w)
    assert len(notes) == 2, notes
    assert notes[0].startswith("⚠️ База данных недоступна с 09:30") and notes[1].startswith("✅")
    assert "обработано после перерыва: 8" in notes[1]


async def test_a_full_disk_loses_nothing_once_space_is_back(world: World) -> None:
    w = world
    ft = FakeTime()
    full = [False]

    def limit_pages(app: OtklikApp) -> None:
        def on_connect(dbapi_connection: Any) -> None:
            if full[0]:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA page_count")
                pages = cursor.fetchone()[0]
                cursor.execute(f"PRAGMA max_page_count={pages}")

        on_sqlite_connect(app.engine, on_connect)  # the writer's connection too

    app = await w.start(pacing=ft.pacing(), prepare=limit_pages)
    await w.settle()
    full[0] = True
    await app.engine.dispose()  # new connections see the full disk
    ids = intake_update_ids(w, 20, "Длинное обращение " + "о ремонте дороги " * 60)
    await w.wait(lambda: app.watch.down and len(ft.slept) >= 3, "the write refused for lack of space")
    assert not confirmed_beyond(w, ids[0])
    full[0] = False
    await app.engine.dispose()
    await w.wait(lambda: confirmed_beyond(w, ids[-1]), "all confirmed once saved")
    await w.settle()
    assert await count(w, messages) == 20
    # However long it lasted in fake time: told at most once each way.
    notes = outage_notes(w)
    assert [n[:1] for n in notes] in ([], ["⚠", "✅"]), notes


@pytest.fixture
async def pg_database() -> AsyncIterator[str]:
    if not PG_URL:
        pytest.skip("PostgreSQL variant: no server")
    name = f"otklik_inbox_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield name
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def test_postgresql_gone_loses_nothing_and_the_office_head_is_told_once_each_way(
    world: World, pg_database: str
) -> None:
    w = world
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()
    try:
        w.database_url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{pg_database}"
        ft = FakeTime()
        app = await w.start(pacing=ft.pacing())
        case = await w.register_os("До отключения: яма у школы")
        assert case == 1
        proxy.cut()
        ids = intake_update_ids(w, 6, "Во время отключения")
        await w.wait(lambda: ft.now > 1000 + 120, "two (fake) minutes of outage", timeout=60)
        assert not confirmed_beyond(w, ids[0])
        assert app.watch.told and len(outage_notes(w)) == 1
        proxy.restore()
        await w.wait(lambda: confirmed_beyond(w, ids[-1]), "all confirmed once saved")
        await w.settle()
        assert await count(w, messages) == 7
        notes = outage_notes(w)
        assert len(notes) == 2 and notes[0].startswith("⚠️") and notes[1].startswith("✅"), notes
        await w.stop()
    finally:
        await proxy.stop()


Handle = Callable[[InboxRow], Awaitable[None]]


def handled_twice(app: OtklikApp) -> None:
    """Every row handled twice in a row, as after a crash between the handler's commit and its mark."""
    once: Handle = app.pool._handle

    async def twice(row: InboxRow) -> None:
        await once(row)
        await once(row)

    app.pool._handle = twice  # type: ignore[method-assign]


@max_fails("a press handled twice answers twice: Telegram refuses the second answer, the MAX emulator takes it, "
           "so the person sees «Карточка устарела» after «Направление предложено» (the handlers answer the stale "
           "card; whether MAX refuses a second answer is not documented)")
async def test_the_same_update_handled_twice_changes_nothing_and_sends_nothing_twice(world: World) -> None:
    w = world
    await w.start(prepare=handled_twice)
    # A ЦУР card registers at once (INTAKE): the registration itself is what is handled twice.
    case = await w.register_os(f"Сообщение куратора: упало дерево на ул. Мира{DETECTED_LINE}")
    assert await count(w, messages) == 1 and len(w.cards(INTAKE_CHAT, case)) == 1
    assert w.notes(INTAKE_CHAT, case) == []  # NOTIFY: no «Новое сообщение» right under the card
    assert (
        len(w.emu.sent(INTAKE_CHAT)) == 2
    )  # the card and the reply with its number; no «уже зарегистрировано»

    await w.route_os(case, "housing")
    sent_before = {chat: len(w.emu.sent(chat)) for chat in (INTAKE_CHAT, HOUSING_CHAT, REGION_CHAT)}
    assert await w.reply_to_card(HOUSING_CHAT, HOUSING, case, "Дерево убрано") == "Информация направлена"
    assert len(w.emu.sent(HOUSING_CHAT)) == sent_before[HOUSING_CHAT] + 1  # one answer to the reply
    assert await w.reply_to_card(INTAKE_CHAT, OPERATOR, case, "Здравствуйте! Дерево на ул. Мира убрали сегодня.") == (
        "Проект направлен на согласование"
    )
    assert await count(w, drafts) == 1
    # NOTIFY: the card the draft brings to the curator is the news; no notice right under it.
    assert len(w.cards(REGION_CHAT, case)) == 1 and w.notes(REGION_CHAT, case) == []
    replies = [m for m in w.emu.sent(INTAKE_CHAT) if "Проект направлен" in visible_text(m)]
    assert len(replies) == 1

    # The curator's press twice: the second is refused by Telegram (answered already), nothing changes.
    answer = await w.press(REGION_CHAT, REGION_CURATOR, "На доработку", case)
    assert answer.text == "Ответьте на сообщение бота"
    # The reason, by reply to the prompt, twice: returned once, answered once.
    reason = await w.reply(REGION_CHAT, REGION_CURATOR, w.prompt(REGION_CHAT), "Уточните адрес")
    assert reason == "Возвращено на доработку"
    assert len([m for m in w.emu.sent(REGION_CHAT) if visible_text(m) == reason]) == 1
    assert not [m for m in w.emu.sent(REGION_CHAT) if visible_text(m) == texts.PROMPT_EXPIRED]
    events = await w.events(case)
    assert [e.action for e in events].count("submit") == 1
    assert [e.action for e in events].count("rework") == 1
    for chat in (INTAKE_CHAT, HOUSING_CHAT, REGION_CHAT, OFFICE_CHAT):
        people = {m.message_id for m in w.emu.history(chat) if not m.from_bot}
        answers = [m.reply_to_message_id for m in w.emu.sent(chat) if m.reply_to_message_id in people]
        assert len(answers) == len(set(answers)), f"chat {chat}: a message answered twice"
    assert len(w.cards(REGION_CHAT, case)) == 1


async def test_never_more_handlers_than_workers_and_each_chat_in_order(world: World) -> None:
    w = world
    app = await w.start(workers=2)
    await w.settle()
    # The first handler waits for a second one to start (so the bound is reached, not just not exceeded).
    both = asyncio.Event()
    feed = app.dispatcher.feed_update

    async def meet(*args: Any, **kwargs: Any) -> Any:
        if app.pool.handling >= 2:
            both.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(both.wait(), 2.0)
        return await feed(*args, **kwargs)

    app.dispatcher.feed_update = meet  # type: ignore[method-assign]
    for n in range(6):
        for chat, person in ((INTAKE_CHAT, OPERATOR), (HOUSING_CHAT, HOUSING), (SOCIAL_CHAT, HOUSING)):
            w.emu.push_message(chat, person.user_id, f"/my {n}")
    intake_update_ids(w, 8, "Очередь")
    await w.settle(timeout=30)
    assert app.pool.peak == 2
    async with app.engine.connect() as conn:
        rows = (
            await conn.execute(select(messages.c.case_id, messages.c.text).order_by(messages.c.case_id))
        ).all()
    assert [r.text for r in rows] == [f"Очередь № {n}: дом {n + 1}{DETECTED_LINE}" for n in range(8)]


async def test_a_stop_with_a_backlog_is_quick_and_the_rest_is_handled_at_the_next_start(world: World) -> None:
    w = world
    ids = intake_update_ids(w, 300, "Поток")  # waiting in Telegram before the bot starts
    app = await w.start()
    await w.wait(lambda: confirmed_beyond(w, ids[-1]) and app.watch.handled_since >= 10, "the backlog saved")
    began = time.monotonic()
    await w.stop()
    took = time.monotonic() - began
    assert took < 8, f"the stop took {took:.1f} s"
    await w.start()
    await w.settle(timeout=120)
    assert await count(w, messages) == 300
    assert len({m.message_id for m in w.emu.sent(INTAKE_CHAT) if "Сообщение № " in visible_text(m)}) >= 300


async def test_a_poison_update_is_given_up_after_a_few_tries_with_one_line(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    w = world
    app = await w.start()
    await w.settle()
    poison_ids = intake_update_ids(w, 1, "Отравленное")
    feed = app.dispatcher.feed_update
    tries: list[int] = []

    async def explode(bot: Any, update: Any, **kwargs: Any) -> Any:
        if update.update_id in poison_ids:
            tries.append(update.update_id)
            raise ValueError("handler bug")
        return await feed(bot, update, **kwargs)

    app.dispatcher.feed_update = explode  # type: ignore[method-assign]
    after = intake_update_ids(w, 1, "После него")
    await w.settle()
    assert len(tries) == 3  # MAX_ATTEMPTS, then it is left alone
    async with app.engine.connect() as conn:
        row = (await conn.execute(select(inbox).where(inbox.c.key == str(poison_ids[0])))).one()
    assert (row.state, row.attempts) == ("failed", 3) and "handler bug" in row.last_error
    lines = [r for r in caplog.records if r.name == "bot.polling" and r.levelname == "ERROR"]
    assert len(lines) == 1 and str(poison_ids[0]) in lines[0].getMessage()
    assert await count(w, messages) == 1 and after  # the chat's next update was handled all the same
