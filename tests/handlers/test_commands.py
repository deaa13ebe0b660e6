"""Commands and menus."""

from __future__ import annotations

from emulators.telegram import visible_text
from handlers.commands import commands_for, set_commands
from tests.handlers.conftest import (
    CURATOR,
    HOUSING_MAN,
    OFFICE_HEAD,
    OPERATOR,
    POS_CURATOR,
    STRANGER,
    Harness,
    make_directory,
)
from views import texts


async def test_start_and_help(h: Harness) -> None:
    await h.send(STRANGER, STRANGER, "/start")
    assert h.texts(STRANGER)[0].startswith(f"{texts.NOT_REGISTERED}\nВаш id: {STRANGER}.")
    await h.send(OPERATOR, OPERATOR, "/start")
    assert "уполномоченное лицо управления делами" in h.texts(OPERATOR)[-1]
    await h.send(HOUSING_MAN, HOUSING_MAN, "/help")
    help_text = h.texts(HOUSING_MAN)[-1]
    assert (
        texts.HELP_BY_ROLE[next(iter(sorted(h.dp.workflow_data["directory"].actor(HOUSING_MAN).roles)))]
        in help_text
    )
    assert "/my" in help_text


async def test_my_overdue_case_and_term(h: Harness) -> None:
    await h.intake("Сообщение о мусоре", "curator")
    await h.send(OPERATOR, OPERATOR, "/my")
    mine = h.texts(OPERATOR)[-1]
    assert "№ 1 · Возврат куратору ЦУР" in mine and "до 02.03.2026 10:30" in mine
    assert mine.index("10:30") < mine.index("11:00")  # nearest first
    await h.send(CURATOR, CURATOR, "/my")
    assert h.texts(CURATOR)[-1] == texts.MY_EMPTY

    await h.send(OPERATOR, OPERATOR, "/overdue")
    assert h.texts(OPERATOR)[-1] == texts.OVERDUE_EMPTY
    h.clock.advance(__import__("datetime").timedelta(hours=2))
    await h.send(OPERATOR, OPERATOR, "/overdue")
    overdue = h.texts(OPERATOR)[-1]
    # os.return (due 10:30) is return-only: its lapse is no overdue (RULES.md §6); os.route (11:00) is.
    assert "Возврат куратору ЦУР" not in overdue and "просрочено на 1 ч" in overdue

    await h.send(OPERATOR, OPERATOR, "/case 1")
    card, history = h.emu.sent(OPERATOR)[-2:]
    assert "Сообщение № 1" in visible_text(card) and "Сообщение о мусоре" in visible_text(card)
    assert "История" in visible_text(history)
    await h.send(OPERATOR, OPERATOR, "/case 77")
    assert h.texts(OPERATOR)[-1] == "Сообщение не найдено."
    await h.send(OPERATOR, OPERATOR, "/case abc")
    assert h.texts(OPERATOR)[-1] == texts.CASE_USAGE

    await h.send(OPERATOR, OPERATOR, "/term os.publish 2026-03-02T10:00")
    assert "до 03.03.2026 11:00" in h.texts(OPERATOR)[-1]
    await h.send(OPERATOR, OPERATOR, "/term pos.answer 02.03.2026 10:00")
    assert h.texts(OPERATOR)[-1].startswith("Для этого срока укажите категорию")
    await h.send(OPERATOR, OPERATOR, "/term pos.answer 2026-03-02T10:00 federal_fast")
    assert "до 10.03.2026 18:00" in h.texts(OPERATOR)[-1]
    await h.send(OPERATOR, OPERATOR, "/term nope")
    assert h.texts(OPERATOR)[-1].startswith("Неизвестный срок")
    await h.send(OPERATOR, OPERATOR, "/term os.route вчера")
    assert h.texts(OPERATOR)[-1].startswith("Не понял время")


async def test_set_commands_per_person(h: Harness) -> None:
    directory = make_directory(dict(h.rules.units))
    await set_commands(h.bot, directory.staff)
    scope = {"type": "chat", "chat_id": POS_CURATOR}
    assert [c["command"] for c in h.emu.get_commands(scope)] == [
        "start",
        "help",
        "id",
        "my",
        "case",
        "find",
        "overdue",
        "term",
        "undo",
        "pos",
        "report",
        "cancel",
    ]
    office_head = [c.command for c in commands_for(directory.actor(OFFICE_HEAD))]
    assert office_head[-4:] == ["close", "reopen", "report", "cancel"]  # POSDLG: /cancel is last for everyone
    assert "pos" not in [c.command for c in commands_for(directory.actor(OPERATOR))]
    assert "report" not in [c.command for c in commands_for(directory.actor(OPERATOR))]  # issue 14: no right
    assert [c["command"] for c in h.emu.get_commands()] == ["start", "help", "id"]
