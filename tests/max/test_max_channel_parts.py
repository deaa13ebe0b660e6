"""The pure parts of MAX as a citizens' channel (issue 15 item 3): which MAX messages are a citizen's, the item
they become, MAX's edits as Telegram's edited_message with ids that keep two edits apart, and the publisher's
refusals before any call."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiogram.types import Message, Update

from bot.max_convert import update_id_of, update_json
from channels.max import ANSWER_LIMIT, MAX, MaxChannelConfig, MaxPublisher, where_from
from channels.telegram import Where, citizen_item
from tests.fakes import FakeClock
from workflow.model import ItemKind, Network
from workflow.ports import Answer

BOT = 900_001
CITIZEN = 8001
GROUP = -70001
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def max_message(text: str, *, chat: str = "dialog", sender: int = CITIZEN, seq: int = 5, is_bot: bool = False,
                mid: str = "mid.abc") -> dict[str, Any]:  # fmt: skip
    recipient: dict[str, Any] = (
        {"chat_id": 10_000_000_000 + sender, "chat_type": "dialog", "user_id": BOT}
        if chat == "dialog"
        else {"chat_id": GROUP, "chat_type": "chat"}
    )
    return {
        "sender": {"user_id": sender, "first_name": "Анна", "last_name": "Смирнова", "is_bot": is_bot},
        "recipient": recipient,
        "timestamp": 1_764_577_800_000,
        "body": {"mid": mid, "seq": seq, "text": text, "attachments": []},
    }


def as_message(raw: dict[str, Any], kind: str = "message_created", timestamp: int = 1) -> Message:
    converted = update_json({"update_type": kind, "timestamp": timestamp, "message": raw}, BOT)
    assert converted is not None
    update = Update.model_validate(converted)
    found = update.message or update.edited_message
    assert found is not None
    return found


def test_a_dialog_message_is_a_citizens_and_an_item_of_network_max() -> None:
    message = as_message(max_message("Не вывозят мусор"))
    assert where_from(message, MaxChannelConfig(), bot_id=BOT) is Where.PRIVATE
    item = citizen_item(message, Where.PRIVATE, NOW, via=MAX)
    assert item is not None
    assert (item.network, item.key, item.kind, item.link) == (Network.MAX, f"{CITIZEN}:5", ItemKind.NEW, "")
    assert item.author == f"Анна Смирнова (id{CITIZEN})" and item.author_id == CITIZEN


def test_what_is_not_a_citizens_message() -> None:
    config = MaxChannelConfig()
    assert where_from(as_message(max_message("/start")), config, bot_id=BOT) is None
    assert where_from(as_message(max_message("Я бот", is_bot=True, sender=5)), config, bot_id=BOT) is None
    group = as_message(max_message("В группе", chat="chat"))
    assert where_from(group, config, bot_id=BOT) is None  # no group named
    assert where_from(group, MaxChannelConfig(group_id=GROUP), bot_id=BOT) is Where.COMMENT
    no_dialogs = MaxChannelConfig(direct_messages=False)
    assert where_from(as_message(max_message("Вопрос")), no_dialogs, bot_id=BOT) is None


def test_an_edit_is_an_edited_message_and_two_edits_are_two_updates() -> None:
    raw = max_message("Яма у дома 7")
    edited = as_message(raw, "message_edited", timestamp=1_764_578_000_000)
    assert edited.edit_date is not None and edited.text == "Яма у дома 7"
    item = citizen_item(edited, Where.PRIVATE, NOW, edited=True, via=MAX)
    assert item is not None and item.kind is ItemKind.EDIT
    first = {"update_type": "message_edited", "timestamp": 1, "message": raw}
    second = {"update_type": "message_edited", "timestamp": 2, "message": raw}
    created = {"update_type": "message_created", "timestamp": 1, "message": raw}
    assert update_id_of(first) == update_id_of(dict(first))  # delivered again: the same id
    assert len({update_id_of(first), update_id_of(second), update_id_of(created)}) == 3


def test_updates_of_the_wrong_shape_are_nobodys() -> None:
    assert update_json({"update_type": "message_edited", "message": "не объект"}, BOT) is None
    assert update_json({"update_type": "dialog_removed", "chat_id": 1}, BOT) is None
    assert update_id_of({"update_type": "message_created", "message": ["x"]}) > 0


def test_the_publisher_refuses_before_any_call() -> None:
    publisher = MaxPublisher(bot=None, clock=FakeClock(NOW))  # type: ignore[arg-type]
    assert publisher.network is Network.MAX
    assert publisher.refusal(Answer(1, f"{CITIZEN}:5", "x" * ANSWER_LIMIT, 1)) is None
    too_long = publisher.refusal(Answer(1, f"{CITIZEN}:5", "x" * (ANSWER_LIMIT + 1), 1))
    assert too_long is not None and "4000 символов — предела сообщения MAX" in too_long
    assert publisher.refusal(Answer(1, "vk:-1_2", "Ответ", 1)) == (
        "Не удалось понять, на какое сообщение MAX отвечать: опубликуйте ответ вручную."
    )


def test_maxs_refusals_in_russian() -> None:
    assert MAX.forbidden_reason("MAX 403 chat.denied: The bot is not a member of this chat") == (
        "автор остановил бота или удалил диалог с ним"
    )
    assert MAX.forbidden_reason("MAX 404 not.found: User 1 not found") == "диалога с автором больше нет"
    assert MAX.reply_gone("MAX 400 proto.payload: link.mid: message not found in this chat")
    assert not MAX.reply_gone("MAX 400 proto.payload: text: size must be between 0 and 4000")
