"""/report through the Dispatcher: the whole district for the office head and the curators, a unit's people only
their unit, a refusal for anyone else and for a period that cannot be; the summary, the chart and the workbook
arrive in the chat as a message, a photo and a document."""

from __future__ import annotations

import io

import openpyxl

from tests.handlers.conftest import (
    CURATOR,
    HOUSING_CHAT,
    HOUSING_MAN,
    OFFICE_HEAD,
    OPERATOR,
    POS_CURATOR,
    Harness,
)
from tests.support.report_seed import seed
from tests.unit.test_reports import CASES, EVENTS, NOW, TERMS
from workflow.services.reporting import NO_RIGHT, ReportingUseCase


async def _ready(h: Harness) -> None:
    h.clock.set(NOW)
    async with h.repo.engine.begin() as conn:
        await seed(conn, CASES, TERMS, EVENTS)
    h.dp.workflow_data["reporting"] = ReportingUseCase(
        repo=h.repo, clock=h.clock, calendar=h.calendar, rules=h.rules
    )


def _workbook(h: Harness, chat_id: int) -> openpyxl.Workbook:
    document = h.emu.sent(chat_id)[-1].document
    assert document is not None and document["file_name"] == "otchet-2026-11-30-2026-12-06.xlsx"
    return openpyxl.load_workbook(io.BytesIO(h.emu.files[document["file_id"]].content))


async def test_office_head_gets_the_district_summary_chart_and_workbook(h: Harness) -> None:
    await _ready(h)
    await h.send(OFFICE_HEAD, OFFICE_HEAD, "/report неделя")
    summary, chart, book = h.emu.sent(OFFICE_HEAD)[-3:]
    assert summary.plain_text is not None and "Период: 30.11.2026 — 06.12.2026" in summary.plain_text
    assert "Сроков: 6; соблюдено: 3; нарушено: 2; ещё идут: 1" in summary.plain_text
    assert "№ 2: Информация подразделения для ответа" in summary.plain_text
    assert chart.photo and book.document
    units = [
        row[1] for row in _workbook(h, OFFICE_HEAD)["Подразделения"].iter_rows(min_row=2, values_only=True)
    ]
    assert units == ["education", "housing"]


async def test_curators_see_the_district_too(h: Harness) -> None:
    await _ready(h)
    for curator in (CURATOR, POS_CURATOR):
        await h.send(curator, curator, "/report 2026-12")
        assert "Период: 01.12.2026 — 31.12.2026" in (h.emu.sent(curator)[-3].plain_text or "")
        assert h.emu.sent(curator)[-1].document is not None


async def test_a_unit_official_sees_only_his_unit(h: Harness) -> None:
    await _ready(h)
    await h.send(HOUSING_MAN, HOUSING_MAN, "/report")
    summary = h.emu.sent(HOUSING_MAN)[-3].plain_text or ""
    assert "ЖКХ" in summary.splitlines()[0]
    assert "Сроков: 2; соблюдено: 0; нарушено: 2" in summary
    units = [
        row[1] for row in _workbook(h, HOUSING_MAN)["Подразделения"].iter_rows(min_row=2, values_only=True)
    ]
    assert units == ["housing"]


async def test_no_right_and_bad_periods_are_one_line(h: Harness) -> None:
    await _ready(h)
    before = len(h.emu.sent(OPERATOR))
    await h.send(OPERATOR, OPERATOR, "/report неделя")
    assert [m.plain_text for m in h.emu.sent(OPERATOR)[before:]] == [NO_RIGHT]
    await h.send(OFFICE_HEAD, OFFICE_HEAD, "/report 2026-13")
    assert (
        h.emu.sent(OFFICE_HEAD)[-1].plain_text
        == "Такого месяца нет: 2026-13. Месяц пишется как ГГГГ-ММ, например 2026-11."
    )
    await h.send(OFFICE_HEAD, OFFICE_HEAD, "/report вчера")
    assert (h.emu.sent(OFFICE_HEAD)[-1].plain_text or "").startswith("Не понял период")
    assert all(m.document is None and not m.photo for m in h.emu.sent(OFFICE_HEAD))


async def test_an_empty_month_is_an_honest_empty_report(h: Harness) -> None:
    await _ready(h)
    await h.send(OFFICE_HEAD, OFFICE_HEAD, "/report 2026-01")
    summary = h.emu.sent(OFFICE_HEAD)[-3].plain_text or ""
    assert "За период нет ни сообщений, ни сроков." in summary
    assert h.emu.sent(OFFICE_HEAD)[-1].document is not None


async def test_in_a_units_chat_the_report_is_the_units_whoever_asks(h: Harness) -> None:
    await _ready(h)
    await h.send(HOUSING_CHAT, OFFICE_HEAD, "/report неделя")
    summary = h.emu.sent(HOUSING_CHAT)[-3].plain_text or ""
    assert "ЖКХ" in summary.splitlines()[0] and "Сроков: 2; соблюдено: 0; нарушено: 2" in summary
