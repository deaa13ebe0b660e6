"""The Telegram emulator's channel side (CHANNELS.md «Telegram emulator must also»), through the real aiogram
Bot: channel posts and their automatic copies, comments in threads, edits, silent deletions, getChat's
linked_chat_id, the real 400 and 403 texts; and TelegramPublisher's answers to what the emulator says."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import MessageOriginChannel, ReplyParameters, Update

from channels.telegram import (
    ChannelConfig,
    NotSentYet,
    PublishUnclear,
    TelegramPublisher,
    Undeliverable,
    Where,
    citizen_item,
    parse_key,
    where_from,
)
from emulators.telegram import TelegramEmulator
from tests.fakes import FakeClock
from workflow.model import ItemKind
from workflow.ports import Answer

CHANNEL = -1004000000001
GROUP = -1004000000002
CITIZEN = 6001
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator() as emulator:
        emulator.add_channel(CHANNEL, "Администрация", username="adm_channel", group_id=GROUP)
        emulator.bot_status[GROUP] = "administrator"
        emulator.add_user(CITIZEN, "Ольга", "Ветрова")
        yield emulator


@pytest.fixture
async def bot(emu: TelegramEmulator) -> AsyncIterator[Bot]:
    created = emu.create_bot()
    try:
        yield created
    finally:
        await created.session.close()


async def updates(bot: Bot) -> list[Update]:
    got = await bot.get_updates(timeout=0, allowed_updates=["message", "edited_message", "channel_post"])
    if got:
        await bot.get_updates(offset=got[-1].update_id + 1, timeout=0)
    return got


async def test_a_post_its_copy_and_a_comment_as_aiogram_reads_them(emu: TelegramEmulator, bot: Bot) -> None:
    post, copy = emu.post_to_channel(CHANNEL, "Новый пост")
    assert copy is not None
    comment = emu.comment(GROUP, CITIZEN, copy.message_id, "Комментарий")
    [as_post, as_copy, as_comment] = await updates(bot)
    assert as_post.channel_post is not None and as_post.channel_post.sender_chat is not None
    assert as_post.channel_post.from_user is None and as_post.channel_post.chat.id == CHANNEL
    forwarded = as_copy.message
    assert forwarded is not None and forwarded.is_automatic_forward
    assert isinstance(forwarded.forward_origin, MessageOriginChannel)
    assert forwarded.forward_origin.message_id == post.message_id and forwarded.from_user is not None
    assert forwarded.from_user.id == 777000
    message = as_comment.message
    assert message is not None and message.message_thread_id == copy.message_id
    assert message.reply_to_message is not None and message.reply_to_message.message_id == copy.message_id

    config = ChannelConfig(group_id=GROUP, channel_id=CHANNEL)
    assert where_from(forwarded, config, bot_id=bot.id) is None
    assert where_from(message, config, bot_id=bot.id) is Where.COMMENT
    item = citizen_item(message, Where.COMMENT, NOW)
    assert item is not None and item.key == f"{GROUP}:{comment.message_id}" and item.kind is ItemKind.NEW
    assert item.link == f"https://t.me/adm_channel/{post.message_id}?comment={comment.message_id}"
    assert item.author == f"Ольга Ветрова (id{CITIZEN})" and item.author_id == CITIZEN

    chat = await bot.get_chat(CHANNEL)
    assert chat.linked_chat_id == GROUP
    assert (await bot.get_chat(GROUP)).linked_chat_id == CHANNEL


async def test_an_edit_comes_as_edited_message_and_a_deletion_as_nothing(
    emu: TelegramEmulator, bot: Bot
) -> None:
    _post, copy = emu.post_to_channel(CHANNEL, "Пост")
    assert copy is not None
    comment = emu.comment(GROUP, CITIZEN, copy.message_id, "Было")
    await updates(bot)
    emu.user_edits(GROUP, comment.message_id, "Стало")
    emu.user_edits(GROUP, comment.message_id, "Было")
    first, second = await updates(bot)
    assert first.edited_message is not None and first.edited_message.text == "Стало"
    assert second.edited_message is not None and second.edited_message.text == "Было"
    one = citizen_item(first.edited_message, Where.COMMENT, NOW, edited=True)
    two = citizen_item(second.edited_message, Where.COMMENT, NOW, edited=True)
    original = citizen_item(second.edited_message, Where.COMMENT, NOW)
    assert one is not None and two is not None and original is not None
    assert one.kind is ItemKind.EDIT and len({one.revision, two.revision, original.revision}) == 3
    emu.user_deletes(GROUP, comment.message_id)
    assert await updates(bot) == []
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(
            GROUP, "Ответ", reply_parameters=ReplyParameters(message_id=comment.message_id)
        )
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(GROUP, "Ответ", reply_parameters=ReplyParameters(message_id=9999))


async def test_the_bot_cannot_write_first_nor_to_who_blocked_it(emu: TelegramEmulator, bot: Bot) -> None:
    emu.user_never_started(CITIZEN)
    with pytest.raises(TelegramForbiddenError, match="bot can't initiate conversation with a user"):
        await bot.send_message(CITIZEN, "Здравствуйте")
    msg = emu.push_message(CITIZEN, CITIZEN, "Пишу первым")
    await bot.send_message(CITIZEN, "Ответ", reply_parameters=ReplyParameters(message_id=msg.message_id))
    emu.block_bot(CITIZEN)
    publisher = TelegramPublisher(bot, FakeClock(NOW))
    with pytest.raises(Undeliverable, match="автор заблокировал бота"):
        await publisher.publish(Answer(1, f"{CITIZEN}:{msg.message_id}", "Ответ", 1))


async def test_a_private_answer_is_a_reply_and_an_unclear_failure_is_not_retried(
    emu: TelegramEmulator, bot: Bot
) -> None:
    msg = emu.push_message(CITIZEN, CITIZEN, "Вопрос")
    publisher = TelegramPublisher(bot, FakeClock(NOW))
    link = await publisher.publish(Answer(1, f"{CITIZEN}:{msg.message_id}", "Ответ <b>не разметка</b>", 1))
    [answer] = emu.sent(CITIZEN)
    assert answer.reply_to_message_id == msg.message_id and answer.plain_text == "Ответ <b>не разметка</b>"
    assert link == ""  # a private chat's message has no link
    calls = len(emu.calls("sendMessage"))
    emu.fail_next(1, "server_error", status=500, methods=["sendMessage"])
    with pytest.raises(PublishUnclear, match="Неясно, опубликован ли ответ"):
        await publisher.publish(Answer(1, f"{CITIZEN}:{msg.message_id}", "Ответ", 1))
    emu.fail_next(1, "disconnect", methods=["sendMessage"])
    with pytest.raises(PublishUnclear):
        await publisher.publish(Answer(1, f"{CITIZEN}:{msg.message_id}", "Ответ", 1))
    assert len(emu.calls("sendMessage")) == calls + 2  # one call each: nothing retried behind the operator
    emu.fail_next(1, "retry_after", retry_after=3, methods=["sendMessage"])
    with pytest.raises(NotSentYet) as later:
        await publisher.publish(Answer(1, f"{CITIZEN}:{msg.message_id}", "Ответ", 1))
    assert later.value.retry_after == 3
    assert len(emu.sent(CITIZEN)) == 1


@pytest.mark.parametrize("key", ["", "abc", "1:2:3", f"{2**63}:1", "-5:0", "5:-1", "٣:1", "1:" + "9" * 30])
def test_a_forged_key_is_no_target(key: str) -> None:
    assert parse_key(key) is None


async def test_a_forged_key_is_refused_in_russian(bot: Bot) -> None:
    publisher = TelegramPublisher(bot, FakeClock(NOW))
    with pytest.raises(Exception, match="Не удалось понять, на какое сообщение"):
        await publisher.publish(Answer(1, "garbage", "Ответ", 1))
