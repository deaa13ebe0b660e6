"""The card as Otklik's checks make it (issue 13): the screening's warning and its one-tap answers at intake, a
suggested report to the head, a held draft, and the answer checks above «Согласовать». Pure rendering."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from aiogram.types import InlineKeyboardMarkup

from views import texts
from views.callbacks import CaseCb, CaseVerb
from views.cards import render_card
from views.keyboards import card_verbs
from workflow.answer_checks import Finding
from workflow.calendar import WorkingCalendar
from workflow.draft_review import hold, with_checks
from workflow.intake_review import exclusion_reason, screen_note
from workflow.lifecycle import Action, ActionPayload, Status, open_case, transition
from workflow.model import Actor, Case, Event, InboundMessage, Network, Procedure, Role, Source
from workflow.rules import Rules
from workflow.screening import screen
from workflow.services.queries import CardView

NSK = ZoneInfo("Asia/Novosibirsk")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=NSK)
RULES = Rules.default()
CAL = WorkingCalendar()
OPERATOR = Actor(1, frozenset({Role.OPERATOR}), name="Мария Иванова")
POS_CURATOR = Actor(2, frozenset({Role.POS_CURATOR}), name="Ольга Петрова")
THREAT = "Если не почините дорогу, я главе района голову оторву!"
HEATING = "В школе № 3 нет отопления, дети сидят в куртках"
CALM = "Безобразие! Доколе будем ждать ремонта ямы? Без отписок!"


def registered(text: str, procedure: Procedure = Procedure.OPEN_SOURCES) -> tuple[Case, InboundMessage, list[Event]]:
    pos = procedure is Procedure.POS
    message = InboundMessage(
        Source.POS if pos else Source.INTAKE, "1:1", procedure, text, received_at=NOW,
        category="local_fast" if pos else None, network=None if pos else Network.VK,
    )  # fmt: skip
    opened = open_case(
        message, 0, NOW, rules=RULES, calendar=CAL, actor=POS_CURATOR if pos else OPERATOR, screening=screen(text)
    )
    return replace(opened.case, id=7), message, list(opened.events)


def render(case: Case, message: InboundMessage, events: list[Event], roles: set[Role], draft: str | None = None
           ) -> tuple[str, InlineKeyboardMarkup | None]:  # fmt: skip
    view = CardView(case=case, message=message, open_terms=[], events=events, draft=draft)
    return render_card(view, roles, set(), calendar=CAL, rules=RULES, units=dict(RULES.units), now=NOW)


def labels(markup: InlineKeyboardMarkup | None) -> list[str]:
    return [b.text for row in markup.inline_keyboard for b in row] if markup is not None else []


def test_a_threat_shows_the_warning_with_its_words_and_the_one_tap_answers_first() -> None:
    case, message, events = registered(THREAT)
    assert case.screening == "pending"
    text, keyboard = render(case, message, events, {Role.OPERATOR})
    assert "⚠ Возможно, п.15: угроза должностному лицу — «оторву»" in text
    assert labels(keyboard)[:2] == ["Исключить (п.15)", "Не исключать"]
    assert texts.BTN_EXCLUDE_OS in labels(keyboard)  # the exclusion with a typed reason stays
    # The findings are history: the registration line names them.
    assert "зарегистрировано; проверка п.15: угроза должностному лицу — «оторву»" in text
    # The unit chats and the office head see the warning, but decide nothing.
    text, keyboard = render(case, message, events, {Role.OFFICE_HEAD})
    assert "⚠ Возможно, п.15" in text and "Не исключать" not in labels(keyboard)


def test_a_calm_complaint_shows_nothing() -> None:
    case, message, events = registered(CALM)
    text, keyboard = render(case, message, events, {Role.OPERATOR})
    assert case.screening == "" and not case.suggest_significant
    assert "⚠" not in text and "❗" not in text
    assert "Исключить (п.15)" not in labels(keyboard) and "Не исключать" not in labels(keyboard)
    assert "screening" not in events[0].data


def test_after_keep_the_warning_says_it_was_kept_and_the_buttons_go() -> None:
    case, message, events = registered(THREAT)
    kept = transition(case, Action.SCREEN_KEEP, OPERATOR, NOW, rules=RULES, calendar=CAL)
    text, keyboard = render(kept.case, message, [*events, *kept.events], {Role.OPERATOR})
    assert "⚠" not in text and "Проверка п.15: решено не исключать" in text
    assert "решено не исключать: предупреждение проверки снято" in text  # the decision in the history
    assert "Исключить (п.15)" not in labels(keyboard) and "Не исключать" not in labels(keyboard)
    assert kept.events[0].data["screening"] == "kept"


def test_pos_cases_name_point_17() -> None:
    case, message, events = registered(THREAT, Procedure.POS)
    text, keyboard = render(case, message, events, {Role.POS_CURATOR})
    assert "⚠ Возможно, п.17: угроза должностному лицу — «оторву»" in text
    assert labels(keyboard)[:2] == ["Исключить (п.17)", "Не исключать"]
    note = screen_note(events)
    assert note is not None
    assert exclusion_reason(note, Procedure.POS).startswith("п.17: угроза должностному лицу — «оторву»")


def test_a_significant_topic_puts_the_report_to_the_head_on_top() -> None:
    case, message, events = registered(HEATING)
    text, keyboard = render(case, message, events, {Role.OPERATOR})
    assert case.suggest_significant and case.screening == ""
    assert "❗ Возможно, общественно значимое (п.17): «нет отопления» — доложите Главе района" in text
    assert labels(keyboard)[0] == "❗ Доложить Главе"
    data = keyboard.inline_keyboard[0][0].callback_data if keyboard else None
    assert data is not None and CaseCb.unpack(data).verb is CaseVerb.SIGNIFICANT  # the existing report
    reported = transition(case, Action.SIGNIFICANT, OPERATOR, NOW, rules=RULES, calendar=CAL)
    text, keyboard = render(reported.case, message, [*events, *reported.events], {Role.OPERATOR})
    assert "❗" not in text and texts.BTN_SIGNIFICANT_SUGGESTED not in labels(keyboard)


def test_no_screening_buttons_once_the_case_is_final() -> None:
    case, message, events = registered(THREAT)
    excluded = transition(case, Action.EXCLUDE, OPERATOR, NOW, rules=RULES, calendar=CAL,
                          payload=ActionPayload(reason="п.15"))  # fmt: skip
    assert card_verbs(excluded.case, {Role.OPERATOR}, set()) == ()
    text, _ = render(excluded.case, message, [*events, *excluded.events], {Role.OPERATOR})
    assert "⚠" not in text


def _in_units(case: Case) -> Case:
    return replace(case, status=Status.IN_UNITS.value, assignments=())


def test_a_held_draft_is_on_the_card_and_the_curator_sees_the_findings_above_approve() -> None:
    case, message, events = registered(CALM)
    case = _in_units(case)
    payload = ActionPayload(text="Яму отремонтируем.")
    submit = transition(case, Action.SUBMIT, OPERATOR, NOW, rules=RULES, calendar=CAL, payload=payload)
    found = (Finding("no_greeting", "Нет приветствия или обращения к автору в начале ответа."),)
    held = hold(case, submit, found)
    text, _ = render(held.case, message, [*events, *held.events], {Role.OPERATOR})
    assert held.case.status == Status.IN_UNITS.value and held.case.draft_held
    assert "⏸ Проект ответа задержан проверкой: Нет приветствия или обращения к автору в начале ответа" in text

    anyway = transition(held.case, Action.SUBMIT, OPERATOR, NOW, rules=RULES, calendar=CAL, payload=payload)
    anyway = with_checks(anyway, found, anyway=True)
    assert not anyway.case.draft_held
    history = [*events, *held.events, *anyway.events]
    text, keyboard = render(anyway.case, message, history, {Role.REGION_CURATOR}, draft=payload.text)
    assert labels(keyboard)[0] == texts.BTN_APPROVE
    assert text.endswith("<b>Проверка проекта ответа:</b>\n• Нет приветствия или обращения к автору в начале ответа.")
    assert "отправлен, несмотря на замечания проверки" in text


def test_a_clean_draft_has_no_checks_block() -> None:
    case, message, events = registered(CALM)
    payload = ActionPayload(text="Здравствуйте! Яму отремонтируют 3 марта.")
    submit = transition(_in_units(case), Action.SUBMIT, OPERATOR, NOW, rules=RULES, calendar=CAL, payload=payload)
    submit = with_checks(submit, (), anyway=False)
    text, _ = render(submit.case, message, [*events, *submit.events], {Role.REGION_CURATOR}, draft=payload.text)
    assert "Проверка проекта ответа" not in text and "несмотря" not in text


@pytest.mark.parametrize("text", ["", "🙂" * 50, "\x00\x07", "х" * 100_000, "Fuck you, мэр", "Ёлки-палки"])
def test_any_text_registers_with_or_without_findings(text: str) -> None:
    case, message, events = registered(text or "-")
    rendered, _ = render(case, message, events, {Role.OPERATOR})
    assert f"Сообщение № {case.id}" in rendered
