"""The office head's daily digest through the running app and the Telegram emulator (issue 10, item 7).

Having stopped getting every card, the office head gets one digest a working day at 09:00 in his own chat: what
came in since the last one, what is open, today's terms, the overdue ones and the routing waiting for him. None
on Saturday, none twice after a restart, none when there is nothing to say; a digest queued just before a crash
is delivered by the next start's outbox drain.
"""

from __future__ import annotations

from datetime import time

from bot.app import OtklikApp
from emulators.staff import StaffMessage, visible_text
from tests.e2e.conftest import INTAKE_CHAT, OFFICE_CHAT, OPERATOR, RULES, World, settings_for

DIGEST_MARK = "📋 Сводка на "


def digests(world: World) -> list[StaffMessage]:
    return [m for m in world.emu.sent(OFFICE_CHAT) if visible_text(m).startswith(DIGEST_MARK)]


async def tick(world: World, hh: int, mm: int, day: int) -> None:
    """The scheduler's digest tick at a local time `day` days after Tuesday 01.12.2026, then the quiet after."""
    world.clock.set(world.local(hh, mm, day))
    await world.app.digest()
    await world.settle()


async def propose_routing(world: World, case_id: int) -> None:
    """The operator proposes ЖКХ; the routing then waits for the office head."""
    await world.press(INTAKE_CHAT, OPERATOR, "Направить в подразделение", case_id)
    await world.press(INTAKE_CHAT, OPERATOR, RULES.units["housing"], case_id)
    assert (await world.press(INTAKE_CHAT, OPERATOR, "Готово", case_id)).text == "Направление предложено"


async def test_one_digest_at_nine_with_the_state_of_things_none_on_saturday(world: World) -> None:
    await world.start()
    first = await world.register_os("На ул. Ленина у дома 5 яма на дороге. Когда отремонтируют?")
    second = await world.register_os("Во дворе дома 7 по ул. Мира не горят фонари.")
    await propose_routing(world, second)
    before = len(world.emu.sent(OFFICE_CHAT))

    await tick(world, 8, 59, day=1)  # Wednesday 02.12, a minute early
    assert digests(world) == []
    await tick(world, 9, 0, day=1)
    [digest] = digests(world)
    assert len(world.emu.sent(OFFICE_CHAT)) == before + 1  # the digest and nothing else
    assert not digest.silent  # 09:00 on a working day rings
    text = visible_text(digest)
    assert text.splitlines()[0] == "📋 Сводка на 02.12.2026"
    assert "Новых сообщений с 01.12 09:00: 2" in text and "• открытые источники — 2" in text
    assert "В работе: 2" in text and "• Новое — 1" in text and "• Направление на согласовании — 1" in text
    route = RULES.term("os.route").title
    # Both routings were due on Tuesday within the hour: overdue now, and who owes each.
    assert "❗ Просрочено" in text
    assert f"• № {first}, до 01.12 " in text
    assert f"— {route} — уполномоченное лицо управления делами" in text
    assert f"— {route} — начальник управления делами" in text
    assert "✅ Ждут вашего решения (1):" in text
    approvals = text.split("✅ Ждут вашего решения (1):", 1)[1]
    assert f"• № {second}, до 01.12 " in approvals and f"• № {first}," not in approvals
    # Today's terms: the publications due on Wednesday.
    assert "⏳ Сроки сегодня" in text and f"— {RULES.term('os.publish').title} —" in text

    # More ticks, then a restart at 09:03: still one digest.
    await tick(world, 9, 1, day=1)
    await world.stop()
    await world.start(background=True)
    await tick(world, 9, 3, day=1)
    assert len(digests(world)) == 1

    # Saturday and Sunday: none, whatever the hour. Monday 07.12 has its own, covering since Friday's time.
    await tick(world, 9, 0, day=4)
    await tick(world, 12, 0, day=5)
    assert len(digests(world)) == 1
    await tick(world, 9, 0, day=6)
    monday = visible_text(digests(world)[-1])
    assert [visible_text(m).splitlines()[0] for m in digests(world)] == [
        "📋 Сводка на 02.12.2026", "📋 Сводка на 07.12.2026",
    ]  # fmt: skip
    assert "Новых сообщений с 04.12 09:00 нет." in monday and "В работе: 2" in monday


async def test_none_when_there_is_nothing_to_say(world: World) -> None:
    await world.start()
    await tick(world, 9, 0, day=1)
    await tick(world, 10, 0, day=1)
    assert digests(world) == [] and await world.pending_outbox() == 0


async def test_a_digest_queued_before_a_crash_is_delivered_after_it(world: World) -> None:
    await world.start()
    await world.register_os("На ул. Ленина у дома 5 яма на дороге. Когда отремонтируют?")
    # The digest is committed to the outbox, and the process dies before delivery sends it.
    assert world.app.digests is not None
    world.app.digests.notifier = None
    await tick(world, 9, 0, day=1)
    assert digests(world) == [] and await world.pending_outbox() == 1
    await world.crash()
    await world.start(background=True)  # the start's drain sends what the dead run left
    await world.wait(lambda: digests(world), "the digest after the restart")
    await world.settle()
    await tick(world, 9, 5, day=1)
    assert len(digests(world)) == 1


async def test_a_digest_before_the_working_day_comes_silently(world: World) -> None:
    def at_eight(app: OtklikApp) -> None:
        assert app.digests is not None
        app.digests.at = time(8, 0)

    await world.start(prepare=at_eight)
    await world.register_os("На ул. Ленина у дома 5 яма на дороге. Когда отремонтируют?")
    await tick(world, 8, 0, day=1)
    [digest] = digests(world)
    assert digest.silent  # 08:00 is before the working day: no sound (workflow/quiet.py)


async def test_digest_false_turns_it_off(world: World) -> None:
    settings = settings_for(world.emu, world.db_path)
    settings.notify.digest = False
    app = await OtklikApp.build(settings, clock=world.clock)
    try:
        assert app.digests is None and app.scheduler.get_job("digest") is None
        world.clock.set(world.local(9, 0, day=1))
        assert await app.digest() is None
    finally:
        await app.close()
    # On by default: the job ticks as often as the sweeper.
    app = await OtklikApp.build(settings_for(world.emu, world.db_path), clock=world.clock)
    try:
        job = app.scheduler.get_job("digest")
        assert job is not None and job.trigger.interval.total_seconds() == settings.scheduler.sweep_seconds
    finally:
        await app.close()
