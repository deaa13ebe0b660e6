"""The one way out to Telegram: every outbound message goes through a TelegramSender.

It keeps Telegram's limits itself (30 messages a second in all, 1 a second per chat, 20 a minute per group),
so 429s are rare, and when they come anyway it waits the ``retry_after`` Telegram names. 5xx answers, broken
connections and garbled answers are retried with exponential backoff. A message that still fails raises
SendFailed and the caller keeps its outbox row for the next run: nothing is dropped silently.

Delivery is at least once: a connection that breaks after Telegram accepted the message is indistinguishable
from one that broke before, and the retry then posts the message twice. Telegram has no idempotency key.

Messages to one chat go out in the order they were given; different chats proceed concurrently.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    DeleteMessage,
    EditMessageCaption,
    EditMessageReplyMarkup,
    EditMessageText,
    Response,
    SendDocument,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
    SendVideo,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
    ReplyParameters,
)

from views.html import TEXT_LIMIT, split_html, split_plain, trim_html, trim_plain
from views.layout import TELEGRAM_KEYBOARD, KeyboardLimits

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]


# ------------------------------------------------------------------------------------ calls beside the sender

# Set while the sender makes a call: it paces and retries its own, the middleware below leaves them alone.
_IN_SENDER: ContextVar[bool] = ContextVar("otklik_in_sender", default=False)


class FloodWaitMiddleware(BaseRequestMiddleware):
    """Waits out a 429 for the calls handlers make themselves (callback answers, replies, prompts, keyboard
    edits) and tries again, as the sender does for its messages.

    Without it such a call fails under flood control: a unit toggle's keyboard edit was swallowed and the
    toggles never appeared. A 429 means Telegram did nothing, so the retry cannot duplicate anything; other
    errors are left to the caller. Waits longer than ``max_wait`` seconds in all are not worth a handler's time.
    """

    def __init__(self, *, max_wait: float = 30.0, sleep: Sleep = asyncio.sleep) -> None:
        self._max_wait = max_wait
        self._sleep = sleep

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if _IN_SENDER.get():
            return await make_request(bot, method)
        waited = 0.0
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if waited + exc.retry_after > self._max_wait:
                    raise
                waited += exc.retry_after
                await self._sleep(exc.retry_after)


# The parametrized response models aiogram validates answers with (`Response[Message]`, ...), kept alive here.
# pydantic caches a parametrized generic model only weakly, so once a garbage collection frees it, the next call
# builds it again: 5 ms or more each, seen 20 times in 100 intake cards (py-spy, bench/channels_bench.py).
_RESPONSE_MODELS: dict[Any, type[Response[Any]]] = {}


class _KeepResponseModels(BaseRequestMiddleware):
    """Holds `Response[T]` for every result type T the bot has asked for, so that it is built once per process."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in _RESPONSE_MODELS:
            _RESPONSE_MODELS[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)


# Told of a message that a call beside the sender changed (chat id, message id): a handler redrawing a card's
# keyboard in place. What the sender last put in that message is then no longer what it shows.
EditListener = Callable[[int, int], None]
_FOREIGN_EDITS = (EditMessageText, EditMessageReplyMarkup, EditMessageCaption, DeleteMessage)


class _ForeignEdits(BaseRequestMiddleware):
    """Tells the sender's edit listeners of every message a call beside the sender edits or deletes."""

    def __init__(self, listeners: list[EditListener]) -> None:
        self._listeners = listeners

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        foreign = not _IN_SENDER.get() and isinstance(method, _FOREIGN_EDITS)
        if not foreign:
            return await make_request(bot, method)
        self._tell(method)
        try:
            return await make_request(bot, method)
        finally:
            self._tell(method)  # again after: an edit of ours that landed meanwhile is under this one

    def _tell(self, method: Any) -> None:
        chat_id, message_id = getattr(method, "chat_id", None), getattr(method, "message_id", None)
        if isinstance(chat_id, int) and isinstance(message_id, int):
            for listener in self._listeners:
                listener(chat_id, message_id)


# ------------------------------------------------------------------------------------------------- sending


MEDIA_KINDS = frozenset({"photo", "document", "video"})
MEDIA_GROUP_MAX = 10  # Telegram's sendMediaGroup takes 2 to 10 items


@dataclass(frozen=True)
class Media:
    """A file Telegram already holds (a photo, document or video someone sent the bot), sent again by file_id."""

    kind: str  # "photo" | "document" | "video" (MEDIA_KINDS)
    file_id: str
    name: str = ""
    data: bytes | None = None  # the file's bytes (a network item's file kept by Otklik): uploaded, not by id


@dataclass(frozen=True)
class Outgoing:
    """One message to send, or to put in place of ``edit_message_id``.

    ``key`` identifies it for the caller (an outbox row). On an edit, ``reply_markup=None`` removes the
    message's keyboard: Telegram drops the keyboard on any editMessageText that does not repeat it.
    """

    key: str
    chat_id: int
    text: str
    parse_mode: str | None = "HTML"
    reply_markup: InlineKeyboardMarkup | None = None
    edit_message_id: int | None = None
    reply_to_message_id: int | None = None
    # Sent without sound (Telegram's disable_notification): outside working hours, see workflow/quiet.py.
    disable_notification: bool = False
    # Awaited right after Telegram accepted the first piece (the caller records the message), inside a window
    # that admits one such call at a time across all chats: a kill can then leave at most one accepted but
    # unrecorded post behind (a card posted twice after the restart), not one per chat. The window holds one
    # HTTP call and its record only; pacing and flood waits stay outside it.
    recorded: Callable[[Message], Awaitable[None]] | None = None
    # Files sent after the text, as replies to its first piece: one sendPhoto/sendDocument/sendVideo, or an
    # album (sendMediaGroup) per up to 10 photos and videos and per up to 10 documents. Part of the same item:
    # the caller records the item once, after the text and its files went out. Not for edits.
    media: tuple[Media, ...] = ()


@dataclass(frozen=True)
class SendResult:
    key: str
    chat_id: int  # where it went: differs from the item's chat after a group became a supergroup
    message_ids: tuple[int, ...]  # one per piece of a split text; the edited message for an edit
    attempts: int  # HTTP calls made, retries included
    not_modified: bool = False  # an edit Telegram found identical to the message: done all the same
    # Files Telegram refused for good (a file id it does not know, a file too big): the text and the other
    # files went out, so the item is done; the caller says what was refused. Empty when all went out.
    media_refused: tuple[str, ...] = ()


class SendFailed(Exception):
    """A message that could not be delivered; the caller keeps it for the next run.

    ``permanent`` is True when retrying cannot help as is (bad HTML, bot blocked, chat not found);
    ``sent_message_ids`` are the pieces of a split text that did go out before the failure.
    """

    def __init__(
        self,
        item: Outgoing,
        reason: str,
        *,
        attempts: int,
        permanent: bool,
        sent_message_ids: tuple[int, ...] = (),
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(f"{item.key} → chat {item.chat_id}: {reason}")
        self.item = item
        self.reason = reason
        self.attempts = attempts
        self.permanent = permanent
        self.sent_message_ids = sent_message_ids
        self.cause = cause


def _is_html(item: Outgoing) -> bool:
    return (item.parse_mode or "").upper() == "HTML"


def _send_method(item: Outgoing, piece: str, *, first: bool, last: bool) -> Callable[[int], SendMessage]:
    """The sendMessage for one piece of a text: the reply goes on the first, the keyboard under the last."""
    reply = (
        ReplyParameters(message_id=item.reply_to_message_id, allow_sending_without_reply=True)
        if first and item.reply_to_message_id is not None
        else None
    )
    markup = item.reply_markup if last else None

    def build(chat_id: int) -> SendMessage:
        return SendMessage(
            chat_id=chat_id,
            text=piece,
            parse_mode=item.parse_mode,
            reply_markup=markup,
            reply_parameters=reply,
            disable_notification=True if item.disable_notification else None,
        )

    return build


def media_batches(media: Iterable[Media]) -> list[tuple[Media, ...]]:
    """The calls that send these files, in order of first appearance: photos and videos share albums,
    documents have their own (Telegram does not mix them), each of at most MEDIA_GROUP_MAX."""
    media = list(media)
    visual = [m for m in media if m.kind in ("photo", "video")]
    documents = [m for m in media if m.kind == "document"]
    batches: list[tuple[Media, ...]] = []
    for group in (visual, documents):
        batches += [tuple(group[i : i + MEDIA_GROUP_MAX]) for i in range(0, len(group), MEDIA_GROUP_MAX)]
    return batches


def _file(m: Media) -> str | BufferedInputFile:
    return BufferedInputFile(m.data, filename=m.name or m.kind) if m.data is not None else m.file_id


def _media_method(batch: tuple[Media, ...], reply_to: int | None) -> Callable[[int], TelegramMethod[Any]]:
    reply = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None

    def build(chat_id: int) -> TelegramMethod[Any]:
        if len(batch) == 1:
            one = batch[0]
            if one.kind == "photo":
                return SendPhoto(chat_id=chat_id, photo=_file(one), reply_parameters=reply)
            if one.kind == "video":
                return SendVideo(chat_id=chat_id, video=_file(one), reply_parameters=reply)
            return SendDocument(chat_id=chat_id, document=_file(one), reply_parameters=reply)
        items: list[Any] = []  # InputMediaPhoto | InputMediaVideo | InputMediaDocument
        for m in batch:
            if m.kind == "photo":
                items.append(InputMediaPhoto(media=_file(m)))
            elif m.kind == "video":
                items.append(InputMediaVideo(media=_file(m)))
            else:
                items.append(InputMediaDocument(media=_file(m)))
        return SendMediaGroup(chat_id=chat_id, media=items, reply_parameters=reply)

    return build


class _Window:
    """At most ``limit`` requests per ``period`` seconds.

    A request holds its place from when it starts until ``period`` after its answer arrives. Telegram counts
    a request when it arrives, which lies between the two, so however the network delays requests, the server
    never sees more than ``limit`` in any ``period``. What the caller does with the answer (a record) is not
    part of it.
    """

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.in_flight = 0
        self.done: deque[float] = deque()

    def delay(self, now: float) -> float | None:
        """0 when a request may start now, seconds to wait, or None to wait for a request in flight."""
        while self.done and self.done[0] <= now - self.period:
            self.done.popleft()
        if len(self.done) + self.in_flight < self.limit:
            return 0.0
        if self.done:
            return self.done[0] + self.period - now
        return None

    def idle_since(self, now: float) -> bool:
        return self.in_flight == 0 and (not self.done or self.done[-1] <= now - self.period)


@dataclass(eq=False)
class _Slot:
    """The places one HTTP call holds in its windows, until its answer (TelegramSender._release)."""

    windows: list[_Window]
    released: bool = False


class _ChatState:
    def __init__(self, windows: list[_Window]) -> None:
        self.lock = asyncio.Lock()  # FIFO: keeps a chat's messages in order
        self.windows = windows
        self.users = 0


class TelegramSender:
    """Sends Outgoing items through an aiogram Bot, paced to Telegram's limits, retrying what can be."""

    def __init__(
        self,
        bot: Bot,
        *,
        per_second: float = 30,
        global_window: float = 1.0,
        per_chat_interval: float = 1.0,
        group_per_minute: int = 20,
        group_window: float = 60.0,
        max_attempts: int = 8,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_flood_wait: float = 3600.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        text_limit: int = TEXT_LIMIT,
        keyboard_limits: KeyboardLimits = TELEGRAM_KEYBOARD,
    ) -> None:
        """``max_attempts`` bounds the tries of one message against errors (5xx, network); a 429 is not an
        error but an instruction, so flood waits are bounded separately by ``max_flood_wait`` seconds.
        ``per_second`` is counted over ``global_window`` and ``group_per_minute`` over ``group_window``
        (1 s and 60 s as on Telegram; shorter in tests). ``text_limit``: the characters of one message (4,096 on
        Telegram, 4,000 on MAX); a longer text is split, a longer edit shortened. ``keyboard_limits``: the rows,
        buttons a row and buttons of one inline keyboard (Telegram's unless told: MAX has its own)."""
        if per_second <= 0 or global_window <= 0 or per_chat_interval < 0 or group_per_minute < 1:
            raise ValueError("rate limits must be positive")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._bot = bot
        self._text_limit = text_limit
        self._keyboard_limits = keyboard_limits
        global_limit = max(1, int(per_second * global_window))
        self._global = _Window(global_limit, global_limit / per_second)
        self._per_chat_interval = per_chat_interval
        self._group_per_minute = group_per_minute
        self._group_window = group_window
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_flood_wait = max_flood_wait
        self._clock = clock
        self._sleep = sleep
        self._chats: dict[int, _ChatState] = {}
        self._migrated: dict[int, int] = {}  # group id → supergroup id, learnt from Telegram's answers
        self._released = asyncio.Event()
        self._record_window = asyncio.Lock()  # see Outgoing.recorded
        self._edit_listeners: list[EditListener] = []
        bot.session.middleware(_ForeignEdits(self._edit_listeners))
        bot.session.middleware(_KeepResponseModels())

    # ------------------------------------------------------------------------------------------- public

    @property
    def text_limit(self) -> int:
        """The visible characters of one message on this sender's messenger: what views/ fit cards into."""
        return self._text_limit

    @property
    def keyboard_limits(self) -> KeyboardLimits:
        """The inline keyboard limits of this sender's messenger: what views/ lay long lists of buttons out in."""
        return self._keyboard_limits

    def on_foreign_edit(self, listener: EditListener) -> None:
        """Call `listener(chat id, message id)` whenever a call on this sender's bot made beside the sender (a
        handler's) edits or deletes a message, before the call and after it."""
        self._edit_listeners.append(listener)

    def fits(self, item: Outgoing) -> bool:
        """Whether the item's text goes out whole as one message: an edit with it then puts the same text."""
        limit = self._text_limit
        pieces = split_html(item.text, limit) if _is_html(item) else split_plain(item.text, limit)
        return pieces == [item.text]

    async def send(self, item: Outgoing) -> SendResult:
        """Deliver one item (all pieces of a long text, in order) or raise SendFailed."""
        chat_id = self._migrated.get(item.chat_id, item.chat_id)
        state = self._chat(chat_id)
        state.users += 1
        try:
            async with state.lock:
                if item.edit_message_id is not None:
                    return await self._edit(item, chat_id)
                return await self._send_pieces(item, chat_id)
        finally:
            state.users -= 1
            self._forget_idle_chats()

    async def send_many(self, items: Iterable[Outgoing]) -> list[SendResult | SendFailed]:
        """Deliver items concurrently across chats and in order within each chat.

        Returns one entry per item, in the given order: a SendResult, or the SendFailed for it. After a
        failure the chat's later items are not attempted (their SendFailed says so), so a retry of the
        failed one cannot arrive after them.
        """
        batch = list(items)
        results: list[SendResult | SendFailed | None] = [None] * len(batch)
        by_chat: dict[int, list[int]] = {}
        for index, item in enumerate(batch):
            by_chat.setdefault(item.chat_id, []).append(index)

        async def run_chat(indices: list[int]) -> None:
            for position, index in enumerate(indices):
                try:
                    results[index] = await self.send(batch[index])
                except SendFailed as failure:
                    results[index] = failure
                    for later in indices[position + 1 :]:
                        results[later] = SendFailed(
                            batch[later],
                            f"not attempted: {batch[index].key} before it in the chat failed",
                            attempts=0,
                            permanent=False,
                        )
                    return

        async with asyncio.TaskGroup() as group:
            for indices in by_chat.values():
                group.create_task(run_chat(indices))
        done: list[SendResult | SendFailed] = []
        for result in results:
            assert result is not None  # every chat task filled its items before the group exited
            done.append(result)
        return done

    # ------------------------------------------------------------------------------------------ delivery

    async def _send_pieces(self, item: Outgoing, chat_id: int) -> SendResult:
        # Blank text splits into no pieces; send it whole so Telegram's refusal reaches the caller.
        limit = self._text_limit
        pieces = (split_html(item.text, limit) if _is_html(item) else split_plain(item.text, limit)) or [
            item.text
        ]
        message_ids: list[int] = []
        attempts = 0
        for number, piece in enumerate(pieces):
            build = _send_method(item, piece, first=number == 0, last=number == len(pieces) - 1)
            try:
                recorded = item.recorded if number == 0 else None
                answer, chat_id, tries = await self._call(item, chat_id, build, recorded)
            except SendFailed as failure:
                failure.attempts += attempts
                failure.sent_message_ids = tuple(message_ids)
                raise
            attempts += tries
            if isinstance(answer, Message):
                message_ids.append(answer.message_id)
        refused: list[str] = []
        reply_to = message_ids[0] if message_ids else item.reply_to_message_id
        for batch in media_batches(m for m in item.media if m.kind in MEDIA_KINDS):
            try:
                answer, chat_id, tries = await self._call(item, chat_id, _media_method(batch, reply_to))
            except SendFailed as failure:
                if not failure.permanent:
                    # Telegram unreachable for long: the caller keeps the item and sends it all again.
                    failure.attempts += attempts
                    failure.sent_message_ids = tuple(message_ids)
                    raise
                # Refused as is (an unknown file id): the rest still goes, the caller learns what was refused.
                attempts += failure.attempts
                refused.append(f"{', '.join(m.name or m.kind for m in batch)}: {failure.reason}")
                continue
            attempts += tries
            for sent in answer if isinstance(answer, list) else [answer]:
                if isinstance(sent, Message):
                    message_ids.append(sent.message_id)
        return SendResult(item.key, chat_id, tuple(message_ids), attempts, media_refused=tuple(refused))

    async def _edit(self, item: Outgoing, chat_id: int) -> SendResult:
        assert item.edit_message_id is not None
        message_id = item.edit_message_id
        limit = self._text_limit
        text = trim_html(item.text, limit) if _is_html(item) else trim_plain(item.text, limit)

        def build(target: int) -> EditMessageText:
            return EditMessageText(
                chat_id=target,
                message_id=message_id,
                text=text,
                parse_mode=item.parse_mode,
                reply_markup=item.reply_markup,
            )

        answer, chat_id, attempts = await self._call(item, chat_id, build)
        return SendResult(item.key, chat_id, (message_id,), attempts, not_modified=answer is None)

    async def _call(
        self,
        item: Outgoing,
        chat_id: int,
        build: Callable[[int], TelegramMethod[Any]],
        recorded: Callable[[Message], Awaitable[None]] | None = None,
    ) -> tuple[Any, int, int]:
        """Run one API call until it succeeds: (answer, chat id used, attempts). None means "not modified"."""
        attempts = errors = 0
        flood_waited = 0.0
        while True:
            slot = _Slot(await self._acquire(chat_id))
            attempts += 1
            marked = _IN_SENDER.set(True)
            try:
                if recorded is None:
                    return await self._request(build(chat_id), slot), chat_id, attempts
                async with self._record_window:
                    answer = await self._request(build(chat_id), slot)
                    if isinstance(answer, Message):
                        await recorded(answer)  # the slot is free already: the record holds no chat back
                    return answer, chat_id, attempts
            except TelegramRetryAfter as exc:
                flood_waited += exc.retry_after
                if flood_waited > self._max_flood_wait:
                    raise SendFailed(
                        item,
                        f"flood control: waited {flood_waited:.0f} s",
                        attempts=attempts,
                        permanent=False,
                        cause=exc,
                    ) from exc
                delay: float = exc.retry_after
            except TelegramMigrateToChat as exc:
                # The group became a supergroup: same conversation, new id. Remember it and resend there.
                self._migrated[chat_id] = exc.migrate_to_chat_id
                chat_id = exc.migrate_to_chat_id
                delay = 0.0
            except TelegramBadRequest as exc:
                if "message is not modified" in exc.message:
                    return None, chat_id, attempts
                raise SendFailed(item, exc.message, attempts=attempts, permanent=True, cause=exc) from exc
            except TelegramEntityTooLarge as exc:
                raise SendFailed(item, exc.message, attempts=attempts, permanent=True, cause=exc) from exc
            except (TelegramServerError, TelegramNetworkError, ClientDecodeError) as exc:
                # ClientDecodeError: an unparseable answer, e.g. a proxy's HTML 502 page in front of Telegram.
                errors += 1
                if errors >= self._max_attempts:
                    raise SendFailed(
                        item,
                        f"gave up after {errors} errors: {exc}",
                        attempts=attempts,
                        permanent=False,
                        cause=exc,
                    ) from exc
                delay = min(self._backoff_max, self._backoff_base * 2 ** (errors - 1))
            except TelegramAPIError as exc:  # 401, 403, 404, 409: nothing a retry would change
                raise SendFailed(item, exc.message, attempts=attempts, permanent=True, cause=exc) from exc
            finally:
                _IN_SENDER.reset(marked)
                self._release(slot)  # a method that failed to build was never sent (_request freed the rest)
            if delay > 0:
                await self._sleep(delay)

    # ------------------------------------------------------------------------------------------- pacing

    def _chat(self, chat_id: int) -> _ChatState:
        state = self._chats.get(chat_id)
        if state is None:
            windows = [_Window(1, self._per_chat_interval)]
            if chat_id < 0:
                windows.append(_Window(self._group_per_minute, self._group_window))
            state = self._chats[chat_id] = _ChatState(windows)
        return state

    async def _acquire(self, chat_id: int) -> list[_Window]:
        """Wait until the chat's windows and the global one all have room; take a place in each."""
        windows = [self._global, *self._chat(chat_id).windows]
        while True:
            now = self._clock()
            delays = [window.delay(now) for window in windows]
            if all(delay == 0 for delay in delays):
                for window in windows:
                    window.in_flight += 1
                return windows
            timed = [delay for delay in delays if delay]
            if timed:
                await self._sleep(max(timed))
            else:  # every place is held by a request in flight: wait for one to finish
                released = self._released
                await released.wait()

    async def _request(self, method: TelegramMethod[Any], slot: _Slot) -> Any:
        """Make the HTTP call and free its slot as soon as the answer is in: the caller's record of the answer
        (a database write) holds no place in any window, so it does not slow the chat's pace."""
        try:
            return await self._bot(method)
        finally:
            self._release(slot)

    def _release(self, slot: _Slot) -> None:
        """Free the slot's places, counted from now (the answer: the server has counted the request by then).

        Not from the send: the server counts a request when it reads it, somewhere between the send and the
        answer, and where is not known. A count from the send (less the quickest round trip seen) was tried
        and met 429s in bench/telegram_bench.py whenever a window was full (one second lost to each), more than
        the round trip it saves. Once only: a call that raised after its answer is not freed twice.
        """
        if slot.released:
            return
        slot.released = True
        now = self._clock()
        for window in slot.windows:
            window.in_flight -= 1
            window.done.append(now)
        self._released.set()
        self._released = asyncio.Event()

    def _forget_idle_chats(self) -> None:
        if len(self._chats) < 1024:
            return
        now = self._clock()
        for chat_id in [
            chat_id
            for chat_id, state in self._chats.items()
            if state.users == 0 and all(window.idle_since(now) for window in state.windows)
        ]:
            del self._chats[chat_id]
