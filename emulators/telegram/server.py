"""A loopback emulator of the Telegram Bot API for end-to-end tests, benchmarks and the demo.

The real aiogram ``Bot`` talks to it over HTTP on 127.0.0.1::

    async with TelegramEmulator() as emu:
        bot = emu.create_bot()           # AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url))
        emu.push_message(chat_id=42, user_id=42, text="/start")
        ...
        await emu.wait_for(lambda: emu.sent(42))

What it reproduces, because the bot's correctness depends on it:

* long polling: ``getUpdates`` holds the request until an update arrives or ``timeout`` passes, ``offset``
  confirms earlier updates, a second concurrent poll terminates the first with 409 as Telegram does;
* parameter decoding: JSON bodies, urlencoded and multipart forms, JSON in form fields, numbers as strings;
* HTML parse mode with Telegram's own parser rules and error texts (``can't parse entities: ...``), the
  4096-character limit, "message is not modified" on identical edits, 64-byte callback data;
* flood control (opt-in): 30 messages a second per bot, 1 a second per private chat, 20 a minute per group,
  answered with 429 and ``retry_after``; injected failures: 429, 5xx, a 502 HTML page, a dropped connection;
* privacy mode (opt-in) and the bot's membership of each group: with privacy mode on, a group where the bot is
  not an administrator delivers only commands, replies to the bot's messages and service messages (as Telegram
  does); ``getMe`` says ``can_read_all_group_messages``, ``getChatMember`` gives the bot's status, and a change
  of that status (``set_bot_status``: added, promoted, removed) comes as a ``my_chat_member`` update.

Markdown parse modes are not implemented and are refused, so a test never passes on text nobody parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

from aiohttp import web

from emulators.staff import CallKind, FileKind, ShownFile, StaffMessage
from emulators.staff import FailureKind as StaffFailure
from emulators.telegram.html import HtmlParseError, parse_html, utf16_len
from emulators.telegram.records import (
    ApiError,
    CallbackAnswer,
    CallbackQueryRecord,
    ChatMessage,
    EmuChat,
    EmuUser,
    Failure,
    FailureKind,
    JsonDict,
    MessageVersion,
    RateLimits,
    RequestRecord,
    StoredFile,
    bad_request,
)

if TYPE_CHECKING:
    from aiogram import Bot

T = TypeVar("T")

DEFAULT_TOKEN: Final = "123456789:TEST-otklik-emulator-token-00000000"  # well-formed: <id>:<35 chars>
MAX_TEXT_LENGTH: Final = 4096
MAX_CAPTION_LENGTH: Final = 1024
MAX_CALLBACK_DATA_BYTES: Final = 64
MEDIA_GROUP_SIZE: Final = (2, 10)  # sendMediaGroup takes 2 to 10 items

# Methods that create or change a message: these are what Telegram's flood control counts.
RATE_LIMITED_METHODS: Final = frozenset(
    {
        "sendmessage",
        "sendphoto",
        "senddocument",
        "sendvideo",
        "sendmediagroup",
        "editmessagetext",
        "editmessagereplymarkup",
    }
)
# The neutral kinds of request (emulators/staff.py) and the Bot API methods of each, lower-cased.
CALL_KINDS: Final[dict[CallKind, frozenset[str]]] = {
    "send": frozenset({"sendmessage"}),
    "edit": frozenset({"editmessagetext", "editmessagereplymarkup"}),
    "delete": frozenset({"deletemessage"}),
    "answer": frozenset({"answercallbackquery"}),
    "poll": frozenset({"getupdates"}),
    "send_file": frozenset({"sendphoto", "senddocument", "sendvideo", "sendmediagroup"}),
}
CHAT_ACTIONS: Final = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# The update types a bot gets when allowed_updates is empty or was never set.
_DEFAULT_EXCLUDED_UPDATES: Final = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_BOT_STATUSES: Final = frozenset({"member", "administrator", "left", "kicked"})
TELEGRAM_SERVICE_USER: Final = 777000  # posts a channel's posts into its discussion group


class _SlidingWindow:
    def __init__(self, count: int, window: float) -> None:
        self.count = count
        self.window = window
        self.stamps: deque[float] = deque()

    def wait_time(self, now: float) -> float:
        while self.stamps and self.stamps[0] <= now - self.window:
            self.stamps.popleft()
        if len(self.stamps) < self.count:
            return 0.0
        return self.stamps[len(self.stamps) - self.count] + self.window - now

    def record(self, now: float) -> None:
        self.stamps.append(now)


@dataclass
class _Upload:
    filename: str
    content: bytes
    content_type: str | None


class _Params:
    """Request parameters decoded as Telegram does: every value may arrive as a string."""

    def __init__(self, raw: Mapping[str, Any], files: Mapping[str, _Upload]) -> None:
        self.raw = raw
        self.files = files

    def has(self, name: str) -> bool:
        return self.raw.get(name) not in (None, "")

    def get_int(self, name: str, default: int | None = None) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise bad_request(f"invalid {name} specified")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value).strip())
        except ValueError:
            raise bad_request(f"invalid {name} specified") from None

    def need_int(self, name: str) -> int:
        value = self.get_int(name)
        if value is None:
            raise bad_request(f"{name} is empty")
        return value

    def get_float(self, name: str, default: float) -> float:
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def get_str(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None:
            return None
        return value if isinstance(value, str) else json.dumps(value)

    def get_bool(self, name: str) -> bool:
        value = self.raw.get(name)
        if isinstance(value, bool):
            return value
        if value is None:
            return False
        return str(value).strip().lower() in ("true", "1", "yes")

    def get_json(self, name: str, error: str) -> Any:
        """A structured value: already decoded in a JSON body, a JSON string in a form field."""
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(error) from None
        return value


# --------------------------------------------------------------------------------------------- the emulator


class TelegramEmulator:
    """A Telegram Bot API server for one bot on 127.0.0.1, with a Python API for tests.

    Lifecycle: ``async with TelegramEmulator() as emu`` or ``await emu.start()`` / ``await emu.stop()``.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "otklik_bot",
        bot_name: str = "Отклик",
        rate_limits: RateLimits | bool = False,
        strict_chats: bool = False,
        privacy_mode: bool = False,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """``rate_limits``: True for Telegram's limits, a RateLimits for custom ones, False for none.
        ``strict_chats``: answer "chat not found" for chats never registered or pushed, not create them.
        ``privacy_mode``: BotFather's /setprivacy (on for a new bot on Telegram; off here by default, so the
        work groups see every message as a configured district's bot does).
        ``clock`` times the request log and flood control; ``wall_clock`` gives message dates."""
        bot_id_text = token.split(":", 1)[0]
        if not bot_id_text.isdigit():
            raise ValueError("a bot token starts with the bot's numeric id: '<id>:<secret>'")
        self.token = token
        self.host = host
        self.port = port
        self.bot_user = EmuUser(id=int(bot_id_text), first_name=bot_name, username=bot_username, is_bot=True)
        self.rate_limits: RateLimits | None = (
            RateLimits()
            if rate_limits is True
            else rate_limits
            if isinstance(rate_limits, RateLimits)
            else None
        )
        self.strict_chats = strict_chats
        self.privacy_mode = privacy_mode
        # The bot's status in each group ("member" unless set): member, administrator, left or kicked.
        self.bot_status: dict[int, str] = {}
        # Who has written in each group (getChatMember answers "member" for them, "left" for anyone else).
        self.members: dict[int, set[int]] = {}
        self._clock = clock
        self._wall_clock = wall_clock

        self.users: dict[int, EmuUser] = {}
        self.chats: dict[int, EmuChat] = {}
        self._messages: dict[int, dict[int, ChatMessage]] = {}
        self._next_message_id: dict[int, int] = {}
        self.blocked_by: set[int] = set()
        # Users who never opened the bot's private chat: the bot cannot write to them first (403).
        self.not_started: set[int] = set()
        # A channel and its discussion group name each other (getChat's linked_chat_id).
        self.linked: dict[int, int] = {}
        self.migrated: dict[int, int] = {}

        self._pending: list[JsonDict] = []
        self._next_update_id = 1
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._updates_event = asyncio.Event()
        self._changed_event = asyncio.Event()

        self.callbacks: dict[str, CallbackQueryRecord] = {}
        self.files: dict[str, StoredFile] = {}
        self.uploads: dict[str, StoredFile] = {}
        self.commands: dict[tuple[str, str], list[JsonDict]] = {}
        self.chat_actions: list[tuple[int, str]] = []
        self.webhook: JsonDict | None = None
        self.requests: list[RequestRecord] = []

        self._failures: deque[Failure] = deque()
        self._global_window: _SlidingWindow | None = None
        self._chat_windows: dict[int, _SlidingWindow] = {}
        self._ids = itertools.count(1)
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._extra_routes: list[web.AbstractRouteDef] = []

        self._methods: dict[str, Callable[[_Params], Awaitable[Any]]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "answercallbackquery": self._answer_callback_query,
            "sendphoto": self._send_photo,
            "senddocument": self._send_document,
            "sendvideo": self._send_video,
            "sendmediagroup": self._send_media_group,
            "getfile": self._get_file,
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "sendchataction": self._send_chat_action,
        }

    # ------------------------------------------------------------------------------------------ lifecycle

    def add_routes(self, routes: Iterable[web.AbstractRouteDef]) -> None:
        """Serve more routes beside the Bot API on the same port (e.g. a control API); call before start."""
        if self._runner is not None:
            raise RuntimeError("routes are added before the emulator starts")
        self._extra_routes.extend(routes)

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        self._closing = False
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.add_routes(self._extra_routes)
        # handler_cancellation: a poll whose client went away ends like it does on Telegram.
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
        self._wake_pollers()  # long polls answer now instead of holding the shutdown
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> TelegramEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the emulator is not running")
        return f"http://{self.host}:{self.port}"

    def create_bot(self, **bot_kwargs: Any) -> Bot:
        """A real aiogram Bot pointed at this emulator; the caller closes ``bot.session``."""
        # Imported here: the emulator's own process (python -m emulators.telegram) starts without aiogram.
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        session = AiohttpSession(api=TelegramAPIServer.from_base(self.base_url))
        return Bot(token=self.token, session=session, **bot_kwargs)

    # ------------------------------------------------------------------------------ registry and test hooks

    def add_user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ru",
    ) -> EmuUser:
        user = EmuUser(user_id, first_name, last_name, username, language_code)
        self.users[user_id] = user
        if user_id in self.chats and self.chats[user_id].type == "private":
            self.chats[user_id] = self._private_chat(user)
        return user

    def add_chat(
        self,
        chat_id: int,
        chat_type: str | None = None,
        title: str | None = None,
        username: str | None = None,
    ) -> EmuChat:
        if chat_type is None:
            chat_type = (
                "private" if chat_id > 0 else "supergroup" if chat_id < -1_000_000_000_000 else "group"
            )
        if chat_type == "private":
            chat = self._private_chat(self._user(chat_id))
        else:
            chat = EmuChat(chat_id, chat_type, title=title or f"Группа {chat_id}", username=username)
        self.chats[chat_id] = chat
        return chat

    def migrate_group(self, chat_id: int, new_chat_id: int | None = None) -> int:
        """The group becomes a supergroup: calls to the old id answer 400 with ``migrate_to_chat_id``."""
        if new_chat_id is None:
            new_chat_id = -1_000_000_000_000 + chat_id
        old = self.chats.get(chat_id) or self.add_chat(chat_id, "group")
        self.add_chat(new_chat_id, "supergroup", title=old.title)
        self.migrated[chat_id] = new_chat_id
        return new_chat_id

    def set_rate_limits(self, limits: RateLimits | None) -> None:
        """Flood control from now on (None: none); the windows start empty."""
        self.rate_limits = limits
        self._global_window = None
        self._chat_windows = {}

    def block_bot(self, user_id: int) -> None:
        """The user blocks the bot: sends to their private chat answer 403."""
        self.blocked_by.add(user_id)

    def user_never_started(self, user_id: int) -> None:
        """The user never wrote to the bot: sends to their private chat answer 403 until they do."""
        self.not_started.add(user_id)

    def add_channel(
        self, channel_id: int, title: str, *, username: str | None = None, group_id: int | None = None
    ) -> EmuChat:
        """A channel with the bot as its administrator; ``group_id``: its linked discussion group (a supergroup,
        created when unknown), where every post is copied (is_automatic_forward) and comments are written."""
        chat = self.add_chat(channel_id, "channel", title=title, username=username)
        self.bot_status[channel_id] = "administrator"
        if group_id is not None:
            if group_id not in self.chats:
                self.add_chat(group_id, "supergroup", title=f"{title} — обсуждение")
            self.linked[channel_id], self.linked[group_id] = group_id, channel_id
        return chat

    def post_to_channel(self, channel_id: int, text: str) -> tuple[ChatMessage, ChatMessage | None]:
        """The channel publishes a post: a ``channel_post`` update, and its copy in the discussion group (from
        Telegram's service account, ``is_automatic_forward``, ``forward_origin`` naming the post) as a
        ``message`` update there. Returns the post and the copy (None without a discussion group)."""
        channel = self.chats[channel_id]
        post = self._new_message(channel_id, 0, from_bot=False, text=text)
        post.plain_text, post.sender_chat_id = text, channel_id
        if self.bot_status.get(channel_id) == "administrator":
            self.push_update({"channel_post": self._message_json(post)})
        group_id = self.linked.get(channel_id)
        if group_id is None:
            return post, None
        self._user(TELEGRAM_SERVICE_USER)
        copy = self._new_message(group_id, TELEGRAM_SERVICE_USER, from_bot=False, text=text)
        copy.plain_text, copy.sender_chat_id, copy.is_automatic_forward = text, channel_id, True
        copy.forward_origin = {
            "type": "channel", "chat": channel.to_json(), "message_id": post.message_id, "date": post.date,
        }  # fmt: skip
        if self._bot_sees(self.chats[group_id], copy):
            self.push_update({"message": self._message_json(copy)})
        return post, copy

    def comment(
        self,
        group_id: int,
        user_id: int,
        post_copy_id: int,
        text: str | None,
        *,
        reply_to_message_id: int | None = None,
        **kwargs: Any,
    ) -> ChatMessage:
        """A user comments under a channel post (the post's copy ``post_copy_id`` in the discussion group), or
        answers another comment of that thread (``reply_to_message_id``)."""
        copy = self._message(group_id, post_copy_id)
        if not copy.is_automatic_forward:
            raise ValueError(f"message {post_copy_id} of {group_id} is no channel post's copy")
        return self.push_message(
            group_id, user_id, text, reply_to_message_id=reply_to_message_id or post_copy_id,
            message_thread_id=post_copy_id, **kwargs,
        )  # fmt: skip

    def user_edits(self, chat_id: int, message_id: int, text: str) -> ChatMessage:
        """A user edits their message (text, or caption of a media message): an ``edited_message`` update."""
        msg = self._message(chat_id, message_id)
        if msg.from_bot or msg.deleted:
            raise ValueError(f"message {message_id} of {chat_id} is not a user's message to edit")
        msg.edits.append(
            MessageVersion(
                msg.text, msg.parse_mode, msg.plain_text, msg.entities, msg.reply_markup, self._clock()
            )
        )
        msg.text = msg.plain_text = text
        msg.entities = []
        msg.edit_date = max(int(self._wall_clock()), msg.date + len(msg.edits))  # two edits: two dates
        if self._bot_sees(self.chats[chat_id], msg):
            self.push_update({"edited_message": self._message_json(msg)})
        return msg

    def set_privacy_mode(self, enabled: bool) -> None:
        """BotFather's /setprivacy Enable (True) or Disable (False), from now on."""
        self.privacy_mode = enabled

    def set_bot_status(self, chat_id: int, status: str, *, by_user_id: int) -> int:
        """``by_user_id`` adds the bot to a group ("member"), makes it an administrator, removes it ("left") or
        bans it ("kicked"); Telegram tells the bot with a ``my_chat_member`` update, whose id is returned."""
        if status not in _BOT_STATUSES:
            raise ValueError(f"the bot's status is one of {sorted(_BOT_STATUSES)}, not {status!r}")
        new_chat = chat_id not in self.chats
        chat = self._ensure_chat(chat_id, None, None)
        if chat.type == "private":
            raise ValueError("the bot's membership is set for groups, not for a private chat")
        old = "left" if new_chat else self.bot_status.get(chat.id, "member")
        self.bot_status[chat.id] = status
        return self.push_update(
            {
                "my_chat_member": {
                    "chat": chat.to_json(),
                    "from": self._user(by_user_id).to_json(),
                    "date": int(self._wall_clock()),
                    "old_chat_member": self._member_json(self.bot_user, old),
                    "new_chat_member": self._member_json(self.bot_user, status),
                }
            }
        )

    def fail_next(
        self,
        count: int = 1,
        kind: FailureKind = "retry_after",
        *,
        retry_after: int = 1,
        status: int = 500,
        methods: Iterable[str] | None = None,
    ) -> None:
        """Make the next ``count`` calls (of ``methods``, any method when None) fail.

        kinds: "retry_after" (429 with ``retry_after``), "server_error" (JSON error with ``status``),
        "bad_gateway_html" (502 with an HTML page, as a proxy in front of Telegram answers),
        "disconnect" (the connection is closed before the method runs, so nothing happened).
        """
        wanted = frozenset(m.lower() for m in methods) if methods is not None else None
        for _ in range(count):
            self._failures.append(Failure(kind, retry_after, status, wanted))

    def push_message(
        self,
        chat_id: int,
        user_id: int,
        text: str | None = None,
        reply_to_message_id: int | None = None,
        photo: str | bytes | None = None,
        chat_type: str | None = None,
        entities: list[JsonDict] | None = None,
        *,
        document: str | bytes | None = None,
        document_name: str = "document.pdf",
        video: str | bytes | None = None,
        media_group_id: str | None = None,
        forward_origin: JsonDict | None = None,
        message_thread_id: int | None = None,
        sender_chat_id: int | None = None,
    ) -> ChatMessage:
        """A user writes to the bot. ``photo``, ``document``, ``video``: a known file_id or the file's bytes
        (at most one, as in Telegram); ``text`` is then its caption. ``media_group_id``: an item of an album
        (push each item; Telegram sends the caption with one of them). ``forward_origin``: the message is a
        forward, with this MessageOrigin (e.g. ``{"type": "channel", "date": …, "chat": {…}, "message_id": …}``)."""
        chat = self._ensure_chat(chat_id, chat_type, user_id)
        sender = self._user(user_id)
        msg = self._new_message(chat.id, sender.id, from_bot=False, text=text)
        msg.plain_text = text
        msg.entities = list(entities or [])
        msg.media_group_id = media_group_id
        msg.forward_origin = dict(forward_origin) if forward_origin is not None else None
        msg.message_thread_id, msg.sender_chat_id = message_thread_id, sender_chat_id
        if chat.type == "private":
            self.not_started.discard(sender.id)
        if reply_to_message_id is not None:
            self._message(chat.id, reply_to_message_id)  # must exist, as in a real client
            msg.reply_to_message_id = reply_to_message_id
        if photo is not None:
            msg.photo = self._photo_sizes(self._user_file(photo, "photo.jpg", "image/jpeg", "photos"))
        if document is not None:
            msg.document = self._document_json(self._user_file(document, document_name, None, "documents"))
        if video is not None:
            msg.video = self._video_json(self._user_file(video, "video.mp4", "video/mp4", "videos"))
        if chat.type != "private":
            self.members.setdefault(chat.id, set()).add(sender.id)
        if self._bot_sees(chat, msg):
            self.push_update({"message": self._message_json(msg)})
        return msg

    def _user_file(self, given: str | bytes, filename: str, mime_type: str | None, folder: str) -> StoredFile:
        stored = self.files.get(given) if isinstance(given, str) else None
        if stored is None:
            content = given if isinstance(given, bytes) else given.encode()
            stored = self._store_file(content, filename, mime_type, folder)
        return stored

    def _bot_sees(self, chat: EmuChat, msg: ChatMessage) -> bool:
        """Whether Telegram delivers this user message to the bot (core.telegram.org/bots/features#privacy-mode).

        A bot not in the group sees nothing; with privacy mode on, a bot that is not an administrator sees
        commands (``/cmd`` and ``/cmd@this_bot``, not another bot's) and replies to its own messages only."""
        if chat.type == "private":
            return True
        status = self.bot_status.get(chat.id, "member")
        if status in ("left", "kicked"):
            return False
        if not self.privacy_mode or status == "administrator":
            return True
        if msg.reply_to_message_id is not None:
            target = self._messages.get(chat.id, {}).get(msg.reply_to_message_id)
            if target is not None and target.from_bot:
                return True
        text = msg.plain_text or ""
        command = re.match(r"/[A-Za-z0-9_]{1,32}(?:@([A-Za-z0-9_]+))?(?:\s|$)", text)
        if command is None:
            return False
        mention = command.group(1)
        return mention is None or mention.lower() == (self.bot_user.username or "").lower()

    def push_callback(self, chat_id: int, user_id: int, message_id: int, data: str) -> str:
        """A user presses an inline button under ``message_id``; returns the callback query id."""
        chat = self._ensure_chat(chat_id, None, user_id)
        sender = self._user(user_id)
        query_id = str(next(self._ids) * 1_000_003 + secrets.randbelow(1000))
        target = self._messages.get(chat.id, {}).get(message_id)
        message: JsonDict
        if target is None or target.deleted:
            message = {"chat": chat.to_json(), "message_id": message_id, "date": 0}  # InaccessibleMessage
        else:
            message = self._message_json(target)
        self.callbacks[query_id] = CallbackQueryRecord(query_id, chat.id, sender.id, message_id, data)
        self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": sender.to_json(),
                    "message": message,
                    "chat_instance": str(abs(chat.id) * 7 + 1),
                    "data": data,
                }
            }
        )
        return query_id

    def push_update(self, raw: JsonDict) -> int:
        """Queue a raw update (``update_id`` is assigned when absent); returns its id.

        As on Telegram, an update of a type excluded by the last ``allowed_updates`` is dropped.
        """
        update = dict(raw)
        update_id = int(update.get("update_id", self._next_update_id))
        update["update_id"] = update_id
        self._next_update_id = max(self._next_update_id, update_id + 1)
        kind = next((key for key in update if key != "update_id"), "")
        allowed = self._allowed_updates
        if (allowed is None and kind not in _DEFAULT_EXCLUDED_UPDATES) or (allowed and kind in allowed):
            self._pending.append(update)
            self._pending.sort(key=lambda u: int(u["update_id"]))
            self._wake_pollers()
        self._notify()
        return update_id

    @property
    def pending_updates(self) -> list[JsonDict]:
        """Updates not yet confirmed by a getUpdates offset."""
        return list(self._pending)

    def files_of(self, msg: StaffMessage) -> list[ShownFile]:
        """The files a message carries (tests/e2e: the neutral form of photo, document and video)."""
        assert isinstance(msg, ChatMessage)
        found: list[ShownFile] = []
        if msg.photo:
            stored = self.files[str(msg.photo[-1]["file_id"])]
            found.append(ShownFile("photo", stored.filename or "photo.jpg", stored.content))
        others: tuple[tuple[FileKind, JsonDict | None], ...] = (("document", msg.document), ("video", msg.video))
        for kind, item in others:
            if item:
                stored = self.files[str(item["file_id"])]
                found.append(ShownFile(kind, stored.filename or str(item.get("file_name", "")), stored.content))
        return found

    def sent(self, chat_id: int) -> list[ChatMessage]:
        """The bot's messages currently in the chat (deleted ones excluded), oldest first."""
        return [m for m in self._messages.get(chat_id, {}).values() if m.from_bot and not m.deleted]

    def history(self, chat_id: int) -> list[ChatMessage]:
        """Every message of the chat, from users and the bot, deleted ones included."""
        return list(self._messages.get(chat_id, {}).values())

    def user_deletes(self, chat_id: int, message_id: int) -> None:
        """A user deletes their message: later replies and presses no longer carry it (reply_to_message)."""
        self._message(chat_id, message_id).deleted = True

    def message(self, chat_id: int, message_id: int) -> ChatMessage:
        return self._message(chat_id, message_id)

    @property
    def callback_answers(self) -> dict[str, CallbackAnswer]:
        return {qid: rec.answer for qid, rec in self.callbacks.items() if rec.answer is not None}

    def calls(self, method: str | None = None) -> list[RequestRecord]:
        """The request log, optionally for one method (case-insensitive)."""
        if method is None:
            return list(self.requests)
        wanted = method.lower()
        return [r for r in self.requests if r.method.lower() == wanted]

    @property
    def text_limit(self) -> int:
        return MAX_TEXT_LENGTH

    def text_length(self, text: str) -> int:
        """Telegram counts a text's UTF-16 code units."""
        return utf16_len(text)

    def calls_of(self, kind: CallKind | None = None) -> list[RequestRecord]:
        """The request log of one neutral kind (emulators/staff.py), e.g. "send": sendMessage."""
        if kind is None:
            return list(self.requests)
        wanted = CALL_KINDS[kind]
        return [r for r in self.requests if r.method.lower() in wanted]

    def fail_next_of(self, kinds: Sequence[CallKind], count: int = 1, failure: StaffFailure = "flood", *,
                     retry_after: int = 1) -> None:  # fmt: skip
        """``fail_next`` in neutral words (emulators/staff.py): a flood is a 429 with ``retry_after``."""
        methods = [m for kind in kinds for m in CALL_KINDS[kind]]
        if failure == "flood":
            self.fail_next(count, "retry_after", retry_after=retry_after, methods=methods)
        elif failure == "server_error":
            self.fail_next(count, "server_error", status=500, methods=methods)
        else:
            self.fail_next(count, "bad_gateway_html" if failure == "bad_gateway" else "disconnect", methods=methods)

    def get_commands(self, scope: JsonDict | None = None, language_code: str = "") -> list[JsonDict]:
        return list(self.commands.get((self._scope_key(scope), language_code), []))

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until ``predicate()`` is truthy and return its value.

        It is re-checked after every request and push, and every 10 ms besides, for predicates over state the
        emulator does not see (a handler's own records).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"the emulator did not reach the expected state within {timeout} s")
            event = self._changed_event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, 0.01))

    async def wait_sent(self, chat_id: int, count: int = 1, timeout: float = 5.0) -> list[ChatMessage]:
        """Wait until the bot has at least ``count`` messages in the chat; return them."""

        def enough() -> list[ChatMessage]:
            messages = self.sent(chat_id)
            return messages if len(messages) >= count else []

        return await self.wait_for(enough, timeout)

    # --------------------------------------------------------------------------------------------- HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        record = RequestRecord(method=method, received_at=self._clock())
        self.requests.append(record)
        try:
            status, body = await self._dispatch(request, method, record)
            record.status = status
            if isinstance(body, str):
                return web.Response(status=status, text=body, content_type="text/html")
            if not body.get("ok"):
                record.description = body.get("description")
            return web.json_response(body, status=status, dumps=_dumps)
        except asyncio.CancelledError:
            record.description = "cancelled: the client went away"
            raise
        except _Disconnect:
            record.status, record.description = 0, "connection dropped (injected)"
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError from None
        finally:
            record.finished_at = self._clock()
            self._notify()

    async def _dispatch(self, request: web.Request, method: str, record: RequestRecord) -> tuple[int, Any]:
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            params = await self._read_params(request)
            record.params = {
                **params.raw,
                **{
                    name: f"<file {up.filename}, {len(up.content)} bytes>"
                    for name, up in params.files.items()
                },
            }
            name = method.lower()
            with_chat = params.raw.get("chat_id")
            if isinstance(with_chat, int) or (isinstance(with_chat, str) and _is_int(with_chat)):
                record.chat_id = int(with_chat)
            failure = self._take_failure(name)
            if failure is not None:
                return self._failure_answer(failure)
            handler = self._methods.get(name)
            if handler is None:
                raise ApiError(404, "Not Found")
            if name in RATE_LIMITED_METHODS and record.chat_id is not None:
                self._check_flood(record.chat_id)
            result = await handler(params)
        except ApiError as error:
            return error.code, error.to_json()
        return 200, {"ok": True, "result": result}

    async def _read_params(self, request: web.Request) -> _Params:
        raw: JsonDict = dict(request.query)
        files: dict[str, _Upload] = {}
        if request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise bad_request("can't parse JSON encoded request body") from None
                if not isinstance(body, dict):
                    raise bad_request("JSON body must be an object")
                raw.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = _Upload(value.filename, value.file.read(), value.content_type)
                    elif isinstance(value, str):
                        raw[key] = value
                    else:
                        raw[key] = bytes(value).decode("utf-8", "replace")
        return _Params(raw, files)

    def _take_failure(self, method: str) -> Failure | None:
        for failure in self._failures:
            if failure.applies_to(method):
                self._failures.remove(failure)
                return failure
        return None

    def _failure_answer(self, failure: Failure) -> tuple[int, Any]:
        if failure.kind == "disconnect":
            raise _Disconnect
        if failure.kind == "retry_after":
            error = ApiError(
                429, f"Too Many Requests: retry after {failure.retry_after}", retry_after=failure.retry_after
            )
            return error.code, error.to_json()
        if failure.kind == "bad_gateway_html":
            return 502, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
        try:
            description = HTTPStatus(failure.status).phrase
        except ValueError:
            description = "Internal Server Error"
        return failure.status, ApiError(failure.status, description).to_json()

    def _check_flood(self, chat_id: int) -> None:
        limits = self.rate_limits
        if limits is None:
            return
        now = self._clock()
        if self._global_window is None:
            self._global_window = _SlidingWindow(limits.global_count, limits.global_window)
        chat_window = self._chat_windows.get(chat_id)
        if chat_window is None:
            chat_window = (
                _SlidingWindow(limits.private_count, limits.private_window)
                if chat_id > 0
                else _SlidingWindow(limits.group_count, limits.group_window)
            )
            self._chat_windows[chat_id] = chat_window
        wait = max(self._global_window.wait_time(now), chat_window.wait_time(now))
        if wait > 0:
            retry_after = max(1, math.ceil(wait))  # Telegram speaks whole seconds
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)
        self._global_window.record(now)
        chat_window.record(now)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").to_json(), status=401)
        path = request.match_info["path"]
        for stored in self.files.values():
            if stored.file_path == path:
                return web.Response(
                    body=stored.content, content_type=stored.mime_type or "application/octet-stream"
                )
        return web.json_response(ApiError(404, "Not Found").to_json(), status=404)

    # ----------------------------------------------------------------------------------- internal state

    def _notify(self) -> None:
        self._changed_event.set()
        self._changed_event = asyncio.Event()

    def _wake_pollers(self) -> None:
        self._updates_event.set()
        self._updates_event = asyncio.Event()

    def _user(self, user_id: int) -> EmuUser:
        if user_id not in self.users:
            name = "Telegram" if user_id == TELEGRAM_SERVICE_USER else f"Пользователь {user_id}"
            self.users[user_id] = EmuUser(user_id, name)
        return self.users[user_id]

    @staticmethod
    def _private_chat(user: EmuUser) -> EmuChat:
        return EmuChat(
            user.id, "private", username=user.username, first_name=user.first_name, last_name=user.last_name
        )

    def _ensure_chat(self, chat_id: int, chat_type: str | None, user_id: int | None) -> EmuChat:
        chat = self.chats.get(chat_id)
        if chat is None:
            if chat_id > 0 and user_id is not None and chat_id != user_id:
                raise ValueError(f"private chat {chat_id} can only receive messages from user {chat_id}")
            chat = self.add_chat(chat_id, chat_type)
        return chat

    def _chat_for_bot(self, params: _Params) -> EmuChat:
        raw = params.raw.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            for named in self.chats.values():
                if named.username and f"@{named.username}".lower() == raw.lower():
                    return named
            raise bad_request("chat not found")
        chat_id = params.need_int("chat_id")
        if chat_id in self.migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=self.migrated[chat_id],
            )
        known = self.chats.get(chat_id)
        if known is not None:
            return known
        if self.strict_chats:
            raise bad_request("chat not found")
        return self.add_chat(chat_id)

    def _message(self, chat_id: int, message_id: int) -> ChatMessage:
        msg = self._messages.get(chat_id, {}).get(message_id)
        if msg is None:
            raise KeyError(f"no message {message_id} in chat {chat_id}")
        return msg

    def _new_message(self, chat_id: int, from_id: int, *, from_bot: bool, text: str | None) -> ChatMessage:
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        msg = ChatMessage(
            chat_id=chat_id,
            message_id=message_id,
            from_id=from_id,
            from_bot=from_bot,
            date=int(self._wall_clock()),
            text=text,
        )
        self._messages.setdefault(chat_id, {})[message_id] = msg
        return msg

    def _store_file(
        self, content: bytes, filename: str | None, mime_type: str | None, folder: str
    ) -> StoredFile:
        number = next(self._ids)
        suffix = f".{filename.rsplit('.', 1)[1]}" if filename and "." in filename else ""
        stored = StoredFile(
            file_id=f"EMU{number:06d}{secrets.token_hex(6)}",
            file_unique_id=f"U{number:06d}",
            content=content,
            filename=filename,
            mime_type=mime_type,
            file_path=f"{folder}/file_{number}{suffix}",
        )
        self.files[stored.file_id] = stored
        if filename:
            self.uploads[filename] = stored
        return stored

    @staticmethod
    def _photo_sizes(stored: StoredFile) -> list[JsonDict]:
        return [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": 1280,
                "height": 960,
                "file_size": len(stored.content),
            }
        ]

    @staticmethod
    def _document_json(stored: StoredFile) -> JsonDict:
        document: JsonDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
        }
        if stored.filename:
            document["file_name"] = stored.filename
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        return document

    @staticmethod
    def _video_json(stored: StoredFile) -> JsonDict:
        video: JsonDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 1280,
            "height": 720,
            "duration": 1,
            "file_size": len(stored.content),
        }
        if stored.filename:
            video["file_name"] = stored.filename
        if stored.mime_type:
            video["mime_type"] = stored.mime_type
        return video

    def _message_json(self, msg: ChatMessage, *, nested: bool = False) -> JsonDict:
        data: JsonDict = {"message_id": msg.message_id}
        if msg.from_bot or msg.from_id:  # a channel's own post has no "from", only sender_chat
            data["from"] = (self.bot_user if msg.from_bot else self._user(msg.from_id)).to_json()
        if msg.sender_chat_id is not None:
            data["sender_chat"] = self.chats[msg.sender_chat_id].to_json()
        data.update(chat=self.chats[msg.chat_id].to_json(), date=msg.date)
        if msg.message_thread_id is not None:
            data["message_thread_id"] = msg.message_thread_id
        if msg.is_automatic_forward:
            data["is_automatic_forward"] = True
        media = msg.photo is not None or msg.document is not None or msg.video is not None
        if msg.forward_origin is not None:
            data["forward_origin"] = msg.forward_origin
        if msg.photo is not None:
            data["photo"] = msg.photo
        if msg.document is not None:
            data["document"] = msg.document
        if msg.video is not None:
            data["video"] = msg.video
        if msg.media_group_id is not None:
            data["media_group_id"] = msg.media_group_id
        if msg.plain_text is not None:
            data["caption" if media else "text"] = msg.plain_text
            if msg.entities:
                data["caption_entities" if media else "entities"] = msg.entities
        # Telegram returns only inline keyboards on a Message; ForceReply and reply keyboards stay server-side.
        if msg.reply_markup is not None and "inline_keyboard" in msg.reply_markup:
            data["reply_markup"] = msg.reply_markup
        if msg.edit_date is not None:
            data["edit_date"] = msg.edit_date
        if msg.reply_to_message_id is not None and not nested:
            target = self._messages.get(msg.chat_id, {}).get(msg.reply_to_message_id)
            if target is not None and not target.deleted:
                data["reply_to_message"] = self._message_json(target, nested=True)
        return data

    @staticmethod
    def _scope_key(scope: Any) -> str:
        return json.dumps(scope or {"type": "default"}, sort_keys=True, ensure_ascii=False)

    # --------------------------------------------------------------------------------- content decoding

    def _formatted(
        self,
        params: _Params,
        text_field: str,
        mode_field: str,
        entities_field: str,
        limit: int,
        *,
        required: bool,
    ) -> tuple[str | None, str | None, str | None, list[JsonDict]]:
        """(raw text, parse_mode, parsed text, entities) of a text or caption, validated as Telegram does."""
        raw = params.get_str(text_field)
        parse_mode = params.get_str(mode_field) or None
        if raw is None or raw.strip() == "":
            if required:
                raise bad_request("message text is empty")
            return None, parse_mode, None, []
        entities: list[JsonDict] = []
        if parse_mode is None:
            plain = raw.strip()
            given = params.get_json(entities_field, "can't parse entities JSON object")
            if given is not None:
                if not isinstance(given, list) or not all(isinstance(e, dict) for e in given):
                    raise bad_request("can't parse entities JSON object")
                entities = given
        elif parse_mode.lower() == "html":
            try:
                plain, entities = parse_html(raw)
            except HtmlParseError as error:
                raise bad_request(f"can't parse entities: {error}") from None
        else:
            # MarkdownV2/Markdown exist on Telegram; the emulator refuses them rather than pretend.
            raise bad_request(f"unsupported parse_mode {parse_mode!r} (the emulator implements HTML only)")
        if not plain:
            if required:
                raise bad_request("message text is empty")
            return None, parse_mode, None, []
        if len(plain) > limit:  # Telegram counts Unicode code points of the parsed text
            raise bad_request(
                "message is too long" if text_field == "text" else "message caption is too long"
            )
        return raw, parse_mode, plain, entities

    def _reply_markup(self, params: _Params) -> JsonDict | None:
        markup = params.get_json("reply_markup", "can't parse reply keyboard markup JSON object")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            if not {"keyboard", "remove_keyboard", "force_reply"} & markup.keys():
                raise bad_request("can't parse reply keyboard markup JSON object")
            return markup
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
        actions = ("url", "callback_data", "web_app", "login_url", "switch_inline_query", "pay", "copy_text")
        for row in rows:
            for button in row:
                if (
                    not isinstance(button, dict)
                    or not isinstance(button.get("text"), str)
                    or not button["text"]
                ):
                    raise bad_request(
                        'can\'t parse inline keyboard button: Field "text" must be of type String'
                    )
                if not any(key in button for key in actions):
                    raise bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                    raise bad_request("BUTTON_DATA_INVALID")
        return markup

    def _reply_target(self, params: _Params, chat: EmuChat) -> int | None:
        target = params.get_int("reply_to_message_id")
        allow_missing = params.get_bool("allow_sending_without_reply")
        reply_parameters = params.get_json("reply_parameters", "can't parse reply parameters JSON object")
        if isinstance(reply_parameters, dict) and reply_parameters.get("message_id") is not None:
            target = int(reply_parameters["message_id"])
            allow_missing = bool(reply_parameters.get("allow_sending_without_reply", False))
        if target is None:
            return None
        existing = self._messages.get(chat.id, {}).get(target)
        if existing is None or existing.deleted:
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        return target

    def _thread_of(self, params: _Params, chat: EmuChat, reply_to: int | None) -> int | None:
        """The thread a bot's message lands in: the one named, else the replied message's (a reply to a comment
        or to a post's copy lands under that post, as on Telegram)."""
        named = params.get_int("message_thread_id")
        if named is not None:
            return named
        target = self._messages.get(chat.id, {}).get(reply_to) if reply_to is not None else None
        if target is None:
            return None
        return target.message_id if target.is_automatic_forward else target.message_thread_id

    def _check_can_write(self, chat: EmuChat) -> None:
        if chat.type == "private" and chat.id in self.blocked_by:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat.type == "private" and chat.id in self.not_started:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        status = self.bot_status.get(chat.id)
        kind = "supergroup chat" if chat.type == "supergroup" else f"{chat.type} chat"
        if status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind}")
        if status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind}")

    def _member_json(self, user: EmuUser, status: str) -> JsonDict:
        """A ChatMember object of ``status``; an administrator with the rights a group owner gives by default."""
        member: JsonDict = {"status": status, "user": user.to_json()}
        if status == "administrator":
            member.update(
                can_be_edited=False, is_anonymous=False, can_manage_chat=True, can_delete_messages=True,
                can_manage_video_chats=True, can_restrict_members=True, can_promote_members=False,
                can_change_info=True, can_invite_users=True, can_post_stories=False, can_edit_stories=False,
                can_delete_stories=False, can_send_welcome_messages=False, can_pin_messages=True,
            )  # fmt: skip
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def _input_file(self, params: _Params, name: str, folder: str, value: str | None = None) -> StoredFile:
        """A file parameter: an upload (direct or ``attach://``), a known file_id, or an HTTP URL.

        ``value``: the file named inside another parameter (an InputMedia's ``media``), not a parameter."""
        inline = value is not None
        value = value if inline else params.get_str(name)
        upload = None if inline else params.files.get(name)
        if value and value.startswith("attach://"):
            upload = params.files.get(value.removeprefix("attach://"))
            if upload is None:
                raise bad_request(f"wrong file identifier/HTTP URL specified ({value} is not attached)")
        if upload is not None:
            return self._store_file(upload.content, upload.filename, upload.content_type, folder)
        if not value:
            raise bad_request(f"there is no {name} in the request")
        if value in self.files:
            return self.files[value]
        if value.startswith(("http://", "https://")):
            return self._store_file(b"", value.rsplit("/", 1)[-1] or None, None, folder)
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _editable(self, params: _Params) -> ChatMessage:
        if params.has("inline_message_id"):
            raise bad_request("inline messages are not supported by the emulator")
        chat = self._chat_for_bot(params)
        msg = self._messages.get(chat.id, {}).get(params.need_int("message_id"))
        if msg is None or msg.deleted:
            raise bad_request("message to edit not found")
        if not msg.from_bot:
            raise bad_request("message can't be edited")
        return msg

    def _apply_edit(
        self,
        msg: ChatMessage,
        text: str | None,
        parse_mode: str | None,
        plain: str | None,
        entities: list[JsonDict],
        markup: JsonDict | None,
    ) -> JsonDict:
        if plain == msg.plain_text and entities == msg.entities and markup == msg.reply_markup:
            raise bad_request(
                "message is not modified: specified new message content and reply markup are exactly "
                "the same as a current content and reply markup of the message"
            )
        msg.edits.append(
            MessageVersion(
                msg.text, msg.parse_mode, msg.plain_text, msg.entities, msg.reply_markup, self._clock()
            )
        )
        msg.text, msg.parse_mode, msg.plain_text, msg.entities = text, parse_mode, plain, entities
        msg.reply_markup = markup
        msg.edit_date = int(self._wall_clock())
        return self._message_json(msg)

    # ------------------------------------------------------------------------------------------ methods

    async def _get_me(self, params: _Params) -> JsonDict:
        return {
            **self.bot_user.to_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: _Params) -> list[JsonDict]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                "the webhook first",
            )
        offset = params.get_int("offset")
        limit = min(max(params.get_int("limit", 100) or 100, 1), 100)
        timeout = max(params.get_float("timeout", 0.0), 0.0)
        allowed = params.get_json("allowed_updates", "can't parse allowed_updates JSON object")
        if allowed is not None:
            if not isinstance(allowed, list):
                raise bad_request("can't parse allowed_updates JSON object")
            self._allowed_updates = frozenset(str(kind) for kind in allowed) or None

        # A newer poll terminates an older one waiting in the background, as on Telegram.
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()

        if offset is not None and offset < 0:
            self._pending = self._pending[offset:]
        elif offset:
            self._pending = [u for u in self._pending if int(u["update_id"]) >= offset]

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
                    "is running",
                )
            if self._pending or self._closing:
                return self._pending[:limit]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            event = self._updates_event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def _set_webhook(self, params: _Params) -> bool:
        url = params.get_str("url")
        if not url:
            return await self._delete_webhook(params)  # an empty URL removes the webhook, as on Telegram
        if not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = {
            "url": url,
            "max_connections": params.get_int("max_connections", 40),
            "allowed_updates": params.get_json("allowed_updates", "can't parse allowed_updates JSON object"),
            "secret_token": params.get_str("secret_token"),
        }
        if params.get_bool("drop_pending_updates"):
            self._pending.clear()
        self._wake_pollers()
        return True

    async def _delete_webhook(self, params: _Params) -> bool:
        self.webhook = None
        if params.get_bool("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _get_webhook_info(self, params: _Params) -> JsonDict:
        info: JsonDict = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook:
            info["max_connections"] = self.webhook["max_connections"]
            if self.webhook["allowed_updates"]:
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    async def _set_my_commands(self, params: _Params) -> bool:
        commands = params.get_json("commands", "can't parse commands JSON object")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            name = command.get("command") if isinstance(command, dict) else None
            description = command.get("description") if isinstance(command, dict) else None
            if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", name.removeprefix("/")):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise bad_request(
                    "command description is empty" if not description else "BOT_COMMAND_INVALID"
                )
        key = (
            self._scope_key(params.get_json("scope", "can't parse scope JSON object")),
            params.get_str("language_code") or "",
        )
        self.commands[key] = [
            {"command": c["command"].removeprefix("/"), "description": c["description"]} for c in commands
        ]
        return True

    async def _get_my_commands(self, params: _Params) -> list[JsonDict]:
        scope = params.get_json("scope", "can't parse scope JSON object")
        return self.get_commands(scope, params.get_str("language_code") or "")

    async def _delete_my_commands(self, params: _Params) -> bool:
        key = (
            self._scope_key(params.get_json("scope", "can't parse scope JSON object")),
            params.get_str("language_code") or "",
        )
        self.commands.pop(key, None)
        return True

    async def _send_message(self, params: _Params) -> JsonDict:
        chat = self._chat_for_bot(params)
        self._check_can_write(chat)
        text, parse_mode, plain, entities = self._formatted(
            params, "text", "parse_mode", "entities", MAX_TEXT_LENGTH, required=True
        )
        markup = self._reply_markup(params)
        reply_to = self._reply_target(params, chat)
        msg = self._new_message(chat.id, self.bot_user.id, from_bot=True, text=text)
        msg.parse_mode, msg.plain_text, msg.entities = parse_mode, plain, entities
        msg.reply_markup, msg.reply_to_message_id = markup, reply_to
        msg.message_thread_id = self._thread_of(params, chat, reply_to)
        msg.disable_notification = params.get_bool("disable_notification")
        return self._message_json(msg)

    async def _send_photo(self, params: _Params) -> JsonDict:
        return await self._send_media(params, "photo")

    async def _send_document(self, params: _Params) -> JsonDict:
        return await self._send_media(params, "document")

    async def _send_video(self, params: _Params) -> JsonDict:
        return await self._send_media(params, "video")

    async def _send_media_group(self, params: _Params) -> list[JsonDict]:
        """An album: 2-10 photos and videos, or 2-10 documents; one message each, sharing a media_group_id."""
        chat = self._chat_for_bot(params)
        self._check_can_write(chat)
        items = params.get_json("media", "can't parse media JSON object")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise bad_request("can't parse media JSON object")
        low, high = MEDIA_GROUP_SIZE
        if not low <= len(items) <= high:
            raise bad_request("wrong number of media in the group: must be 2-10")
        kinds = [str(i.get("type", "")) for i in items]
        if any(k not in ("photo", "video", "document") for k in kinds):
            raise bad_request("unsupported media type in the group")
        if "document" in kinds and set(kinds) != {"document"}:
            raise bad_request("document can't be mixed with other media types")
        folders = {"photo": "photos", "video": "videos", "document": "documents"}
        stored = []
        for kind, item in zip(kinds, items, strict=True):
            ref = item.get("media")
            if not isinstance(ref, str) or not ref:
                raise bad_request("there is no media in the request")
            stored.append(self._input_file(params, "media", folders[kind], value=ref))  # all checked first
        reply_to = self._reply_target(params, chat)
        group_id = str(next(self._ids) * 1_000_003)
        sent: list[JsonDict] = []
        for kind, item, file in zip(kinds, items, stored, strict=True):
            caption = item.get("caption")
            msg = self._new_message(chat.id, self.bot_user.id, from_bot=True, text=caption)
            msg.plain_text = caption.strip() if isinstance(caption, str) and caption.strip() else None
            msg.reply_to_message_id, msg.media_group_id = reply_to, group_id
            msg.message_thread_id = self._thread_of(params, chat, reply_to)
            if kind == "photo":
                msg.photo = self._photo_sizes(file)
            elif kind == "video":
                msg.video = self._video_json(file)
            else:
                msg.document = self._document_json(file)
            sent.append(self._message_json(msg))
        return sent

    async def _send_media(self, params: _Params, kind: Literal["photo", "document", "video"]) -> JsonDict:
        chat = self._chat_for_bot(params)
        self._check_can_write(chat)
        folders = {"photo": "photos", "video": "videos", "document": "documents"}
        stored = self._input_file(params, kind, folders[kind])
        caption, parse_mode, plain, entities = self._formatted(
            params, "caption", "parse_mode", "caption_entities", MAX_CAPTION_LENGTH, required=False
        )
        markup = self._reply_markup(params)
        reply_to = self._reply_target(params, chat)
        msg = self._new_message(chat.id, self.bot_user.id, from_bot=True, text=caption)
        msg.parse_mode, msg.plain_text, msg.entities = parse_mode, plain, entities
        msg.reply_markup, msg.reply_to_message_id = markup, reply_to
        msg.message_thread_id = self._thread_of(params, chat, reply_to)
        msg.disable_notification = params.get_bool("disable_notification")
        if kind == "photo":
            msg.photo = self._photo_sizes(stored)
        elif kind == "video":
            msg.video = self._video_json(stored)
        else:
            msg.document = self._document_json(stored)
        return self._message_json(msg)

    async def _edit_message_text(self, params: _Params) -> JsonDict:
        msg = self._editable(params)
        if msg.photo is not None or msg.document is not None or msg.video is not None:
            raise bad_request("there is no text in the message to edit")
        text, parse_mode, plain, entities = self._formatted(
            params, "text", "parse_mode", "entities", MAX_TEXT_LENGTH, required=True
        )
        # As on Telegram, an edit without reply_markup removes the inline keyboard.
        return self._apply_edit(msg, text, parse_mode, plain, entities, self._reply_markup(params))

    async def _edit_message_reply_markup(self, params: _Params) -> JsonDict:
        msg = self._editable(params)
        return self._apply_edit(
            msg, msg.text, msg.parse_mode, msg.plain_text, msg.entities, self._reply_markup(params)
        )

    async def _delete_message(self, params: _Params) -> bool:
        chat = self._chat_for_bot(params)
        msg = self._messages.get(chat.id, {}).get(params.need_int("message_id"))
        if msg is None or msg.deleted:
            raise bad_request("message to delete not found")
        msg.deleted = True
        return True

    async def _answer_callback_query(self, params: _Params) -> bool:
        query_id = params.get_str("callback_query_id") or ""
        record = self.callbacks.get(query_id)
        if record is None or record.answer is not None:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        text = params.get_str("text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        record.answer = CallbackAnswer(
            callback_query_id=query_id,
            text=text,
            show_alert=params.get_bool("show_alert"),
            url=params.get_str("url"),
            cache_time=params.get_int("cache_time", 0) or 0,
            answered_at=self._clock(),
        )
        return True

    async def _get_file(self, params: _Params) -> JsonDict:
        stored = self.files.get(params.get_str("file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }

    async def _get_chat(self, params: _Params) -> JsonDict:
        raw = params.raw.get("chat_id")
        if isinstance(raw, str) and raw.startswith("@"):
            chat = self._chat_for_bot(params)
        else:
            # getChat never creates a chat, even when strict_chats is off
            chat = self._visible_chat(params.need_int("chat_id"))
        linked = {"linked_chat_id": self.linked[chat.id]} if chat.id in self.linked else {}
        return {
            **chat.to_json(),
            **linked,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def _get_chat_member(self, params: _Params) -> JsonDict:
        chat = self._visible_chat(params.need_int("chat_id"))
        user_id = params.need_int("user_id")
        if user_id == self.bot_user.id:
            status = "member" if chat.type == "private" else self.bot_status.get(chat.id, "member")
            return self._member_json(self.bot_user, status)
        user = self.users.get(user_id)
        if user is None:
            raise bad_request("PARTICIPANT_ID_INVALID")
        if chat.type == "private":
            return self._member_json(user, "member" if user_id == chat.id else "left")
        return self._member_json(user, "member" if user_id in self.members.get(chat.id, set()) else "left")

    def _visible_chat(self, chat_id: int) -> EmuChat:
        """A chat getChat and getChatMember can see: known, and the bot not removed from it (never created)."""
        found = self.chats.get(chat_id)
        status = self.bot_status.get(chat_id)
        if found is None or status == "left":
            raise bad_request("chat not found")
        if status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {found.type} chat")
        return found

    async def _send_chat_action(self, params: _Params) -> bool:
        chat = self._chat_for_bot(params)
        self._check_can_write(chat)
        action = params.get_str("action") or ""
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.chat_actions.append((chat.id, action))
        return True


class _Disconnect(Exception):
    """Raised inside the handler to drop the client's connection without an answer."""


def _is_int(value: str) -> bool:
    return bool(re.fullmatch(r"\s*-?\d+\s*", value))


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)
