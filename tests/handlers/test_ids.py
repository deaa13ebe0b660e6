"""/id for anyone, a stranger's /start, the bot added to a group: the ids for config.toml and whether the bot
reads the group (administrator, or privacy mode off), through the real Dispatcher and the emulator."""

from __future__ import annotations

from aiogram.types import Update

from handlers.commands import commands_for
from tests.handlers.conftest import HOUSING_CHAT, INTAKE, OPERATOR, STRANGER, Harness
from views import texts

UNKNOWN_GROUP = -1009999


async def feed_last(h: Harness) -> None:
    update = Update.model_validate(h.emu.pending_updates[-1], context={"bot": h.bot})
    await h.dp.feed_update(h.bot, update)


async def test_a_strangers_start_and_id_in_private_give_his_id(h: Harness) -> None:
    await h.send(STRANGER, STRANGER, "/start")
    assert h.texts(STRANGER) == [f"{texts.NOT_REGISTERED}\nВаш id: {STRANGER}.\n{texts.ID_STRANGER}"]
    await h.send(STRANGER, STRANGER, "/id")
    assert h.texts(STRANGER)[-1] == f"Ваш id: {STRANGER}.\n{texts.ID_STRANGER}"
    # Anything else from him is refused as before.
    await h.send(STRANGER, STRANGER, "/my")
    assert h.texts(STRANGER)[-1] == texts.NOT_REGISTERED


async def test_staff_id_in_private_names_the_roles(h: Harness) -> None:
    await h.send(OPERATOR, OPERATOR, "/id")
    assert h.texts(OPERATOR) == [
        f"Ваш id: {OPERATOR}.\nВ настройках вы: Сотрудник {OPERATOR} — уполномоченное лицо управления делами."
    ]
    # The staff's own /start is unchanged.
    await h.send(OPERATOR, OPERATOR, "/start")
    assert h.texts(OPERATOR)[-1].startswith(f"Здравствуйте, Сотрудник {OPERATOR}!")


async def test_id_in_a_known_group_privacy_off(h: Harness) -> None:
    await h.send(INTAKE, STRANGER, "/id")  # a stranger (the IT administrator) may ask in a work group
    assert h.texts(INTAKE) == [
        f"Ваш id: {STRANGER}.\n"
        f"Этот чат: {INTAKE}, «Группа {INTAKE}».\n"
        "В настройках это чат: уполномоченное лицо управления делами.\n"
        f"{texts.ID_READS_OPEN}"
    ]
    await h.send(HOUSING_CHAT, OPERATOR, "/id@otklik_bot")
    answer = h.texts(HOUSING_CHAT)[-1]
    assert "В настройках это чат: подразделения: " in answer and h.rules.units["housing"] in answer


async def test_id_with_privacy_on_says_no_until_the_bot_is_an_administrator(h: Harness) -> None:
    h.emu.set_privacy_mode(True)
    # Privacy mode on: the operators' ordinary posts do not even reach the bot; /id does.
    before = len(h.emu.pending_updates)
    h.emu.push_message(INTAKE, OPERATOR, "Жалоба на мусор")
    h.emu.push_message(INTAKE, OPERATOR, "/id@another_bot")
    assert len(h.emu.pending_updates) == before
    await h.send(INTAKE, OPERATOR, "/id")
    assert h.texts(INTAKE)[-1].endswith(texts.ID_READS_NO)
    assert "нет" in texts.ID_READS_NO and "/setprivacy" in texts.ID_READS_NO

    update_id = h.emu.set_bot_status(INTAKE, "administrator", by_user_id=OPERATOR)
    assert h.emu.pending_updates[-1]["update_id"] == update_id
    await feed_last(h)
    promoted = h.texts(INTAKE)[-1]
    assert promoted.startswith(texts.ID_BOT_PROMOTED) and promoted.endswith(texts.ID_READS_ADMIN)
    await h.send(INTAKE, OPERATOR, "/id")
    assert h.texts(INTAKE)[-1].endswith(texts.ID_READS_ADMIN)
    h.emu.push_message(INTAKE, OPERATOR, "Жалоба на мусор")  # an administrator sees everything
    assert h.emu.pending_updates[-1]["message"]["text"] == "Жалоба на мусор"


async def test_an_unknown_group_is_answered_helpfully(h: Harness) -> None:
    h.emu.add_chat(UNKNOWN_GROUP, "group", title="Новый чат ЖКХ")
    h.emu.set_bot_status(UNKNOWN_GROUP, "left", by_user_id=STRANGER)
    h.emu.pending_updates.clear()
    # The bot added to a group the config does not know: it says so, with the id to put in config.toml.
    h.emu.set_bot_status(UNKNOWN_GROUP, "member", by_user_id=STRANGER)
    await feed_last(h)
    [added] = h.texts(UNKNOWN_GROUP)
    assert added == (
        f"{texts.ID_BOT_ADDED}\n"
        f"Этот чат: {UNKNOWN_GROUP}, «Новый чат ЖКХ».\n"
        f"{texts.ID_CHAT_UNKNOWN.format(chat_id=UNKNOWN_GROUP)}\n"
        f"{texts.ID_READS_OPEN}"
    )
    assert "этого чата нет в настройках" in added.lower()
    await h.send(UNKNOWN_GROUP, STRANGER, "/id")
    assert texts.ID_CHAT_UNKNOWN.format(chat_id=UNKNOWN_GROUP) in h.texts(UNKNOWN_GROUP)[-1]
    # A stranger's ordinary message or /start there is not answered (no passer-by gets a reply in public).
    sent = len(h.emu.sent(UNKNOWN_GROUP))
    await h.send(UNKNOWN_GROUP, STRANGER, "/start")
    await h.send(UNKNOWN_GROUP, STRANGER, "привет")
    assert len(h.emu.sent(UNKNOWN_GROUP)) == sent
    # Removed from the group: nothing to say, nothing sent.
    h.emu.set_bot_status(UNKNOWN_GROUP, "left", by_user_id=STRANGER)
    await feed_last(h)
    assert len(h.emu.sent(UNKNOWN_GROUP)) == sent


async def test_id_is_in_everyones_menu() -> None:
    assert [c.command for c in commands_for(None)] == ["start", "help", "id"]
