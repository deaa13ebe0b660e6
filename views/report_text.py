"""The п.18 report as people read it: the names of units, terms, sources, and the short Russian summary that goes
with the chart and the workbook in Telegram."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from html import escape as _html_escape

from views.durations import duration
from workflow.reports import Report, TermFigures
from workflow.rules import Rules

SOURCE_NAMES: Mapping[str, str] = {
    "vk": "ВКонтакте",
    "ok": "Одноклассники",
    "telegram": "Telegram",
    "max": "MAX",
    "region_curator": "Куратор ЦУР",
    "pos": "ПОС",
    "manual": "Вручную",
    "intake": "Чат приёма",
    "other": "Другие",
}
NO_UNIT = "без подразделения"
# Units (worst first) and missed terms the summary names at most; the workbook has them all.
SUMMARY_UNITS = 5
SUMMARY_MISSED = 5


@dataclass(frozen=True)
class ReportNames:
    """Russian names of what a report's keys are: units, term ids, ПОС categories."""

    units: Mapping[str, str] = field(default_factory=dict)
    terms: Mapping[str, str] = field(default_factory=dict)
    categories: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, rules: Rules, units: Mapping[str, str] | None = None) -> ReportNames:
        return cls(
            units=dict(units if units is not None else rules.units),
            terms={t.id: t.title for t in rules.terms.values()},
            categories={c.id: c.title for c in rules.categories.values()},
        )

    def unit(self, key: str | None) -> str:
        return NO_UNIT if key is None else self.units.get(key, key)

    def term(self, key: str) -> str:
        title = self.terms.get(key)
        return f"{title} ({key})" if title else key

    def source(self, key: str) -> str:
        return SOURCE_NAMES.get(key, key)

    def category(self, key: str) -> str:
        return self.categories.get(key, key)


def file_stem(report: Report) -> str:
    """The report's files' name without the extension: «otchet-2026-11-30-2026-12-06»."""
    return f"otchet-{report.period.first.isoformat()}-{report.period.last.isoformat()}"


def escape(text: str) -> str:
    """As views.html.escape (aiogram's HTML quoting) without importing aiogram: the command line and the
    workbook need none of it, and it is half the memory of a report's process."""
    return _html_escape(text, quote=False)


def share_text(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


def minutes_text(value: float | None) -> str:
    return "—" if value is None else duration(timedelta(minutes=value))


def _unit_line(f: TermFigures, names: ReportNames) -> str:
    return f"• {names.unit(f.key)}: {share_text(f.on_time_share)} в срок ({f.met} из {f.met + f.missed})"


def summary_lines(report: Report, names: ReportNames) -> list[tuple[str, bool]]:
    """The summary as (line, is a heading) pairs: the case counts, terms on time, the worst units, the first
    misses."""
    c, t = report.cases, report.total
    title = "Отчёт о соблюдении сроков (п. 18)"
    if report.units is not None:
        title += ": " + ", ".join(names.unit(u) for u in sorted(report.units))
    lines = [(title, True), (f"Период: {report.period.label}", False)]
    if report.empty:
        lines.append(("За период нет ни сообщений, ни сроков.", False))
        return lines
    lines += [
        (f"Сообщений: {c.registered}; ответ дан: {c.answered}, из них в срок: {c.answered_on_time}; "
         f"исключено: {c.excluded}; возвращено куратору ЦУР: {c.returned}.", False),
        (f"Сроков: {t.terms}; соблюдено: {t.met}; нарушено: {t.missed}; ещё идут: {t.pending}; "
         f"в срок: {share_text(t.on_time_share)}.", False),
        (f"Время исполнения: медиана {minutes_text(t.median_minutes)}, "
         f"90-й процентиль {minutes_text(t.p90_minutes)}.", False),
        (f"Доработок проектов: {report.reworks}; возвратов: {report.returns}.", False),
    ]  # fmt: skip
    decided = [f for f in report.by_unit if f.met + f.missed]
    worst = sorted(decided, key=lambda f: (f.on_time_share or 0.0, -f.missed, f.key))[:SUMMARY_UNITS]
    if worst:
        lines.append(("Подразделения", True))
        lines += [(_unit_line(f, names), False) for f in worst]
    if report.shortcomings:
        lines.append((f"Нарушенные сроки ({len(report.shortcomings)})", True))
        tz = report.period.start.tzinfo
        for s in report.shortcomings[:SUMMARY_MISSED]:
            who = names.unit(s.unit) if s.unit is not None else (s.person or NO_UNIT)
            due = s.due.astimezone(tz)
            lines.append((f"• № {s.case_id}: {names.term(s.term_id)}, {who}, срок {due:%d.%m %H:%M}", False))
        if len(report.shortcomings) > SUMMARY_MISSED:
            lines.append((f"и ещё {len(report.shortcomings) - SUMMARY_MISSED} — в файле отчёта.", False))
    return lines


def render_summary(report: Report, names: ReportNames) -> str:
    """The Telegram summary (HTML)."""
    return "\n".join(
        f"<b>{escape(line)}</b>" if heading else escape(line)
        for line, heading in summary_lines(report, names)
    )


def render_summary_plain(report: Report, names: ReportNames) -> str:
    """The command line's summary (plain text)."""
    return "\n".join(line for line, _heading in summary_lines(report, names))
