"""Answer checks at the submit of a draft, through the real stack (issue 13, item 5): a draft with findings is
held (durably), the submitter sees the findings with «Отправить всё равно» / «Исправить», and the curator's card
shows «Проверка проекта ответа:» above «Согласовать»."""

from __future__ import annotations

from emulators.telegram import ChatMessage, visible_text
from tests.handlers.conftest import (
    HOUSING_MAN,
    INTAKE,
    OFFICE,
    OFFICE_HEAD,
    OPERATOR,
    REGION,
    Harness,
    button,
    labels,
)
from views import texts
from workflow.draft_review import checks_of
from workflow.lifecycle import Action, ActionPayload, Status
from workflow.services import STALE_CARD, Services

NO_GREETING = "Яму у дома 5 отремонтируем."
GREETED = "Здравствуйте! Яму у дома 5 отремонтирует ЖКХ 5 марта."
FINDING = "Нет приветствия или обращения к автору в начале ответа."


async def routed(h: Harness) -> int:
    case_id = await h.intake("На улице Лесной у дома 5 яма, машины бьют колёса", "vk")
    card = await h.card(INTAKE, case_id)
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_ROUTE))
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, h.rules.units["housing"]))
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_DONE))
    office = await h.card(OFFICE, case_id)
    await h.press(OFFICE, OFFICE_HEAD, office.message_id, button(office, texts.BTN_APPROVE_ROUTING))
    return case_id


async def posted(h: Harness, case_id: int) -> dict[int, int]:
    """The chats the case's card is posted in (chat id -> message id)."""
    async with h.repo.transaction() as tx:
        return await tx.cards(case_id)


async def submit(h: Harness, case_id: int, text: str) -> ChatMessage:
    """The operator replies to the card with a draft: the bot's answer under the reply."""
    card = await h.card(INTAKE, case_id)
    reply = await h.send(INTAKE, OPERATOR, text, reply_to=card.message_id)
    return h.answer_to(reply)


async def test_a_draft_without_greeting_is_held_and_sent_anyway_after_a_restart(h: Harness) -> None:
    case_id = await routed(h)
    before = await h.services.case(case_id)
    held = await submit(h, case_id, NO_GREETING)
    shown = visible_text(held)
    assert shown.startswith(f"Проект ответа по сообщению № {case_id} не отправлен — проверка нашла:")
    assert f"• {FINDING}" in shown
    assert labels(held) == [texts.BTN_SUBMIT_ANYWAY, texts.BTN_FIX_DRAFT]
    case = await h.services.case(case_id)
    assert (case.status, case.draft_held, case.draft_version) == (Status.IN_UNITS.value, True, 0)
    assert case.version == before.version + 1
    assert REGION not in await posted(h, case_id)  # nothing reached the curator
    assert "⏸ Проект ответа задержан проверкой: " + FINDING.rstrip(".") in visible_text(await h.card(INTAKE, case_id))

    # The hold is in the database, not in memory: a fresh set of use cases (a restarted bot) sends it.
    fresh = Services(repo=h.repo, clock=h.clock, calendar=h.calendar, rules=h.rules, notifier=h.delivery)
    h.dp.workflow_data["services"] = fresh
    anyway = button(held, texts.BTN_SUBMIT_ANYWAY)
    assert await h.press(INTAKE, OPERATOR, held.message_id, anyway) == texts.DONE_BY_ACTION["submit"]
    case = await fresh.case(case_id)
    assert (case.status, case.draft_held, case.draft_version) == (Status.ON_APPROVAL.value, False, 1)
    answered = h.emu.message(INTAKE, held.message_id)
    assert answered.buttons == [] and visible_text(answered).endswith(texts.DRAFT_SENT_ANYWAY_LINE)
    assert visible_text(answered).startswith(f"Проект ответа по сообщению № {case_id} не отправлен")
    assert answered.text is not None and "<b>Проект ответа" in answered.text  # its own formatting kept

    region = await h.card(REGION, case_id)
    text = visible_text(region)
    assert NO_GREETING in text and labels(region)[0] == texts.BTN_APPROVE
    assert text.endswith(f"Проверка проекта ответа:\n• {FINDING}")  # right above «Согласовать»
    assert "отправлен, несмотря на замечания проверки" in text

    # A second press: the domain's own answer, nothing changes.
    assert await h.press(INTAKE, OPERATOR, held.message_id, anyway) == "Проект уже направлен на согласование"
    assert (await fresh.case(case_id)).version == case.version


async def test_fix_withdraws_the_held_draft_and_a_corrected_one_goes_straight(h: Harness) -> None:
    case_id = await routed(h)
    held = await submit(h, case_id, NO_GREETING)
    anyway, fix = button(held, texts.BTN_SUBMIT_ANYWAY), button(held, texts.BTN_FIX_DRAFT)
    # Nobody but who may submit answers the question: a unit official's press is refused.
    refused = await h.press(INTAKE, HOUSING_MAN, held.message_id, fix)
    assert refused is not None and refused.startswith("Недостаточно прав")

    assert await h.press(INTAKE, OPERATOR, held.message_id, fix) == texts.DRAFT_WITHDRAWN.format(case_id=case_id)
    assert visible_text(h.emu.message(INTAKE, held.message_id)).endswith(texts.DRAFT_WITHDRAWN_LINE)
    case = await h.services.case(case_id)
    assert (case.status, case.draft_held) == (Status.IN_UNITS.value, False)
    shown = visible_text(await h.card(INTAKE, case_id))
    assert "⏸" not in shown and "задержанный проект ответа отозван на исправление" in shown
    # The withdrawn draft can no longer be sent: the old buttons change nothing.
    assert await h.press(INTAKE, OPERATOR, held.message_id, anyway) == STALE_CARD
    assert await h.press(INTAKE, OPERATOR, held.message_id, fix) == STALE_CARD
    assert (await h.services.case(case_id)).version == case.version

    answer = await submit(h, case_id, GREETED)
    assert visible_text(answer) == texts.DONE_BY_ACTION["submit"] and answer.buttons == []
    case = await h.services.case(case_id)
    assert (case.status, case.draft_version) == (Status.ON_APPROVAL.value, 1)
    text = visible_text(await h.card(REGION, case_id))
    assert GREETED in text and "Проверка проекта ответа" not in text


async def test_a_held_draft_is_replaced_by_the_next_reply(h: Harness) -> None:
    case_id = await routed(h)
    await submit(h, case_id, NO_GREETING)
    await submit(h, case_id, "Ты подожди, разберёмся")  # held again, with its own findings
    view = await h.services.card_view(case_id)
    held = [e for e in view.events if e.action == "draft_held"]
    assert len(held) == 2 and {f.code for f in checks_of(held[-1])} >= {"no_greeting", "familiar"}
    answer = await submit(h, case_id, GREETED)
    assert visible_text(answer) == texts.DONE_BY_ACTION["submit"]
    case = await h.services.case(case_id)
    assert (case.draft_held, case.draft_version) == (False, 1)
    assert "Проверка проекта ответа" not in visible_text(await h.card(REGION, case_id))


async def test_the_same_reply_handled_twice_holds_once(h: Harness) -> None:
    """A re-handled update (the inbox) must not hold the draft twice or answer twice."""
    case_id = await routed(h)
    operator = h.dp.workflow_data["directory"].actor(OPERATOR)
    payload = ActionPayload(text=NO_GREETING, origin="telegram:-1001:777")
    first = await h.services.act(case_id, Action.SUBMIT, operator, payload=payload, review=True)
    again = await h.services.act(case_id, Action.SUBMIT, operator, payload=payload, review=True)
    assert [f.code for f in first.held] == ["no_greeting"] and not first.replayed
    assert again.replayed and again.held == () and again.case.version == first.case.version
    view = await h.services.card_view(case_id)
    assert [e.action for e in view.events].count("draft_held") == 1
    # Without review (another path: the simulator, a script) the draft goes, its findings recorded for the curator.
    done = await h.services.act(case_id, Action.SUBMIT, operator, payload=ActionPayload(text=NO_GREETING))
    assert done.case.status == Status.ON_APPROVAL.value and not done.held
    submitted = (await h.services.card_view(case_id)).events[-1]
    assert submitted.data["checks"] == [{"code": "no_greeting", "text": FINDING}] and "anyway" not in submitted.data


async def test_the_card_answers_a_held_draft_too(h: Harness) -> None:
    """The reply with the findings may be lost (a crash before it went): the card itself offers both answers."""
    case_id = await routed(h)
    await submit(h, case_id, NO_GREETING)
    card = await h.card(INTAKE, case_id)
    assert labels(card)[:2] == [texts.BTN_SUBMIT_ANYWAY, texts.BTN_FIX_DRAFT]
    assert texts.BTN_SUBMIT_ANYWAY not in labels(await h.card(OFFICE, case_id))  # only where it may be submitted
    answer = await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_SUBMIT_ANYWAY))
    assert answer == texts.DONE_BY_ACTION["submit"]
    card = await h.card(INTAKE, case_id)
    assert card.buttons and texts.BTN_SUBMIT_ANYWAY not in labels(card)  # redrawn for the new state, not wiped
    assert (await h.services.case(case_id)).status == Status.ON_APPROVAL.value
