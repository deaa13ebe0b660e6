"""The weekly п.18 report through the running app and the Telegram emulator (issue 14): at Monday 09:00 the head
and the office head each get the summary of last week with the chart and the workbook, once (more ticks and a
restart send nothing more); on a holiday Monday it comes on Tuesday."""

from __future__ import annotations

import io
from datetime import datetime

import openpyxl

from emulators.staff import StaffMessage, visible_text
from tests.e2e.conftest import HEAD_CHAT, OFFICE_CHAT, TZ, World

TITLE = "📊 Еженедельный отчёт о соблюдении сроков"


def reports(world: World, chat_id: int) -> list[StaffMessage]:
    return [m for m in world.emu.sent(chat_id) if visible_text(m).startswith(TITLE)]


async def tick(world: World, when: datetime) -> None:
    """The scheduler's weekly tick at `when`, then the quiet after (delivery sent what was queued)."""
    world.clock.set(when)
    assert world.app.weekly is not None
    await world.app.weekly.run()
    await world.settle()


async def test_monday_nine_once_with_chart_and_workbook(world: World) -> None:
    await world.start()
    case_id = await world.register_os("На ул. Ленина у дома 5 яма на дороге. Когда отремонтируют?")
    await tick(world, datetime(2026, 12, 7, 8, 59, tzinfo=TZ))  # Monday, a minute early
    assert reports(world, HEAD_CHAT) == reports(world, OFFICE_CHAT) == []
    await tick(world, datetime(2026, 12, 7, 9, 0, tzinfo=TZ))
    for chat in (HEAD_CHAT, OFFICE_CHAT):
        [summary] = reports(world, chat)
        text = visible_text(summary)
        assert "Период: 30.11.2026 — 06.12.2026" in text and "Сообщений: 1;" in text
        # The operator's routing of case 1 was due on Tuesday and is still open: a missed term, by number.
        assert f"№ {case_id}: Направление в подразделение (os.route)" in text
        chart, book = [m for m in world.emu.sent(chat) if m.reply_to_message_id == summary.message_id]
        [(chart_kind, _, png)] = [(f.kind, f.name, f.data) for f in world.emu.files_of(chart)]
        [(book_kind, book_name, xlsx)] = [(f.kind, f.name, f.data) for f in world.emu.files_of(book)]
        assert (chart_kind, book_kind) == ("photo", "document") and png.startswith(b"\x89PNG")
        assert book_name == "otchet-2026-11-30-2026-12-06.xlsx"
        workbook = openpyxl.load_workbook(io.BytesIO(xlsx))
        missed = list(workbook["Нарушения сроков"].iter_rows(min_row=2, values_only=True))
        assert case_id in [row[0] for row in missed]
    # More ticks the same week and a restart: nothing more.
    await tick(world, datetime(2026, 12, 7, 9, 1, tzinfo=TZ))
    await world.stop()
    await world.start()
    await tick(world, datetime(2026, 12, 8, 9, 0, tzinfo=TZ))
    assert len(reports(world, HEAD_CHAT)) == len(reports(world, OFFICE_CHAT)) == 1
    # The next Monday: the next week's.
    await tick(world, datetime(2026, 12, 14, 9, 0, tzinfo=TZ))
    assert "Период: 07.12.2026 — 13.12.2026" in visible_text(reports(world, HEAD_CHAT)[-1])


async def test_a_holiday_monday_moves_it_to_tuesday(world: World) -> None:
    await world.start()
    # 10.05.2027 is a holiday Monday (Victory Day moved from Sunday 09.05, ru-2027.xml): nothing that day.
    await tick(world, datetime(2027, 5, 10, 9, 0, tzinfo=TZ))
    await tick(world, datetime(2027, 5, 10, 17, 0, tzinfo=TZ))
    assert reports(world, HEAD_CHAT) == []
    await tick(world, datetime(2027, 5, 11, 8, 59, tzinfo=TZ))
    assert reports(world, HEAD_CHAT) == []
    await tick(world, datetime(2027, 5, 11, 9, 0, tzinfo=TZ))
    [report] = reports(world, HEAD_CHAT)
    assert "Период: 03.05.2027 — 09.05.2027" in visible_text(report)
    assert "За период нет ни сообщений, ни сроков." in visible_text(report)  # an honest empty report
