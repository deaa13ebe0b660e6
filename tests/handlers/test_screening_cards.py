"""п.15 / п.17 screening at intake through the real stack (issue 13, item 2): the card shows what was found, one
tap excludes (the ordinary exclusion, the findings as its reason) or keeps the message; a person always decides,
the decision and the findings are history; second and forged presses change nothing."""

from __future__ import annotations

import logging

import pytest

from emulators.telegram.records import visible_text
from tests.handlers.conftest import (
    HEAD_CHAT,
    INTAKE,
    OFFICE,
    OFFICE_HEAD,
    OPERATOR,
    POS_CHAT,
    POS_CURATOR,
    Harness,
    button,
    labels,
)
from views import texts
from views.callbacks import CaseCb, CaseVerb
from workflow.intake_review import screen_note
from workflow.lifecycle import Status
from workflow.model import InboundMessage, Procedure, Source
from workflow.screening import Findings
from workflow.services import STALE_CARD

THREAT = "Если не почините дорогу на ул. Лесной, я главе района голову оторву!"
HEATING = "В школе № 3 нет отопления, дети сидят на уроках в куртках"
CALM = "Безобразие! Доколе будем ждать ремонта ямы на ул. Лесной? Без отписок!"
WARNING = "⚠ Возможно, п.15: угроза должностному лицу — «оторву»"


async def test_a_threat_is_flagged_and_excluded_with_one_tap(h: Harness) -> None:
    case_id = await h.intake(THREAT)
    card = await h.card(INTAKE, case_id)
    assert WARNING in visible_text(card)
    assert labels(card)[:2] == ["Исключить (п.15)", "Не исключать"]
    exclude = button(card, "Исключить (п.15)")

    assert await h.press(INTAKE, OPERATOR, card.message_id, exclude) == "Исключено из обработки"
    case = await h.services.case(case_id)
    assert case.status == Status.EXCLUDED.value
    view = await h.services.card_view(case_id)
    [excluded] = [e for e in view.events if e.action == "exclude"]
    assert excluded.data["reason"] == "п.15: угроза должностному лицу — «оторву» (по проверке текста, подтверждено)"
    note = screen_note(view.events)  # the findings, in the registration event
    assert note is not None and note.grounds == (("threat", ("оторву",)),)
    shown = visible_text(await h.card(INTAKE, case_id))
    assert "исключено из обработки: п.15: угроза должностному лицу" in shown and card.message_id

    # The same button again (the old card's data): the domain's own answer, nothing changes.
    assert await h.press(INTAKE, OPERATOR, card.message_id, exclude) == "Сообщение уже исключено из обработки"
    assert (await h.services.case(case_id)).version == case.version


async def test_keep_is_recorded_and_the_warning_goes(h: Harness) -> None:
    case_id = await h.intake(THREAT)
    card = await h.card(INTAKE, case_id)
    keep, exclude = button(card, "Не исключать"), button(card, "Исключить (п.15)")
    # Only the intake chat decides: the office head's chat has no such button, and forged data is refused.
    refused = await h.press(OFFICE, OFFICE_HEAD, card.message_id, keep)
    assert refused == (
        "Недостаточно прав: снять предупреждение проверки текста может только уполномоченное лицо управления делами"
    )
    assert (await h.services.case(case_id)).screening == "pending"

    assert await h.press(INTAKE, OPERATOR, card.message_id, keep) == texts.DONE_BY_ACTION["screen_keep"]
    case = await h.services.case(case_id)
    assert case.screening == "kept" and case.status == Status.NEW.value
    card = await h.card(INTAKE, case_id)
    shown = visible_text(card)
    assert WARNING not in shown and "Проверка п.15: решено не исключать" in shown
    assert "Сотрудник 11, уполномоченное лицо управления делами: решено не исключать" in shown
    assert "Не исключать" not in labels(card) and "Исключить (п.15)" not in labels(card)
    assert texts.BTN_ROUTE in labels(card)  # the message goes on in work

    # A second press, and the one-tap exclusion from the card as it was: nothing changes.
    assert await h.press(INTAKE, OPERATOR, card.message_id, keep) == "Уже решено не исключать"
    assert await h.press(INTAKE, OPERATOR, card.message_id, exclude) == STALE_CARD
    after = await h.services.case(case_id)
    assert (after.version, after.status) == (case.version, Status.NEW.value)


async def test_forged_screening_buttons_on_a_message_without_findings_change_nothing(h: Harness) -> None:
    case_id = await h.intake(CALM)
    card = await h.card(INTAKE, case_id)
    assert "⚠" not in visible_text(card) and "Не исключать" not in labels(card)
    case = await h.services.case(case_id)
    for verb in (CaseVerb.SCREEN_KEEP, CaseVerb.SCREEN_EXCLUDE):
        forged = CaseCb(verb=verb, case_id=case_id, version=case.version).pack()
        answer = await h.press(INTAKE, OPERATOR, card.message_id, forged)
        assert answer in ("Проверка п.15 ничего не нашла в этом сообщении: решать нечего", texts.NOT_OFFERED)
    after = await h.services.case(case_id)
    assert (after.version, after.status, after.screening) == (case.version, Status.NEW.value, "")


async def test_a_significant_topic_offers_the_report_to_the_head_first(h: Harness) -> None:
    case_id = await h.intake(HEATING)
    card = await h.card(INTAKE, case_id)
    assert "❗ Возможно, общественно значимое (п.17): «нет отопления»" in visible_text(card)
    assert labels(card)[0] == "❗ Доложить Главе"
    answer = await h.press(INTAKE, OPERATOR, card.message_id, button(card, "❗ Доложить Главе"))
    assert answer == texts.DONE_BY_ACTION["significant"]
    assert (await h.services.case(case_id)).significant
    assert any("Общественно значимое сообщение (п.17)" in t and HEATING in t for t in h.texts(HEAD_CHAT))
    assert "❗ Доложить Главе" not in labels(await h.card(INTAKE, case_id))


async def test_a_failing_screening_registers_the_message_without_findings(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(text: str) -> Findings:
        raise RuntimeError("word list\nmissing")

    h.services.screener = broken
    with caplog.at_level(logging.ERROR, logger="workflow.services.cases"):
        case_id = await h.intake(THREAT)
    case = await h.services.case(case_id)
    assert case.status == Status.NEW.value and case.screening == ""
    assert "⚠" not in visible_text(await h.card(INTAKE, case_id))
    lines = [r for r in caplog.records if r.name == "workflow.services.cases"]
    assert len(lines) == 1 and "screening failed" in lines[0].getMessage()
    assert "\n" not in lines[0].getMessage()


async def test_a_pos_message_is_flagged_under_point_17_and_excluded_by_the_pos_curator(h: Harness) -> None:
    curator = h.dp.workflow_data["directory"].actor(POS_CURATOR)
    message = InboundMessage(
        Source.POS, "4512001", Procedure.POS, THREAT, h.clock.now(), category="local_fast", external_number="4512001"
    )
    case_id = (await h.services.register(message, curator)).case.id
    await h.delivery.settle()
    card = await h.card(POS_CHAT, case_id)
    assert "⚠ Возможно, п.17: угроза должностному лицу — «оторву»" in visible_text(card)
    assert labels(card)[:2] == ["Исключить (п.17)", "Не исключать"]
    answer = await h.press(POS_CHAT, POS_CURATOR, card.message_id, button(card, "Исключить (п.17)"))
    assert answer == "Исключено из обработки"
    view = await h.services.card_view(case_id)
    assert view.case.status == Status.EXCLUDED.value
    assert str(view.events[-1].data["reason"]).startswith("п.17: угроза должностному лицу — «оторву»")
