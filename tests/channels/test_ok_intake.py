"""Odnoklassniki in: comments by polling fb.do and group messages by the Bot API webhook, through the real
client (channels/ok.py) against the OK emulator, a real SQLite or PostgreSQL inbox and repository, the reader
and the workers of `otklik run`. Each test waits for a state, never for a deadline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channel_reader import ChannelReader, row_handler, stop
from bot.ok_webhook import ok_webhook_handler
from bot.polling import OutageWatch, Pacing, WorkerPool
from channels.ok import TEXT_LIMIT, OkApi, OkBot, OkComments, inbox_key, parse_ok_event, signature
from emulators.ok import OkEmulator, ok_sig
from storage.inbox import Cursor, Inbox, Incoming
from storage.migrate import upgrade
from storage.repository import SqlRepository
from storage.tables import inbox as inbox_table
from storage.tables import messages
from tests.engine.conftest import at
from tests.fakes import FakeClock, RecordingNotifier
from tests.storage.conftest import fresh_engine
from workflow.calendar import WorkingCalendar
from workflow.model import ItemKind
from workflow.ports import StorageUnavailable
from workflow.rules import DEFAULT_RULES
from workflow.services import Services

SEEN = at(2026, 12, 2, 9, 12)
TOPIC = "155000000001"
CITIZEN = "577123"


@pytest.fixture
async def emu() -> AsyncIterator[OkEmulator]:
    async with OkEmulator() as emulator:
        emulator.add_topic(TOPIC)
        yield emulator


@pytest.fixture(params=["sqlite", "pg"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with fresh_engine(request.param, tmp_path) as engine:
        await upgrade(engine)
        yield engine


async def quick(_seconds: float) -> None:
    await asyncio.sleep(0.01)  # the poll interval, made short: no test waits for it


@dataclass
class Run:
    reader: ChannelReader
    pool: WorkerPool
    api: OkApi
    bot: Bot
    services: Services
    task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.pool.start()
        self.task = asyncio.create_task(self.reader.run())

    async def stop(self) -> None:
        await stop(self.task)
        self.task = None
        await self.pool.stop(1.0)
        await self.api.close()
        await self.bot.session.close()


@dataclass
class Rig:
    emu: OkEmulator
    engine: AsyncEngine
    clock: FakeClock = field(default_factory=lambda: FakeClock(SEEN))
    notifier: RecordingNotifier = field(default_factory=RecordingNotifier)
    runs: list[Run] = field(default_factory=list)

    def run(self, *, secret: str | None = None, inbox_class: type[Inbox] = Inbox) -> Run:
        emu = self.emu
        api = OkApi(
            emu.application_key, secret or emu.application_secret, emu.user_token(), base_url=emu.base_url
        )
        source = OkComments(api, emu.group_id, interval=0.01, sleep=quick)
        repo = SqlRepository(self.engine, clock=self.clock)
        services = Services(repo=repo, clock=self.clock, calendar=WorkingCalendar(), rules=DEFAULT_RULES,
                            notifier=self.notifier)  # fmt: skip
        inbox = inbox_class(self.engine, clock=self.clock)
        pacing = Pacing()

        async def tell(text: str) -> None:
            raise AssertionError(f"no outage here: {text}")

        watch = OutageWatch(pacing=pacing, clock=self.clock, tell=tell)
        bot = Bot("42:TEST")  # Telegram is not part of these tests
        pool = WorkerPool(inbox=inbox, dispatcher=Dispatcher(), bot=bot, size=2, pacing=pacing, watch=watch,
                          handlers={"ok": row_handler(source, services, self.clock)})  # fmt: skip
        reader = ChannelReader(source=source, inbox=inbox, pool=pool, clock=self.clock, pacing=pacing,
                               watch=watch, key_of=inbox_key, sweep=source.sweep,
                               reconcile_seconds=3600)  # fmt: skip
        run = Run(reader, pool, api, bot, services)
        self.runs.append(run)
        return run

    async def cases(self) -> list[tuple[str, str]]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(select(messages.c.source_id, messages.c.text).order_by(messages.c.id))
            ).all()
            await conn.rollback()
        return [(r.source_id, r.text) for r in rows]

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

    async def handled(self, count: int) -> None:
        async def done() -> bool:
            return len(await self.cases()) >= count and all(r.pool.quiet() for r in self.runs if r.task)

        await self.until(done)


@pytest.fixture
async def rig(emu: OkEmulator, engine: AsyncEngine) -> AsyncIterator[Rig]:
    rig = Rig(emu, engine)
    yield rig
    for run in rig.runs:
        if run.task is not None:
            await run.stop()


def calls(emu: OkEmulator, method: str) -> list[dict[str, str]]:
    return [p for m, p in emu.requests if m == method]


async def test_a_comment_is_one_case_across_redelivery_and_a_restart(rig: Rig) -> None:
    first = rig.run()
    await first.start()
    comment = rig.emu.comment(TOPIC, CITIZEN, "Когда починят дорогу у дома 5?", name="Иван Петров")
    await rig.handled(1)
    key = f"{TOPIC}:{comment.id}"
    assert await rig.cases() == [(key, "Когда починят дорогу у дома 5?")]
    # The same comment read again (a sweep, a batch saved twice): the row already there.
    await first.reader.save([{"type": "ok_comment", "topic_id": TOPIC, "comment": comment.as_json()}], None)
    await first.reader.reconcile()
    await rig.handled(1)
    assert len(await rig.cases()) == 1
    await first.stop()
    # Restarted: it reads on from the saved anchor, not from the topic's start.
    reads = len(calls(rig.emu, "discussions.getComments"))
    second = rig.run()
    await second.start()
    later = rig.emu.comment(TOPIC, CITIZEN, "И фонарь не горит")
    await rig.handled(2)
    assert await rig.cases() == [
        (key, "Когда починят дорогу у дома 5?"),
        (f"{TOPIC}:{later.id}", "И фонарь не горит"),
    ]
    polled = [p for p in calls(rig.emu, "discussions.getComments")[reads:] if p.get("anchor")]
    assert polled and polled[0]["includeRemoved"] == "true"
    async with rig.engine.connect() as conn:
        author = await conn.scalar(select(messages.c.author).where(messages.c.source_id == key))
        await conn.rollback()
    assert author == f"Иван Петров (ok.ru/profile/{CITIZEN})"
    assert len(rig.notifier.woken) == 2  # one card each


async def test_our_own_answer_read_back_is_never_a_case(rig: Rig) -> None:
    run = rig.run()
    await run.start()
    comment = rig.emu.comment(TOPIC, CITIZEN, "Яма")
    await rig.handled(1)
    api = run.api
    await api.call("discussions.addDiscussionComment", entityId=TOPIC, entityType="GROUP_TOPIC", comment="Ответ",
                   reply_to_comment_id=comment.id, as_admin=True)  # fmt: skip
    rig.emu.comment(TOPIC, CITIZEN, "Спасибо")
    await rig.handled(2)
    assert [text for _, text in await rig.cases()] == ["Яма", "Спасибо"]


async def test_a_deletion_seen_by_the_sweep_reaches_the_case(rig: Rig) -> None:
    run = rig.run()
    await run.start()
    comment = rig.emu.comment(TOPIC, CITIZEN, "Яма у дома 5")
    await rig.handled(1)
    rig.emu.delete(TOPIC, comment.id)
    await run.reader.reconcile()  # the sweep re-reads with includeRemoved: OK shows deletions no other way

    async def deleted() -> bool:
        async with run.services.repo.reading() as tx:
            case_id = await tx.find_case_by_source("ok", f"{TOPIC}:{comment.id}")
            assert case_id is not None
            return "source_deleted" in [e.action for e in await tx.events(case_id)]

    await rig.until(deleted)
    await run.reader.reconcile()  # seen again: nothing more
    async with run.services.repo.reading() as tx:
        case_id = await tx.find_case_by_source("ok", f"{TOPIC}:{comment.id}")
        assert case_id is not None
        actions = [e.action for e in await tx.events(case_id)]
    assert actions == ["register", "source_deleted"]


async def test_a_wrong_signature_and_an_expired_token_are_one_clear_line(
    emu: OkEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="channels.ok")
    wrong = OkApi(emu.application_key, "not-the-secret", emu.user_token(), base_url=emu.base_url)
    batch = await OkComments(wrong, emu.group_id, sleep=quick).next_batch('{"topics": {}}')
    assert batch.failed and batch.events == () and batch.cursor == '{"topics": {}}'
    [line] = [r.getMessage() for r in caplog.records]
    assert "подпись" in line and "104" in line and "\n" not in line
    caplog.clear()
    emu.now += 31 * 86400
    right = OkApi(emu.application_key, emu.application_secret, "user-token", base_url=emu.base_url)
    batch = await OkComments(right, emu.group_id, sleep=quick).next_batch(None)
    [line] = [r.getMessage() for r in caplog.records]
    assert batch.failed and "истёк" in line and "102" in line
    await wrong.close()
    await right.close()


def test_the_signature_is_the_documented_formula() -> None:
    params = {"method": "group.getStatTopics", "application_key": "CBA", "format": "json", "gid": "1"}
    # By hand from CHANNELS.md: md5("application_key=CBAformat=jsongid=1method=group.getStatTopics" + secret).
    import hashlib

    secret = hashlib.md5(b"tokenappsecret").hexdigest()
    expected = hashlib.md5(
        f"application_key=CBAformat=jsongid=1method=group.getStatTopics{secret}".encode()
    ).hexdigest()
    assert signature(params, "token", "appsecret") == expected == ok_sig(params, "token", "appsecret")
    assert signature({**params, "access_token": "x", "sig": "y"}, "token", "appsecret") == expected


async def test_a_message_by_webhook_is_one_case_and_is_answered_200_only_once_saved(rig: Rig) -> None:
    run = rig.run()
    await run.pool.start()
    web_app = web.Application()
    web_app.router.add_post("/ok/webhook", ok_webhook_handler(run.reader, secret="s3cr3t"))
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/ok/webhook"
    bot = OkBot(rig.emu.bot_token(), base_url=rig.emu.base_url)
    try:
        await bot.subscribe(url + "?secret=s3cr3t")
        event = rig.emu.message(CITIZEN, "chat:C3ec01", "Не вывозят мусор", name="Иван Петров")
        attempts = await rig.emu.delivered(event)
        assert [a.status for a in attempts] == [200]
        await rig.handled(1)
        mid = event["message"]["mid"]
        assert await rig.cases() == [(mid, "Не вывозят мусор")]
        async with aiohttp.ClientSession() as http:
            again = await http.post(url + "?secret=s3cr3t", json=event)  # OK's retry of the same event
            assert again.status == 200
            assert (await http.post(url + "?secret=wrong", json=event)).status == 403
            assert (await http.post(url + "?secret=s3cr3t", data=b"not json{")).status == 400
            assert (await http.post(url + "?secret=s3cr3t", json=[1, 2])).status == 400
            assert (await http.post(url + "?secret=s3cr3t", json={"message": {"text": "x"}})).status == 200
        await rig.handled(1)
        assert len(await rig.cases()) == 1 and await rig.inbox_rows() == 1
        async with rig.engine.connect() as conn:
            link = await conn.scalar(select(messages.c.link).where(messages.c.source_id == mid))
            await conn.rollback()
        assert link is not None and link.endswith("chat_id=chat:C3ec01")  # where the answer will go
    finally:
        await bot.close()
        await runner.cleanup()
        await run.pool.stop(1.0)
        await run.api.close()
        await run.bot.session.close()


def test_hostile_events_are_skipped_or_cut_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="channels.ok")
    gid = "70000000000001"
    junk: list[object] = [
        None, [], "text", {"type": "ok_comment"}, {"type": "ok_comment", "topic_id": TOPIC, "comment": "x"},
        {"type": "ok_comment", "topic_id": "../../x", "comment": {"id": "1", "author_id": "2"}},
        {"type": "ok_comment", "topic_id": TOPIC, "comment": {"id": {"$gt": 1}, "author_id": "2"}},
        {"sender": {"user_id": 5}, "recipient": {"chat_id": "chat:1"}, "message": {"mid": "mid:1"}},
        {"sender": {"user_id": "user:5"}, "recipient": {"chat_id": "nope"}, "message": {"mid": "mid:1"}},
    ]  # fmt: skip
    for raw in junk:
        assert parse_ok_event(raw, gid, seen_at=SEEN) is None
    assert len(caplog.records) == len(junk)
    long = parse_ok_event(
        {"type": "ok_comment", "topic_id": TOPIC, "comment": {"id": 7, "author_id": 5, "text": "я" * 100_000}},
        gid, seen_at=SEEN,
    )  # fmt: skip
    assert long is not None and len(long.text) == TEXT_LIMIT and long.kind is ItemKind.NEW
    assert long.key == f"{TOPIC}:7"
    # A system event of a chat is no item and no complaint.
    caplog.clear()
    assert parse_ok_event({"webhookType": "CHAT_SYSTEM"}, gid, seen_at=SEEN) is None
    assert caplog.records == []


async def test_an_edit_seen_by_the_sweep_is_one_event_and_a_lost_comment_is_found(rig: Rig) -> None:
    run = rig.run()
    await run.start()
    comment = rig.emu.comment(TOPIC, CITIZEN, "Яма у дома 5")
    await rig.handled(1)
    rig.emu.edit(TOPIC, comment.id, "Яма у дома 7")
    await run.reader.reconcile()
    await run.reader.reconcile()  # seen again: the same revision, the row already there
    key = f"{TOPIC}:{comment.id}"

    async def edited() -> list[str]:
        async with run.services.repo.reading() as tx:
            case_id = await tx.find_case_by_source("ok", key)
            assert case_id is not None
            return [e.text for e in await tx.events(case_id) if e.action == "source_edited"]

    await rig.until(edited)
    await rig.until(lambda: run.pool.quiet())
    assert await edited() == ["Яма у дома 7"]
    # A comment the poll never saw (its counter unchanged: one written and one removed between two polls)
    # is registered by the sweep as it is now.
    await run.stop()
    lost = rig.emu.comment(TOPIC, CITIZEN, "Фонарь не горит")
    rig.emu.delete(TOPIC, comment.id)
    again = rig.run()
    await again.pool.start()
    await again.reader.reconcile()
    await rig.handled(2)
    assert (f"{TOPIC}:{lost.id}", "Фонарь не горит") in await rig.cases()
    await again.pool.stop(1.0)
    await again.api.close()
    await again.bot.session.close()


class DownOnceInbox(Inbox):
    """The database is down for the first write: the webhook must not answer 200 for what it did not save."""

    down = True

    async def save_batch(self, items: Sequence[Incoming], *, cursor: Cursor | None = None) -> int:
        if DownOnceInbox.down and items:
            DownOnceInbox.down = False
            raise StorageUnavailable("database is locked")
        return await super().save_batch(items, cursor=cursor)


async def test_a_message_the_database_could_not_take_is_answered_503_and_taken_on_oks_retry(rig: Rig) -> None:
    DownOnceInbox.down = True
    run = rig.run(inbox_class=DownOnceInbox)
    await run.pool.start()
    web_app = web.Application()
    web_app.router.add_post("/ok/webhook", ok_webhook_handler(run.reader))
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    bot = OkBot(rig.emu.bot_token(), base_url=rig.emu.base_url)
    try:
        await bot.subscribe(f"http://127.0.0.1:{runner.addresses[0][1]}/ok/webhook")
        event = rig.emu.message(CITIZEN, "chat:C3ec01", "Не вывозят мусор")
        assert [a.status for a in await rig.emu.delivered(event)] == [503, 200]
        await rig.handled(1)
        assert await rig.cases() == [(event["message"]["mid"], "Не вывозят мусор")]
    finally:
        await bot.close()
        await runner.cleanup()
        await run.pool.stop(1.0)
        await run.api.close()
        await run.bot.session.close()


async def test_an_html_page_or_junk_json_from_ok_is_a_failed_read_not_a_crash(
    emu: OkEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="channels.ok")
    api = OkApi(emu.application_key, emu.application_secret, emu.user_token(), base_url=emu.base_url)
    source = OkComments(api, emu.group_id, sleep=quick)
    emu.faults["group.getStatTopics"] = ["garbage"]
    batch = await source.next_batch('{"topics": {}}')
    assert batch.failed and batch.cursor == '{"topics": {}}'
    [line] = [r.getMessage() for r in caplog.records]
    assert "не JSON" in line and "502" in line
    caplog.clear()
    emu.comment(TOPIC, CITIZEN, "Яма")
    emu.faults["discussions.getComments"] = ["junk"]
    batch = await source.next_batch('{"topics": {}}')  # no comments in a page of the wrong shape: none taken
    assert not batch.failed and batch.events == ()
    batch = await source.next_batch(batch.cursor)  # the counter moved past nothing: read again, found
    assert [e["comment"]["text"] for e in batch.events] == ["Яма"]  # type: ignore[index]
    await api.close()
