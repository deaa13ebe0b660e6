"""The п.18 report as an XLSX workbook (XlsxWriter) a clerk opens in Excel or LibreOffice without fixing anything.

Sheets: «Сводка» (the key figures and two native charts: on-time share by unit, cases per week), one sheet per
measure (units, staff, terms, sources, weeks, reworks and returns) and «Нарушения сроков», the missed terms with
case numbers. Russian headers, dates as dates (local time of the calendar, Excel has no time zones), column
widths set, header rows frozen, filters on the lists.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from views.report_text import ReportNames
from workflow.reports import Report, TermFigures

if TYPE_CHECKING:  # xlsxwriter is imported when a workbook is written, not by `otklik run` at start
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

SUMMARY = "Сводка"
UNITS = "Подразделения"
PEOPLE = "Сотрудники"
TERMS = "Сроки"
SOURCES = "Источники"
WEEKS = "По неделям"
REWORKS = "Доработки и возвраты"
MISSED = "Нарушения сроков"

_FIGURE_HEADERS = (
    "Сроков", "Соблюдено", "Нарушено", "Ещё идут", "Доля в срок", "Медиана, ч", "90-й процентиль, ч",
)  # fmt: skip


class _Formats:
    def __init__(self, book: Workbook) -> None:
        self.header = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
                                       "valign": "top"})  # fmt: skip
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.share = book.add_format({"num_format": "0%"})
        self.hours = book.add_format({"num_format": "0.0"})
        self.date = book.add_format({"num_format": "dd.mm.yyyy hh:mm"})
        self.day = book.add_format({"num_format": "dd.mm.yyyy"})
        self.bold = book.add_format({"bold": True})


def _hours(minutes: float | None) -> float | None:
    return round(minutes / 60, 2) if minutes is not None else None


def _local(at: datetime | None, report: Report) -> datetime | None:
    return at.astimezone(report.period.start.tzinfo).replace(tzinfo=None) if at is not None else None


def _table(
    sheet: Worksheet,
    fmt: _Formats,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    formats: Sequence[Any | None] = (),
) -> None:
    """A list with a frozen header row, a filter, set widths and per-column formats; None is an empty cell."""
    for col, (header, width) in enumerate(zip(headers, widths, strict=True)):
        sheet.write_string(0, col, header, fmt.header)
        sheet.set_column(col, col, width, formats[col] if col < len(formats) else None)
    sheet.freeze_panes(1, 0)
    for r, row in enumerate(rows, start=1):
        for col, value in enumerate(row):
            cell_format = formats[col] if col < len(formats) else None
            if value is None:
                continue
            if isinstance(value, datetime):
                sheet.write_datetime(r, col, value, cell_format)
            elif isinstance(value, int | float):
                sheet.write_number(r, col, value, cell_format)
            else:
                sheet.write_string(r, col, str(value), cell_format)
    sheet.autofilter(0, 0, max(len(rows), 1), len(headers) - 1)


def _figure_row(f: TermFigures) -> list[Any]:
    return [
        f.terms,
        f.met,
        f.missed,
        f.pending,
        f.on_time_share,
        _hours(f.median_minutes),
        _hours(f.p90_minutes),
    ]


def _figures_sheet(
    book: Workbook,
    fmt: _Formats,
    name: str,
    first: str,
    items: Sequence[TermFigures],
    label: Callable[[str], str],
) -> None:
    sheet = book.add_worksheet(name)
    rows = [[label(f.key), f.key, *_figure_row(f)] for f in items]
    formats = [None, None, None, None, None, None, fmt.share, fmt.hours, fmt.hours]
    _table(sheet, fmt, [first, "Код", *_FIGURE_HEADERS], rows, [44, 16, 10, 11, 10, 10, 12, 12, 14], formats)


def _summary(book: Workbook, fmt: _Formats, report: Report, names: ReportNames) -> None:
    sheet = book.add_worksheet(SUMMARY)
    sheet.set_column(0, 0, 46)
    sheet.set_column(1, 1, 16)
    title = "Отчёт о соблюдении сроков рассмотрения сообщений (п. 18)"
    sheet.write_string(0, 0, title, fmt.title)
    sheet.write_string(1, 0, f"Период: {report.period.label}")
    if report.units is not None:
        sheet.write_string(2, 0, "Подразделения: " + ", ".join(names.unit(u) for u in sorted(report.units)))
    c, t = report.cases, report.total
    rows: list[tuple[str, float | None, Any]] = [
        ("Зарегистрировано сообщений", c.registered, None),
        ("Ответ дан", c.answered, None),
        ("Ответ дан в срок", c.answered_on_time, None),
        ("Исключено из обработки", c.excluded, None),
        ("Возвращено куратору ЦУР", c.returned, None),
        ("Сроков в периоде", t.terms, None),
        ("Соблюдено", t.met, None),
        ("Нарушено", t.missed, None),
        ("Ещё идут", t.pending, None),
        ("Доля сроков, соблюдённых в срок", t.on_time_share, fmt.share),
        ("Медиана времени исполнения, ч", _hours(t.median_minutes), fmt.hours),
        ("90-й процентиль времени исполнения, ч", _hours(t.p90_minutes), fmt.hours),
        ("Доработок проектов", report.reworks, None),
        ("Возвратов (не компетенция, куратору ЦУР)", report.returns, None),
    ]
    sheet.write_string(4, 0, "Показатель", fmt.header)
    sheet.write_string(4, 1, "Значение", fmt.header)
    for i, (label, value, cell_format) in enumerate(rows, start=5):
        sheet.write_string(i, 0, label)
        if value is None:
            sheet.write_string(i, 1, "—")
        else:
            sheet.write_number(i, 1, value, cell_format)
    sheet.write_datetime(len(rows) + 6, 1, _local(report.read_at, report), fmt.date)
    sheet.write_string(len(rows) + 6, 0, "Данные на")
    sheet.freeze_panes(5, 0)
    units = len(report.by_unit)
    if units:
        chart = book.add_chart({"type": "bar"})
        chart.add_series({
            "name": "Доля в срок", "categories": [UNITS, 1, 0, units, 0], "values": [UNITS, 1, 6, units, 6],
            "data_labels": {"value": True, "num_format": "0%"},
        })  # fmt: skip
        chart.set_title({"name": "Соблюдение сроков по подразделениям"})
        chart.set_x_axis({"min": 0, "max": 1, "num_format": "0%"})
        chart.set_y_axis({"reverse": True})
        chart.set_legend({"none": True})
        chart.set_size({"width": 640, "height": 60 + 28 * units})
        sheet.insert_chart(4, 3, chart)
    weeks = len(report.per_week)
    if weeks:
        chart = book.add_chart({"type": "column"})
        chart.add_series(
            {"name": "Сообщений", "categories": [WEEKS, 1, 0, weeks, 0], "values": [WEEKS, 1, 1, weeks, 1]}
        )
        chart.set_title({"name": "Сообщений по неделям"})
        chart.set_legend({"none": True})
        chart.set_size({"width": 640, "height": 300})
        sheet.insert_chart(max(24, 8 + units * 2), 3, chart)
    sheet.activate()


def workbook_bytes(report: Report, names: ReportNames) -> bytes:
    """The whole workbook, built in memory (a year's report is a few hundred kilobytes)."""
    out = io.BytesIO()
    import xlsxwriter

    book = xlsxwriter.Workbook(out, {"in_memory": True, "default_date_format": "dd.mm.yyyy hh:mm"})
    fmt = _Formats(book)
    _summary(book, fmt, report, names)
    _figures_sheet(book, fmt, UNITS, "Подразделение", report.by_unit, names.unit)
    _figures_sheet(book, fmt, PEOPLE, "Сотрудник", report.by_person, lambda key: key)
    _figures_sheet(book, fmt, TERMS, "Срок", report.by_term, lambda key: names.terms.get(key, key))
    sources = book.add_worksheet(SOURCES)
    source_rows: list[list[Any]] = [["Источник", names.source(k), k, n] for k, n in report.by_source.items()]
    source_rows += [["Соцсеть", names.source(k), k, n] for k, n in report.by_network.items()]
    source_rows += [["Категория ПОС", names.category(k), k, n] for k, n in report.by_category.items()]
    _table(sources, fmt, ["Разрез", "Значение", "Код", "Сообщений"], source_rows, [16, 50, 16, 12])
    weeks = book.add_worksheet(WEEKS)
    _table(weeks, fmt, ["Неделя с", "Сообщений"], [[datetime.combine(m, datetime.min.time()), n]
                                                    for m, n in report.per_week], [14, 12], [fmt.day])  # fmt: skip
    reworks = book.add_worksheet(REWORKS)
    _table(reworks, fmt, ["№ сообщения", "Доработок", "Возвратов"],
           [[c.case_id, c.reworks, c.returns] for c in report.rework_cases], [14, 12, 12])  # fmt: skip
    missed = book.add_worksheet(MISSED)
    _table(
        missed,
        fmt,
        ["№ сообщения", "Срок", "Код срока", "Подразделение", "Сотрудник", "Срок истёк", "Выполнено"],
        [
            [
                s.case_id,
                names.terms.get(s.term_id, s.term_id),
                s.term_id,
                names.unit(s.unit) if s.unit is not None else None,
                s.person or None,
                _local(s.due, report),
                _local(s.done, report),
            ]
            for s in report.shortcomings
        ],
        [14, 46, 16, 40, 24, 18, 18],
        [None, None, None, None, None, fmt.date, fmt.date],
    )
    book.close()
    return out.getvalue()
