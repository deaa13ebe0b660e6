"""The п.18 report's files for Telegram: the summary, the PNG chart and the workbook of one report, and the
weekly report's text and files that delivery sends (bot/delivery.py `weekly_report`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.sender import Media
from views.charts import report_png
from views.report_text import ReportNames, file_stem, render_summary
from views.texts import WEEKLY_REPORT_TITLE_HTML
from views.xlsx import workbook_bytes
from workflow.ports import Notification
from workflow.reports import Report, parse_day
from workflow.services.reporting import ReportingUseCase


@dataclass(frozen=True)
class RenderedReport:
    summary_html: str
    png: bytes
    xlsx: bytes
    stem: str  # «otchet-2026-11-30-2026-12-06»: the files' name without the extension


def render_report(report: Report, names: ReportNames) -> RenderedReport:
    """The summary, the chart and the workbook of one report."""
    return RenderedReport(
        summary_html=render_summary(report, names),
        png=report_png(report, names),
        xlsx=workbook_bytes(report, names),
        stem=file_stem(report),
    )


def report_media(rendered: RenderedReport) -> tuple[Media, ...]:
    """The chart and the workbook as files the sender uploads (bot/sender.py, Media with bytes)."""
    return (
        Media("photo", "", f"{rendered.stem}.png", data=rendered.png),
        Media("document", "", f"{rendered.stem}.xlsx", data=rendered.xlsx),
    )


# --- the weekly report's files, for delivery -------------------------------------------------------------

# A rendered week is reused for the next recipient within this long (the head's and the office head's rows go out
# in the same drain): the figures are read once, the chart and the workbook drawn once.
_REUSE = timedelta(minutes=10)


@dataclass
class WeeklyReportFiles:
    """Delivery's `weekly_report`: the text and files of a weekly report's outbox row, the week read when it
    goes out (its figures as the database holds them then)."""

    reporting: ReportingUseCase
    names: ReportNames
    _last: tuple[tuple[str, str], datetime, RenderedReport] | None = None

    async def __call__(self, notification: Notification) -> tuple[str, tuple[Media, ...]]:
        first, last = str(notification.payload.get("from")), str(notification.payload.get("to"))
        now = self.reporting.clock.now()
        if self._last is not None and self._last[0] == (first, last) and now - self._last[1] < _REUSE:
            rendered = self._last[2]
        else:
            report = await self.reporting.between(parse_day(first), parse_day(last))
            rendered = await asyncio.to_thread(render_report, report, self.names)  # CPU-bound: off the loop
            self._last = ((first, last), now, rendered)
        return f"{WEEKLY_REPORT_TITLE_HTML}\n{rendered.summary_html}", report_media(rendered)
