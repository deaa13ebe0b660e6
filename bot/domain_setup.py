"""Builds the pure domain objects (calendar, rules) from settings; the file reading the domain must not do."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

from bot.settings import WEEKDAYS, ConfigError, Settings
from workflow.calendar import (
    CalendarError,
    DayKind,
    DaySchedule,
    WorkingCalendar,
    parse_xmlcalendar,
    shipped_calendar,
)
from workflow.clusters import Window
from workflow.rules import Rules, RulesError
from workflow.services.clusters import SpikeSettings

log = logging.getLogger(__name__)

_OVERRIDE_KINDS = {"off": DayKind.OFF, "working": DayKind.WORKING, "short": DayKind.SHORT}


def read_calendar_file(path: Path) -> tuple[int, dict[date, DayKind]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarError(f"{path}: cannot read the calendar file: {exc}") from None
    return parse_xmlcalendar(text, source=str(path))


def imported_calendar_files(settings: Settings) -> list[Path]:
    """The administrator's XML files: the import folder first, then `calendar.files` (later ones win)."""
    folder = settings.resolve(settings.calendar.data_dir)
    files = sorted(folder.glob("ru-*.xml")) if folder.is_dir() else []
    return files + [settings.resolve(name) for name in settings.calendar.files]


def build_calendar(settings: Settings, warn: Callable[[str], None] | None = None) -> WorkingCalendar:
    week: dict[int, DaySchedule | None] = {}
    for index, name in enumerate(WEEKDAYS):
        hours = settings.calendar.week.get(name)
        if hours is None:
            week[index] = None
            continue
        start, end, lunch_start, lunch_end = hours.times()
        week[index] = DaySchedule(start=start, end=end, lunch_start=lunch_start, lunch_end=lunch_end)
    years: dict[int, dict[date, DayKind]] | None = None
    files = imported_calendar_files(settings)
    if files:
        years = dict(shipped_calendar())
        for path in files:
            year, facts = read_calendar_file(path)
            years[year] = facts
    overrides = {day: _OVERRIDE_KINDS[kind] for day, kind in settings.calendar.overrides.items()}
    return WorkingCalendar(
        tz=settings.calendar.timezone,
        week=week,
        years=years,
        overrides=overrides,
        warn=warn or log.warning,
    )


def build_spikes(settings: Settings) -> SpikeSettings:
    """`[screening]` as the use cases take it: the spike window and the repeat lookup."""
    screening = settings.screening
    window = Window(threshold=screening.spike_threshold, minutes=screening.spike_window_minutes)
    return SpikeSettings(window=window, repeat_days=screening.repeat_days)


def build_rules(settings: Settings) -> Rules:
    try:
        rules = Rules.from_mapping(settings.rules, units=settings.units)
    except RulesError as exc:
        raise ConfigError(str(exc)) from None
    # The ПОС category table names classes of these rules: a typo is one line at start, not a wrong term later.
    pos_category_table(settings, rules)
    return rules


def import_calendar_file(settings: Settings, source: Path) -> tuple[int, Path]:
    """Validate an official xmlcalendar file and copy it to the import folder as ru-YYYY.xml."""
    year, _facts = read_calendar_file(source)
    folder = settings.resolve(settings.calendar.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"ru-{year}.xml"
    shutil.copyfile(source, target)
    return year, target


def pos_category_table(settings: Settings, rules: Rules) -> dict[str, str]:
    """`[pos] categories`, each value checked to be a class of the rules; ConfigError names the first bad one."""
    known = ", ".join(rules.categories)
    for name, class_id in settings.pos.categories.items():
        if class_id not in rules.categories:
            raise ConfigError(
                f"pos.categories.{name!r}: неизвестный класс сроков {class_id!r} (допустимые: {known})"
            )
    return dict(settings.pos.categories)
