"""What a reminder, an alert and a notice say, and that citizens' text in them stays exactly as written."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from emulators.telegram import html_to_text
from views.cards import CardView, render_notification
from workflow.calendar import WorkingCalendar
from workflow.model import Case, InboundMessage, Procedure, Role, Source
from workflow.ports import Notification
from workflow.rules import DEFAULT_RULES

TZ = ZoneInfo("Asia/Novosibirsk")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=TZ)
UNITS = {"housing": "ЖКХ", "social": "Социальная защита"}
HOSTILE = "<b>Срочно</b> & <script>alert(1)</script> *жирно*"


def view() -> CardView:
    message = InboundMessage(source=Source.VK, source_id="1", procedure=Procedure.OPEN_SOURCES, text=HOSTILE,
                             received_at=NOW, author="Пётр <Смирнов>", link="https://vk.com/wall-1_2")  # fmt: skip
    case = Case(id=7, procedure=Procedure.OPEN_SOURCES, status="in_units", version=3, t0=NOW)
    return CardView(case=case, message=message, open_terms=[], events=[], draft=None)


def note(kind: str, to: Role, *, term: str | None = None, unit: str | None = None, **payload: object) -> str:
    n = Notification(dedup_key="k", case_id=7, kind=kind, to_role=to, at=NOW, term_id=term, unit=unit,
                     payload=dict(payload))  # fmt: skip
    html = render_notification(
        n, view(), calendar=WorkingCalendar(), rules=DEFAULT_RULES, units=UNITS, now=NOW
    )
    return html_to_text(html)


@pytest.mark.parametrize(
    ("kind", "to", "term", "unit", "payload", "expected"),
    [
        ("reminder", Role.UNIT_OFFICIAL, "os.unit_info", "housing", {"due": "2026-12-01T11:20:00+07:00"},
         "⏰ Напоминание: Информация подразделения для ответа — до 01.12 11:20; осталось 1 ч 20 мин"),
        # The curator learns whose unit missed the term, though the alert is not addressed to the unit.
        ("missed", Role.REGION_CURATOR, "os.unit_info", None,
         {"due": "2026-12-01T09:30:00+07:00", "term_unit": "social"},
         "❗ Срок пропущен: Информация подразделения для ответа — должностное лицо подразделения (Социальная защита)"),
        ("rework", Role.OPERATOR, None, None, {"reason": "<i>Добавьте фото</i> & срок"},
         "Причина: <i>Добавьте фото</i> & срок"),
        # The head has no card: the report carries the message, exactly as the citizen wrote it.
        ("significant", Role.HEAD, None, None, {}, f"Сообщение: {HOSTILE}"),
        ("significant", Role.HEAD, None, None, {}, "Автор: Пётр <Смирнов>"),
    ],
)  # fmt: skip
def test_notification_text(
    kind: str, to: Role, term: str | None, unit: str | None, payload: dict[str, object], expected: str
) -> None:
    text = note(kind, to, term=term, unit=unit, **payload)
    assert expected in text
    assert "Сообщение № 7" in text
