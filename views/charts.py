"""The report's chart for Telegram: a PNG (matplotlib's Agg canvas, no display, no pyplot) with the on-time share
by unit and the cases registered per week."""

from __future__ import annotations

import io
import threading
from typing import TYPE_CHECKING

from views.report_text import ReportNames
from workflow.reports import Report

if TYPE_CHECKING:  # matplotlib (with numpy, PIL, fontTools: about 55 MB) is imported when a chart is drawn
    from matplotlib.figure import Figure

_DPI = 110
_LABEL_CHARS = 28  # a unit's name on the axis, shortened beyond this
# Charts are drawn in worker threads (handlers/reports.py, bot/report_files.py); matplotlib's font cache and text
# layout are not safe to share between threads drawing at once, so one chart is drawn at a time.
_DRAWING = threading.Lock()


def _short(text: str) -> str:
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"


def _draw(fig: Figure, report: Report, names: ReportNames) -> None:
    by_unit, per_week = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 2]})
    units = [f for f in report.by_unit if f.met + f.missed]
    labels = [_short(names.unit(f.key)) for f in units]
    shares = [(f.on_time_share or 0.0) * 100 for f in units]
    colours = ["#2e7d32" if s >= 90 else "#f9a825" if s >= 70 else "#c62828" for s in shares]
    by_unit.barh(labels or ["нет сроков"], shares or [0], color=colours or ["#9e9e9e"])
    by_unit.set_xlim(0, 100)
    by_unit.invert_yaxis()
    by_unit.set_xlabel("Сроки соблюдены, %")
    by_unit.set_title(f"Соблюдение сроков по подразделениям\n{report.period.label}")
    for y, share in enumerate(shares):
        by_unit.text(min(share + 1, 92), y, f"{share:.0f} %", va="center", fontsize=8)
    weeks = [f"{monday:%d.%m}" for monday, _n in report.per_week]
    per_week.bar(weeks, [n for _m, n in report.per_week], color="#1565c0")
    per_week.set_title("Сообщений по неделям (с понедельника)")
    per_week.set_ylabel("Сообщений")
    if len(weeks) > 12:
        per_week.tick_params(axis="x", labelrotation=90, labelsize=7)
    fig.tight_layout()


def report_png(report: Report, names: ReportNames) -> bytes:
    """The chart as PNG bytes."""
    with _DRAWING:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8, 7), dpi=_DPI)  # no pyplot: no global figure state, no display
        FigureCanvasAgg(fig)
        _draw(fig, report, names)
        out = io.BytesIO()
        fig.savefig(out, format="png")
        return out.getvalue()
