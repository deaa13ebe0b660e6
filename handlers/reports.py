"""/report [неделя|месяц|ГГГГ-ММ]: the п.18 report as a short summary, a chart and the workbook.

The right and the period are the use case's (workflow/services/reporting.py): the head, the office head and the
curators get the whole district, a unit's people their units; anyone else and a period that cannot be get one
Russian line. In a unit's group chat the report is that unit's, whoever asks (workflow.visibility.audience). The chart and the workbook are drawn in a worker thread: a year's workbook is a CPU-bound second
that must not stop the bot answering everyone else.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from views.charts import report_png
from views.report_text import ReportNames, file_stem, render_summary
from views.xlsx import workbook_bytes
from workflow.model import Actor, DomainError, Role
from workflow.reports import Report
from workflow.rules import Rules
from workflow.services.reporting import ReportingUseCase
from workflow.visibility import audience

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
    chat_roles: set[Role],
    chat_units: set[str],
    reporting: ReportingUseCase | None = None,
) -> None:
    if reporting is None:
        await message.answer(NOT_CONFIGURED, parse_mode=None)
        return
    # What the bot shows in a group, all its members see: in a unit's chat, that unit's report, whoever asks.
    viewer = audience(actor, chat_roles, chat_units, private=message.chat.type == ChatType.PRIVATE)
    try:
        report = await reporting.for_actor(viewer, command.args)
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
