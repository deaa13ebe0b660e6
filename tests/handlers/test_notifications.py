"""What a reminder, an alert and a notice say, and that citizens' text in them stays exactly as written."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from emulators.telegram import html_to_text
from tests.handlers.conftest import INTAKE, OFFICE, OPERATOR, Harness, button
from tests.handlers.test_flows import register_os, route_to
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
         "⏰ Напоминание: Информация подразделения для ответа — должностное лицо подразделения (ЖКХ), "
         "до 01.12 11:20; осталось 1 ч 20 мин"),
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


# --- who gets what, through the real Dispatcher ----------------------------------------------------------------


async def test_routing_to_a_unit_without_a_chat_is_refused_and_nothing_changes(h: Harness) -> None:
    case_id = await register_os(h)
    before = await h.services.case(case_id)
    answer = await route_to(h, case_id, h.rules.units["social"])  # the harness gives «social» no chat
    assert answer is not None and answer.startswith("Нельзя направить в «Социальная защита» (social)")
    after = await h.services.case(case_id)
    assert after.version == before.version and after.proposed_units == ()
    # The keyboard stays open: the operator picks another unit and goes on.
    card = await h.card(INTAKE, case_id)
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, f"✅ {h.rules.units['social']}"))
    card = await h.card(INTAKE, case_id)
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, h.rules.units["housing"]))
    card = await h.card(INTAKE, case_id)
    assert (
        await h.press(INTAKE, OPERATOR, card.message_id, button(card, "Готово")) == "Направление предложено"
    )


async def test_the_card_is_the_notice_and_the_office_head_gets_only_what_needs_him(h: Harness) -> None:
    case_id = await register_os(h)
    # The intake chat holds the card alone: no «🔔 Новое сообщение» under it.
    assert [t for t in h.texts(INTAKE) if t.startswith("🔔")] == []
    assert h.texts(OFFICE) == []  # a new message is none of the office head's business yet
    assert await route_to(h, case_id, h.rules.units["housing"]) == "Направление предложено"
    office = h.texts(OFFICE)
    assert len(office) == 1 and office[0].startswith(f"Сообщение № {case_id}")  # the card, no notice under it
