"""The MAX session (bot/max_session.py) through a real aiogram Bot against the MAX emulator, with the durable
mid map on a real SQLite database (migrated like the app's)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiogram.client.default import DefaultBotProperties
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter, TelegramUnauthorizedError
from aiogram.methods import SendMessage
from aiogram.types import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.max_session import MaxBot, MaxSession
from bot.polling import incoming
from bot.sender import Outgoing, TelegramSender
from emulators.max import DIALOG_BASE, MaxEmulator
from storage.engine import create_engine
from storage.inbox import Inbox
from storage.max_messages import MaxMessageMap
from storage.migrate import upgrade
from tests.fakes import FakeClock

GROUP = -7001
ANNA = 501


@pytest.fixture
async def emu() -> AsyncIterator[MaxEmulator]:
    emulator = MaxEmulator()
    await emulator.start()
    emulator.add_user(ANNA, "Анна", "Петрова")
    emulator.add_chat(GROUP, title="Приёмная", members=(ANNA,))
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'max.sqlite3'}"
    await upgrade(url)
    eng = create_engine(url)
    try:
        yield eng
    finally:
        await eng.dispose()


def make_bot(emu: MaxEmulator, engine: AsyncEngine, token: str | None = None) -> MaxBot:
    session = MaxSession(token or emu.token, MaxMessageMap(engine), api_url=emu.base_url)
    return MaxBot(session, default=DefaultBotProperties(parse_mode="HTML"))


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=d, callback_data=d)] for d in data]
    )


async def test_a_card_posted_before_a_restart_is_edited_after_it(
    emu: MaxEmulator, engine: AsyncEngine
) -> None:
    first = make_bot(emu, engine)
    card = await first.send_message(GROUP, "<b>Сообщение № 1</b> · новое", reply_markup=keyboard("c:1:route"))
    await first.session.close()  # the process ends; nothing of it survives but the database

    second = make_bot(emu, engine)
    try:
        await second.edit_message_text(
            "<b>Сообщение № 1</b> · направлено", chat_id=GROUP, message_id=card.message_id,
            reply_markup=keyboard("c:1:done"),
        )  # fmt: skip
        [shown] = emu.sent(GROUP)
        assert shown.plain_text == "Сообщение № 1 · направлено"
        assert [b["payload"] for row in shown.buttons for b in row] == ["c:1:done"]
        assert len(shown.edits) == 1
        await second.edit_message_reply_markup(chat_id=GROUP, message_id=card.message_id, reply_markup=None)
        assert emu.sent(GROUP)[0].buttons == []
    finally:
        await second.session.close()


async def test_an_update_redelivered_after_a_kill_keeps_its_id(emu: MaxEmulator, engine: AsyncEngine) -> None:
    inbox = Inbox(engine, clock=FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)))
    emu.push_message(GROUP, ANNA, "Во дворе не убран снег")
    first = make_bot(emu, engine)
    batch = await first.get_updates(timeout=1)
    assert len(batch) == 1
    assert await inbox.save_batch([incoming(batch[0].model_dump(mode="json", exclude_none=True))]) == 1
    await first.session.close()  # killed before asking with the next marker: MAX did not hear it was saved
    assert len(emu.pending_updates) == 1

    second = make_bot(emu, engine)
    try:
        again = await second.get_updates(timeout=1)
        assert [u.update_id for u in again] == [batch[0].update_id]
        assert await inbox.save_batch([incoming(again[0].model_dump(mode="json", exclude_none=True))]) == 0
        assert again[0].message is not None and again[0].message.text == "Во дворе не убран снег"
        assert again[0].message.chat.id == GROUP
        assert await second.get_updates(offset=again[-1].update_id + 1, timeout=0) == []
        assert emu.pending_updates == []  # the next marker confirmed it
    finally:
        await second.session.close()


async def test_an_unknown_update_type_is_one_log_line_and_confirmed(
    emu: MaxEmulator, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    emu.push_update({"update_type": "message_chat_created", "timestamp": 1, "chat": {"chat_id": 1}})
    bot = make_bot(emu, engine)
    try:
        with caplog.at_level(logging.INFO, logger="bot.max_session"):
            assert await bot.get_updates(timeout=0) == []
        assert [r.getMessage() for r in caplog.records] == [
            "MAX: событие «message_chat_created» пропущено: Отклик его не обрабатывает"
        ]
        emu.push_message(GROUP, ANNA, "потом")
        [update] = await bot.get_updates(timeout=1)  # the skipped one is not delivered again
        assert update.message is not None and update.message.text == "потом"
        assert [u["update_type"] for u in emu.pending_updates] == ["message_created"]
    finally:
        await bot.session.close()


async def test_a_dialog_is_the_users_id_and_replies_and_callbacks_map_back(
    emu: MaxEmulator, engine: AsyncEngine
) -> None:
    bot = make_bot(emu, engine)
    try:
        prompt = await bot.send_message(ANNA, "Укажите причину ответом на это сообщение",
                                        reply_markup=ForceReply())  # fmt: skip
        assert prompt.chat.id == ANNA and prompt.chat.type == "private"
        [sent] = emu.sent(ANNA)
        assert sent.chat_id == DIALOG_BASE + ANNA and sent.buttons == []  # ForceReply has no MAX counterpart
        emu.push_message(ANNA, ANNA, "Нет доступа в подвал", reply_to_message_id=prompt.message_id)
        card = await bot.send_message(GROUP, "Карточка", reply_markup=keyboard("c:2:take"))
        callback_id = emu.push_callback(GROUP, ANNA, card.message_id, "c:2:take")
        reply, press = await bot.get_updates(timeout=1)
        assert reply.message is not None and reply.message.chat.id == ANNA
        assert reply.message.reply_to_message is not None
        assert reply.message.reply_to_message.message_id == prompt.message_id
        assert press.callback_query is not None and press.callback_query.data == "c:2:take"
        assert (
            press.callback_query.message is not None
            and press.callback_query.message.message_id == card.message_id
        )
        await bot.answer_callback_query(press.callback_query.id, text="Принято")
        await bot.answer_callback_query(press.callback_query.id)  # Telegram's silent answer: nothing sent
        assert emu.callback_answers[callback_id].text == "Принято"
        answer = await reply.message.reply("Причина записана")
        assert emu.by_mid(emu.sent(ANNA)[-1].mid).reply_to_mid is not None
        assert answer.chat.id == ANNA
    finally:
        await bot.session.close()


async def test_refusals_are_clear_errors_and_send_nothing(emu: MaxEmulator, engine: AsyncEngine) -> None:
    bot = make_bot(emu, engine)
    try:
        rows = [[InlineKeyboardButton(text=str(i), callback_data=str(i))] for i in range(31)]
        with pytest.raises(TelegramBadRequest, match="не больше 30 рядов"):
            await bot.send_message(GROUP, "много", reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))
        with pytest.raises(TelegramBadRequest, match="size must be between 0 and 4000"):
            await bot(SendMessage(chat_id=GROUP, text="я" * 4001))
        with pytest.raises(TelegramBadRequest, match="неизвестно"):
            await bot.edit_message_text("x", chat_id=GROUP, message_id=999)
        assert emu.sent(GROUP) == []
    finally:
        await bot.session.close()
    wrong = make_bot(emu, engine, token="not-the-token")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await wrong.get_me()
    finally:
        await wrong.session.close()


async def test_the_sender_splits_over_4000_and_waits_out_a_429(emu: MaxEmulator, engine: AsyncEngine) -> None:
    bot = make_bot(emu, engine)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    sender = TelegramSender(
        bot, per_chat_interval=0.0, group_per_minute=1_000_000, text_limit=4000, sleep=sleep
    )
    try:
        with pytest.raises(TelegramRetryAfter):
            emu.fail_next()
            await bot.send_message(GROUP, "сразу")
        emu.fail_next()  # the first piece meets a 429: waited out, sent again
        text = "\n".join(f"строка {i:04d} " + "ж" * 80 for i in range(60))  # about 5,500 characters
        result = await sender.send(Outgoing(key="long", chat_id=GROUP, text=text, parse_mode=None))
        assert len(result.message_ids) == 2
        pieces = [m.plain_text for m in emu.sent(GROUP)]
        assert all(len(p) <= 4000 for p in pieces) and "".join(pieces).replace("\n", "") == text.replace(
            "\n", ""
        )
        assert slept == [1]
    finally:
        await bot.session.close()
