"""The ПОС notification a curator pastes or forwards: «Сообщение № …», «Категория: …», the date, «Текст: …».

ПОС has no public integration API; its notification text is the one machine-readable thing a district gets.
The parser takes what it finds and leaves the rest None, so the dialogue asks only for what is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from workflow.calendar import WorkingCalendar
from workflow.rules import Rules

# Digits are ASCII only: \d would take fullwidth and Arabic-Indic ones. The date's year is not checked here but
# by the domain (workflow.lifecycle.check_message_instant: 2000 to a day past now), before anything is computed.
NOTICE = re.compile(r"^\s*Сообщение\s*№\s*([0-9]{5,20})", re.IGNORECASE)
CATEGORY_LINE = re.compile(r"^\s*Категория[^:\n]*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
RECEIVED = re.compile(r"([0-9]{2}\.[0-9]{2}\.[0-9]{4})\s+([0-9]{1,2}:[0-9]{2})")
TEXT_LINE = re.compile(r"^\s*Текст[^:\n]*:\s*(.+)", re.IGNORECASE | re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Parsed:
    number: str | None = None
    category: str | None = None
    received: datetime | None = None
    text: str | None = None


def parse_notice(raw: str, rules: Rules, calendar: WorkingCalendar) -> Parsed:
    """What a ПОС notification tells: «Сообщение № 12345678», «Категория: …», a date, «Текст: …»."""
    number = m.group(1) if (m := NOTICE.match(raw)) else None
    category = None
    if cm := CATEGORY_LINE.search(raw):
        line = cm.group(1).strip().lower()
        for cat in rules.categories.values():
            title = cat.title.lower()
            if line in (cat.id.lower(), title) or title in line or line in title:
                category = cat.id
                break
    received = None
    if rm := RECEIVED.search(raw):
        try:
            local = datetime.strptime(f"{rm.group(1)} {rm.group(2)}", "%d.%m.%Y %H:%M")
            received = local.replace(tzinfo=calendar.tz)
        except ValueError:
            received = None
    text = tm.group(1).strip() if (tm := TEXT_LINE.search(raw)) else None
    return Parsed(number, category, received, text or None)
