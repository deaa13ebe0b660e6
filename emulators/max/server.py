"""A loopback MAX Bot API server for one bot, with a Python API for tests (the shapes of dev.max.ru/docs-api).

The bot's side speaks the platform's REST API: ``GET /me``; ``POST /messages?chat_id=|user_id=``, ``PUT`` and
``DELETE /messages?message_id=``, ``GET /messages/{mid}``; ``POST /answers?callback_id=``; ``GET /updates`` with
its ``marker``; ``GET /chats``, ``/chats/{id}``, ``/chats/{id}/members``, ``/chats/{id}/members/me``;
``POST /chats/{id}/actions``; files: ``POST /uploads`` and the upload URL it names, ``GET /files/{key}``
(emulators/max/uploads.py). The token goes in the ``Authorization`` header (or the older ``access_token``
query parameter); a wrong one is answered 401. More than 30 requests in a second: 429. Text over 4,000
characters: 400. Errors are JSON ``{"code", "message"}``.

Long polling: every update gets a position; ``GET /updates?marker=M`` confirms (forgets) everything before
``M`` and answers the updates from ``M`` on with ``marker`` = the position after the last one. Without a marker
it answers from the first unconfirmed update, so a client that died before asking with the next marker gets
the same updates again.

The test side mirrors TelegramEmulator's names: ``add_user``, ``add_chat``, ``push_message``, ``push_callback``,
``push_update``, ``sent``, ``history``, ``message``, ``callback_answers``, ``calls``, ``wait_for``, ``wait_sent``;
a citizen's side: ``user_edits``, ``user_deletes``, ``block_bot`` (as the Telegram emulator's).
A message is named by its ``seq`` (its ``message_id``) within its chat there; the bot's side names it by ``mid``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import BodyPartReader, web

from emulators.max.records import (
    BUTTONS_LIMIT,
    REQUESTS_PER_SECOND,
    ROW_BUTTONS_LIMIT,
    ROWS_LIMIT,
    TEXT_LIMIT,
    CallbackAnswer,
    CallbackRecord,
    JsonDict,
    MaxApiError,
    MaxChat,
    MaxMessage,
    MaxUser,
    MessageVersion,
    RequestRecord,
)
from emulators.max.uploads import DEFAULT_UPLOAD_LIMIT, UploadStore
from emulators.staff import CallKind, FileKind, ShownFile, StaffMessage
from emulators.staff import FailureKind as StaffFailure
from emulators.telegram.html import HtmlParseError, parse_html

DEFAULT_TOKEN = "max-emulator-token"
DEFAULT_BOT_ID = 900_001
DIALOG_BASE = 10_000_000_000  # a dialog's chat id is this plus the user's id: never the user's id itself
POLL_TIMEOUT_MAX = 90  # seconds, as the platform caps ``timeout``
LIMIT_MAX = 1000

# The neutral kinds of request (emulators/staff.py) and the platform's calls of each. MAX's files go in two
# steps (POST /uploads, then a message); the adapter does not upload yet (bot/max_session.py), so none.
CALL_KINDS: dict[CallKind, frozenset[str]] = {
    "send": frozenset({"POST /messages"}),
    "edit": frozenset({"PUT /messages"}),
    "delete": frozenset({"DELETE /messages"}),
    "answer": frozenset({"POST /answers"}),
    "poll": frozenset({"GET /updates"}),
    "send_file": frozenset({"POST /uploads"}),
}

T = TypeVar("T")
Route = Callable[[web.Request, JsonDict], Awaitable[Any]]


@dataclass(frozen=True)
class _Failure:
    status: int
    code: str
    message: str
    methods: frozenset[str] | None  # None: any request but GET /updates
    kind: str = "error"  # "error" (a JSON answer), "bad_gateway" (an HTML 502 page), "disconnect"


_BAD_GATEWAY = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def _bad(message: str, code: str = "proto.payload") -> MaxApiError:
    return MaxApiError(400, code, message)


class MaxEmulator:
    """``async with MaxEmulator() as emu``; ``emu.base_url`` is the API's root for the client."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_id: int = DEFAULT_BOT_ID,
        bot_name: str = "Отклик",
        bot_username: str = "otklik_bot",
        rate_limit: int | None = REQUESTS_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        upload_limit: int = DEFAULT_UPLOAD_LIMIT,
        not_ready_sends: int = 1,
    ) -> None:
        """``rate_limit``: requests a second before 429 (None: no limit). ``upload_limit``: bytes a file;
        ``not_ready_sends``: messages naming a new upload answered attachment.not.ready (emulators/max/uploads.py)."""
        self.token = token
        self.host = host
        self.port = port
        self.bot_user = MaxUser(bot_id, bot_name, username=bot_username, is_bot=True)
        self.rate_limit = rate_limit
        self._clock = clock
        self._wall_clock = wall_clock

        self.users: dict[int, MaxUser] = {}
        self.chats: dict[int, MaxChat] = {}
        self._messages: dict[int, dict[int, MaxMessage]] = {}  # chat id → seq → message
        self._by_mid: dict[str, MaxMessage] = {}
        self._next_seq: dict[int, int] = {}
        self.callbacks: dict[str, CallbackRecord] = {}
        self.chat_actions: list[tuple[int, str]] = []
        self.requests: list[RequestRecord] = []
        self.uploads = UploadStore(limit=upload_limit, not_ready_sends=not_ready_sends)

        # Long polling: (position, update) not yet confirmed by a marker past them.
        self._pending: list[tuple[int, JsonDict]] = []
        self._next_position = 1
        self.confirmed_marker = 0  # every update before this position is confirmed
        self._stream: list[tuple[int, JsonDict]] = []  # every update ever queued
        self._updates_event = asyncio.Event()
        self._changed_event = asyncio.Event()

        self._window: deque[float] = deque()
        self._failures: deque[_Failure] = deque()
        self._ids = itertools.count(1)
        self._closing = False
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        self._closing = False
        app = web.Application(client_max_size=10 * 1024 * 1024)
        table: list[tuple[str, str, Route]] = [
            ("GET", "/me", self._get_me),
            ("POST", "/messages", self._send_message),
            ("PUT", "/messages", self._edit_message),
            ("DELETE", "/messages", self._delete_message),
            ("GET", "/messages/{mid}", self._get_message),
            ("POST", "/answers", self._answer),
            ("GET", "/updates", self._get_updates),
            ("GET", "/chats", self._get_chats),
            ("GET", "/chats/{chat_id}", self._get_chat),
            ("GET", "/chats/{chat_id}/members", self._get_members),
            ("GET", "/chats/{chat_id}/members/me", self._get_my_membership),
            ("POST", "/chats/{chat_id}/actions", self._chat_action),
            ("POST", "/uploads", self._open_upload),
        ]
        for verb, path, route in table:
            app.router.add_route(verb, path, self._wrap(verb, path, route))
        self._add_file_routes(app)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._closing = True
        self._updates_event.set()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> MaxEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the emulator is not running")
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------------------ registry and test hooks

    def add_user(self, user_id: int, first_name: str, last_name: str | None = None,
                 username: str | None = None) -> MaxUser:  # fmt: skip
        user = MaxUser(user_id, first_name, last_name, username)
        self.users[user_id] = user
        return user

    def add_chat(self, chat_id: int, chat_type: str | None = None, title: str | None = None,
                 *, members: tuple[int, ...] = (), bot_admin: bool = False) -> MaxChat:  # fmt: skip
        """A group chat (a negative id) the bot is in; a positive id names a user: that user's dialog."""
        if chat_type == "dialog" or (chat_type is None and chat_id > 0):
            return self._dialog(chat_id)
        chat = MaxChat(chat_id, chat_type or "chat", title=title or f"Чат {chat_id}", bot_is_admin=bot_admin)
        for user_id in members:
            chat.members[user_id] = False
        self.chats[chat_id] = chat
        return chat

    def set_bot_membership(self, chat_id: int, status: str, *, admin: bool = False) -> None:
        """The bot's place in a group: "active" (a member), "removed" or "left"; ``admin`` its rights."""
        chat = self._chat(chat_id)
        chat.bot_status, chat.bot_is_admin = status, admin

    def dialog_id(self, user_id: int) -> int:
        """The chat id of the user's dialog with the bot."""
        return self._dialog(user_id).chat_id

    def fail_next(self, count: int = 1, *, status: int = 429, code: str = "too.many.requests",
                  message: str = "Too many requests", methods: Iterable[str] | None = None,
                  kind: str = "error") -> None:  # fmt: skip
        """The next ``count`` bot requests (of ``methods``, "VERB /path"; any but ``GET /updates`` when None)
        are answered with this error; ``kind`` "bad_gateway": a proxy's HTML 502 page instead, "disconnect": the
        connection dropped before the request is served (its record's status is 0)."""
        wanted = frozenset(methods) if methods is not None else None
        for _ in range(count):
            self._failures.append(_Failure(status, code, message, wanted, kind))

    def fail_next_of(self, kinds: Sequence[CallKind], count: int = 1, failure: StaffFailure = "flood", *,
                     retry_after: int = 1) -> None:  # fmt: skip
        """``fail_next`` in neutral words (emulators/staff.py). MAX's 429 names no wait: ``retry_after`` is
        not the platform's to say, and is not used."""
        methods = [m for kind in kinds for m in CALL_KINDS[kind]]
        if failure == "flood":
            self.fail_next(count, methods=methods)
        elif failure == "server_error":
            self.fail_next(count, status=500, code="internal.error", message="Internal error", methods=methods)
        else:
            self.fail_next(count, status=502, methods=methods, kind=failure)

    def push_message(self, chat_id: int, user_id: int, text: str | None = None,
                     reply_to_message_id: int | None = None, photo: bytes | None = None,
                     attachments: list[JsonDict] | None = None) -> MaxMessage:  # fmt: skip
        """A user writes in a group (``chat_id`` < 0) or to the bot (``chat_id`` = the user's id);
        ``attachments`` as MAX delivers them (an image: ``{"type": "image", "payload": {"url", "token"}}``);
        ``photo``: the user sends a photo the emulator keeps and serves (``push_file``), ``text`` its caption."""
        if photo is not None:
            return self.push_file(chat_id, user_id, "photo.jpg", photo, kind="image", caption=text,
                                  reply_to_message_id=reply_to_message_id)  # fmt: skip
        user = self._user(user_id)
        chat = self._dialog(user_id) if chat_id > 0 else self._chat(chat_id)
        if chat.type != "dialog":
            chat.members.setdefault(user_id, False)
        reply_mid = None
        if reply_to_message_id is not None:
            reply_mid = self._by_seq(chat.chat_id, reply_to_message_id).mid
        msg = self._new_message(chat, user.user_id, from_bot=False, text=text or "", fmt=None)
        msg.reply_to_mid, msg.reply_to_message_id = reply_mid, reply_to_message_id
        msg.attachments = list(attachments or [])
        if chat.bot_status == "active":
            self.push_update({"update_type": "message_created", "timestamp": msg.timestamp,
                              "message": self._message_json(msg), "user_locale": "ru"})  # fmt: skip
        return msg

    def user_edits(self, chat_id: int, message_id: int, text: str) -> MaxMessage:
        """The author edits his message (its seq); the bot gets ``message_edited`` with the new body."""
        real = self._dialog(chat_id).chat_id if 0 < chat_id < DIALOG_BASE else chat_id
        msg = self._by_seq(real, message_id)
        if msg.from_bot or msg.deleted:
            raise ValueError("only a user's message still there can be edited by its user")
        msg.edits.append(
            MessageVersion(msg.text, msg.format, msg.plain_text, list(msg.attachments), self._clock())
        )
        msg.text, msg.format, msg.plain_text = text, None, text
        if self.chats[real].bot_status == "active":
            self.push_update({"update_type": "message_edited", "timestamp": self._now_ms(),
                              "message": self._message_json(msg)})  # fmt: skip
        return msg

    def user_deletes(self, chat_id: int, message_id: int) -> None:
        """The author deletes his message; the bot gets ``message_removed`` (which Otklik does not read [?]),
        and a reply to it is refused."""
        real = self._dialog(chat_id).chat_id if 0 < chat_id < DIALOG_BASE else chat_id
        msg = self._by_seq(real, message_id)
        msg.deleted = True
        self.push_update({"update_type": "message_removed", "timestamp": self._now_ms(), "message_id": msg.mid,
                          "chat_id": real, "user_id": msg.from_id})  # fmt: skip

    def block_bot(self, user_id: int) -> None:
        """The user stops the bot in his dialog: ``bot_stopped``, and messages to him are refused (403)."""
        chat = self._dialog(user_id)
        chat.bot_status = "removed"
        self.push_update({"update_type": "bot_stopped", "timestamp": self._now_ms(), "chat_id": chat.chat_id,
                          "user": self._user(user_id).to_json()})  # fmt: skip

    def push_callback(self, chat_id: int, user_id: int, message_id: int, data: str) -> str:
        """A user presses a callback button under the message ``message_id`` (its seq); returns callback_id."""
        user = self._user(user_id)
        chat = self._dialog(user_id) if chat_id > 0 else self._chat(chat_id)
        target = self._by_seq(chat.chat_id, message_id)
        callback_id = f"cb.{next(self._ids)}.{secrets.token_hex(6)}"
        self.callbacks[callback_id] = CallbackRecord(callback_id, chat.chat_id, user_id, target.mid, data)
        now = self._now_ms()
        update: JsonDict = {
            "update_type": "message_callback",
            "timestamp": now,
            "callback": {
                "timestamp": now,
                "callback_id": callback_id,
                "payload": data,
                "user": user.to_json(),
            },
            "user_locale": "ru",
        }
        if not target.deleted:
            update["message"] = self._message_json(target)
        self.push_update(update)
        return callback_id

    def push_update(self, raw: JsonDict) -> int:
        """Queue a raw update of any type; returns its position in the stream."""
        position = self._next_position
        self._next_position += 1
        self._pending.append((position, dict(raw)))
        self._stream.append((position, dict(raw)))
        self._updates_event.set()
        self._notify()
        return position

    @property
    def next_position(self) -> int:
        """The position the next queued update will get."""
        return self._next_position

    def rewind(self, position: int) -> None:
        """Deliver again from ``position`` on: what a client that died before asking with the next marker gets
        when it asks without one (the platform had not heard the updates were received)."""
        self._pending = [(pos, upd) for pos, upd in self._stream if pos >= position]
        self.confirmed_marker = min(self.confirmed_marker, position)
        self._updates_event.set()
        self._notify()

    @property
    def pending_updates(self) -> list[JsonDict]:
        """Updates not yet confirmed by a marker past them."""
        return [update for _, update in self._pending]

    def files_of(self, msg: StaffMessage) -> list[ShownFile]:
        """The files a message carries (tests/e2e: the neutral form; MAX's image is a photo, its file a
        document)."""
        assert isinstance(msg, MaxMessage)
        kinds: dict[str, FileKind] = {"image": "photo", "file": "document", "video": "video"}
        return [ShownFile(kinds[f.type], f.name, f.data) for f in msg.files if f.type in kinds]

    def sent(self, chat_id: int) -> list[MaxMessage]:
        """The bot's messages now in the chat (deleted ones excluded), oldest first; a positive id: the dialog."""
        return [m for m in self.history(chat_id) if m.from_bot and not m.deleted]

    def history(self, chat_id: int) -> list[MaxMessage]:
        """Every message of the chat, from users and the bot, deleted ones included."""
        real = self._dialog(chat_id).chat_id if chat_id > 0 and chat_id < DIALOG_BASE else chat_id
        return list(self._messages.get(real, {}).values())

    def message(self, chat_id: int, message_id: int) -> MaxMessage:
        real = self._dialog(chat_id).chat_id if 0 < chat_id < DIALOG_BASE else chat_id
        return self._by_seq(real, message_id)

    def by_mid(self, mid: str) -> MaxMessage:
        return self._by_mid[mid]

    @property
    def callback_answers(self) -> dict[str, CallbackAnswer]:
        return {cid: rec.answer for cid, rec in self.callbacks.items() if rec.answer is not None}

    @property
    def text_limit(self) -> int:
        return TEXT_LIMIT

    def text_length(self, text: str) -> int:
        """MAX counts characters (code points)."""
        return len(text)

    def calls_of(self, kind: CallKind | None = None) -> list[RequestRecord]:
        """The request log of one neutral kind (emulators/staff.py), e.g. "send": ``POST /messages``."""
        if kind is None:
            return list(self.requests)
        wanted = CALL_KINDS[kind]
        return [r for r in self.requests if r.method in wanted]

    def calls(self, method: str | None = None) -> list[RequestRecord]:
        """The request log, optionally of one "VERB /path" (e.g. "POST /messages")."""
        if method is None:
            return list(self.requests)
        return [r for r in self.requests if r.method == method]

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until ``predicate()`` is truthy and return its value (re-checked after every request and
        push, and every 10 ms besides)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"the emulator did not reach the expected state within {timeout} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed_event.wait(), min(remaining, 0.01))

    async def wait_sent(self, chat_id: int, count: int = 1, timeout: float = 5.0) -> list[MaxMessage]:
        def enough() -> list[MaxMessage]:
            messages = self.sent(chat_id)
            return messages if len(messages) >= count else []

        return await self.wait_for(enough, timeout)

    # --------------------------------------------------------------------------------------------- HTTP

    def _wrap(
        self, verb: str, path: str, route: Route
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            record = RequestRecord(
                method=f"{verb} {path}", received_at=self._clock(), params=dict(request.query)
            )
            self.requests.append(record)
            try:
                token = request.headers.get("Authorization") or request.query.get("access_token", "")
                if token != self.token:
                    raise MaxApiError(401, "verify.token", "Invalid access_token")
                with contextlib.suppress(ValueError):
                    if "chat_id" in request.query:
                        record.chat_id = int(request.query["chat_id"])
                    elif "user_id" in request.query:  # a person's dialog, named as Otklik names it
                        record.chat_id = int(request.query["user_id"])
                    elif "chat_id" in request.match_info:
                        record.chat_id = int(request.match_info["chat_id"])
                failure = self._take_failure(record.method)
                if failure is not None and failure.kind == "disconnect":
                    record.status = 0
                    if request.transport is not None:
                        request.transport.abort()
                    raise asyncio.CancelledError
                if failure is not None and failure.kind == "bad_gateway":
                    record.status = 502
                    return web.Response(status=502, text=_BAD_GATEWAY, content_type="text/html")
                if failure is not None:
                    raise MaxApiError(failure.status, failure.code, failure.message)
                if path != "/updates":
                    self._check_rate()
                body: JsonDict = {}
                if request.can_read_body:
                    try:
                        parsed = await request.json()
                    except ValueError:
                        raise _bad("Request body is not valid JSON") from None
                    if not isinstance(parsed, dict):
                        raise _bad("Request body must be a JSON object")
                    body = parsed
                record.body = body
                result = await route(request, body)
                record.status = 200
                return web.json_response(result, dumps=_dumps)
            except MaxApiError as error:
                record.status, record.code = error.status, error.code
                return web.json_response(error.to_json(), status=error.status, dumps=_dumps)
            finally:
                record.finished_at = self._clock()
                self._notify()

        return handle

    def _take_failure(self, method: str) -> _Failure | None:
        for failure in self._failures:
            if method in failure.methods if failure.methods is not None else method != "GET /updates":
                self._failures.remove(failure)
                return failure
        return None

    def _check_rate(self) -> None:
        if self.rate_limit is None:
            return
        now = self._clock()
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        if len(self._window) >= self.rate_limit:
            raise MaxApiError(429, "too.many.requests", "Too many requests: 30 requests per second at most")
        self._window.append(now)

    # ------------------------------------------------------------------------------------------ bot side

    async def _get_me(self, request: web.Request, body: JsonDict) -> JsonDict:
        me = self.bot_user.to_json()
        me["description"] = None
        me["commands"] = []
        return me

    async def _send_message(self, request: web.Request, body: JsonDict) -> JsonDict:
        query = request.query
        if "chat_id" in query:
            chat = self._chat(_int(query["chat_id"], "chat_id"))
        elif "user_id" in query:
            chat = self._dialog(_int(query["user_id"], "user_id"), must_exist=True)
        else:
            raise _bad("chat_id or user_id is required")
        if chat.bot_status != "active":
            raise MaxApiError(403, "chat.denied", "The bot is not a member of this chat")
        text, fmt, attachments = self._content(body, require=True)
        link = body.get("link")
        target: MaxMessage | None = None
        if isinstance(link, dict) and link.get("type") == "reply":  # checked before anything is posted
            target = self._by_mid.get(str(link.get("mid")))
            if target is None or target.chat_id != chat.chat_id or target.deleted:
                raise _bad("link.mid: message not found in this chat")
        attachments, files = self.uploads.resolve(attachments, self.base_url)
        msg = self._new_message(chat, self.bot_user.user_id, from_bot=True, text=text, fmt=fmt)
        msg.attachments, msg.files = attachments, files
        msg.notify = bool(body.get("notify", True))
        if target is not None:
            msg.reply_to_mid, msg.reply_to_message_id = target.mid, target.seq
        return {"message": self._message_json(msg)}

    async def _edit_message(self, request: web.Request, body: JsonDict) -> JsonDict:
        msg = self._editable(request.query.get("message_id"))
        self._apply_edit(msg, body)
        return {"success": True}

    async def _delete_message(self, request: web.Request, body: JsonDict) -> JsonDict:
        msg = self._editable(request.query.get("message_id"))
        msg.deleted = True
        return {"success": True}

    async def _get_message(self, request: web.Request, body: JsonDict) -> JsonDict:
        msg = self._by_mid.get(request.match_info["mid"])
        if msg is None or msg.deleted:
            raise MaxApiError(404, "not.found", "Message not found")
        return self._message_json(msg)

    async def _answer(self, request: web.Request, body: JsonDict) -> JsonDict:
        callback_id = request.query.get("callback_id", "")
        record = self.callbacks.get(callback_id)
        if record is None:
            raise MaxApiError(404, "not.found", "Callback not found")
        notification = body.get("notification")
        new_body = body.get("message")
        if notification is None and new_body is None:
            raise _bad("`message` or `notification` required")
        if notification is not None and not isinstance(notification, str):
            raise _bad("notification must be a string")
        if new_body is not None:
            if not isinstance(new_body, dict):
                raise _bad("message must be an object")
            self._apply_edit(self._by_mid[record.mid], new_body)
        record.answer = CallbackAnswer(callback_id, notification, new_body, self._clock())
        return {"success": True}

    async def _get_updates(self, request: web.Request, body: JsonDict) -> JsonDict:
        query = request.query
        timeout = min(_int(query.get("timeout", "30"), "timeout"), POLL_TIMEOUT_MAX)
        limit = min(max(_int(query.get("limit", "100"), "limit"), 1), LIMIT_MAX)
        types = frozenset(t for t in query.get("types", "").split(",") if t)
        if "marker" in query:
            marker = _int(query["marker"], "marker")
            if marker > self._next_position:
                raise _bad("marker is ahead of the stream")
            self.confirmed_marker = max(self.confirmed_marker, marker)
            self._pending = [(pos, upd) for pos, upd in self._pending if pos >= self.confirmed_marker]
        if types:  # updates of other types are not kept for this bot
            self._pending = [(pos, upd) for pos, upd in self._pending if upd.get("update_type") in types]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._pending and not self._closing and loop.time() < deadline:
            self._updates_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._updates_event.wait(), deadline - loop.time())
            if types:
                self._pending = [(pos, upd) for pos, upd in self._pending if upd.get("update_type") in types]
        batch = self._pending[:limit]
        next_marker = batch[-1][0] + 1 if batch else self._next_position
        return {"updates": [upd for _, upd in batch], "marker": next_marker}

    async def _get_chats(self, request: web.Request, body: JsonDict) -> JsonDict:
        chats = [c.to_json(self.bot_user.user_id) for c in self.chats.values() if c.bot_status == "active"]
        return {"chats": chats, "marker": None}

    async def _get_chat(self, request: web.Request, body: JsonDict) -> JsonDict:
        chat = self._chat(_int(request.match_info["chat_id"], "chat_id"))
        return chat.to_json(self.bot_user.user_id)

    async def _get_members(self, request: web.Request, body: JsonDict) -> JsonDict:
        chat = self._chat(_int(request.match_info["chat_id"], "chat_id"))
        if chat.bot_status != "active":
            raise MaxApiError(403, "chat.denied", "The bot is not a member of this chat")
        wanted = {
            int(x) for x in request.query.get("user_ids", "").split(",") if x.strip().lstrip("-").isdigit()
        }
        members = [self._member_json(self._user(uid), admin, chat) for uid, admin in chat.members.items()
                   if not wanted or uid in wanted]  # fmt: skip
        if not wanted or self.bot_user.user_id in wanted:
            members.append(self._member_json(self.bot_user, chat.bot_is_admin, chat))
        return {"members": members, "marker": None}

    async def _get_my_membership(self, request: web.Request, body: JsonDict) -> JsonDict:
        chat = self._chat(_int(request.match_info["chat_id"], "chat_id"))
        if chat.bot_status != "active":
            raise MaxApiError(403, "chat.denied", "The bot is not a member of this chat")
        return self._member_json(self.bot_user, chat.bot_is_admin, chat)

    async def _chat_action(self, request: web.Request, body: JsonDict) -> JsonDict:
        chat = self._chat(_int(request.match_info["chat_id"], "chat_id"))
        self.chat_actions.append((chat.chat_id, str(body.get("action", ""))))
        return {"success": True}

    # ---------------------------------------------------------------------- files (emulators/max/uploads.py)

    async def _open_upload(self, request: web.Request, body: JsonDict) -> JsonDict:
        slot_id, token = self.uploads.open_slot(request.query.get("type", ""))
        answer: JsonDict = {"url": f"{self.base_url}/upload/{slot_id}"}
        if token is not None:
            answer["token"] = token
        return answer

    def _add_file_routes(self, app: web.Application) -> None:
        """The upload URLs and the file storage: not the API (no token, no rate limit), as on the platform."""
        app.router.add_post("/upload/{slot}", self._receive_upload)
        app.router.add_get("/files/{key}", self._download)

    async def _receive_upload(self, request: web.Request) -> web.StreamResponse:
        record = RequestRecord(method="POST /upload", received_at=self._clock(), params=dict(request.query))
        self.requests.append(record)
        try:
            slot = request.match_info["slot"]
            name, content_type, data = await self._read_upload(request, self.uploads.field_of(slot))
            record.body = {"name": name, "content_type": content_type, "size": len(data)}
            answer = self.uploads.receive(slot, name, content_type, data)
            record.status = 200
            if isinstance(answer, str):
                return web.Response(text=answer, content_type="text/xml")
            return web.json_response(answer, dumps=_dumps)
        except MaxApiError as error:
            record.status, record.code = error.status, error.code
            return web.json_response(error.to_json(), status=error.status, dumps=_dumps)
        finally:
            record.finished_at = self._clock()
            self._notify()

    async def _read_upload(self, request: web.Request, field: str) -> tuple[str, str, bytes]:
        """The multipart field with the file: its name, content type and bytes, read no further than one byte
        past the limit (a larger file is refused without holding it all). Another field: 415, as on MAX."""
        if not request.content_type.startswith("multipart/"):
            raise _bad(f"the file goes as the multipart/form-data field `{field}`")
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                raise MaxApiError(415, "unsupported.media.type", f"the multipart field `{field}` is missing")
            if isinstance(part, BodyPartReader) and part.name == field:
                break
        chunks: list[bytes] = []
        size = 0
        while size <= self.uploads.limit:
            chunk = await part.read_chunk(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        content_type = part.headers.get("Content-Type", "application/octet-stream")
        return part.filename or "file", content_type, b"".join(chunks)

    async def _download(self, request: web.Request) -> web.StreamResponse:
        file = self.uploads.download(request.match_info["key"])
        self._notify()
        if file is None:
            return web.json_response({"code": "not.found", "message": "File not found"}, status=404)
        return web.Response(body=file.data, content_type="application/octet-stream",
                            headers={"Content-Disposition": f'attachment; filename="{file.key}"'})  # fmt: skip

    def push_file(self, chat_id: int, user_id: int, name: str, data: bytes, *, kind: str = "file",
                  caption: str | None = None, reply_to_message_id: int | None = None) -> MaxMessage:  # fmt: skip
        """A user sends a file (``kind`` "file") or a photo ("image"), with a caption or as a reply, in a group
        (``chat_id`` < 0) or to the bot (``chat_id`` = the user's id); its ``payload.url`` is served here."""
        user = self._user(user_id)
        chat = self._dialog(user_id) if chat_id > 0 else self._chat(chat_id)
        if chat.type != "dialog":
            chat.members.setdefault(user_id, False)
        reply_mid = None
        if reply_to_message_id is not None:
            reply_mid = self._by_seq(chat.chat_id, reply_to_message_id).mid
        file = self.uploads.add(kind, name, data)
        msg = self._new_message(chat, user.user_id, from_bot=False, text=caption or "", fmt=None)
        msg.attachments, msg.files = [self.uploads.attachment_json(file, self.base_url)], [file]
        msg.reply_to_mid, msg.reply_to_message_id = reply_mid, reply_to_message_id
        if chat.bot_status == "active":
            self.push_update({"update_type": "message_created", "timestamp": msg.timestamp,
                              "message": self._message_json(msg), "user_locale": "ru"})  # fmt: skip
        return msg

    # ------------------------------------------------------------------------------------------ helpers

    def _content(self, body: JsonDict, *, require: bool) -> tuple[str, str | None, list[JsonDict]]:
        text = body.get("text")
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise _bad("text must be a string")
        fmt = body.get("format")
        if fmt not in (None, "html", "markdown"):
            raise _bad(f"format: unknown value {fmt!r}")
        attachments = body.get("attachments") or []
        if not isinstance(attachments, list):
            raise _bad("attachments must be a list")
        for attachment in attachments:
            self._check_attachment(attachment)
        if require and not text and not attachments:
            raise _bad("text or attachments required")
        if len(self._plain(text, fmt)) > TEXT_LIMIT:
            raise _bad(f"text: size must be between 0 and {TEXT_LIMIT}")
        return text, fmt, attachments

    @staticmethod
    def _check_attachment(attachment: Any) -> None:
        if not isinstance(attachment, dict) or not isinstance(attachment.get("type"), str):
            raise _bad("attachment must be an object with a type")
        if attachment["type"] != "inline_keyboard":
            return
        rows = (attachment.get("payload") or {}).get("buttons")
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad("inline_keyboard.payload.buttons must be a list of rows")
        if len(rows) > ROWS_LIMIT:
            raise _bad(f"inline_keyboard: at most {ROWS_LIMIT} rows")
        if sum(len(row) for row in rows) > BUTTONS_LIMIT:
            raise _bad(f"inline_keyboard: at most {BUTTONS_LIMIT} buttons")
        for row in rows:
            if len(row) > ROW_BUTTONS_LIMIT:
                raise _bad(f"inline_keyboard: at most {ROW_BUTTONS_LIMIT} buttons in a row")
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise _bad("a button needs a text")
                kind = button.get("type")
                if kind == "callback":
                    if not isinstance(button.get("payload"), str) or not button["payload"]:
                        raise _bad("a callback button needs a payload")
                elif kind == "link":
                    if not isinstance(button.get("url"), str):
                        raise _bad("a link button needs a url")
                elif kind not in ("request_contact", "request_geo_location", "chat", "open_app", "message"):
                    raise _bad(f"button type {kind!r} is unknown")

    @staticmethod
    def _plain(text: str, fmt: str | None) -> str:
        if fmt != "html":
            return text
        try:
            plain, _entities = parse_html(text)
        except HtmlParseError as exc:
            raise _bad(f"text: cannot parse html: {exc}") from None
        return plain

    def _apply_edit(self, msg: MaxMessage, body: JsonDict) -> None:
        text, fmt, attachments = self._content(body, require=False)
        msg.edits.append(
            MessageVersion(msg.text, msg.format, msg.plain_text, list(msg.attachments), self._clock())
        )
        if "text" in body:
            msg.text, msg.format, msg.plain_text = text, fmt, self._plain(text, fmt)
            msg.markup = _markup(text) if fmt == "html" else []
        if "attachments" in body and body["attachments"] is not None:
            msg.attachments = attachments  # an empty list takes the keyboard away; absent keeps it

    def _editable(self, mid: str | None) -> MaxMessage:
        msg = self._by_mid.get(mid or "")
        if msg is None or msg.deleted:
            raise MaxApiError(404, "not.found", "Message not found")
        if not msg.from_bot:
            raise MaxApiError(403, "access.denied", "The bot can edit its own messages only")
        return msg

    def _new_message(
        self, chat: MaxChat, from_id: int, *, from_bot: bool, text: str, fmt: str | None
    ) -> MaxMessage:
        seq = self._next_seq.get(chat.chat_id, 1)
        self._next_seq[chat.chat_id] = seq + 1
        mid = f"mid.{secrets.token_hex(8)}{seq:06x}"
        msg = MaxMessage(
            chat.chat_id, mid, seq, from_id, from_bot, self._now_ms(), text, fmt, self._plain(text, fmt)
        )
        msg.markup = _markup(text) if fmt == "html" else []
        self._messages.setdefault(chat.chat_id, {})[seq] = msg
        self._by_mid[mid] = msg
        return msg

    def _message_json(self, msg: MaxMessage) -> JsonDict:
        chat = self.chats[msg.chat_id]
        sender = self.bot_user if msg.from_bot else self._user(msg.from_id)
        recipient: JsonDict = {"chat_id": chat.chat_id, "chat_type": chat.type}
        if chat.type == "dialog":
            recipient["user_id"] = chat.dialog_with if msg.from_bot else self.bot_user.user_id
        data: JsonDict = {
            "sender": sender.to_json(),
            "recipient": recipient,
            "timestamp": msg.timestamp,
            "body": {
                "mid": msg.mid,
                "seq": msg.seq,
                "text": msg.plain_text,
                "attachments": list(msg.attachments),
            },
        }
        if msg.format == "html":
            data["body"]["markup"] = list(msg.markup)
        if msg.reply_to_mid is not None:
            target = self._by_mid[msg.reply_to_mid]
            target_sender = self.bot_user if target.from_bot else self._user(target.from_id)
            data["link"] = {
                "type": "reply",
                "sender": target_sender.to_json(),
                "chat_id": chat.chat_id,
                "message": {"mid": target.mid, "seq": target.seq, "text": target.plain_text,
                            "attachments": list(target.attachments)},
            }  # fmt: skip
        return data

    def _member_json(self, user: MaxUser, admin: bool, chat: MaxChat) -> JsonDict:
        data = user.to_json()
        data.update(is_owner=chat.owner_id == user.user_id, is_admin=admin, join_time=0, last_access_time=0,
                    permissions=["read_all_messages", "add_remove_members", "add_admins", "change_chat_info",
                                 "pin_message", "write"] if admin else None)  # fmt: skip
        return data

    def _user(self, user_id: int) -> MaxUser:
        if user_id == self.bot_user.user_id:
            return self.bot_user
        user = self.users.get(user_id)
        if user is None:
            user = self.add_user(user_id, f"Пользователь {user_id}")
        return user

    def _dialog(self, user_id: int, *, must_exist: bool = False) -> MaxChat:
        chat_id = DIALOG_BASE + user_id
        chat = self.chats.get(chat_id)
        if chat is None:
            if must_exist and user_id not in self.users:
                raise MaxApiError(404, "not.found", f"User {user_id} not found")
            self._user(user_id)
            chat = MaxChat(chat_id, "dialog", dialog_with=user_id)
            self.chats[chat_id] = chat
        return chat

    def _chat(self, chat_id: int) -> MaxChat:
        chat = self.chats.get(chat_id)
        if chat is None:
            raise MaxApiError(404, "not.found", f"Chat {chat_id} not found")
        return chat

    def _by_seq(self, chat_id: int, seq: int) -> MaxMessage:
        msg = self._messages.get(chat_id, {}).get(seq)
        if msg is None:
            raise KeyError(f"no message {seq} in chat {chat_id}")
        return msg

    def _now_ms(self) -> int:
        return int(self._wall_clock() * 1000)

    def _notify(self) -> None:
        self._changed_event.set()
        self._changed_event = asyncio.Event()


_MARKUP_TYPES = {"bold": "strong", "italic": "emphasized", "underline": "underline", "strikethrough": "strikethrough",
                 "code": "monospaced", "pre": "monospaced", "text_link": "link"}  # fmt: skip


def _markup(source: str) -> list[JsonDict]:
    """The formatting of an HTML text as MAX reports it beside the plain text: ``{type, from, length}``."""
    _plain, entities = parse_html(source)
    found: list[JsonDict] = []
    for entity in entities:
        kind = _MARKUP_TYPES.get(str(entity.get("type")))
        if kind is None:
            continue
        item: JsonDict = {"type": kind, "from": entity["offset"], "length": entity["length"]}
        if kind == "link":
            item["url"] = entity.get("url")
        found.append(item)
    return found


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"{name} must be an integer") from None


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)
