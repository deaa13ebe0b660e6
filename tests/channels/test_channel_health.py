"""A channel not read for N minutes alerts the office head once, through the outbox, and once more when reading
resumes: the real vk-api against the VK emulator refusing the long poll, the fake clock, real SQLite and
PostgreSQL (the rig of test_vk_intake.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channel_health import ChannelHealth
from bot.polling import Pacing
from emulators.vk import VkEmulator
from storage.repository import SqlRepository
from storage.tables import outbox
from tests.channels.test_vk_intake import CITIZEN, GID, SEEN, Rig, engine
from tests.fakes import FakeClock
from views.cards import CHANNEL_DOWN, CHANNEL_RESTORED, render_notification
from workflow.calendar import WorkingCalendar
from workflow.model import Role
from workflow.rules import DEFAULT_RULES

__all__ = ["engine"]


@pytest.fixture
async def vk() -> AsyncIterator[VkEmulator]:
    async with VkEmulator(max_wait=1, rate_limit=None) as emulator:
        emulator.add_user(CITIZEN, "Иван", "Петров")
        emulator.add_group(GID, "Администрация Северного района")
        yield emulator


async def quick(seconds: float) -> None:
    """The app's waits (back-off, the health watcher's 30 s) shrunk: the fake clock says how long it was."""
    await asyncio.sleep(min(seconds, 0.02))


@pytest.fixture
async def rig(vk: VkEmulator, engine: AsyncEngine) -> AsyncIterator[Rig]:
    rig = Rig(vk, engine)
    yield rig
    for run in rig.runs:
        await run.stop()


async def notices(engine: AsyncEngine) -> list[tuple[str, str, str, dict[str, object]]]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(outbox.c.kind, outbox.c.to_role, outbox.c.dedup_key, outbox.c.payload).order_by(
                    outbox.c.id
                )
            )
        ).all()
        await conn.rollback()
    return [(r.kind, r.to_role, r.dedup_key, dict(r.payload)) for r in rows]


async def test_a_refused_long_poll_alerts_the_office_head_once_and_the_recovery_once(rig: Rig) -> None:
    run = rig.run(sweep=False, pacing=Pacing(sleep=quick))
    health = ChannelHealth("vk", SqlRepository(rig.engine, clock=rig.clock), rig.clock, minutes=10)
    run.reader.health = health
    await run.start(workers=False)
    await rig.listening()
    await rig.until(lambda: health.last_read is not None)

    # VK refuses: the key is lost (failed 3) and every new one is refused (error 10, internal server error).
    rig.emu.fail_next(10, 100_000, methods=["groups.getLongPollServer"])
    rig.emu.fail_longpoll(GID, 3)
    refused = len(rig.emu.calls("groups.getLongPollServer"))
    await rig.until(lambda: len(rig.emu.calls("groups.getLongPollServer")) > refused + 3)
    last_good = health.last_read
    assert last_good is not None

    rig.clock.advance(timedelta(minutes=9))
    await rig.until(lambda: len(rig.emu.calls("groups.getLongPollServer")) > refused + 10)
    assert await notices(rig.engine) == []  # 9 minutes: not yet

    rig.clock.advance(timedelta(minutes=2))
    await rig.until(lambda: notices(rig.engine))
    rig.clock.advance(timedelta(minutes=30))  # more watcher ticks, more refusals: still one notice
    calls = len(rig.emu.calls("groups.getLongPollServer"))
    await rig.until(lambda: len(rig.emu.calls("groups.getLongPollServer")) > calls + 10)
    down = await notices(rig.engine)
    assert down == [
        (CHANNEL_DOWN, Role.OFFICE_HEAD.value, f"channel-down:vk:{last_good.isoformat()}",
         {"channel": "vk", "since": last_good.isoformat()}),
    ]  # fmt: skip

    # VK answers again: one «восстановлено», with the outage's span.
    rig.emu._failures.clear()
    await rig.until(lambda: _count(rig, CHANNEL_RESTORED))
    post = rig.emu.add_post(GID, "Ремонт дорог")
    rig.emu.add_comment(GID, post.id, CITIZEN, "Яма у дома 5")
    await rig.until(lambda: rig.inbox_rows())
    found = await notices(rig.engine)
    assert [kind for kind, *_ in found] == [CHANNEL_DOWN, CHANNEL_RESTORED]
    restored = found[1]
    assert restored[2] == f"channel-restored:vk:{last_good.isoformat()}"
    assert restored[3]["since"] == last_good.isoformat()


async def _count(rig: Rig, kind: str) -> bool:
    return any(k == kind for k, *_ in await notices(rig.engine))


async def test_the_told_outage_survives_a_restart_and_is_closed_once(engine: AsyncEngine) -> None:
    clock = FakeClock(SEEN)
    repo = SqlRepository(engine, clock=clock)
    first = ChannelHealth("vk", repo, clock, minutes=10)
    assert await first.check() is None  # the watch starts
    clock.advance(timedelta(minutes=10))
    told = await first.check()
    assert told is not None and told.kind == CHANNEL_DOWN
    assert await first.check() is None
    # A restart during the outage: the new process knows it was told, says nothing more, and closes it once.
    clock.advance(timedelta(minutes=25))
    second = ChannelHealth("vk", repo, clock, minutes=10)
    assert await second.check() is None
    clock.advance(timedelta(minutes=5))
    await second.read()
    await second.read()
    kinds = [(kind, key) for kind, _role, key, _p in await notices(engine)]
    assert kinds == [
        (CHANNEL_DOWN, f"channel-down:vk:{SEEN.isoformat()}"),
        (CHANNEL_RESTORED, f"channel-restored:vk:{SEEN.isoformat()}"),
    ]
    # A new outage later is a new notice.
    clock.advance(timedelta(minutes=11))
    again = await second.check()
    assert again is not None and again.dedup_key != told.dedup_key


async def test_the_notices_read_in_russian_with_local_times(engine: AsyncEngine) -> None:
    clock = FakeClock(SEEN)
    health = ChannelHealth("vk", SqlRepository(engine, clock=clock), clock, minutes=10)
    await health.check()
    clock.advance(timedelta(minutes=12))
    down = await health.check()
    clock.advance(timedelta(minutes=48))
    await health.read()
    assert down is not None
    calendar = WorkingCalendar()
    text = render_notification(down, None, calendar=calendar, rules=DEFAULT_RULES, units={}, now=clock.now())
    local = SEEN.astimezone(calendar.tz).strftime("%d.%m.%Y %H:%M")
    assert text.startswith(f"⚠️ <b>ВКонтакте не читается с {local}</b>")
    async with SqlRepository(engine, clock=clock).reading() as tx:
        pending = await tx.pending_outbox()
    restored = pending[-1].notification
    text = render_notification(
        restored, None, calendar=calendar, rules=DEFAULT_RULES, units={}, now=clock.now()
    )
    assert "ВКонтакте: чтение восстановлено" in text and f"перерыв с {local} до" in text
