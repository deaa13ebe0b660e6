"""TelegramSender: splitting, pacing and retries, against the Telegram emulator via the real aiogram Bot."""

from __future__ import annotations

import asyncio
import gc
import itertools
import weakref
from collections.abc import AsyncIterator, Sequence

import pytest
from aiogram import Bot
from aiogram.methods.base import Response
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.sender import (
    Outgoing,
    SendFailed,
    SendResult,
    TelegramSender,
)
from emulators.telegram import RateLimits, RequestRecord, TelegramEmulator, html_to_text, visible_text
from views.html import escape, split_html, split_plain, trim_html, trim_plain

CITIZEN = 42
GROUP = -100500


class FakeTime:
    """A clock that moves only when the sender sleeps: pacing and backoff cost no real time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator() as emulator:
        yield emulator


@pytest.fixture
async def bot(emu: TelegramEmulator) -> AsyncIterator[Bot]:
    client = emu.create_bot()
    yield client
    await client.session.close()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def sender(bot: Bot, fake_time: FakeTime) -> TelegramSender:
    return TelegramSender(bot, clock=fake_time.clock, sleep=fake_time.sleep)


def texts(emu: TelegramEmulator, chat_id: int) -> list[str]:
    return [visible_text(m) for m in emu.sent(chat_id)]


def keyboard(data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Принять", callback_data=data)]])


# ------------------------------------------------------------------------------------ pure splitting


@pytest.mark.parametrize(
    ("text", "limit", "pieces"),
    [
        ("short", 10, ["short"]),
        ("<b>fits exactly</b>", 12, ["<b>fits exactly</b>"]),  # tags do not count
        ("line one\nline two\nline three", 18, ["line one\nline two\n", "line three"]),
        ("word word word word", 10, ["word word ", "word word"]),
        ("x" * 25, 10, ["x" * 10, "x" * 10, "x" * 5]),  # no break: hard cut
        (
            "<b>bold one\nbold two</b>",
            10,
            ["<b>bold one\n</b>", "<b>bold two</b>"],
        ),  # tags closed and reopened
        (
            '<a href="https://x.ru/?a&amp;b">link text here</a>',
            10,
            ['<a href="https://x.ru/?a&amp;b">link text </a>', '<a href="https://x.ru/?a&amp;b">here</a>'],
        ),
        ("<b>a <i>b c</i> d</b>", 4, ["<b>a <i>b </i></b>", "<b><i>c</i> d</b>"]),
        ("&amp;&amp;&amp;&amp;", 2, ["&amp;&amp;", "&amp;&amp;"]),  # a reference is one character, never cut
        ("😀😀😀", 4, ["😀😀", "😀"]),  # UTF-16 units: never more than Telegram counts
        ("text\n\n\n\n\n\n\n\n\n\n\n\n", 5, ["text\n"]),  # blank pieces are dropped
    ],
)
def test_split_html_table(text: str, limit: int, pieces: list[str]) -> None:
    assert split_html(text, limit) == pieces


def test_split_plain_keeps_markup_like_text_literal() -> None:
    assert split_plain("<b>&amp;</b> tail", 8) == ["<b>&amp;", "</b> ", "tail"]


@pytest.mark.parametrize("lines", [3, 60, 500])
def test_split_html_pieces_fit_parse_and_add_up_to_the_original(lines: int) -> None:
    citizen = "<b>bold</b> & <script>x</script> «кавычки» 😀"
    text = "\n".join(
        f"<i>Строка {n}</i>: <b>{escape(citizen)}</b> {'слово ' * (n % 7)}конец" for n in range(lines)
    )
    pieces = split_html(text, 4096)
    visible = [html_to_text(piece) for piece in pieces]  # each piece is valid Telegram HTML
    assert all(len(v.encode("utf-16-le")) // 2 <= 4096 for v in visible)
    assert "\n".join(visible) == html_to_text(text)  # cuts fall on line ends: nothing lost or doubled


@pytest.mark.parametrize(
    ("text", "limit", "trimmed"),
    [
        ("short", 10, "short"),
        ("<b>hello world and more</b>", 10, "<b>hello…</b>"),
        ("hello world and more", 10, "hello…"),
        ("<b>x</b>" + "y" * 20, 5, "<b>x</b>yyy…"),
    ],
)
def test_trim_html_table(text: str, limit: int, trimmed: str) -> None:
    assert trim_html(text, limit) == trimmed


def test_trim_plain() -> None:
    assert trim_plain("<b> is literal here", 8) == "<b> is…"


def test_escape_is_aiogram_html_quote() -> None:
    assert escape('<b>&"') == '&lt;b&gt;&amp;"'


# ------------------------------------------------------------------------------------------ sending


async def test_long_text_goes_out_as_two_messages_in_order(
    emu: TelegramEmulator, sender: TelegramSender
) -> None:
    question = emu.push_message(CITIZEN, CITIZEN, "Когда отремонтируют дорогу?")
    lines = [f"{n:03d}. <b>Пункт</b> ответа: {escape('ремонт & <дороги>')}" for n in range(130)]
    text = "\n".join(lines)
    assert 4096 < len(html_to_text(text)) <= 5000 < len(text)
    result = await sender.send(
        Outgoing(
            "answer-1", CITIZEN, text, reply_markup=keyboard("ok"), reply_to_message_id=question.message_id
        )
    )
    first, second = emu.sent(CITIZEN)
    assert result.message_ids == (first.message_id, second.message_id)
    assert (result.chat_id, result.attempts, result.not_modified) == (CITIZEN, 2, False)
    assert visible_text(first) + "\n" + visible_text(second) == html_to_text(text)
    assert (first.reply_to_message_id, second.reply_to_message_id) == (question.message_id, None)
    assert (first.reply_markup, second.reply_markup is not None) == (None, True)


async def test_plain_text_is_split_too(emu: TelegramEmulator, sender: TelegramSender) -> None:
    text = "<b>не разметка</b> " * 300
    result = await sender.send(Outgoing("plain", CITIZEN, text, parse_mode=None))
    assert len(result.message_ids) == 2
    assert "".join(m.text or "" for m in emu.sent(CITIZEN)).replace(" ", "") == text.replace(" ", "")


async def test_a_429_storm_loses_nothing_and_keeps_chat_order(
    emu: TelegramEmulator, sender: TelegramSender
) -> None:
    emu.fail_next(20, "retry_after", retry_after=1)
    chats = [CITIZEN, 43, GROUP]
    items = [Outgoing(f"{chat}-{n}", chat, f"Сообщение {n}") for n in range(10) for chat in chats]
    results = await sender.send_many(items)
    assert all(isinstance(r, SendResult) for r in results)
    assert [r.key for r in results] == [item.key for item in items]
    for chat in chats:
        assert texts(emu, chat) == [f"Сообщение {n}" for n in range(10)]
    assert len([r for r in emu.calls("sendMessage") if r.status == 429]) == 20
    assert sum(r.attempts for r in results if isinstance(r, SendResult)) == 30 + 20


async def test_the_real_flood_limiter_with_a_tiny_window_loses_nothing() -> None:
    """A sender that does not pace itself, against the emulator's flood control: every 429 is waited out."""
    limits = RateLimits(
        global_count=100, private_count=1, private_window=0.05, group_count=2, group_window=0.05
    )
    async with TelegramEmulator(rate_limits=limits) as emu:
        client = emu.create_bot()
        try:
            # retry_after is whole seconds (1 here); a tenth of it in real time outlasts the 50 ms windows.
            impatient = TelegramSender(
                client, per_second=1000, per_chat_interval=0, group_per_minute=1000, sleep=_scaled_sleep
            )
            items = [Outgoing(f"{chat}-{n}", chat, f"№{n}") for n in range(5) for chat in (CITIZEN, GROUP)]
            results = await impatient.send_many(items)
        finally:
            await client.session.close()
    assert all(isinstance(r, SendResult) for r in results)
    assert texts(emu, CITIZEN) == texts(emu, GROUP) == [f"№{n}" for n in range(5)]
    assert any(r.status == 429 for r in emu.calls("sendMessage"))


async def _scaled_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds / 10)


async def test_server_errors_and_dropped_connections_are_retried_with_backoff(
    emu: TelegramEmulator, bot: Bot, fake_time: FakeTime
) -> None:
    sender = TelegramSender(bot, per_chat_interval=0, clock=fake_time.clock, sleep=fake_time.sleep)
    emu.fail_next(2, "server_error")
    emu.fail_next(1, "disconnect")
    emu.fail_next(1, "bad_gateway_html")
    result = await sender.send(Outgoing("k", CITIZEN, "после сбоев"))
    assert result.attempts == 5
    assert texts(emu, CITIZEN) == [
        "после сбоев"
    ]  # the connection dropped before Telegram acted: no duplicate
    assert fake_time.sleeps == [0.5, 1.0, 2.0, 4.0]


async def test_gives_up_after_max_attempts_so_the_caller_keeps_the_row(
    emu: TelegramEmulator, bot: Bot, fake_time: FakeTime
) -> None:
    sender = TelegramSender(bot, max_attempts=3, clock=fake_time.clock, sleep=fake_time.sleep)
    emu.fail_next(3, "server_error", status=503)
    with pytest.raises(SendFailed) as failed:
        await sender.send(Outgoing("outbox-7", CITIZEN, "x"))
    assert (failed.value.attempts, failed.value.permanent, failed.value.item.key) == (3, False, "outbox-7")
    assert texts(emu, CITIZEN) == []
    assert (await sender.send(Outgoing("outbox-7", CITIZEN, "x"))).message_ids == (1,)  # the next run


async def test_refusals_are_permanent_and_not_retried(emu: TelegramEmulator, sender: TelegramSender) -> None:
    with pytest.raises(SendFailed) as bad_html:
        await sender.send(Outgoing("html", CITIZEN, "Жалоба: <script>"))
    assert bad_html.value.permanent and bad_html.value.attempts == 1
    assert "can't parse entities" in bad_html.value.reason
    emu.block_bot(CITIZEN)
    with pytest.raises(SendFailed) as blocked:
        await sender.send(Outgoing("blocked", CITIZEN, "x"))
    assert blocked.value.permanent and "blocked" in blocked.value.reason


async def test_blank_text_is_refused_not_silently_skipped(sender: TelegramSender) -> None:
    with pytest.raises(SendFailed, match="message text is empty") as failed:
        await sender.send(Outgoing("blank", CITIZEN, " " * 5000))
    assert failed.value.permanent


async def test_a_failure_stops_its_chat_but_not_the_others(
    emu: TelegramEmulator, sender: TelegramSender
) -> None:
    items = [
        Outgoing("a1", CITIZEN, "первое"),
        Outgoing("a2", CITIZEN, "<oops>"),
        Outgoing("b1", GROUP, "в группу"),
        Outgoing("a3", CITIZEN, "третье"),
        Outgoing("b2", GROUP, "ещё"),
    ]
    results = await sender.send_many(items)
    outcome = [(r.key, True) if isinstance(r, SendResult) else (r.item.key, False) for r in results]
    assert outcome == [("a1", True), ("a2", False), ("b1", True), ("a3", False), ("b2", True)]
    skipped = results[3]
    assert isinstance(skipped, SendFailed) and skipped.attempts == 0 and not skipped.permanent
    assert texts(emu, CITIZEN) == ["первое"]
    assert texts(emu, GROUP) == ["в группу", "ещё"]


async def test_concurrent_sends_to_one_chat_keep_their_order(
    emu: TelegramEmulator, sender: TelegramSender
) -> None:
    await asyncio.gather(*(sender.send(Outgoing(str(n), CITIZEN, f"№{n}")) for n in range(12)))
    assert texts(emu, CITIZEN) == [f"№{n}" for n in range(12)]


async def test_edits_not_modified_counts_as_done_and_long_text_is_trimmed(
    emu: TelegramEmulator, sender: TelegramSender
) -> None:
    card = await sender.send(Outgoing("card", GROUP, "Статус: <b>новое</b>", reply_markup=keyboard("take")))
    [message_id] = card.message_ids
    same = await sender.send(
        Outgoing(
            "card", GROUP, "Статус: <b>новое</b>", reply_markup=keyboard("take"), edit_message_id=message_id
        )
    )
    assert same.not_modified and same.message_ids == (message_id,)

    long = "<b>Статус</b>\n" + "очень длинный текст " * 300
    edited = await sender.send(Outgoing("card", GROUP, long, edit_message_id=message_id))
    assert not edited.not_modified
    [msg] = emu.sent(GROUP)
    shown = visible_text(msg)
    assert shown.endswith("…") and len(shown) <= 4096
    assert msg.reply_markup is None  # no keyboard given: the edit removed it


async def test_a_migrated_group_is_followed(emu: TelegramEmulator, sender: TelegramSender) -> None:
    supergroup = emu.migrate_group(-5)
    first = await sender.send(Outgoing("m1", -5, "в группу"))
    second = await sender.send(Outgoing("m2", -5, "ещё"))
    assert (first.chat_id, second.chat_id, second.attempts) == (supergroup, supergroup, 1)
    assert texts(emu, supergroup) == ["в группу", "ещё"]


# --------------------------------------------------------------------------- limits, in real time


def _most_in_any_window(stamps: Sequence[float], window: float) -> int:
    ordered = sorted(stamps)
    most = 0
    for i, stamp in enumerate(ordered):
        most = max(most, sum(1 for other in ordered[i:] if other < stamp + window))
    return most


def _arrivals(records: Sequence[RequestRecord], chat_id: int | None = None) -> list[float]:
    return [r.received_at for r in records if r.ok and (chat_id is None or r.chat_id == chat_id)]


async def test_pacing_keeps_global_per_chat_and_group_limits() -> None:
    limits = RateLimits(
        global_count=10,
        global_window=0.25,
        private_count=1,
        private_window=0.1,
        group_count=3,
        group_window=0.4,
    )
    async with TelegramEmulator(rate_limits=limits) as emu:
        client = emu.create_bot()
        try:
            sender = TelegramSender(
                client,
                per_second=40,
                global_window=0.25,
                per_chat_interval=0.1,
                group_per_minute=3,
                group_window=0.4,
            )
            items = [Outgoing(f"p{chat}-{n}", chat, f"№{n}") for n in range(4) for chat in range(1, 9)]
            items += [Outgoing(f"g{n}", GROUP, f"№{n}") for n in range(6)]
            results = await sender.send_many(items)
        finally:
            await client.session.close()
    assert all(isinstance(r, SendResult) and r.attempts == 1 for r in results)  # not a single 429
    sends = emu.calls("sendMessage")
    assert _most_in_any_window(_arrivals(sends), 0.25) <= 10
    for chat in range(1, 9):
        stamps = _arrivals(sends, chat)
        assert min(b - a for a, b in itertools.pairwise(stamps)) >= 0.1
    assert _most_in_any_window(_arrivals(sends, GROUP), 0.4) <= 3
    assert texts(emu, GROUP) == [f"№{n}" for n in range(6)]


async def test_telegram_default_limits_are_kept_without_a_429() -> None:
    async with TelegramEmulator(rate_limits=True) as emu:
        client = emu.create_bot()
        try:
            sender = TelegramSender(client)
            items = [Outgoing(f"d{n}", CITIZEN, f"№{n}") for n in range(3)]
            items += [Outgoing(f"c{chat}", chat, "Уведомление") for chat in range(1000, 1045)]
            loop = asyncio.get_running_loop()
            started = loop.time()
            results = await sender.send_many(items)
            elapsed = loop.time() - started
        finally:
            await client.session.close()
    assert all(isinstance(r, SendResult) and r.attempts == 1 for r in results)
    sends = emu.calls("sendMessage")
    assert _most_in_any_window(_arrivals(sends), 1.0) <= 30
    stamps = _arrivals(sends, CITIZEN)
    assert min(b - a for a, b in itertools.pairwise(stamps)) >= 1.0
    assert elapsed >= 2.0  # three messages to one chat take two intervals


# ----------------------------------------------------------------------- the record window (issue 8)


async def test_recorded_posts_go_one_at_a_time_across_chats_and_others_do_not_wait(
    emu: TelegramEmulator, sender: TelegramSender
) -> None:
    """A post with `recorded` holds the window from its call to the end of its record: a second such post in
    another chat is not sent meanwhile (a kill then leaves one unrecorded post, not one per chat), while a post
    without a record goes straight out."""
    first, second, plain = (emu.add_chat(chat_id).id for chat_id in (-100701, -100702, -100703))
    release = asyncio.Event()
    seen: list[tuple[int, int]] = []

    async def slow_record(message: Message) -> None:
        seen.append((message.chat.id, message.message_id))
        await release.wait()

    async def quick_record(message: Message) -> None:
        seen.append((message.chat.id, message.message_id))

    one = asyncio.create_task(sender.send(Outgoing(key="a", chat_id=first, text="A", recorded=slow_record)))
    await emu.wait_for(lambda: seen)
    two = asyncio.create_task(sender.send(Outgoing(key="b", chat_id=second, text="B", recorded=quick_record)))
    await sender.send(Outgoing(key="c", chat_id=plain, text="C"))  # not held back by the window
    assert texts(emu, plain) == ["C"]
    assert texts(emu, second) == []  # waits for the first record
    release.set()
    await asyncio.gather(one, two)
    assert texts(emu, second) == ["B"]
    assert [chat for chat, _ in seen] == [first, second]


async def test_the_record_after_a_post_does_not_hold_the_chats_pace(
    emu: TelegramEmulator, sender: TelegramSender, fake_time: FakeTime
) -> None:
    """The pace is counted from Telegram's answer, not from the end of the caller's record of it: a record that
    takes 0.3 s leaves 0.7 s to wait before the chat's next message, not a whole second more."""

    async def slow_record(message: Message) -> None:
        fake_time.now += 0.3  # the database write after the answer

    await sender.send(Outgoing(key="a", chat_id=CITIZEN, text="A", recorded=slow_record))
    await sender.send(Outgoing(key="b", chat_id=CITIZEN, text="B", recorded=slow_record))
    assert texts(emu, CITIZEN) == ["A", "B"]
    assert fake_time.sleeps == [pytest.approx(0.7)]


# ------------------------------------------------------------------------------------ aiogram's answer models


async def test_answer_models_survive_a_garbage_collection(sender: TelegramSender) -> None:
    """pydantic keeps a parametrized model such as `Response[Message]` only weakly: without the sender holding it,
    a collection freed it and every later answer built it again (5 ms or more each, seen in the intake bench)."""
    await sender.send(Outgoing("first", CITIZEN, "Первое"))
    built = weakref.ref(Response[Message])
    gc.collect()
    assert built() is not None, "Response[Message] was freed: the next answer would build it again"
    await sender.send(Outgoing("second", CITIZEN, "Второе"))
    assert Response[Message] is built()
