"""Close, reopen and undo from Telegram, /my for every role, /case by number / ПОС number / link, /find:
through the real Dispatcher, refusals included (issue 10, items 5 and 6)."""

from __future__ import annotations

from datetime import timedelta

from tests.handlers.conftest import (
    CURATOR,
    EDUCATION_MAN,
    HOUSING_MAN,
    OFFICE,
    OFFICE_HEAD,
    OPERATOR,
    POS_CURATOR,
    Harness,
    button,
    labels,
)
from views import texts
from workflow.lifecycle import Action, ActionPayload, Status
from workflow.model import Actor, InboundMessage, Procedure, Role, Source
from workflow.search import FIND_LIMIT

COORDINATOR = 31
POST = "https://vk.com/wall-123_4567?reply=8910"


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


# --- /my for every role -------------------------------------------------------------------------------------


def _actor(h: Harness, user_id: int) -> Actor:
    actor = h.dp.workflow_data["directory"].actor(user_id)
    assert actor is not None
    return actor


def _with_coordinator(h: Harness) -> Actor:
    """The ПОС coordinator joins the staff (the harness's directory has none)."""
    coordinator = Actor(COORDINATOR, frozenset({Role.COORDINATOR}), name="Координатор Иванова")
    h.dp.workflow_data["directory"].staff[COORDINATOR] = coordinator
    h.emu.add_user(COORDINATOR, "Координатор")
    return coordinator


async def _pos_case(h: Harness, number: str = "4512345", text: str = "Не вывозят мусор") -> int:
    message = InboundMessage(
        Source.POS, number, Procedure.POS, text, h.clock.now(), external_number=number, category="local_fast"
    )
    return (await h.services.register(message, _actor(h, POS_CURATOR))).case.id


async def _my(h: Harness, user_id: int) -> str:
    await h.send(user_id, user_id, "/my")
    return h.texts(user_id)[-1]


def _title(h: Harness, term_id: str) -> str:
    return h.rules.term(term_id).title


async def test_my_lists_for_every_role_what_waits_for_him_approvals_included(h: Harness) -> None:
    case_id = await _os_case(h)
    assert f"№ {case_id} · {_title(h, 'os.route')}" in await _my(h, OPERATOR)
    assert await _my(h, OFFICE_HEAD) == texts.MY_EMPTY

    # The routing proposed: os.route waits for the office head's approval, no longer for the operator.
    await h.services.act(
        case_id, Action.ROUTE, _actor(h, OPERATOR), payload=ActionPayload(units=("housing",))
    )
    head = await _my(h, OFFICE_HEAD)
    assert head.startswith("Мои сроки") and f"№ {case_id} · {_title(h, 'os.route')}" in head
    assert _title(h, "os.route") not in await _my(h, OPERATOR)
    assert await _my(h, HOUSING_MAN) == texts.MY_EMPTY

    await h.services.act(case_id, Action.APPROVE_ROUTING, _actor(h, OFFICE_HEAD))
    assert await _my(h, OFFICE_HEAD) == texts.MY_EMPTY
    assert f"№ {case_id} · {_title(h, 'os.unit_info')}" in await _my(h, HOUSING_MAN)
    assert await _my(h, EDUCATION_MAN) == texts.MY_EMPTY  # another unit's term is not his

    await h.services.act(case_id, Action.SUBMIT, _actor(h, OPERATOR), payload=ActionPayload(text="Починим"))
    assert f"№ {case_id} · {_title(h, 'os.approve')}" in await _my(h, CURATOR)


async def test_my_of_the_pos_curator_executor_and_coordinator_nearest_due_first(h: Harness) -> None:
    coordinator = _with_coordinator(h)
    pos_id = await _pos_case(h)
    curator = await _my(h, POS_CURATOR)
    route, answer = f"№ {pos_id} · {_title(h, 'pos.route')}", f"№ {pos_id} · {_title(h, 'pos.answer')}"
    assert route in curator and answer in curator
    assert curator.index(route) < curator.index(answer)  # an hour's term before a days' one
    assert "раб. дн." in curator.splitlines()[-1]  # a long rest reads in working days
    assert await _my(h, COORDINATOR) == texts.MY_EMPTY  # nothing is his to post yet

    await h.services.act(
        pos_id, Action.ROUTE, _actor(h, POS_CURATOR), payload=ActionPayload(units=("housing",))
    )
    executor = await _my(h, HOUSING_MAN)
    assert f"№ {pos_id} · {_title(h, 'pos.draft')}" in executor
    assert await _my(h, EDUCATION_MAN) == texts.MY_EMPTY
    housing = _actor(h, HOUSING_MAN)
    await h.services.act(
        pos_id, Action.SUBMIT, housing, payload=ActionPayload(text="Вывезем", unit="housing")
    )
    assert f"№ {pos_id} · {_title(h, 'pos.approve')}" in await _my(h, POS_CURATOR)
    assert await _my(h, COORDINATOR) == texts.MY_EMPTY  # approval pending: not to post yet

    await h.services.act(pos_id, Action.APPROVE, _actor(h, POS_CURATOR))
    posting = await _my(h, COORDINATOR)
    assert posting.startswith("Мои сроки") and answer in posting and "раб. дн." in posting
    assert answer in await _my(h, POS_CURATOR)  # the curator, who holds the term, still sees it
    # The coordinator posts it: gone from both queues.
    await h.services.act(pos_id, Action.PUBLISH, coordinator, payload=ActionPayload(link="https://pos"))
    assert await _my(h, COORDINATOR) == texts.MY_EMPTY
    assert answer not in await _my(h, POS_CURATOR)


# --- /case by number, ПОС number, link ----------------------------------------------------------------------


def _is_card(text: str, case_id: int) -> bool:
    return text.startswith(f"Сообщение № {case_id}")


async def _case(h: Harness, user_id: int, argument: str) -> list[str]:
    before = len(h.emu.sent(user_id))
    await h.send(user_id, user_id, f"/case {argument}")
    return h.texts(user_id)[before:]


async def test_case_by_pos_number_and_by_link_of_the_message_or_the_answer(h: Harness) -> None:
    os_id = await _os_case(h, link=POST)
    pos_id = await _pos_case(h)
    assert _is_card((await _case(h, OPERATOR, "4512345"))[0], pos_id)
    assert _is_card((await _case(h, OPERATOR, "ПОС 4512345"))[0], pos_id)
    for link in (POST, "vk.com/wall-123_4567?reply=8910", "https://m.vk.com/wall-123_4567?reply=8910#x"):
        assert _is_card((await _case(h, OPERATOR, link))[0], os_id), link
    assert await _case(h, OPERATOR, "https://vk.com/wall-123_4567") == [texts.CASE_NOT_FOUND]  # the post
    assert await _case(h, OPERATOR, "4512346") == [texts.CASE_NOT_FOUND]
    assert _is_card((await _case(h, OPERATOR, f"№{os_id}"))[0], os_id)

    # The published answer's link finds its case too.
    answered = await _os_case(h, "Нет света", source_id="2")
    await h.services.act(
        answered, Action.ROUTE, _actor(h, OPERATOR), payload=ActionPayload(units=("housing",))
    )
    await h.services.act(answered, Action.APPROVE_ROUTING, _actor(h, OFFICE_HEAD))
    await h.services.act(answered, Action.SUBMIT, _actor(h, OPERATOR), payload=ActionPayload(text="Дадут"))
    await h.services.act(answered, Action.APPROVE, _actor(h, CURATOR))
    reply = "https://vk.com/wall-1_2?reply=3"
    payload = ActionPayload(link=reply, confirm=True)
    await h.services.act(answered, Action.PUBLISH, _actor(h, OPERATOR), payload=payload)
    assert _is_card((await _case(h, OPERATOR, reply))[0], answered)


async def test_a_number_both_a_case_number_and_a_pos_number_gets_a_choice(h: Harness) -> None:
    first = await _os_case(h, "Яма у школы")
    # ПОС numbers are digit strings: «0000{first}» is that ПОС number and, as a number, case № first.
    pos_id = await _pos_case(h, number=f"0000{first}", text="Не вывозят <мусор>")
    answers = await _case(h, OPERATOR, f"0000{first}")
    assert len(answers) == 1 and not _is_card(answers[0], first)
    lines = answers[0].splitlines()
    assert lines[0].startswith(f"«0000{first}» подходит к нескольким сообщениям")
    new = Status.NEW.label
    assert lines[1:] == [
        f"№ {pos_id} · ПОС 0000{first} · {new} · Не вывозят <мусор> — /case №{pos_id}",
        f"№ {first} · {new} · Яма у школы — /case №{first}",
    ]
    assert _is_card((await _case(h, OPERATOR, f"№{first}"))[0], first)  # the choice's hint opens it
    assert _is_card((await _case(h, OPERATOR, f"ПОС 0000{first}"))[0], pos_id)


async def test_case_refusals_say_one_line_and_never_leak_another_units_case(h: Harness) -> None:
    os_id = await _os_case(h, link=POST)
    await h.services.act(os_id, Action.ROUTE, _actor(h, OPERATOR), payload=ActionPayload(units=("housing",)))
    pos_id = await _pos_case(h)
    await h.services.act(
        pos_id, Action.ROUTE, _actor(h, POS_CURATOR), payload=ActionPayload(units=("housing",))
    )
    # Proposed to housing: its people see it by number, ПОС number and link; education's do not.
    assert _is_card((await _case(h, HOUSING_MAN, str(os_id)))[0], os_id)
    assert _is_card((await _case(h, HOUSING_MAN, "4512345"))[0], pos_id)
    for argument in (str(os_id), str(pos_id), "4512345", POST, f"№{os_id}"):
        assert await _case(h, EDUCATION_MAN, argument) == [texts.CASE_NOT_FOUND], argument
    for garbage in ("", "abc", "№", "ПОС", "-1", "１２", "DROP TABLE cases;", "х" * 10_000, "1" * 5_000):
        assert await _case(h, OPERATOR, garbage) == [texts.CASE_USAGE], garbage[:20]
    for impossible in ("0", "9223372036854775808", "99999999999999999999999", "ПОС 12"):
        assert await _case(h, OPERATOR, impossible) == [texts.CASE_NOT_FOUND], impossible


# --- /find --------------------------------------------------------------------------------------------------


async def _find(h: Harness, user_id: int, query: str) -> str:
    await h.send(user_id, user_id, f"/find {query}".rstrip())
    return h.texts(user_id)[-1]


async def test_find_folds_lists_newest_first_and_says_how_to_open(h: Harness) -> None:
    pit = await _os_case(h, "Яма на улице Ёлочной у школы № 5 <b>срочно</b>", link=POST)
    light = await _os_case(h, "Нет света на Школьной", source_id="2")
    pos_id = await _pos_case(h, text="Не вывозят мусор со ШКОЛЬНОГО двора")
    found = (await _find(h, OPERATOR, "школ")).splitlines()
    assert found[0] == "Найдено (сначала новые):"
    new = Status.NEW.label
    assert (
        found[1] == f"№ {pos_id} · ПОС 4512345 · {new} · Не вывозят мусор со ШКОЛЬНОГО двора — /case {pos_id}"
    )
    assert found[2] == f"№ {light} · {new} · Нет света на Школьной — /case {light}"
    assert found[3].startswith(f"№ {pit} · {new} · Яма на улице Ёлочной у школы № 5 <b>срочно</b>")
    assert len(found) == 4
    assert f"№ {pit} " in await _find(h, OPERATOR, "ЕЛОЧНОЙ")  # ё and case folded
    assert f"№ {pit} " in await _find(h, OPERATOR, "пётр")  # the author
    assert f"№ {pit} " in await _find(h, OPERATOR, "wall-123_4567")  # the link
    assert f"№ {pos_id} " in await _find(h, OPERATOR, "4512345")  # the ПОС number
    assert await _find(h, OPERATOR, "100%") == texts.FIND_NOTHING


async def test_find_refusals_and_what_a_unit_person_may_not_see(h: Harness) -> None:
    mine = await _os_case(h, "Течёт крыша в доме 3")
    other = await _os_case(h, "Течёт крыша в школе", source_id="2")
    await h.services.act(mine, Action.ROUTE, _actor(h, OPERATOR), payload=ActionPayload(units=("housing",)))
    await h.services.act(
        other, Action.ROUTE, _actor(h, OPERATOR), payload=ActionPayload(units=("education",))
    )
    housing = (await _find(h, HOUSING_MAN, "крыша")).splitlines()
    assert len(housing) == 2 and housing[1].startswith(f"№ {mine} ")
    assert await _find(h, HOUSING_MAN, "школе") == texts.FIND_NOTHING  # education's case: as if none
    assert len((await _find(h, OFFICE_HEAD, "крыша")).splitlines()) == 3
    for short in ("", "я", "  ", "%"):
        assert await _find(h, OPERATOR, short) == texts.FIND_USAGE, short
    too_long = texts.FIND_TOO_LONG.format(limit=FIND_LIMIT)
    assert await _find(h, OPERATOR, "крыша " * 2_000) == too_long  # 10 KB of text: one line
    assert await _find(h, OPERATOR, "к" * (FIND_LIMIT + 1)) == too_long
    assert await _find(h, OPERATOR, "к" * FIND_LIMIT) == texts.FIND_NOTHING


async def test_find_keeps_ten_newest_and_closed_cases_for_ninety_days(h: Harness) -> None:
    ids = [await _os_case(h, f"Мусор во дворе {n}", source_id=str(n)) for n in range(12)]
    found = (await _find(h, OPERATOR, "мусор")).splitlines()
    assert [line.split(" ")[1] for line in found[1:11]] == [str(i) for i in reversed(ids[2:])]
    assert found[11] == texts.FIND_MORE.format(count=10) and len(found) == 12

    closed = ids[-1]
    await h.send(OFFICE_HEAD, OFFICE_HEAD, f"/close {closed} дубль")
    assert f"№ {closed} · {Status.CLOSED.label}" in await _find(h, OPERATOR, "дворе 11")
    h.clock.advance(timedelta(days=89))
    assert f"№ {closed} " in await _find(h, OPERATOR, "дворе 11")
    h.clock.advance(timedelta(days=2))
    assert await _find(h, OPERATOR, "дворе 11") == texts.FIND_NOTHING
    assert f"№ {ids[0]} " in await _find(h, OPERATOR, "дворе 0")  # still open: found whatever its age


# --- /overdue -----------------------------------------------------------------------------------------------


async def test_overdue_of_unit_people_shows_their_units_cases_only(h: Harness) -> None:
    mine = await _os_case(h, "Нет света")
    other = await _os_case(h, "Нет воды", source_id="2")
    await h.services.act(mine, Action.ROUTE, _actor(h, OPERATOR), payload=ActionPayload(units=("housing",)))
    await h.services.act(
        other, Action.ROUTE, _actor(h, OPERATOR), payload=ActionPayload(units=("education",))
    )
    for user_id in (HOUSING_MAN, OPERATOR):
        await h.send(user_id, user_id, "/overdue")
        assert h.texts(user_id)[-1] == texts.OVERDUE_EMPTY
    h.clock.advance(timedelta(days=3))  # os.route and os.publish long past due
    await h.send(HOUSING_MAN, HOUSING_MAN, "/overdue")
    housing = h.texts(HOUSING_MAN)[-1]
    assert f"№ {mine} · " in housing and f"№ {other} · " not in housing
    await h.send(EDUCATION_MAN, EDUCATION_MAN, "/overdue")
    education = h.texts(EDUCATION_MAN)[-1]
    assert f"№ {other} · " in education and f"№ {mine} · " not in education
    await h.send(OPERATOR, OPERATOR, "/overdue")
    everyone = h.texts(OPERATOR)[-1]
    assert f"№ {mine} · " in everyone and f"№ {other} · " in everyone
