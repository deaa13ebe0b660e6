"""«От ЦУР» in the intake chat merges with what a channel already took in (issue 12 item 2), through the real
Dispatcher: a VK comment taken in by itself, then the region curator's IM card with its link — one case, T0 at the
ЦУР detection time, the same term rows re-timed, the card showing the IM card's number and who handed it over."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from channels.links import LinkBook
from emulators.telegram import visible_text
from tests.handlers.conftest import CURATOR, INTAKE, MONDAY_10, NSK, OFFICE_HEAD, OPERATOR, Harness, button
from views import texts
from workflow.lifecycle import Action, ActionPayload
from workflow.model import Actor, ChannelItem, ItemKind, Network, Role, Source, Term

LINK = "https://vk.com/wall-123_456?reply=789"
KEY = "-123_789"


def at(h: int, m: int, day: int = 2) -> datetime:
    return datetime(2026, 3, day, h, m, tzinfo=NSK)


@pytest.fixture(autouse=True)
def connected(h: Harness) -> None:
    h.dp.workflow_data["links"] = LinkBook(connected=frozenset({Network.VK}))


async def take_in(h: Harness) -> int:
    item = ChannelItem(network=Network.VK, key=KEY, kind=ItemKind.NEW, seen_at=h.clock.now(),
                       text="Яма у школы № 2", author="Пётр Смирнов", author_id=77, link=LINK)  # fmt: skip
    outcome = await h.services.take_in(item)
    assert outcome is not None and outcome.created
    await h.delivery.settle()
    return outcome.case.id


async def open_terms(h: Harness, case_id: int) -> dict[str, Term]:
    async with h.repo.transaction() as tx:
        return {t.term_id: t for t in await tx.terms(case_id)}


async def all_cases(h: Harness) -> list[int]:
    async with h.repo.transaction() as tx:
        return [c.id for c in await tx.cases(open_only=False)]


async def test_an_im_card_of_a_vk_comment_taken_in_attaches_to_its_case(h: Harness) -> None:
    case_id = await take_in(h)
    before = await open_terms(h, case_id)
    assert before["os.route"].due == at(11, 0)

    h.clock.advance(timedelta(minutes=20))
    card = f"Инцидент № 48213\nКомментарий: {LINK}\nВыявлено: 02.03.2026 09:40\nКуратор: Иванов И. И."
    msg = await h.send(INTAKE, OPERATOR, card)

    answer = h.answer_to(msg)
    assert visible_text(answer) == (
        f"Присоединено к сообщению № {case_id} (срок пересчитан от ЦУР: выявлено 02.03.2026 09:40)"
    )
    assert answer.buttons == []
    assert await all_cases(h) == [case_id]  # one case
    case = await h.services.case(case_id)
    assert (case.t0, case.received_at, case.handed_over, case.detection_stated) == (
        at(9, 40),
        MONDAY_10,
        True,
        True,
    )
    after = await open_terms(h, case_id)
    assert {t: (after[t].id, after[t].started_at, after[t].due) for t in after} == {
        "os.return": (before["os.return"].id, at(9, 40), at(10, 10)),
        "os.route": (before["os.route"].id, at(9, 40), at(10, 40)),
        "os.publish": (before["os.publish"].id, at(9, 40), at(10, 40, day=3)),
        "os.draft": (before["os.draft"].id, at(9, 40), at(17, 40)),
    }
    shown = visible_text(await h.card(INTAKE, case_id))
    for line in (
        "Источник: от куратора ЦУР, ВКонтакте",
        "Карточка ЦУР № 48213",
        "Передал: Иванов И. И.",
        "Выявлено ЦУР: 02.03.2026 09:40",
        "Поступило в администрацию: 02.03.2026 10:00",
    ):
        assert line in shown, line

    # The same update handled again (the inbox): nothing more, no second reply.
    replies = len(h.emu.sent(INTAKE))
    version = case.version
    await h._feed(h.emu.pending_updates[-1] | {"update_id": 10_000_000})
    assert len(h.emu.sent(INTAKE)) == replies
    assert (await h.services.case(case_id)).version == version


async def test_a_curators_link_without_a_detection_time_attaches_on_the_press(h: Harness) -> None:
    case_id = await take_in(h)
    h.clock.advance(timedelta(minutes=5))
    msg = await h.send(INTAKE, CURATOR, f"Передаю: {LINK}")
    question = h.answer_to(msg)
    await h.press(INTAKE, CURATOR, question.message_id, button(question, "✅ " + texts.BTN_INTAKE["curator"]))
    edited = visible_text(h.emu.message(INTAKE, question.message_id))
    assert edited == (
        f"Присоединено к сообщению № {case_id} (время выявления ЦУР не указано: срок не изменён) (Сотрудник {CURATOR})"
    )
    assert await all_cases(h) == [case_id]
    case = await h.services.case(case_id)
    assert (case.t0, case.handed_over, case.cur_curator) == (MONDAY_10, True, f"Сотрудник {CURATOR}")


async def test_a_hand_over_of_a_finished_case_says_so_and_registers_nothing(h: Harness) -> None:
    case_id = await take_in(h)
    head = Actor(user_id=OFFICE_HEAD, roles=frozenset({Role.OFFICE_HEAD}), name="Начальник")
    await h.services.act(case_id, Action.CLOSE, head, payload=ActionPayload(reason="Дубль"))
    version = (await h.services.case(case_id)).version
    h.clock.advance(timedelta(minutes=20))
    msg = await h.send(INTAKE, OPERATOR, f"{LINK}\nВыявлено: 02.03.2026 09:40")
    assert f"Это сообщение уже есть: № {case_id}, работа по нему завершена" in visible_text(h.answer_to(msg))
    assert await all_cases(h) == [case_id]
    case = await h.services.case(case_id)
    assert (case.version, case.status, case.handed_over) == (version, "closed", False)


async def test_a_link_to_a_network_not_connected_registers_and_says_so(h: Harness) -> None:
    msg = await h.send(
        INTAKE, OPERATOR, "https://ok.ru/group/1/topic/2?commentId=3\nВыявлено: 02.03.2026 09:40"
    )
    lines = visible_text(h.answer_to(msg)).split("\n")
    assert lines == [
        "Зарегистрировано: сообщение № 1 · от куратора ЦУР, выявлено 02.03.2026 09:40",
        "Сеть «Одноклассники» не подключена к «Отклику»: сообщение зарегистрировано по пересланному тексту.",
    ]
    assert await h.services.registered(Source.INTAKE, f"{INTAKE}:{msg.message_id}") == 1
    assert (await h.services.case(1)).handed_over


async def test_a_new_case_keeps_the_im_card_number_and_shows_it(h: Harness) -> None:
    """No case has the item: registered exactly as today, with the IM card's number on the card."""
    msg = await h.send(
        INTAKE, OPERATOR, f"Инцидент № 777\n{LINK}\nВыявлено: 02.03.2026 09:40\nКуратор: Петров"
    )
    assert visible_text(h.answer_to(msg)).startswith("Зарегистрировано: сообщение № 1 · от куратора ЦУР")
    case = await h.services.case(1)
    assert (case.t0, case.cur_number, case.cur_curator) == (at(9, 40), "777", "Петров")
    shown = visible_text(await h.card(INTAKE, 1))
    assert "Карточка ЦУР № 777" in shown and "Передал: Петров" in shown


async def test_a_telegram_channel_comment_link_finds_the_comment_taken_in(h: Harness) -> None:
    """t.me/<channel>/<post>?comment=<id> names the channel; the comment lives in its discussion group."""
    group = -1009876543210
    h.dp.workflow_data["links"] = LinkBook(
        connected=frozenset({Network.TELEGRAM}),
        telegram_usernames=frozenset({"rayon_official"}),
        telegram_channel_id=-1001234567890,
        telegram_group_id=group,
    )
    item = ChannelItem(network=Network.TELEGRAM, key=f"{group}:301", kind=ItemKind.NEW, seen_at=h.clock.now(),
                       text="Когда починят свет?", author="Анна", author_id=501,
                       link="https://t.me/rayon_official/15?comment=301")  # fmt: skip
    taken = await h.services.take_in(item)
    assert taken is not None
    await h.delivery.settle()
    h.clock.advance(timedelta(minutes=10))
    msg = await h.send(
        INTAKE,
        OPERATOR,
        "Инцидент № 9\nhttps://t.me/rayon_official/15?comment=301\nВыявлено: 02.03.2026 09:55",
    )
    assert visible_text(h.answer_to(msg)) == (
        f"Присоединено к сообщению № {taken.case.id} (срок пересчитан от ЦУР: выявлено 02.03.2026 09:55)"
    )
    assert await all_cases(h) == [taken.case.id]


async def test_a_second_hand_over_of_the_same_comment_says_so_and_changes_nothing(h: Harness) -> None:
    case_id = await take_in(h)
    h.clock.advance(timedelta(minutes=20))
    await h.send(INTAKE, OPERATOR, f"Инцидент № 1\n{LINK}\nВыявлено: 02.03.2026 09:40")
    version = (await h.services.case(case_id)).version
    msg = await h.send(INTAKE, OPERATOR, f"Инцидент № 2\n{LINK}\nВыявлено: 02.03.2026 09:30")
    answer = h.answer_to(msg)
    assert visible_text(answer) == f"Сообщение № {case_id} уже передано куратором ЦУР: ничего не изменено"
    assert answer.buttons == []
    case = await h.services.case(case_id)
    assert (case.version, case.t0, case.cur_number) == (version, at(9, 40), "1")
    assert await all_cases(h) == [case_id]


async def test_the_press_on_a_finished_cases_link_says_so_in_the_question(h: Harness) -> None:
    case_id = await take_in(h)
    head = Actor(user_id=OFFICE_HEAD, roles=frozenset({Role.OFFICE_HEAD}), name="Начальник")
    await h.services.act(case_id, Action.CLOSE, head, payload=ActionPayload(reason="Дубль"))
    msg = await h.send(INTAKE, CURATOR, f"Передаю: {LINK}")
    question = h.answer_to(msg)
    toast = await h.press(
        INTAKE, CURATOR, question.message_id, button(question, "✅ " + texts.BTN_INTAKE["curator"])
    )
    assert toast is not None and toast.startswith(f"Это сообщение уже есть: № {case_id}")
    assert visible_text(h.emu.message(INTAKE, question.message_id)) == toast
    assert await all_cases(h) == [case_id]
