"""An aiogram session that carries Otklik's Bot API calls to the MAX Bot API (issue 15).

The Dispatcher, routers, filters, cards and keyboards stay aiogram's; only the transport changes. Each aiogram
method Otklik uses is translated to MAX's REST call, and MAX's answers and updates back to Telegram's shapes
(bot/max_convert.py). What has no MAX counterpart:

- ``ForceReply`` (the prompts for a reason or a link): dropped; the prompt goes as a plain message, and the
  staff member answers it with MAX's «Ответить» (a reply), which the handlers already recognise.
- Per-chat command lists (``SetMyCommands`` with a scope): MAX keeps one list for the bot [?]; skipped.
- Webhooks (``DeleteWebhook``): Otklik polls; nothing to delete.

Files (sendPhoto, sendDocument, sendVideo, sendMediaGroup): each is uploaded in MAX's two steps (``POST
/uploads``, then the bytes to the URL it names) and the message goes once, with every file's token, the caption
and the keyboard. All uploads come first, so a file MAX refuses (too large) sends nothing. Right after an upload
MAX may answer ``attachment.not.ready``: the message is tried again after a short pause, a few times, then the
call fails as a server error (nothing was sent; the sender retries it). A file someone sent in MAX becomes
aiogram's photo or document whose ``file_id`` is its URL (bot/max_convert.py): ``bot.download`` fetches it, and
sending that ``file_id`` again fetches and uploads it again (MAX would take an image by its URL, a file only
by a token [?]: one way for both).

Message ids: aiogram gets the message's ``seq``; which ``mid`` it stands for is written to the database
(storage/max_messages.py) before the id is handed over, so an edit days later, after restarts, finds it.

Long polling: MAX confirms updates by the ``marker`` of the next request. A GetUpdates with an offset (the
poller's «I saved the last batch») sends the last marker; the first one after a start sends none, so what a
dead run never confirmed is delivered again, with the same update ids (bot/max_convert.update_id_of).
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    DeleteMyCommands,
    DeleteWebhook,
    EditMessageReplyMarkup,
    EditMessageText,
    GetChat,
    GetChatMember,
    GetFile,
    GetMe,
    GetUpdates,
    SendChatAction,
    SendDocument,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
    SendVideo,
    SetMyCommands,
    TelegramMethod,
)
from aiogram.types import ChatFullInfo, File, InputFile, Message, MessageEntity, ReplyParameters, Update, User
from aiogram.types.chat_member_union import ChatMemberUnion
from aiogram.utils.text_decorations import html_decoration
from pydantic import TypeAdapter

from bot import max_convert as convert
from bot.max_convert import JsonDict, KeyboardRefused

log = logging.getLogger(__name__)

MAX_API_URL = "https://platform-api.max.ru"
MAX_REQUESTS_PER_SECOND = 30  # the platform API's limit for one bot
RETRY_AFTER_SECONDS = 1  # MAX's 429 names no wait [?]; its limit is per second
REQUEST_TIMEOUT = 30.0
NOT_READY_TRIES = 5  # sends of a message whose files MAX is still processing, before the call fails
NOT_READY_PAUSE = 0.5  # seconds before the second send, doubled for each next one [?]: MAX names no wait

_MEMBER: TypeAdapter[ChatMemberUnion] = TypeAdapter(ChatMemberUnion)


class MidStore(Protocol):
    """Where the session keeps which MAX mid each aiogram message id stands for (storage.max_messages)."""

    async def remember(self, rows: list[tuple[int, int, str]]) -> None: ...

    async def mid_of(self, chat_id: int, message_id: int) -> str | None: ...


class _NoMids:
    """For a session that sends nothing (`otklik check`, the start's GET /me): no message ids to keep."""

    async def remember(self, rows: list[tuple[int, int, str]]) -> None:
        if rows:
            raise RuntimeError("this MAX session keeps no message ids")

    async def mid_of(self, chat_id: int, message_id: int) -> str | None:
        return None


NO_MIDS: MidStore = _NoMids()


class MaxSession(BaseSession):
    """The transport of a MaxBot: ``MaxBot(MaxSession(token, mids, api_url=...))``."""

    def __init__(
        self, token: str, mids: MidStore, *, api_url: str = MAX_API_URL, timeout: float = REQUEST_TIMEOUT,
        not_ready_tries: int = NOT_READY_TRIES, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:  # fmt: skip
        super().__init__(api=TelegramAPIServer(base=f"{api_url}/{{method}}", file="{path}"), timeout=timeout)
        if not_ready_tries < 1:
            raise ValueError("not_ready_tries must be at least 1")
        self._not_ready_tries = not_ready_tries
        self._sleep = sleep
        self._token = token
        self._url = api_url.rstrip("/")
        self._mids = mids
        self._http: aiohttp.ClientSession | None = None
        self._marker: int | None = None  # the marker of the last /updates answer
        self._last_batch_empty = True  # the last answer gave the poller nothing to save: confirm it anyway
        self._bot_id: int | None = None

    @property
    def bot_id(self) -> int | None:
        """The MAX bot's user id, once ``GET /me`` has named it."""
        return self._bot_id

    # ------------------------------------------------------------------------------------ BaseSession

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        route = _ROUTES.get(type(method))
        if route is None:
            raise TelegramBadRequest(method, f"MAX: метод {type(method).__name__} не поддерживается")
        return await route(self, bot, method, timeout)

    async def stream_content(
        self, url: str, headers: dict[str, Any] | None = None, timeout: int = 30, chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:  # fmt: skip
        """A file of a message: MAX gives its URL with the message (GetFile hands it back as the path)."""
        http = self._client()
        async with http.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout),
                            raise_for_status=raise_for_status) as response:  # fmt: skip
            async for chunk in response.content.iter_chunked(chunk_size):
                yield chunk

    async def close(self) -> None:
        if self._http is not None and not self._http.closed:
            await self._http.close()
        self._http = None

    # ------------------------------------------------------------------------------------------- HTTP

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    async def _call(
        self, bot: Bot, method: TelegramMethod[Any], verb: str, path: str, *, params: JsonDict | None = None,
        body: JsonDict | None = None, timeout: float | None = None,
    ) -> JsonDict:  # fmt: skip
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self._client().request(
                verb, f"{self._url}{path}", params=query, json=body, headers={"Authorization": self._token},
                timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
            ) as response:  # fmt: skip
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TelegramNetworkError(method, f"MAX: {type(exc).__name__}: {exc}") from exc
        return _parsed(method, status, text)

    async def _bot_id_of(self, bot: Bot, method: TelegramMethod[Any]) -> int:
        if self._bot_id is None:
            me = await self._call(bot, method, "GET", "/me")
            self._bot_id = int(me["user_id"])
        return self._bot_id

    async def _mid(self, method: TelegramMethod[Any], chat_id: int | str, message_id: int) -> str:
        mid = await self._mids.mid_of(int(chat_id), int(message_id))
        if mid is None:
            raise TelegramBadRequest(method, f"MAX: сообщение {message_id} в чате {chat_id} неизвестно")
        return mid

    def _text(self, bot: Bot, text: str, parse_mode: str | Default | None, entities: Any) -> JsonDict:
        if isinstance(parse_mode, Default):
            parse_mode = bot.default.parse_mode
        if entities:
            return {"text": html_decoration.unparse(text, entities), "format": "html"}
        if parse_mode is None:
            return {"text": text}
        if str(parse_mode).upper() == "HTML":
            return {"text": text, "format": "html"}
        return {"text": text, "format": "markdown"}  # Telegram Markdown is not CommonMark; Otklik sends HTML

    async def _message(self, bot: Bot, method: TelegramMethod[Any], raw: JsonDict) -> Message:
        bot_id = await self._bot_id_of(bot, method)
        await self._mids.remember(convert.mids_of(raw, bot_id))  # durable before aiogram gets the id
        return Message.model_validate(convert.message_json(raw, bot_id), context={"bot": bot})

    # ---------------------------------------------------------------------------------------- methods

    async def _get_me(self, bot: Bot, method: GetMe, timeout: int | None) -> User:
        me = await self._call(bot, method, "GET", "/me")
        self._bot_id = int(me["user_id"])
        return User.model_validate(convert.user_from_me(me), context={"bot": bot})

    async def _get_updates(self, bot: Bot, method: GetUpdates, timeout: int | None) -> list[Update]:
        bot_id = await self._bot_id_of(bot, method)
        marker = self._marker if (method.offset is not None or self._last_batch_empty) else None
        params: JsonDict = {"marker": marker, "limit": method.limit, "timeout": method.timeout}
        wait = float(method.timeout or 0) + self.timeout
        data = await self._call(bot, method, "GET", "/updates", params=params, timeout=wait)
        updates: list[Update] = []
        mids: list[tuple[int, int, str]] = []
        for raw in data.get("updates") or []:
            try:
                converted = convert.update_json(raw, bot_id) if isinstance(raw, dict) else None
            except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a field of the wrong shape
                log.warning("MAX: событие «%s» не разобрано и пропущено: %s", raw.get("update_type"), exc)
                continue
            if converted is None:
                kind = raw.get("update_type") if isinstance(raw, dict) else type(raw).__name__
                log.info("MAX: событие «%s» пропущено: Отклик его не обрабатывает", kind)
                continue
            try:
                update = Update.model_validate(converted, context={"bot": bot})
            except ValueError as exc:
                log.warning("MAX: событие «%s» не разобрано и пропущено: %s", raw.get("update_type"), exc)
                continue
            message = raw.get("message")
            if isinstance(message, dict):
                mids += convert.mids_of(message, bot_id)
            updates.append(update)
        await self._mids.remember(mids)
        if data.get("marker") is not None:
            self._marker = int(data["marker"])
        self._last_batch_empty = not updates
        return updates

    async def _send_message(self, bot: Bot, method: SendMessage, timeout: int | None) -> Message:
        body = self._text(bot, method.text, method.parse_mode, method.entities)
        try:
            keyboard = convert.keyboard_attachment(method.reply_markup)
        except KeyboardRefused as exc:
            raise TelegramBadRequest(method, str(exc)) from None
        if keyboard is not None:
            body["attachments"] = [keyboard]
        if method.disable_notification:
            body["notify"] = False
        await self._link_reply(
            method, method.chat_id, body, method.reply_parameters, method.reply_to_message_id
        )
        data = await self._call(bot, method, "POST", "/messages", params=_target(method.chat_id), body=body)
        return await self._message(bot, method, data.get("message") or {})

    async def _link_reply(
        self, method: TelegramMethod[Any], chat_id: int | str, body: JsonDict, reply: ReplyParameters | None,
        reply_to_message_id: int | None,
    ) -> None:  # fmt: skip
        """The reply's ``link`` in a message's body, from the mid the replied-to message id stands for."""
        reply_to = reply.message_id if reply is not None else reply_to_message_id
        if reply_to is None:
            return
        mid = await self._mids.mid_of(int(chat_id), int(reply_to))
        if mid is not None:
            body["link"] = {"type": "reply", "mid": mid}
        elif reply is None or not reply.allow_sending_without_reply:
            raise TelegramBadRequest(method, f"MAX: сообщение {reply_to} для ответа неизвестно")

    async def _edit_text(self, bot: Bot, method: EditMessageText, timeout: int | None) -> Message | bool:
        if method.chat_id is None or method.message_id is None:
            raise TelegramBadRequest(method, "MAX: правка сообщения inline-режима не поддерживается")
        mid = await self._mid(method, method.chat_id, method.message_id)
        body = self._text(bot, method.text or "", method.parse_mode, method.entities)
        try:
            keyboard = convert.keyboard_attachment(method.reply_markup)
        except KeyboardRefused as exc:
            raise TelegramBadRequest(method, str(exc)) from None
        body["attachments"] = [keyboard] if keyboard is not None else []  # as on Telegram: no markup, no keys
        await self._call(bot, method, "PUT", "/messages", params={"message_id": mid}, body=body)
        raw = await self._call(bot, method, "GET", f"/messages/{mid}")
        return await self._message(bot, method, raw)

    async def _edit_markup(
        self, bot: Bot, method: EditMessageReplyMarkup, timeout: int | None
    ) -> Message | bool:
        if method.chat_id is None or method.message_id is None:
            raise TelegramBadRequest(method, "MAX: правка сообщения inline-режима не поддерживается")
        mid = await self._mid(method, method.chat_id, method.message_id)
        try:
            keyboard = convert.keyboard_attachment(method.reply_markup)
        except KeyboardRefused as exc:
            raise TelegramBadRequest(method, str(exc)) from None
        body: JsonDict = {"attachments": [keyboard] if keyboard is not None else []}
        await self._call(bot, method, "PUT", "/messages", params={"message_id": mid}, body=body)
        return True

    async def _delete(self, bot: Bot, method: DeleteMessage, timeout: int | None) -> bool:
        mid = await self._mid(method, method.chat_id, method.message_id)
        await self._call(bot, method, "DELETE", "/messages", params={"message_id": mid})
        return True

    async def _answer(self, bot: Bot, method: AnswerCallbackQuery, timeout: int | None) -> bool:
        """MAX refuses an empty answer (Telegram's «stop the spinner»): none is sent without a text."""
        if not method.text:
            return True
        await self._call(bot, method, "POST", "/answers", params={"callback_id": method.callback_query_id},
                         body={"notification": method.text})  # fmt: skip
        return True

    async def _get_chat(self, bot: Bot, method: GetChat, timeout: int | None) -> ChatFullInfo:
        chat_id = int(method.chat_id)
        if chat_id > 0:  # a user's dialog: MAX names it by its own chat id, which Otklik does not keep
            return ChatFullInfo.model_validate(
                convert.chat_full_json({"type": "dialog"}, chat_id), context={"bot": bot}
            )
        raw = await self._call(bot, method, "GET", f"/chats/{chat_id}")
        return ChatFullInfo.model_validate(convert.chat_full_json(raw, chat_id), context={"bot": bot})

    async def _get_chat_member(self, bot: Bot, method: GetChatMember, timeout: int | None) -> Any:
        bot_id = await self._bot_id_of(bot, method)
        if int(method.chat_id) > 0:  # a user's dialog with the bot: both are in it
            user = {"id": int(method.user_id), "is_bot": int(method.user_id) == bot_id, "first_name": "?"}
            return _MEMBER.validate_python({"status": "member", "user": user}, context={"bot": bot})
        if int(method.user_id) == bot_id:
            raw = await self._call(bot, method, "GET", f"/chats/{method.chat_id}/members/me")
        else:
            data = await self._call(bot, method, "GET", f"/chats/{method.chat_id}/members",
                                    params={"user_ids": method.user_id})  # fmt: skip
            found = [m for m in data.get("members") or [] if int(m.get("user_id", 0)) == int(method.user_id)]
            if not found:
                user = {"id": int(method.user_id), "is_bot": False, "first_name": "?"}
                return _MEMBER.validate_python({"status": "left", "user": user}, context={"bot": bot})
            raw = found[0]
        return _MEMBER.validate_python(convert.member_json(raw), context={"bot": bot})

    async def _set_commands(
        self, bot: Bot, method: SetMyCommands | DeleteMyCommands, timeout: int | None
    ) -> bool:
        log.debug("MAX: списки команд по чатам не поддерживаются, %s пропущен", type(method).__name__)
        return True

    async def _delete_webhook(self, bot: Bot, method: DeleteWebhook, timeout: int | None) -> bool:
        return True

    async def _chat_action(self, bot: Bot, method: SendChatAction, timeout: int | None) -> bool:
        if int(method.chat_id) < 0 and method.action == "typing":
            await self._call(
                bot, method, "POST", f"/chats/{method.chat_id}/actions", body={"action": "typing_on"}
            )
        return True

    async def _get_file(self, bot: Bot, method: GetFile, timeout: int | None) -> File:
        return File(file_id=method.file_id, file_unique_id=method.file_id[:64], file_path=method.file_id)

    async def _send_files(
        self, bot: Bot, method: SendPhoto | SendDocument | SendVideo | SendMediaGroup, timeout: int | None
    ) -> Message | list[Message]:
        """One MAX message with every file, the captions and the keyboard (an album is one message, too)."""
        call: TelegramMethod[Any] = method  # one type for the errors (mypy cannot infer it from the union)
        items: list[_Item]
        if isinstance(method, SendMediaGroup):
            items = [_Item(_MAX_TYPES[m.type], m.media, m.caption, m.parse_mode, m.caption_entities)
                     for m in method.media]  # fmt: skip
            markup = None
        else:
            field, kind = _FILE_FIELDS[type(method)]
            file = getattr(method, field)
            items = [_Item(kind, file, method.caption, method.parse_mode, method.caption_entities)]
            markup = method.reply_markup
        try:
            keyboard = convert.keyboard_attachment(markup)
        except KeyboardRefused as exc:
            raise TelegramBadRequest(call, str(exc)) from None
        body = self._captions(bot, items)
        await self._link_reply(
            method, method.chat_id, body, method.reply_parameters, method.reply_to_message_id
        )
        # Every file is uploaded before the message goes: if MAX refuses one, the chat stays as it was.
        attachments = [await self._upload(bot, call, item) for item in items]
        body["attachments"] = attachments + ([keyboard] if keyboard is not None else [])
        if method.disable_notification:
            body["notify"] = False
        data = await self._post_when_ready(bot, call, method.chat_id, body)
        message = await self._message(bot, call, data.get("message") or {})
        return [message] if isinstance(method, SendMediaGroup) else message

    def _captions(self, bot: Bot, items: list[_Item]) -> JsonDict:
        """The message's text: the one caption as it is, several as lines of HTML (an album's captions)."""
        bodies = [self._text(bot, i.caption, i.parse_mode, i.entities) for i in items if i.caption]
        if len(bodies) <= 1:
            return bodies[0] if bodies else {}
        if all("format" not in b for b in bodies):
            return {"text": "\n".join(b["text"] for b in bodies)}
        lines = [b["text"] if b.get("format") == "html" else html_decoration.quote(b["text"]) for b in bodies]
        return {"text": "\n".join(lines), "format": "html"}  # Otklik's captions are HTML or plain

    async def _upload(self, bot: Bot, method: TelegramMethod[Any], item: _Item) -> JsonDict:
        """MAX's two steps for one file: a URL from ``POST /uploads``, the bytes to it; the attachment."""
        name, data = await self._file_bytes(bot, method, item.file)
        slot = await self._call(bot, method, "POST", "/uploads", params={"type": item.kind})
        url = slot.get("url")
        if not isinstance(url, str) or not url:
            raise TelegramServerError(method, "MAX: POST /uploads не дал адреса для загрузки")
        # The name as UTF-8, as browsers and curl send it [?]. MAX's storages take an image or a file as the
        # field `data`, a video or audio as `file`, each with a content type of its kind, and answer 415 to
        # anything else (aiogram-max's notes from the live API [?]).
        form = aiohttp.FormData(quote_fields=False)
        form.add_field(
            _UPLOAD_FIELDS[item.kind], data, filename=name, content_type=_content_type(name, item.kind)
        )
        try:
            async with self._client().post(
                url, data=form, headers={"Authorization": self._token},
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:  # fmt: skip
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TelegramNetworkError(
                method, f"MAX: загрузка «{name}»: {type(exc).__name__}: {exc}"
            ) from exc
        if status == 413:
            raise TelegramEntityTooLarge(method, f"MAX: файл «{name}» ({len(data)} байт) слишком большой")
        answer = _parsed(
            method, status, text
        )  # video and audio: `<retval>1</retval>`, no JSON (the token came)
        if answer.get("error_code") or answer.get("error_data"):  # a refusal with 200 [?]
            raise TelegramBadRequest(
                method, f"MAX: файл «{name}» не принят: {answer.get('error_data') or answer}"
            )
        photos = answer.get("photos")
        from_photos = (
            [p.get("token") for p in photos.values() if isinstance(p, dict)]
            if isinstance(photos, dict)
            else []
        )
        token = slot.get("token") or answer.get("token") or next((t for t in from_photos if t), None)
        if not isinstance(token, str) or not token:
            raise TelegramServerError(method, f"MAX: загрузка «{name}» не дала токена файла")
        return {"type": item.kind, "payload": {"token": token}}

    async def _file_bytes(
        self, bot: Bot, method: TelegramMethod[Any], file: InputFile | str
    ) -> tuple[str, bytes]:
        """A file's name and bytes: an aiogram InputFile read, or a file someone sent in MAX fetched by its URL."""
        if isinstance(file, InputFile):
            return file.filename or "file", b"".join([chunk async for chunk in file.read(bot)])
        if not file.startswith(("http://", "https://")):
            raise TelegramBadRequest(
                method, "MAX: такого файла в MAX нет (file_id из Telegram в MAX не действует)"
            )
        try:
            data = b"".join([chunk async for chunk in self.stream_content(file, timeout=int(self.timeout))])
        except aiohttp.ClientResponseError as exc:
            raise TelegramBadRequest(method, f"MAX: файл по ссылке не получен: {exc.status}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TelegramNetworkError(
                method, f"MAX: файл по ссылке не получен: {type(exc).__name__}"
            ) from exc
        return convert.file_name_of(file) or "file", data

    async def _post_when_ready(
        self, bot: Bot, method: TelegramMethod[Any], chat_id: int | str, body: JsonDict
    ) -> JsonDict:
        """``POST /messages`` with files, sent again while MAX answers that it is still processing them."""
        params = _target(chat_id)
        pause = NOT_READY_PAUSE
        for attempt in range(1, self._not_ready_tries + 1):
            try:
                return await self._call(bot, method, "POST", "/messages", params=params, body=body)
            except TelegramBadRequest as exc:
                if convert.NOT_READY_CODE not in exc.message:
                    raise
                if attempt == self._not_ready_tries:
                    raise TelegramServerError(
                        method,
                        f"MAX: файлы ещё обрабатываются после {attempt} попыток (attachment.not.ready)",
                    ) from exc
            await self._sleep(pause)
            pause *= 2
        raise AssertionError("unreachable")  # the loop returns or raises


class MaxBot(Bot):
    """An aiogram Bot whose transport is a MaxSession. aiogram derives ``bot.id`` from a Telegram token
    ("<id>:<secret>"); a MAX token is opaque, so the id is the one ``GET /me`` names (the first poll asks)."""

    def __init__(self, session: MaxSession, **kwargs: Any) -> None:
        super().__init__("1:max-session", session=session, **kwargs)
        self.max_session = session

    @property
    def id(self) -> int:
        known = self.max_session.bot_id
        if known is None:
            raise RuntimeError("MAX: id бота ещё не известен (нужен запрос GET /me)")
        return known


@dataclass(frozen=True)
class _Item:
    """One file of a send: its MAX attachment type, the file, and its caption."""

    kind: str  # "image" | "file" | "video" | "audio"
    file: InputFile | str
    caption: str | None
    parse_mode: str | Default | None
    entities: list[MessageEntity] | None


_FILE_FIELDS: dict[type[TelegramMethod[Any]], tuple[str, str]] = {
    SendPhoto: ("photo", "image"),
    SendDocument: ("document", "file"),
    SendVideo: ("video", "video"),
}
_MAX_TYPES = {"photo": "image", "document": "file", "video": "video", "audio": "audio"}
_UPLOAD_FIELDS = {"image": "data", "file": "data", "video": "file", "audio": "file"}
_FALLBACK_TYPES = {"image": "image/jpeg", "file": "application/octet-stream", "video": "video/mp4",
                   "audio": "audio/mpeg"}  # fmt: skip


def _content_type(name: str, kind: str) -> str:
    """The upload's content type: from the file's name when it names one of the kind, else the kind's usual."""
    guessed = mimetypes.guess_type(name)[0]
    if guessed is not None and (kind == "file" or guessed.startswith(f"{kind}/")):
        return guessed
    return _FALLBACK_TYPES[kind]


def _parsed(method: TelegramMethod[Any], status: int, text: str) -> JsonDict:
    """A MAX answer's JSON object, or the aiogram error its status stands for."""
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if status < 400:
        return data
    message = f"MAX {status} {data.get('code', '')}: {data.get('message', text[:200])}".strip()
    if status == 429:
        raise TelegramRetryAfter(method, message, RETRY_AFTER_SECONDS)
    if status == 401:
        raise TelegramUnauthorizedError(method, message)
    if status == 403:
        raise TelegramForbiddenError(method, message)
    if status == 404:
        raise TelegramNotFound(method, message)
    if status == 413:
        raise TelegramEntityTooLarge(method, message)
    if status >= 500:
        raise TelegramServerError(method, message)
    raise TelegramBadRequest(method, message)


def _target(chat_id: int | str) -> JsonDict:
    """A group (negative id) by ``chat_id``; a person (positive id) by ``user_id``: their dialog with the bot."""
    number = int(chat_id)
    return {"chat_id": number} if number < 0 else {"user_id": number}


_ROUTES: dict[type[TelegramMethod[Any]], Any] = {
    GetMe: MaxSession._get_me,
    GetUpdates: MaxSession._get_updates,
    SendMessage: MaxSession._send_message,
    EditMessageText: MaxSession._edit_text,
    EditMessageReplyMarkup: MaxSession._edit_markup,
    DeleteMessage: MaxSession._delete,
    AnswerCallbackQuery: MaxSession._answer,
    GetChat: MaxSession._get_chat,
    GetChatMember: MaxSession._get_chat_member,
    SetMyCommands: MaxSession._set_commands,
    DeleteMyCommands: MaxSession._set_commands,
    DeleteWebhook: MaxSession._delete_webhook,
    SendChatAction: MaxSession._chat_action,
    GetFile: MaxSession._get_file,
    SendPhoto: MaxSession._send_files,
    SendDocument: MaxSession._send_files,
    SendVideo: MaxSession._send_files,
    SendMediaGroup: MaxSession._send_files,
}

__all__ = ["MAX_API_URL", "MAX_REQUESTS_PER_SECOND", "NO_MIDS", "MaxBot", "MaxSession", "MidStore"]
