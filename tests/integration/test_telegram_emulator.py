"""The Telegram emulator, driven by the real aiogram Bot and Dispatcher over loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from emulators.telegram import (
    HtmlParseError,
    RateLimits,
    TelegramEmulator,
    html_to_text,
    parse_html,
    visible_text,
)
from views.html import escape

CITIZEN = 42
GROUP = -100500
RAW_BUTTON = {"text": "Да", "callback_data": "y"}
RAW_MARKUP = {"inline_keyboard": [[RAW_BUTTON]]}


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=f"Кнопка {d}", callback_data=d) for d in data]]
    )


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator() as emulator:
        yield emulator


@pytest.fixture
async def bot(emu: TelegramEmulator) -> AsyncIterator[Bot]:
    client = emu.create_bot()
    yield client
    await client.session.close()


async def post(emu: TelegramEmulator, method: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """A raw HTTP call, for encodings aiogram does not produce."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{emu.base_url}/bot{emu.token}/{method}", **kwargs) as response,
    ):
        return response.status, await response.json()


# ------------------------------------------------------------------------------------------ polling


async def test_dispatcher_receives_a_message_and_a_callback_and_replies(
    emu: TelegramEmulator, bot: Bot
) -> None:
    dp = Dispatcher()
    handled: list[int] = []

    @dp.message(F.text == "/start")
    async def start(message: Message) -> None:
        handled.append(message.message_id)
        await message.answer(
            "<b>Здравствуйте!</b> Выберите:", parse_mode="HTML", reply_markup=keyboard("a", "b")
        )

    @dp.callback_query(F.data == "a")
    async def pressed(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.answer("Принято", show_alert=True)
        await query.message.edit_text("Выбрано: a")

    emu.add_user(CITIZEN, "Иван", "Петров", username="ivan")
    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=5)
    )
    try:
        emu.push_message(CITIZEN, CITIZEN, "/start")
        [card] = await emu.wait_sent(CITIZEN)
        assert visible_text(card) == "Здравствуйте! Выберите:"
        assert card.entities == [{"type": "bold", "offset": 0, "length": 13}]
        assert [b["callback_data"] for b in card.buttons[0]] == ["a", "b"]

        query_id = emu.push_callback(CITIZEN, CITIZEN, card.message_id, "a")
        await emu.wait_for(lambda: card.edits)
        answer = emu.callback_answers[query_id]
        assert (answer.text, answer.show_alert) == ("Принято", True)
        assert visible_text(card) == "Выбрано: a"
        assert card.reply_markup is None  # an edit that does not repeat the keyboard removes it
        assert visible_text(card.edits[0]) == "Здравствуйте! Выберите:"

        # Offsets advance: the next poll confirms both updates and nothing is delivered twice.
        await emu.wait_for(lambda: not emu.pending_updates)
        emu.push_message(CITIZEN, CITIZEN, "/start")
        await emu.wait_sent(CITIZEN, 2)
    finally:
        await dp.stop_polling()
        await polling
    assert len(handled) == 2
    assert len(set(handled)) == 2
    offsets = [r.params.get("offset") for r in emu.calls("getUpdates")]
    assert offsets[0] is None  # aiogram omits a falsy offset on the first poll
    assert [int(o) for o in offsets[1:]] == sorted(int(o) for o in offsets[1:])


async def test_a_burst_of_updates_is_handled_once_each(emu: TelegramEmulator, bot: Bot) -> None:
    dp = Dispatcher()
    seen: list[str] = []

    @dp.message()
    async def record(message: Message) -> None:
        seen.append(message.text or "")

    for number in range(150):  # more than one getUpdates batch (limit 100)
        emu.push_message(CITIZEN, CITIZEN, f"сообщение {number}")
    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=5)
    )
    try:
        await emu.wait_for(lambda: len(seen) >= 150 and not emu.pending_updates)
    finally:
        await dp.stop_polling()
        await polling
    assert sorted(seen) == sorted(f"сообщение {n}" for n in range(150))


async def test_aiogram_confirms_a_batch_before_its_handlers_finish(emu: TelegramEmulator, bot: Bot) -> None:
    """Pinned aiogram behaviour: the next poll's offset confirms updates still being handled (handlers run as
    tasks and are not awaited at stop), so an update in a handler at shutdown is not delivered again."""
    dp = Dispatcher()
    release = asyncio.Event()
    started = asyncio.Event()

    @dp.message()
    async def slow(message: Message) -> None:
        started.set()
        await release.wait()

    emu.push_message(CITIZEN, CITIZEN, "долгая обработка")
    update_id = emu.pending_updates[0]["update_id"]
    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=5)
    )
    await asyncio.wait_for(started.wait(), 5)
    await emu.wait_for(
        lambda: any(r.params.get("offset") == str(update_id + 1) for r in emu.calls("getUpdates"))
    )
    await dp.stop_polling()
    await polling
    assert emu.pending_updates == []
    assert not release.is_set()
    release.set()
    await asyncio.sleep(0)  # let the handler task finish before the loop closes


async def test_long_poll_answers_as_soon_as_an_update_arrives(emu: TelegramEmulator, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await emu.wait_for(lambda: emu.calls("getUpdates"))
    await asyncio.sleep(0.05)
    assert not poll.done()
    loop = asyncio.get_running_loop()
    pushed_at = loop.time()
    emu.push_message(CITIZEN, CITIZEN, "привет")
    updates = await asyncio.wait_for(poll, 2)
    assert loop.time() - pushed_at < 0.5
    assert [u.message.text for u in updates if u.message] == ["привет"]


async def test_offsets_confirm_and_negative_offsets_keep_the_last(emu: TelegramEmulator, bot: Bot) -> None:
    ids = [emu.push_update({"message": _raw_message(n)}) for n in range(5)]
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == ids
    assert [u.update_id for u in await bot.get_updates(offset=ids[2], timeout=0)] == ids[2:]
    assert [u.update_id for u in await bot.get_updates(offset=ids[2], limit=1, timeout=0)] == ids[2:3]
    assert [u.update_id for u in await bot.get_updates(offset=-1, timeout=0)] == ids[-1:]
    assert await bot.get_updates(offset=ids[-1] + 1, timeout=0) == []
    assert emu.pending_updates == []


async def test_a_second_poll_terminates_the_first_with_conflict(emu: TelegramEmulator, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=30))
    await emu.wait_for(lambda: emu.calls("getUpdates"))
    second = asyncio.create_task(bot.get_updates(timeout=0))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await asyncio.wait_for(first, 2)
    assert await second == []


async def test_webhook_is_stored_and_blocks_polling(emu: TelegramEmulator, bot: Bot) -> None:
    emu.push_message(CITIZEN, CITIZEN, "x")
    assert await bot.set_webhook("https://example.org/hook", allowed_updates=["message"])
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count, info.allowed_updates) == (
        "https://example.org/hook",
        1,
        ["message"],
    )
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates(timeout=0)
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.get_updates(timeout=0) == []


async def test_allowed_updates_filter_later_updates(emu: TelegramEmulator, bot: Bot) -> None:
    await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
    emu.push_message(CITIZEN, CITIZEN, "не нужен")
    sent = await bot.send_message(CITIZEN, "карточка")
    emu.push_callback(CITIZEN, CITIZEN, sent.message_id, "go")
    updates = await bot.get_updates(timeout=0)
    assert [u.callback_query.data for u in updates if u.callback_query] == ["go"]
    assert len(updates) == 1


# ------------------------------------------------------------------------------------- decoding


async def test_form_fields_are_decoded_to_structured_data(emu: TelegramEmulator, bot: Bot) -> None:
    markup = keyboard("case:1:v3")
    sent = await bot.send_message(CITIZEN, "карточка", reply_markup=markup)
    [msg] = emu.sent(CITIZEN)
    assert isinstance(emu.calls("sendMessage")[0].params["reply_markup"], str)  # it came as a JSON form field
    assert msg.reply_markup == {
        "inline_keyboard": [[{"text": "Кнопка case:1:v3", "callback_data": "case:1:v3"}]]
    }
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump(exclude_none=True) == markup.model_dump(exclude_none=True)


@pytest.mark.parametrize(
    "encoding",
    [
        {"json": {"chat_id": "42", "text": "джейсон", "reply_markup": RAW_MARKUP}},  # numbers as strings too
        {"data": {"chat_id": "42", "text": "форма", "reply_markup": json.dumps(RAW_MARKUP)}},
        {"params": {"chat_id": "42", "text": "query", "reply_markup": json.dumps(RAW_MARKUP)}},
    ],
    ids=["json-body", "urlencoded", "query-string"],
)
async def test_every_encoding_telegram_accepts(emu: TelegramEmulator, encoding: dict[str, Any]) -> None:
    status, body = await post(emu, "sendMessage", **encoding)
    assert status == 200 and body["ok"] is True
    assert body["result"]["chat"]["id"] == CITIZEN
    assert emu.sent(CITIZEN)[0].reply_markup == RAW_MARKUP


async def test_multipart_upload_is_stored_by_name_and_downloadable(emu: TelegramEmulator, bot: Bot) -> None:
    photo = await bot.send_photo(
        CITIZEN,
        BufferedInputFile(b"\x89PNG-bytes", filename="schema.png"),
        caption="<i>Схема</i> &amp; план",
        parse_mode="HTML",
        reply_markup=keyboard("ok"),
    )
    assert photo.caption == "Схема & план"
    assert emu.uploads["schema.png"].content == b"\x89PNG-bytes"
    [msg] = emu.sent(CITIZEN)
    assert msg.reply_markup is not None and msg.photo is not None
    assert photo.photo is not None
    file = await bot.get_file(photo.photo[-1].file_id)
    assert file.file_path is not None
    data = await bot.download_file(file.file_path)
    assert data is not None and data.read() == b"\x89PNG-bytes"

    document = await bot.send_document(GROUP, photo.photo[-1].file_id)  # a file_id string is reused
    assert document.document is not None
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_document(GROUP, "no-such-file-id")


async def test_unknown_method_token_and_chat(emu: TelegramEmulator, bot: Bot) -> None:
    status, body = await post(emu, "sendCarrierPigeon", json={"chat_id": 1})
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.get_chat(777)
    emu.add_user(CITIZEN, "Мария", username="maria")
    emu.add_chat(CITIZEN)
    chat = await bot.get_chat(CITIZEN)
    assert (chat.type, chat.first_name, chat.username) == ("private", "Мария", "maria")


async def test_wrong_token_is_unauthorized(emu: TelegramEmulator) -> None:
    stranger = Bot("1:other", session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url)))
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await stranger.get_me()
    finally:
        await stranger.session.close()


# ------------------------------------------------------------------------------------------- HTML


async def test_hostile_citizen_text_escaped_arrives_exactly_as_written(
    emu: TelegramEmulator, bot: Bot
) -> None:
    citizen = "<b>bold</b> & <script>alert('x')</script> &amp; &lt; \"кавычки\" 😀"
    await bot.send_message(CITIZEN, f"<b>Обращение №7</b>\n{escape(citizen)}", parse_mode="HTML")
    [msg] = emu.sent(CITIZEN)
    assert visible_text(msg) == f"Обращение №7\n{citizen}"
    assert msg.entities == [{"type": "bold", "offset": 0, "length": 12}]


async def test_unescaped_citizen_text_is_refused_as_telegram_does(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest) as refused:
        await bot.send_message(CITIZEN, "Жалоба: <script>", parse_mode="HTML")
    assert refused.value.message == (
        'Bad Request: can\'t parse entities: Unsupported start tag "script" at byte offset 14'
    )


async def test_text_length_limit_counts_parsed_characters(emu: TelegramEmulator, bot: Bot) -> None:
    await bot.send_message(CITIZEN, "<b>" + "я" * 4096 + "</b>", parse_mode="HTML")
    await bot.send_message(CITIZEN, "😀" * 4096)  # code points, not UTF-16 units
    with pytest.raises(TelegramBadRequest) as too_long:
        await bot.send_message(CITIZEN, "я" * 4097)
    assert too_long.value.message == "Bad Request: message is too long"
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(CITIZEN, "<b> </b>", parse_mode="HTML")
    assert len(emu.sent(CITIZEN)) == 2


@pytest.mark.parametrize(
    ("source", "text", "entities"),
    [
        ("plain", "plain", []),
        ("a &amp; b &lt;c&gt; &quot;d&quot; &#1071; &#x44F;", 'a & b <c> "d" Я я', []),
        ("AT&T &nbsp; &copy", "AT&T &nbsp; &copy", []),  # unknown references stay literal
        ("<b>x</b> > y", "x > y", [{"type": "bold", "offset": 0, "length": 1}]),
        ("<B>x</B>", "x", [{"type": "bold", "offset": 0, "length": 1}]),
        (
            "<b>a<i>b</i></b>",
            "ab",
            [{"type": "bold", "offset": 0, "length": 2}, {"type": "italic", "offset": 1, "length": 1}],
        ),
        ("😀<u>x</u>", "😀x", [{"type": "underline", "offset": 2, "length": 1}]),  # UTF-16 offsets
        (
            '<a href="https://gosuslugi.ru/?a=1&amp;b=2">ПОС</a>',
            "ПОС",
            [{"type": "text_link", "offset": 0, "length": 3, "url": "https://gosuslugi.ru/?a=1&b=2"}],
        ),
        (
            '<pre><code class="language-python">x = 1</code></pre>',
            "x = 1",
            [{"type": "pre", "offset": 0, "length": 5, "language": "python"}],
        ),
        (
            '<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>',
            "st",
            [{"type": "spoiler", "offset": 0, "length": 1}, {"type": "spoiler", "offset": 1, "length": 1}],
        ),
        (
            "<blockquote expandable>q</blockquote>",
            "q",
            [{"type": "expandable_blockquote", "offset": 0, "length": 1}],
        ),
        (
            "<s>x</><b></b>",
            "x",
            [{"type": "strikethrough", "offset": 0, "length": 1}],
        ),  # </> closes, empty dropped
        ("  <b>x  </b>  ", "x", [{"type": "bold", "offset": 0, "length": 1}]),  # trimmed like Telegram
    ],
)
def test_parse_html_table(source: str, text: str, entities: list[dict[str, Any]]) -> None:
    assert parse_html(source) == (text, entities)


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("<script>", 'Unsupported start tag "script" at byte offset 0'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("Ж<br>", 'Unsupported start tag "br" at byte offset 2'),  # byte offsets are UTF-8
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ('<a href="x>y', 'Unclosed start tag "a" at byte offset 0'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        (
            "<a href>x</a>",
            'Expected equal sign in declaration of an attribute of the tag "a" at byte offset 0',
        ),
    ],
)
def test_parse_html_errors_table(source: str, error: str) -> None:
    with pytest.raises(HtmlParseError) as refused:
        parse_html(source)
    assert str(refused.value) == error


def test_html_to_text() -> None:
    assert html_to_text("<b>&lt;b&gt;&amp;</b>") == "<b>&"


# ---------------------------------------------------------------------------------- edits, etc.


async def test_edits_keep_history_and_identical_edits_are_refused(emu: TelegramEmulator, bot: Bot) -> None:
    sent = await bot.send_message(
        GROUP, "Статус: <b>новое</b>", parse_mode="HTML", reply_markup=keyboard("take")
    )
    await bot.edit_message_text(
        "Статус: <b>в работе</b>",
        chat_id=GROUP,
        message_id=sent.message_id,
        parse_mode="HTML",
        reply_markup=keyboard("done"),
    )
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "Статус: <b>в работе</b>",
            chat_id=GROUP,
            message_id=sent.message_id,
            parse_mode="HTML",
            reply_markup=keyboard("done"),
        )
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=GROUP, message_id=sent.message_id, reply_markup=keyboard("done")
        )
    await bot.edit_message_reply_markup(chat_id=GROUP, message_id=sent.message_id)
    [msg] = emu.sent(GROUP)
    assert visible_text(msg) == "Статус: в работе"
    assert msg.reply_markup is None
    assert [v.plain_text for v in msg.edits] == ["Статус: новое", "Статус: в работе"]
    assert [v.reply_markup is not None for v in msg.edits] == [True, True]

    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=GROUP, message_id=999)
    user_msg = emu.push_message(GROUP, CITIZEN, "от жителя")
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("x", chat_id=GROUP, message_id=user_msg.message_id)


async def test_message_ids_increase_per_chat_and_delete(emu: TelegramEmulator, bot: Bot) -> None:
    first = emu.push_message(CITIZEN, CITIZEN, "вопрос")
    reply = await bot.send_message(CITIZEN, "ответ", reply_to_message_id=first.message_id)
    other = await bot.send_message(GROUP, "в группу")
    assert (first.message_id, reply.message_id, other.message_id) == (1, 2, 1)
    assert reply.reply_to_message is not None and reply.reply_to_message.text == "вопрос"
    assert await bot.delete_message(CITIZEN, reply.message_id)
    assert emu.sent(CITIZEN) == []
    assert [m.message_id for m in emu.history(CITIZEN)] == [1, 2]
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(CITIZEN, reply.message_id)
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(CITIZEN, "x", reply_to_message_id=reply.message_id)


async def test_callback_answers_and_long_callback_data(emu: TelegramEmulator, bot: Bot) -> None:
    sent = await bot.send_message(CITIZEN, "карточка", reply_markup=keyboard("x"))
    query_id = emu.push_callback(CITIZEN, CITIZEN, sent.message_id, "x")
    assert await bot.answer_callback_query(query_id, text="Запрос уже обработан")
    assert emu.callback_answers[query_id].text == "Запрос уже обработан"
    assert emu.callback_answers[query_id].show_alert is False
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(CITIZEN, "x", reply_markup=keyboard("я" * 33))  # 66 bytes > 64


async def test_commands_are_stored_per_scope(emu: TelegramEmulator, bot: Bot) -> None:
    everyone = [BotCommand(command="start", description="Начать")]
    curator = [*everyone, BotCommand(command="report", description="Отчёт")]
    await bot.set_my_commands(everyone)
    await bot.set_my_commands(curator, scope=BotCommandScopeChat(chat_id=GROUP))
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=GROUP))] == [
        "start",
        "report",
    ]
    assert emu.get_commands({"type": "chat", "chat_id": GROUP}) == [
        {"command": "start", "description": "Начать"},
        {"command": "report", "description": "Отчёт"},
    ]
    await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=GROUP))
    assert await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=GROUP)) == []


async def test_chat_action_blocked_user_and_migrated_group(emu: TelegramEmulator, bot: Bot) -> None:
    assert await bot.send_chat_action(CITIZEN, "typing")
    assert emu.chat_actions == [(CITIZEN, "typing")]
    emu.block_bot(CITIZEN)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(CITIZEN, "x")
    new_id = emu.migrate_group(-5)
    with pytest.raises(TelegramMigrateToChat) as migrated:
        await bot.send_message(-5, "x")
    assert migrated.value.migrate_to_chat_id == new_id


# -------------------------------------------------------------------------- limits and failures


async def test_flood_control_per_private_chat_group_and_bot() -> None:
    limits = RateLimits(global_count=5, global_window=60, private_count=1, private_window=60, group_count=2)
    async with TelegramEmulator(rate_limits=limits) as emu:
        client = emu.create_bot()
        try:
            await client.send_message(1, "раз")
            with pytest.raises(TelegramRetryAfter) as flood:
                await client.send_message(1, "два")
            assert flood.value.retry_after == 60
            await client.send_message(-1, "г1")
            await client.send_message(-1, "г2")
            with pytest.raises(TelegramRetryAfter):
                await client.send_message(-1, "г3")
            await client.send_message(2, "x")
            await client.send_message(3, "x")
            with pytest.raises(TelegramRetryAfter):  # the sixth message of the bot within the window
                await client.send_message(4, "x")
        finally:
            await client.session.close()
        refused = [r for r in emu.calls("sendMessage") if r.status == 429]
        assert len(refused) == 3
        assert refused[0].description == "Too Many Requests: retry after 60"


async def test_injected_failures_surface_as_aiogram_errors(emu: TelegramEmulator, bot: Bot) -> None:
    emu.fail_next(1, "retry_after", retry_after=3)
    with pytest.raises(TelegramRetryAfter) as flood:
        await bot.send_message(CITIZEN, "x")
    assert flood.value.retry_after == 3
    emu.fail_next(1, "server_error", status=502)
    with pytest.raises(TelegramServerError):
        await bot.send_message(CITIZEN, "x")
    emu.fail_next(1, "bad_gateway_html")
    with pytest.raises(ClientDecodeError):
        await bot.send_message(CITIZEN, "x")
    emu.fail_next(1, "disconnect")
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(CITIZEN, "x")
    emu.fail_next(1, "server_error", methods=["editMessageText"])
    await bot.send_message(CITIZEN, "дошло")  # the failure waits for its method
    assert [visible_text(m) for m in emu.sent(CITIZEN)] == ["дошло"]
    assert [r.status for r in emu.calls("sendMessage")] == [429, 502, 502, 0, 200]


async def test_request_log_has_timestamps(emu: TelegramEmulator, bot: Bot) -> None:
    await bot.send_message(CITIZEN, "x")
    [record] = emu.calls("sendmessage")
    assert record.ok and record.chat_id == CITIZEN
    assert record.finished_at is not None and record.finished_at >= record.received_at


def _raw_message(number: int) -> dict[str, Any]:
    return {
        "message_id": number + 1,
        "date": 0,
        "chat": {"id": CITIZEN, "type": "private", "first_name": "Иван"},
        "from": {"id": CITIZEN, "is_bot": False, "first_name": "Иван"},
        "text": f"raw {number}",
    }
