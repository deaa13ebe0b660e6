"""Telegram: comments under the channel's posts and direct messages to the bot in, answers out (CHANNELS.md).

`citizen_item` turns one aiogram Message (a comment in the discussion group, or a private message) into the
domain's `ChannelItem` (pure, never raises); `TelegramPublisher` replies to the comment or to the person with the
approved answer. Both serve MAX too (issue 15, channels/max.py): the Messages MaxSession hands aiogram look like
Telegram's, and what differs (the network, the links, the limit, MAX's error texts) is a `Messenger`. Telegram has no idempotency key: the caller marks its row "sending" before `publish`, and an
ambiguous failure (`PublishUnclear`) is for the operator to settle, never retried blindly.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import Chat, Message, MessageOriginChannel, ReplyParameters

from workflow.lifecycle import clean_text
from workflow.model import MAX_ID, Attachment, ChannelItem, ItemKind, Network
from workflow.ports import Answer, Clock, PublishFailed, PublishLater, PublishRefused

log = logging.getLogger(__name__)

# Characters kept of a citizen's text (Telegram allows 4,096; a forged or future update may carry more).
TEXT_LIMIT = 10_000
ANSWER_LIMIT = 4096  # a Telegram message
# Telegram's own answer when the message to reply to is gone (CHANNELS.md: deletions produce no update).
REPLY_GONE = "message to be replied not found"
# Telegram's service account that posts a channel's posts into its discussion group (is_automatic_forward).
TELEGRAM_SERVICE_USER = 777000
_KEY = re.compile(r"(-?[0-9]{1,19}):([0-9]{1,19})")


@dataclass(frozen=True, slots=True)
class Messenger:
    """What differs between the messengers whose citizens' messages come as aiogram Messages: Telegram here, MAX
    in channels/max.py. `item_link`: a citizen's message's public link ("" when none exists); `sent_link`: the
    published answer's; `reply_gone`: the error text of a reply to a deleted message; `forbidden_reason`: why a
    403 leaves the person unreachable, in Russian."""

    network: Network
    name: str  # in log lines and the card's Russian lines: «Telegram», «MAX»
    answer_limit: int
    item_link: Callable[[Message, int | None], str]
    sent_link: Callable[[Message], str]
    reply_gone: Callable[[str], bool]
    forbidden_reason: Callable[[str], str]
    gone_hint: str = ""  # what the operator does when the message answered is gone ("": Telegram's comment text)


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """What the handlers need of `[channels.telegram]`."""

    group_id: int
    channel_id: int | None = None
    direct_messages: bool = True

    @property
    def via(self) -> Messenger:
        return TELEGRAM


class Where(Enum):
    COMMENT = "comment"  # under a channel post, in its discussion group
    PRIVATE = "private"  # a direct message to the bot


def where_from(message: Message, config: ChannelConfig, *, bot_id: int) -> Where | None:
    """Whether this message is a citizen's item, and which kind; None for everything else.

    Not a citizen's: a channel post's copy in the group (is_automatic_forward), a group message outside a post's
    thread, the bot's own messages (its published answers), other bots, the channel or the group writing as
    themselves (administrators), commands. Staff are told apart by the caller (the staff directory is not here).
    """
    user = message.from_user
    if user is None or user.id == bot_id or (user.is_bot and message.sender_chat is None):
        return None
    if (message.text or "").startswith("/"):
        return None
    if message.chat.id == config.group_id:
        if message.is_automatic_forward or message.message_thread_id is None:
            return None
        sender = message.sender_chat
        if sender is not None and sender.id in (config.group_id, config.channel_id):
            return None  # an anonymous administrator, or the channel itself commenting
        return Where.COMMENT
    if message.chat.type == "private" and message.chat.id == user.id and config.direct_messages:
        return Where.PRIVATE
    return None


def item_key(chat_id: int, message_id: int) -> str:
    return f"{chat_id}:{message_id}"


def parse_key(key: str) -> tuple[int, int] | None:
    """The (chat id, message id) of a Telegram natural key; None for anything else."""
    found = _KEY.fullmatch(key)  # ASCII digits only: int() also takes «٣», «²»
    if found is None:
        return None
    chat_id, message_id = int(found.group(1)), int(found.group(2))
    if not 0 < message_id <= MAX_ID or not 0 < abs(chat_id) <= MAX_ID:
        return None
    return chat_id, message_id


def _internal(chat_id: int) -> str:
    """A supergroup's id as t.me/c/ links write it: -1001234567890 → 1234567890."""
    text = str(-chat_id)
    return text[3:] if text.startswith("100") and len(text) > 3 else text


def message_link(
    chat: Chat, message_id: int, thread: int | None = None, post: tuple[str, int] | None = None
) -> str:
    """The t.me link of a message: under a public channel's post (?comment=), in a public group, or by the
    group's internal id (t.me/c/, seen by members only); "" for a private chat (no public link exists)."""
    if post is not None:
        username, post_id = post
        return f"https://t.me/{username}/{post_id}?comment={message_id}"
    if chat.type == "private":
        return ""
    suffix = f"?thread={thread}" if thread is not None else ""
    if chat.username:
        return f"https://t.me/{chat.username}/{message_id}{suffix}"
    return f"https://t.me/c/{_internal(chat.id)}/{message_id}{suffix}"


def _post_of(message: Message) -> tuple[str, int] | None:
    """The public channel post this comment is under, when the update names it (the thread's root copy)."""
    root = message.reply_to_message
    if root is None or not root.is_automatic_forward or root.message_id != message.message_thread_id:
        return None
    origin = root.forward_origin
    if isinstance(origin, MessageOriginChannel) and origin.chat.username:
        return origin.chat.username, origin.message_id
    return None


def _author(message: Message) -> tuple[str, int]:
    sender = message.sender_chat
    if sender is not None:  # a citizen commenting as his own channel
        name = clean_text(sender.title or "")[:200]
        handle = f"@{sender.username}" if sender.username else f"id{sender.id}"
        return (f"{name} ({handle})" if name else handle), sender.id
    user = message.from_user
    assert user is not None
    name = clean_text(user.full_name)[:200]
    handle = f"@{user.username}" if user.username else f"id{user.id}"
    return (f"{name} ({handle})" if name else handle), user.id


def _attachments(message: Message) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    if message.photo:
        found.append(Attachment("photo", message.photo[-1].file_id))
    if message.document is not None:
        found.append(
            Attachment(
                "document", message.document.file_id, clean_text(message.document.file_name or "")[:200]
            )
        )
    if message.video is not None:
        found.append(Attachment("video", message.video.file_id))
    return tuple(found)


def _text(message: Message, *, name: str) -> str:
    raw = message.text if message.text is not None else message.caption
    text = clean_text(raw or "")
    if len(text) > TEXT_LIMIT:
        log.warning("%s: текст сообщения длиной %d символов сокращён до %d", name, len(text), TEXT_LIMIT)
        text = text[:TEXT_LIMIT]
    return text


def _stamp(value: datetime | int | None) -> int:
    """An edit's date as a number: two edits back to the same text stay two revisions."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(value or 0)


def citizen_item(
    message: Message, where: Where, seen_at: datetime, *, edited: bool = False, via: Messenger | None = None
) -> ChannelItem | None:
    """The message as the domain's item: new, or (an edited_message) an edit; None when it carries nothing
    (a sticker, a poll) — logged once. `via`: the messenger it came by (Telegram unless told)."""
    via = via or TELEGRAM
    text = _text(message, name=via.name)
    attachments = _attachments(message)
    if not text and not attachments:
        log.info("%s: сообщение %s:%s без текста и вложений пропущено", via.name, message.chat.id, message.message_id)
        return None
    author, author_id = _author(message)
    thread = message.message_thread_id if where is Where.COMMENT else None
    link = via.item_link(message, thread)
    revision = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]
    return ChannelItem(
        network=via.network,
        key=item_key(message.chat.id, message.message_id),
        kind=ItemKind.EDIT if edited else ItemKind.NEW,
        seen_at=seen_at,
        text=text,
        author=author,
        author_id=author_id,
        link=link,
        attachments=attachments,
        thread=f"{message.chat.id}:{thread}" if thread is not None else str(message.chat.id),
        revision=f"{_stamp(message.edit_date)}:{revision}" if edited else revision,
        written_at=message.date,
    )


# --- publishing -------------------------------------------------------------------------------------------

TOO_LONG = (
    "Ответ длиннее {limit} символов — предела сообщения {name}: сократите его или опубликуйте вручную и "
    "нажмите «Опубликовано вручную»."
)
NO_TARGET = "Не удалось понять, на какое сообщение {name} отвечать: опубликуйте ответ вручную."


class PublishUnclear(PublishFailed):
    """The call failed in a way that leaves open whether Telegram posted the answer (a timeout, a dropped
    connection, a 5xx): with no idempotency key a retry could post it twice, so the operator looks and decides."""

    def __init__(self, detail: str, name: str = "Telegram") -> None:
        super().__init__(
            f"Неясно, опубликован ли ответ в {name} (нет ответа от {name}): посмотрите, появился ли он; если да — "
            "нажмите «Опубликовано вручную», если нет — «Опубликовать снова».",
            detail=detail,
            unclear=True,
        )


class SourceGone(PublishRefused):
    """The comment was deleted: Telegram refuses the reply (400). The card shows it deleted in source."""

    def __init__(self, detail: str, name: str = "Telegram", hint: str = "") -> None:
        super().__init__(
            hint
            or f"Комментарий удалён в {name}, ответить на него нельзя: ответьте под постом, упомянув автора, "
            "и нажмите «Опубликовано», или закройте обращение как снятое автором.",
            detail=detail,
        )


class Undeliverable(PublishRefused):
    """The person blocked the bot, or never wrote to it (403): nothing can reach them from here."""

    def __init__(self, reason: str, detail: str, name: str = "Telegram") -> None:
        super().__init__(
            f"Ответ в {name} не доставить ({reason}): свяжитесь с автором иначе и нажмите «Опубликовано "
            "вручную».",
            detail=detail,
        )


class NotSentYet(PublishLater):
    """Telegram refused the call before doing anything (flood control): safe to send again after the wait."""

    def __init__(self, retry_after: int, detail: str, name: str = "Telegram") -> None:
        super().__init__(
            f"{name} просит подождать {retry_after} с; ответ будет отправлен позже.",
            detail=detail,
            delay=timedelta(seconds=retry_after),
        )
        self.retry_after = retry_after


OnGone = Callable[[ChannelItem], Awaitable[object]]


def _forbidden_reason(message: str) -> str:
    text = message.lower()
    if "blocked" in text:
        return "автор заблокировал бота"
    if "initiate" in text:
        return "автор не начинал диалог с ботом"
    return "Telegram запрещает боту писать автору"


def _item_link(message: Message, thread: int | None) -> str:
    return message_link(message.chat, message.message_id, thread, _post_of(message) if thread else None)


def _sent_link(sent: Message) -> str:
    return message_link(sent.chat, sent.message_id, sent.message_thread_id)


TELEGRAM = Messenger(
    network=Network.TELEGRAM,
    name="Telegram",
    answer_limit=ANSWER_LIMIT,
    item_link=_item_link,
    sent_link=_sent_link,
    reply_gone=lambda text: REPLY_GONE in text,
    forbidden_reason=_forbidden_reason,
)


class TelegramPublisher:
    """Posts an approved answer as a reply: to the comment in its thread (no message_thread_id: the reply lands
    there), or to the person's message in the private chat; returns the answer's link.

    Telegram takes no idempotency key (`idempotent` False): the publication row is "sending" before the call,
    a claim a dead run left is the operator's to settle, and so is a failure that may have posted the answer.
    """

    idempotent = False
    rate_per_second = 1.0  # one message a second per chat: answers go one at a time

    def __init__(
        self, bot: Bot, clock: Clock, *, on_gone: OnGone | None = None, via: Messenger | None = None
    ) -> None:
        self.bot = bot
        self.clock = clock
        self.on_gone = on_gone  # records the deletion on the case (the channel intake use case)
        self.via = via or TELEGRAM
        self.network = self.via.network

    def refusal(self, answer: Answer) -> str | None:
        name, limit = self.via.name, self.via.answer_limit
        if parse_key(answer.item_key) is None:
            return NO_TARGET.format(name=name)
        if len(answer.text) > limit:  # the messenger counts the characters of the text sent (no markup)
            return TOO_LONG.format(limit=limit, name=name)
        return None

    async def publish(self, answer: Answer) -> str:
        name = self.via.name
        parsed = parse_key(answer.item_key)
        if parsed is None:
            raise PublishRefused(NO_TARGET.format(name=name), detail=answer.item_key[:100])
        chat_id, message_id = parsed
        try:
            sent = await self.bot.send_message(
                chat_id, answer.text, parse_mode=None, reply_parameters=ReplyParameters(message_id=message_id)
            )
        except TelegramRetryAfter as exc:
            raise NotSentYet(exc.retry_after, exc.message, name) from None
        except TelegramBadRequest as exc:
            if self.via.reply_gone(exc.message):
                await self._gone(answer.item_key)
                raise SourceGone(exc.message, name, self.via.gone_hint) from None
            raise PublishFailed(f"{name} отклонил ответ: {exc.message}", detail=exc.message) from None
        except (TelegramForbiddenError, TelegramNotFound) as exc:  # MAX: a dialog that is gone is a 404
            raise Undeliverable(self.via.forbidden_reason(exc.message), exc.message, name) from None
        except TelegramUnauthorizedError as exc:
            raise PublishFailed(
                f"{name} не принимает токен бота: проверьте его (otklik check)",
                detail=exc.message,
                alert=True,
            ) from None
        except (TimeoutError, TelegramNetworkError, TelegramServerError) as exc:
            raise PublishUnclear(f"{type(exc).__name__}: {exc}"[:300], name) from None
        # A private chat's message has no link anyone else could open: the card then shows none.
        return self.via.sent_link(sent)

    async def _gone(self, key: str) -> None:
        # Telegram does not say who deleted it; staff moderating the group know their own deletions, so the
        # card says the author withdrew it, and the operator decides.
        if self.on_gone is None:
            return
        item = ChannelItem(network=self.network, key=key, kind=ItemKind.DELETE, seen_at=self.clock.now(),
                           revision="reply-refused", deleted_by_author=True)  # fmt: skip
        try:
            await self.on_gone(item)
        except Exception as exc:  # the operator is told by the refusal anyway
            log.warning("%s: удаление сообщения %s не отмечено: %s", self.via.name, key, type(exc).__name__)
