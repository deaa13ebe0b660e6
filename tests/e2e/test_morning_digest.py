"""Each person's morning digest through the running app (issue 14): at 08:30 on a working day, in the person's
own chat with the bot, his terms due today and the overdue ones; only to those who owe something, once (more
ticks and a restart add nothing); none on Saturday; `[notify] morning = false` turns it off. A person who never
opened the bot's chat (the operator here) is skipped with a warning, not retried for ever."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.settings import Settings
from emulators.staff import StaffMessage, visible_text
from storage.tables import outbox
from tests.e2e.conftest import HEAD_CHAT, INTAKE_CHAT, OFFICE_CHAT, OFFICE_HEAD, OPERATOR, RULES, TZ, World

MARK = "☀️ Ваши сроки на "


def mornings(world: World, chat_id: int) -> list[StaffMessage]:
    return [m for m in world.emu.sent(chat_id) if visible_text(m).startswith(MARK)]


async def tick(world: World, when: datetime) -> None:
    world.clock.set(when)
    assert world.app.mornings is not None
    await world.app.mornings.run()
    await world.settle()


async def propose_routing(world: World, case_id: int) -> None:
    await world.press(INTAKE_CHAT, OPERATOR, "Направить в подразделение", case_id)
    await world.press(INTAKE_CHAT, OPERATOR, RULES.units["housing"], case_id)
    assert (await world.press(INTAKE_CHAT, OPERATOR, "Готово", case_id)).text == "Направление предложено"


async def test_at_half_past_eight_once_to_those_who_owe(world: World) -> None:
    await world.start()
    first = await world.register_os("На ул. Ленина у дома 5 яма на дороге. Когда отремонтируют?")
    second = await world.register_os("Во дворе дома 7 по ул. Мира не горят фонари.")
    await propose_routing(world, second)  # the office head now holds its routing
    await tick(world, datetime(2026, 12, 2, 8, 29, tzinfo=TZ))  # Wednesday, a minute early
    assert mornings(world, OFFICE_CHAT) == []
    await tick(world, datetime(2026, 12, 2, 8, 30, tzinfo=TZ))
    [digest] = mornings(world, OFFICE_CHAT)
    text = visible_text(digest)
    assert text.splitlines()[0] == "☀️ Ваши сроки на 02.12.2026"
    assert "❗ Просрочено (1):" in text and f"• № {second}, до 01.12 " in text
    assert f"№ {first}" not in text  # the operator's, not his
    assert mornings(world, HEAD_CHAT) == []  # the head owes nothing: no digest
    # The operator owes both routings too but has no chat with the bot in this world: his row is done all the
    # same (a warning in the log), not left pending for every drain to retry.
    async with world.app.engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.dedup_key, outbox.c.delivered_at).where(
            outbox.c.kind == "morning"))).all()  # fmt: skip
    assert sorted(key for key, _at in rows) == [f"morning:{OPERATOR.user_id}:2026-12-02",
                                                f"morning:{OFFICE_HEAD.user_id}:2026-12-02"]  # fmt: skip
    assert all(at is not None for _key, at in rows)
    await tick(world, datetime(2026, 12, 2, 8, 31, tzinfo=TZ))
    await world.stop()
    await world.start()
    await tick(world, datetime(2026, 12, 2, 11, 0, tzinfo=TZ))
    assert len(mornings(world, OFFICE_CHAT)) == 1
    await tick(world, datetime(2026, 12, 5, 8, 30, tzinfo=TZ))  # Saturday
    assert len(mornings(world, OFFICE_CHAT)) == 1
    await tick(world, datetime(2026, 12, 7, 8, 30, tzinfo=TZ))  # Monday: the next one
    assert [visible_text(m).splitlines()[0] for m in mornings(world, OFFICE_CHAT)] == [
        "☀️ Ваши сроки на 02.12.2026",
        "☀️ Ваши сроки на 07.12.2026",
    ]


async def test_turned_off(world: World) -> None:
    def off(settings: Settings) -> None:
        settings.notify.morning = False

    app = await world.start(configure=off)
    assert app.mornings is None and app.scheduler.get_job("morning") is None
    assert app.scheduler.get_job("weekly_report") is not None
    # (World.stop right after World.start hangs the test run: one step in between, as every other test has)
    await world.register_os("Во дворе дома 7 по ул. Мира не горят фонари.")
