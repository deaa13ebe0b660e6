"""/report [неделя|месяц|ГГГГ-ММ]: the п.18 report as a short summary, a chart and the workbook.

The right and the period are the use case's (workflow/services/reporting.py): the head, the office head and the
curators get the whole district, a unit's people their units; anyone else and a period that cannot be get one
Russian line. The chart and the workbook are drawn in a worker thread: a year's workbook is a CPU-bound second
that must not stop the bot answering everyone else.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from views.charts import report_png
from views.report_text import ReportNames, file_stem, render_summary
from views.xlsx import workbook_bytes
from workflow.model import Actor, DomainError
from workflow.reports import Report
from workflow.rules import Rules
from workflow.services.reporting import ReportingUseCase

log = logging.getLogger(__name__)

NOT_CONFIGURED = "Отчёты сейчас недоступны."


def router() -> Router:
    r = Router(name="reports")
    r.message.register(on_report, Command("report"))
    return r


def _files(report: Report, names: ReportNames) -> tuple[bytes, bytes]:
    return report_png(report, names), workbook_bytes(report, names)


async def on_report(
    message: Message,
    command: CommandObject,
    actor: Actor,
    rules: Rules,
    reporting: ReportingUseCase | None = None,
) -> None:
    if reporting is None:
        await message.answer(NOT_CONFIGURED, parse_mode=None)
        return
    try:
        report = await reporting.for_actor(actor, command.args)
    except DomainError as exc:
        await message.answer(exc.message, parse_mode=None)
        return
    names = ReportNames.of(rules)
    await message.answer(render_summary(report, names), parse_mode="HTML")
    png, xlsx = await asyncio.to_thread(_files, report, names)
    stem = file_stem(report)
    await message.answer_photo(BufferedInputFile(png, filename=f"{stem}.png"))
    await message.answer_document(BufferedInputFile(xlsx, filename=f"{stem}.xlsx"))
    log.info("отчёт за %s отправлен %s", report.period.label, actor.user_id)
