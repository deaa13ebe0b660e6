"""The ПОС notification a curator pastes or forwards: «Сообщение № …», «Категория: …», the date, «Срок ответа:
…» when ПОС shows one, «Текст: …».

ПОС has no public integration API; its notification text is the one machine-readable thing a district gets.
The parser takes what it finds and leaves the rest None, so the dialogue asks only for what is missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from workflow.calendar import WorkingCalendar
from workflow.pos_categories import classify
from workflow.rules import Rules

# Digits are ASCII only: \d would take fullwidth and Arabic-Indic ones. The date's year is not checked here but
# by the domain (workflow.lifecycle.check_message_instant: 2000 to a day past now), before anything is computed.
NOTICE = re.compile(r"^\s*Сообщение\s*№\s*([0-9]{5,20})", re.IGNORECASE)
CATEGORY_LINE = re.compile(r"^\s*Категория[^:\n]*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
RECEIVED = re.compile(r"([0-9]{2}\.[0-9]{2}\.[0-9]{4})\s+([0-9]{1,2}:[0-9]{2})")
TEXT_LINE = re.compile(r"^\s*Текст[^:\n]*:\s*(.+)", re.IGNORECASE | re.MULTILINE | re.DOTALL)
# The answer due date ПОС shows (RULES.md §6), a line of the header (before «Текст:»): «Срок ответа: 10.12.2026»,
# «Крайний срок: 10.12.2026», «Ответить до 10.12.2026». Its value is checked by the dialogue, like a typed one.
DUE_LINE = re.compile(
    r"^[ \t]*(?:срок[ \t]+ответа|крайний[ \t]+срок|срок[ \t]+рассмотрения|ответить[ \t]+до)"
    r"(?:[ \t]+по[ \t]+данным[ \t]+ПОС|[ \t]+в[ \t]+ПОС)?[ \t]*:?[ \t]*([^\n]*)$",
    re.IGNORECASE | re.MULTILINE,
)
DUE_DATE = re.compile(r"([0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}|[0-9]{4}-[0-9]{2}-[0-9]{2})")


@dataclass(frozen=True)
class Parsed:
    number: str | None = None
    category: str | None = None
    received: datetime | None = None
    text: str | None = None
    due_line: str | None = None  # the value of the notice's due-date line, as written; None: no such line


def parse_notice(
    raw: str, rules: Rules, calendar: WorkingCalendar, table: Mapping[str, str] | None = None
) -> Parsed:
    """What a ПОС notification tells: «Сообщение № 12345678», «Категория: …», a date, «Текст: …».

    The category is ПОС's name looked up in `table` ([pos] categories) first; a name it does not know is left
    to the dialogue's question (a person is there to choose), unless it names a class itself.
    """
    number = m.group(1) if (m := NOTICE.match(raw)) else None
    category = None
    if cm := CATEGORY_LINE.search(raw):
        found = classify(cm.group(1), table or {}, rules)
        category = found.class_id if found.known else None
        line = cm.group(1).strip().lower()
        for cat in rules.categories.values() if category is None else ():
            title = cat.title.lower()
            if line in (cat.id.lower(), title) or title in line or line in title:
                category = cat.id
                break
    tm = TEXT_LINE.search(raw)
    header = raw[: tm.start()] if tm else raw
    due_line = None
    if dm := DUE_LINE.search(header):
        due_line = dm.group(1).strip()
        # The due line's own date (and time) is not the arrival: the arrival is looked for without it.
        raw = raw[: dm.start()] + raw[dm.end() :]
    received = None
    if rm := RECEIVED.search(raw):
        try:
            local = datetime.strptime(f"{rm.group(1)} {rm.group(2)}", "%d.%m.%Y %H:%M")
            received = local.replace(tzinfo=calendar.tz)
        except ValueError:
            received = None
    text = tm.group(1).strip() if tm else None
    return Parsed(number, category, received, text or None, due_line)


def parse_due(value: str) -> date | None:
    """A due date as written: ДД.ММ.ГГГГ or ГГГГ-ММ-ДД (ASCII digits, the first one in `value`).

    Raises ValueError for a date that does not exist (31.02.2026); None when there is no date at all.
    """
    found = DUE_DATE.search(value)
    if found is None:
        return None
    raw = found.group(1)
    if "-" in raw:
        year, month, day = (int(x) for x in raw.split("-"))
    else:
        day, month, year = (int(x) for x in raw.split("."))
    return date(year, month, day)
