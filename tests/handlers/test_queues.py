"""Close, reopen and undo from Telegram, /my for every role, /case by number / ПОС number / link, /find:
through the real Dispatcher, refusals included (issue 10, items 5 and 6)."""

from __future__ import annotations

from datetime import timedelta

from tests.handlers.conftest import (
    OFFICE,
    OFFICE_HEAD,
    OPERATOR,
    Harness,
    button,
    labels,
)
from views import texts
from workflow.lifecycle import Action, ActionPayload, Status
from workflow.model import InboundMessage, Procedure, Source


async def _os_case(
    h: Harness, text: str = "Яма на дороге у школы", link: str = "", source_id: str = "1"
) -> int:
    operator = h.dp.workflow_data["directory"].actor(OPERATOR)
    message = InboundMessage(
        Source.VK, source_id, Procedure.OPEN_SOURCES, text, h.clock.now(), author="Пётр", link=link
    )
    return (await h.services.register(message, operator)).case.id


async def _status(h: Harness, case_id: int) -> str:
    return (await h.services.case(case_id)).status


async def test_close_reopen_by_command_and_refusals(h: Harness) -> None:
    case_id = await _os_case(h)
    await h.send(OPERATOR, OPERATOR, f"/close {case_id} дубль")
    assert h.texts(OPERATOR)[-1].startswith("Недостаточно прав: закрыть сообщение может только")
    await h.send(OFFICE_HEAD, OFFICE_HEAD, f"/close {case_id}")
    assert h.texts(OFFICE_HEAD)[-1] == "Укажите причину закрытия"
    for garbage in ("", "abc", "0", "99999999999999999999999", "١٢"):
        await h.send(OFFICE_HEAD, OFFICE_HEAD, f"/close {garbage} причина")
        assert h.texts(OFFICE_HEAD)[-1] == texts.CLOSE_USAGE, garbage
    await h.send(OFFICE_HEAD, OFFICE_HEAD, "/close 777 причина")
    assert h.texts(OFFICE_HEAD)[-1] == texts.CASE_NOT_FOUND
    assert await _status(h, case_id) == Status.NEW
    await h.send(OFFICE_HEAD, OFFICE_HEAD, f"/close {case_id} дубль сообщения № 3")
    assert h.texts(OFFICE_HEAD)[-1] == texts.DONE_BY_ACTION["close"]
    assert await _status(h, case_id) == Status.CLOSED
    await h.send(OFFICE_HEAD, OFFICE_HEAD, f"/close {case_id} ещё раз")
    assert h.texts(OFFICE_HEAD)[-1] == "Сообщение уже закрыто"

    await h.send(OFFICE_HEAD, OFFICE_HEAD, f"/reopen {case_id}")
    assert h.texts(OFFICE_HEAD)[-1] == "Укажите причину возобновления"
    await h.send(OPERATOR, OPERATOR, f"/reopen {case_id} надо")
    assert h.texts(OPERATOR)[-1].startswith("Недостаточно прав")
    await h.send(OFFICE_HEAD, OFFICE_HEAD, "/reopen")
    assert h.texts(OFFICE_HEAD)[-1] == texts.REOPEN_USAGE
    await h.send(OFFICE_HEAD, OFFICE_HEAD, f"/reopen {case_id} автор уточнил вопрос")
    assert h.texts(OFFICE_HEAD)[-1] == texts.DONE_BY_ACTION["reopen"]
    assert await _status(h, case_id) == Status.NEW
    async with h.repo.transaction() as tx:
        assert {t.term_id for t in await tx.terms(case_id)} == {
            "os.return",
            "os.route",
            "os.publish",
            "os.draft",
        }


async def test_close_button_on_the_office_head_card_asks_for_the_reason(h: Harness) -> None:
    case_id = await _os_case(h)
    operator = h.dp.workflow_data["directory"].actor(OPERATOR)
    await h.services.act(case_id, Action.ROUTE, operator, payload=ActionPayload(units=("housing",)))
    await h.delivery.settle()
    card = await h.card(OFFICE, case_id)  # the routing waits for him: his card
    assert texts.BTN_CLOSE in labels(card)
    answer = await h.press(OFFICE, OFFICE_HEAD, card.message_id, button(card, texts.BTN_CLOSE))
    assert answer == texts.PROMPT_SENT
    assert await _status(h, case_id) == Status.ROUTING_PROPOSED  # one click never ends a case
    prompt = h.emu.sent(OFFICE)[-1]
    # Someone else's press of his button: refused, nothing changed.
    refused = await h.press(OFFICE, OPERATOR, card.message_id, button(card, texts.BTN_CLOSE))
    assert refused is not None and refused.startswith("Недостаточно прав")
    await h.send(OFFICE, OFFICE_HEAD, "Дубль сообщения № 2", reply_to=prompt.message_id)
    assert await _status(h, case_id) == Status.CLOSED
    card = await h.card(OFFICE, case_id)
    assert labels(card) == []


async def test_undo_by_author_within_the_window_and_refusals(h: Harness) -> None:
    case_id = await _os_case(h)
    operator = h.dp.workflow_data["directory"].actor(OPERATOR)
    await h.services.act(case_id, Action.ROUTE, operator, payload=ActionPayload(units=("housing",)))
    assert await _status(h, case_id) == Status.ROUTING_PROPOSED

    await h.send(OFFICE_HEAD, OFFICE_HEAD, f"/undo {case_id}")
    assert h.texts(OFFICE_HEAD)[-1] == "Отменить действие может только тот, кто его выполнил"
    await h.send(OPERATOR, OPERATOR, "/undo")
    assert h.texts(OPERATOR)[-1] == texts.UNDO_USAGE
    await h.send(OPERATOR, OPERATOR, "/undo ²")
    assert h.texts(OPERATOR)[-1] == texts.UNDO_USAGE
    await h.send(OPERATOR, OPERATOR, "/undo 9223372036854775808")
    assert h.texts(OPERATOR)[-1] == texts.UNDO_USAGE
    assert await _status(h, case_id) == Status.ROUTING_PROPOSED

    h.clock.advance(timedelta(minutes=3))
    await h.send(OPERATOR, OPERATOR, f"/undo {case_id}")
    assert h.texts(OPERATOR)[-1] == texts.UNDONE.format(case_id=case_id, status=Status.NEW.label)
    assert await _status(h, case_id) == Status.NEW
    card = await h.card(OFFICE, case_id)
    assert texts.BTN_APPROVE_ROUTING not in labels(card)  # his card no longer offers the approval
    await h.send(OPERATOR, OPERATOR, f"/undo {case_id}")
    assert h.texts(OPERATOR)[-1] == "Последнее действие уже отменено"

    await h.services.act(case_id, Action.ROUTE, operator, payload=ActionPayload(units=("housing",)))
    h.clock.advance(timedelta(minutes=6))
    await h.send(OPERATOR, OPERATOR, f"/undo {case_id}")
    assert h.texts(OPERATOR)[-1] == "Отменить действие можно только в течение 5 мин после него"
    assert await _status(h, case_id) == Status.ROUTING_PROPOSED
