"""The hourly erasure of personal data through the running app (issue 14): the scheduler's own job, on the
virtual clock, against the Telegram emulator.

A case closed on Tuesday 01.12.2026 is kept twelve months (`[retention] open_sources_months`): the job run a
minute early erases nothing, the run at the instant erases it once, and `/case N` then shows the card with the
text gone and the erasure in its history; the view itself is in the access log.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from emulators.staff import visible_text
from storage.tables import access_log
from tests.e2e.conftest import OFFICE_CHAT, OFFICE_HEAD, World, settings_for
from workflow.retention import ERASED_TEXT, PD_ERASED

TEXT = "Я Пётр Смирнов, живу на ул. Ленина, 5, тел. 8 913 000-00-00: у дома яма на дороге."


async def run_job(world: World) -> None:
    """What APScheduler runs every hour: the guarded job function itself."""
    job = world.app.scheduler.get_job("retention")
    assert job is not None and job.trigger.interval == timedelta(hours=1)
    await job.func()
    await world.settle()


async def test_the_job_erases_a_closed_case_when_due_and_once(world: World) -> None:
    await world.start()
    case_id = await world.register_os(TEXT)
    closed_at = world.local(11, 0)
    world.clock.set(closed_at)
    await world.write(OFFICE_CHAT, OFFICE_HEAD, f"/close {case_id} дубль сообщения")
    assert [e.action for e in await world.events(case_id)][-1] == "close"

    world.clock.set(closed_at.replace(year=2027) - timedelta(minutes=1))
    await run_job(world)
    async with world.app.repo.reading() as tx:
        message = await tx.get_message(case_id)
    assert message is not None and message.text == TEXT

    world.clock.set(closed_at.replace(year=2027))
    await run_job(world)
    await run_job(world)  # the next tick: nothing more
    events = await world.events(case_id)
    assert [e.action for e in events][-2:] == ["close", PD_ERASED]
    async with world.app.repo.reading() as tx:
        message = await tx.get_message(case_id)
    assert message is not None and (message.text, message.author) == (ERASED_TEXT, "")

    before = len(world.emu.sent(OFFICE_CHAT))
    await world.write(OFFICE_CHAT, OFFICE_HEAD, f"/case {case_id}")
    shown = "\n".join(visible_text(m) for m in world.emu.sent(OFFICE_CHAT)[before:])
    assert ERASED_TEXT in shown and "Ленина" not in shown and "8 913" not in shown
    assert "персональные данные автора удалены" in shown
    async with world.app.repo.reading() as tx:
        views = (await tx.connection.execute(select(access_log.c.case_id, access_log.c.user_id))).all()
    assert [tuple(v) for v in views] == [(case_id, OFFICE_HEAD.user_id)]
    await world.stop()


async def test_retention_off_means_no_job(world: World) -> None:
    settings = settings_for(world.emu, world.db_path)
    settings.retention.enabled = False
    from bot.app import OtklikApp

    app = await OtklikApp.build(settings, clock=world.clock)
    try:
        assert app.scheduler.get_job("retention") is None
    finally:
        await app.close()
