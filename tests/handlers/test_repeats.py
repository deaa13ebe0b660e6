"""A repeat suggestion through the real Dispatcher (issue 13 item 4): a message nearly the same as an earlier
case's is offered on its card as «Повторное к № N»; one press links it, the card then says so, and a second or
forged press changes nothing."""

from __future__ import annotations

from datetime import timedelta

from emulators.telegram import visible_text
from tests.handlers.conftest import INTAKE, OPERATOR, STRANGER, Harness, button, labels
from views import texts
from views.callbacks import CaseCb, CaseVerb

LAMPS = "Не горят фонари во дворе дома 3 по улице Гагарина, вечером темно"


async def test_a_repeat_is_offered_and_linked_with_one_press(h: Harness) -> None:
    first = await h.intake(LAMPS)
    h.clock.advance(timedelta(days=3))
    second = await h.intake(LAMPS + "!")  # nearly the same text, three days later
    card = await h.card(INTAKE, second)
    label = texts.BTN_LINK_REPEAT.format(case_id=first)
    assert texts.CARD_REPEAT_SUGGESTED.format(case_id=first) in visible_text(card)
    assert label in labels(card)
    assert label not in labels(await h.card(INTAKE, first))  # the earlier case is offered nothing

    data = button(card, label)
    assert await h.press(INTAKE, OPERATOR, card.message_id, data) == texts.DONE_BY_ACTION["link_repeat"]
    case = await h.services.case(second)
    assert case.repeat_of == first
    shown = visible_text(await h.card(INTAKE, second))
    assert texts.CARD_REPEAT.format(case_id=first) in shown
    assert texts.CARD_REPEAT_SUGGESTED.format(case_id=first) not in shown
    assert f"отмечено как повторное к № {first}" in shown  # the history line
    assert label not in labels(await h.card(INTAKE, second))

    # The same button pressed again (the old card): the lifecycle says it is done, nothing changes.
    again = await h.press(INTAKE, OPERATOR, card.message_id, data)
    assert again == f"Уже отмечено как повторное к № {first}"
    assert (await h.services.case(second)).version == case.version


async def test_a_forged_or_foreign_press_links_nothing(h: Harness) -> None:
    first = await h.intake(LAMPS)
    other = await h.intake("Спасибо за уборку снега у школы № 2")  # nothing like it before
    card = await h.card(INTAKE, other)
    assert not any(label.startswith("Повторное к №") for label in labels(card))
    case = await h.services.case(other)
    forged = CaseCb(verb=CaseVerb.LINK_REPEAT, case_id=other, version=case.version).pack()
    answer = await h.press(INTAKE, OPERATOR, card.message_id, forged)
    assert answer is not None and answer != texts.DONE_BY_ACTION["link_repeat"]
    assert (await h.services.case(other)).repeat_of is None

    second = await h.intake(LAMPS)
    card = await h.card(INTAKE, second)
    data = button(card, texts.BTN_LINK_REPEAT.format(case_id=first))
    answer = await h.press(INTAKE, STRANGER, card.message_id, data)
    assert answer is not None and answer != texts.DONE_BY_ACTION["link_repeat"]
    assert (await h.services.case(second)).repeat_of is None
