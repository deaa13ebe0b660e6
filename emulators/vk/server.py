"""A loopback emulator of the VK API and its Bots Long Poll for end-to-end tests, benchmarks and the demo.

The real vk-api client talks to it over HTTP on 127.0.0.1 (its ``VkApi.method`` posts to a hard-coded VK host,
so the session given to it rewrites that host to ``emu.base_url``, see channels/vk_session.py)::

    async with VkEmulator() as emu:
        emu.add_group(GID, name="Администрация")
        post = emu.add_post(GID, "Объявление")
        token = emu.group_token(GID)
        emu.add_comment(GID, post.id, from_id=42, text="Когда починят дорогу?")
        ...

What it reproduces, because the intake's correctness depends on it:

* ``POST /method/{name}`` (form-encoded, or a GET query) answering ``{"response": …}`` or VK's
  ``{"error": {"error_code", "error_msg", "request_params"}}``; ``v`` and ``access_token`` required;
* which kind of token may call which method (group, service, user): error 27 with a community token where VK
  refuses group auth, 28 with a service key where it refuses app auth, 5 for an unknown or revoked token;
* a sliding one-second window of 20 requests per token (error 6), on by default as on VK;
* the Bots Long Poll server with real waiting, ``failed`` 1, 2 and 3, and events carrying ``event_id``;
* ``wall.createComment`` honouring ``guid``, ``messages.send`` requiring and honouring ``random_id`` and VK's
  24-hour window, both echoing the community's own answer as an event;
* injected errors (any code), non-JSON and truncated answers, once or N times, for chosen methods.

Dates and the 24-hour window follow the emulator's clock, which a test sets (``set_time``, ``advance``);
the rate window and the long poll's waiting use real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import aiohttp
from aiohttp import web

from emulators.vk.records import (
    DEFAULT_PERMISSIONS,
    PERMISSION_BITS,
    CallbackAttempt,
    CallbackServer,
    Comment,
    Failure,
    FailureKind,
    Group,
    JsonDict,
    LongPollEvent,
    Message,
    Post,
    RequestRecord,
    Revision,
    StoredFile,
    Token,
    TokenKind,
    VkError,
    VkUser,
    bad_param,
)

T = TypeVar("T")

API_VERSION: Final = "5.199"
DEFAULT_RATE_LIMIT: Final = 20  # requests a second per token, as VK allows a community token
MESSAGE_WINDOW: Final = 24 * 3600  # a community may answer a person within 24 h of their last message
MAX_MESSAGE_LENGTH: Final = 9000
MAX_INT64: Final = 2**63 - 1
LONG_POLL_BATCH: Final = 1000  # events a single a_check returns at most

# Event types groups.setLongPollSettings switches (those the emulator pushes, and a few more of VK's).
LONG_POLL_EVENT_TYPES: Final = (
    "message_new",
    "message_reply",
    "message_edit",
    "message_allow",
    "message_deny",
    "wall_post_new",
    "wall_repost",
    "wall_reply_new",
    "wall_reply_edit",
    "wall_reply_delete",
    "wall_reply_restore",
    "group_join",
    "group_leave",
)
ALL_KINDS: Final[frozenset[TokenKind]] = frozenset({"group", "service", "user"})
# Who may call what: VK's API schema (access_token_type), as CHANNELS.md tabulates it.
METHOD_KINDS: Final[dict[str, frozenset[TokenKind]]] = {
    "groups.getlongpollserver": frozenset({"group"}),
    "groups.gettokenpermissions": frozenset({"group"}),
    "groups.setlongpollsettings": frozenset({"group", "user"}),
    "groups.getlongpollsettings": frozenset({"group", "user"}),
    "groups.getbyid": ALL_KINDS,
    "wall.get": frozenset({"user", "service"}),
    "wall.getbyid": frozenset({"user", "service"}),
    "wall.getcomments": frozenset({"user", "service"}),
    "wall.createcomment": frozenset({"user", "group"}),
    "wall.editcomment": frozenset({"user"}),
    "wall.deletecomment": frozenset({"user"}),
    "wall.restorecomment": frozenset({"user"}),
    "messages.send": frozenset({"group"}),
    "users.get": ALL_KINDS,
    "utils.resolvescreenname": ALL_KINDS,
}

_ATTACHMENT = re.compile(r"^([a-z_]+?)(-?\d+)_(\d+)(?:_([A-Za-z0-9]+))?$")
_INTEGER = re.compile(r"[+-]?[0-9]{1,20}")
_SCREEN_NAME = re.compile(r"^(?:id(\d+)|club(\d+)|public(\d+))$")


class _SlidingWindow:
    def __init__(self, count: int, window: float = 1.0) -> None:
        self.count = count
        self.window = window
        self.stamps: deque[float] = deque()

    def admit(self, now: float) -> bool:
        """Count this request if the window has room; False means error 6."""
        while self.stamps and self.stamps[0] <= now - self.window:
            self.stamps.popleft()
        if len(self.stamps) >= self.count:
            return False
        self.stamps.append(now)
        return True


@dataclass
class _LongPoll:
    """One group's Bots Long Poll server: its key, the event numbering and the injected failures."""

    group_id: int
    key: str
    events: list[LongPollEvent] = field(default_factory=list)
    next_ts: int = 1
    lost_keys: set[str] = field(default_factory=set)  # keys whose ts is lost too: failed 3
    gaps: int = 0  # injected failed 1 answers still to give
    pushed: list[JsonDict] = field(default_factory=list)  # every event, switched off or not, repeats included
    disabled: set[str] = field(default_factory=set)  # event types groups.setLongPollSettings switched off
    enabled: bool = True
    api_version: str = API_VERSION
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class _Params:
    """A method's parameters as VK reads them: every value is a string; numbers are int64."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw = raw

    def has(self, name: str) -> bool:
        return self.raw.get(name, "") != ""

    def get_str(self, name: str, default: str = "") -> str:
        return self.raw.get(name, default)

    def get_int(self, name: str, default: int | None = None) -> int | None:
        value = self.raw.get(name, "").strip()
        if value == "":
            return default
        number = _int64(value)
        if number is None:
            raise bad_param(f"{name} not integer")
        return number

    def need_int(self, name: str) -> int:
        value = self.get_int(name)
        if value is None:
            raise bad_param(f"{name} is undefined")
        return value

    def get_flag(self, name: str) -> bool:
        return self.raw.get(name, "").strip().lower() in ("1", "true")


class VkEmulator:
    """A VK API server on 127.0.0.1 with a Python API for tests.

    Lifecycle: ``async with VkEmulator() as emu`` or ``await emu.start()`` / ``await emu.stop()``. Its state is
    only touched from the event loop it runs in; a synchronous client (vk-api) calls it from another thread
    over HTTP.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int | None = DEFAULT_RATE_LIMIT,
        max_wait: float = 90.0,
        now: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``rate_limit``: requests a second per token (None: no limit). ``max_wait``: the longest a long poll
        waits whatever ``wait`` asks (VK: 90 s; tests lower it). ``now``: the emulator's clock starts frozen at
        this Unix time (None: it follows the real clock until ``set_time``)."""
        self.host = host
        self.port = port
        self.rate_limit = rate_limit
        self.max_wait = max_wait
        self._frozen_now = now
        self._monotonic = monotonic

        self.tokens: dict[str, Token] = {}
        self.users: dict[int, VkUser] = {}
        self.groups: dict[int, Group] = {}
        self.requests: list[RequestRecord] = []
        self.long_poll_checks: list[RequestRecord] = []  # every a_check, when it came (the API log is apart)
        self._long_polls: dict[int, _LongPoll] = {}
        self.callback_servers: dict[int, CallbackServer] = {}
        self._callback_queues: dict[int, asyncio.Queue[JsonDict]] = {}
        self._callback_tasks: dict[int, asyncio.Task[None]] = {}
        self._http: aiohttp.ClientSession | None = None
        self._windows: dict[str, _SlidingWindow] = {}
        self.files: dict[str, StoredFile] = {}
        self._next_media_id = 456239017  # VK media ids are large; any will do
        self._failures: deque[Failure] = deque()
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._extra_routes: list[web.AbstractRouteDef] = []
        self._methods: dict[str, Callable[[_Params, Token], Any]] = {
            "groups.getlongpollserver": self._groups_get_long_poll_server,
            "groups.gettokenpermissions": self._groups_get_token_permissions,
            "groups.setlongpollsettings": self._groups_set_long_poll_settings,
            "groups.getlongpollsettings": self._groups_get_long_poll_settings,
            "groups.getbyid": self._groups_get_by_id,
            "wall.get": self._wall_get,
            "wall.getbyid": self._wall_get_by_id,
            "wall.getcomments": self._wall_get_comments,
            "wall.createcomment": self._wall_create_comment,
            "wall.editcomment": self._wall_edit_comment,
            "wall.deletecomment": self._wall_delete_comment,
            "wall.restorecomment": self._wall_restore_comment,
            "messages.send": self._messages_send,
            "users.get": self._users_get,
            "utils.resolvescreenname": self._utils_resolve_screen_name,
        }

    # ------------------------------------------------------------------------------------------ lifecycle

    def add_routes(self, routes: Iterable[web.AbstractRouteDef]) -> None:
        """Serve more routes beside the API on the same port (e.g. the control API); call before start."""
        if self._runner is not None:
            raise RuntimeError("routes are added before the emulator starts")
        self._extra_routes.extend(routes)

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        self._closing = False
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_route("*", "/method/{name}", self._handle)
        app.router.add_get("/lp/{group_id}", self._handle_long_poll)
        app.router.add_get("/_files/{name}", self._handle_file)
        app.add_routes(self._extra_routes)
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
        for lp in self._long_polls.values():
            _wake(lp)
        for task in self._callback_tasks.values():
            task.cancel()
        await asyncio.gather(*self._callback_tasks.values(), return_exceptions=True)
        self._callback_tasks.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> VkEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """What replaces https://api.vk.com in the client's requests (channels.vk_session)."""
        if self._runner is None:
            raise RuntimeError("the emulator is not running")
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------------------------------ the clock

    def now(self) -> int:
        """The emulator's clock, Unix seconds: dates of comments and messages, the 24-hour window."""
        return int(self._frozen_now if self._frozen_now is not None else time.time())

    def set_time(self, unix_time: float) -> None:
        """Freeze the emulator's clock at this moment (it moves only by set_time and advance from now on)."""
        self._frozen_now = float(unix_time)

    def advance(self, seconds: float) -> int:
        """Move the emulator's clock forward (freezing it first if it follows the real clock)."""
        self._frozen_now = (self._frozen_now if self._frozen_now is not None else time.time()) + seconds
        return self.now()

    # ------------------------------------------------------------------------------ registry and test hooks

    def add_token(
        self,
        kind: TokenKind,
        *,
        group_id: int | None = None,
        user_id: int | None = None,
        value: str | None = None,
        permissions: Iterable[str] = DEFAULT_PERMISSIONS,
    ) -> str:
        """Register a token of ``kind``: "group" (a community token of ``group_id``), "service" (an app's
        service key) or "user" (``user_id``'s token). Returns its value."""
        if kind == "group" and group_id is None:
            raise ValueError("a community token belongs to a group: give group_id")
        if kind == "user" and user_id is None:
            raise ValueError("a user token belongs to a user: give user_id")
        perms = tuple(permissions)
        unknown = [p for p in perms if p not in PERMISSION_BITS]
        if unknown:
            raise ValueError(f"unknown token permissions: {unknown}")
        token = value or f"vk1.a.{kind}-{secrets.token_urlsafe(24)}"
        self.tokens[token] = Token(token, kind, group_id=group_id, user_id=user_id, permissions=perms)
        if kind == "group" and group_id is not None and group_id not in self.groups:
            self.add_group(group_id)
        if kind == "user" and user_id is not None:
            self._user(user_id)
        return token

    def group_token(self, group_id: int, permissions: Iterable[str] = DEFAULT_PERMISSIONS) -> str:
        return self.add_token("group", group_id=group_id, permissions=permissions)

    def service_key(self) -> str:
        return self.add_token("service")

    def user_token(self, user_id: int) -> str:
        return self.add_token("user", user_id=user_id)

    def revoke_token(self, token: str) -> None:
        """The token stops working (an admin revoked it): every call with it answers error 5."""
        self.tokens[token].revoked = True

    def add_user(
        self, user_id: int, first_name: str, last_name: str = "", screen_name: str | None = None
    ) -> VkUser:
        user = VkUser(user_id, first_name, last_name, screen_name)
        self.users[user_id] = user
        return user

    def add_group(self, group_id: int, name: str | None = None, screen_name: str | None = None) -> Group:
        if group_id <= 0:
            raise ValueError("a group id is positive (its wall's owner_id is -group_id)")
        group = self.groups.get(group_id)
        if group is None:
            group = Group(group_id, name or f"Сообщество {group_id}", screen_name or f"club{group_id}")
            self.groups[group_id] = group
            self._long_polls[group_id] = _LongPoll(group_id, key=secrets.token_hex(20))
        else:
            if name is not None:
                group.name = name
            if screen_name is not None:
                group.screen_name = screen_name
        return group

    def add_admin(self, group_id: int, user_id: int) -> None:
        """The user administers the community: their user token may comment as it (from_group) and edit or
        delete its comments and anyone's under its posts."""
        self._group(group_id).admins.add(self._user(user_id).id)

    def add_post(self, group_id: int, text: str = "", *, comments_closed: bool = False) -> Post:
        """The community publishes a post on its wall (a wall_post_new event)."""
        group = self._group(group_id)
        post = Post(
            self._next_item_id(group), group.owner_id, group.owner_id, self.now(), text, comments_closed
        )
        group.posts[post.id] = post
        self._push_event(group, "wall_post_new", post.to_json(0))
        return post

    def close_comments(self, group_id: int, post_id: int, closed: bool = True) -> None:
        """Close (or reopen) a post's comments: wall.createComment under it answers error 213."""
        self._post(self._group(group_id), post_id).comments_closed = closed

    def add_comment(
        self,
        group_id: int,
        post_id: int,
        from_id: int,
        text: str,
        *,
        attachments: Iterable[JsonDict] = (),
        reply_to_comment: int | None = None,
    ) -> Comment:
        """A person comments under a post (a wall_reply_new event). ``reply_to_comment``: in that thread."""
        group = self._group(group_id)
        if from_id > 0:
            self._user(from_id)
        post = self._post(group, post_id)
        if reply_to_comment is not None:
            try:
                self._reply_target(group, post.id, reply_to_comment)
            except VkError:
                raise KeyError(f"no comment {reply_to_comment} to answer under post {post.id}") from None
        comment = self._new_comment(group, post, from_id, text, list(attachments))
        if reply_to_comment is not None:
            self._thread_reply(group, comment, reply_to_comment)
        group.comments[comment.id] = comment
        self._push_event(group, "wall_reply_new", self._comment_json(group, comment))
        return comment

    def edit_comment(
        self, group_id: int, comment_id: int, text: str, *, attachments: Iterable[JsonDict] | None = None
    ) -> Comment:
        """The author edits the comment (a wall_reply_edit event with the whole comment)."""
        group = self._group(group_id)
        comment = self._comment(group, comment_id)
        comment.revisions.append(Revision(comment.text, list(comment.attachments), self.now()))
        comment.text = text
        if attachments is not None:
            comment.attachments = list(attachments)
        self._push_event(group, "wall_reply_edit", self._comment_json(group, comment))
        return comment

    def delete_comment(self, group_id: int, comment_id: int, deleter_id: int | None = None) -> Comment:
        """The author (the default) or a moderator (``deleter_id``) deletes it (a wall_reply_delete event)."""
        group = self._group(group_id)
        comment = self._comment(group, comment_id)
        comment.deleter_id = comment.from_id if deleter_id is None else deleter_id
        self._push_event(
            group,
            "wall_reply_delete",
            {
                "owner_id": comment.owner_id,
                "id": comment.id,
                "deleter_id": comment.deleter_id,
                "post_id": comment.post_id,
            },
        )
        return comment

    def restore_comment(self, group_id: int, comment_id: int) -> Comment:
        """A deleted comment comes back (a wall_reply_restore event with the whole comment)."""
        group = self._group(group_id)
        comment = self._comment(group, comment_id)
        comment.deleter_id = None
        self._push_event(group, "wall_reply_restore", self._comment_json(group, comment))
        return comment

    def push_message(
        self,
        group_id: int,
        from_id: int,
        text: str,
        *,
        attachments: Iterable[JsonDict] = (),
        reply_to: int | None = None,
    ) -> Message:
        """A person writes to the community (a message_new event); it opens VK's 24-hour answer window."""
        group = self._group(group_id)
        self._user(from_id)
        message = self._new_message(group, from_id, from_id, 0, text, list(attachments))
        message.reply_to = reply_to
        group.last_inbound[from_id] = message.date
        body = message.to_json()
        if reply_to is not None and reply_to in group.messages:
            body["reply_message"] = group.messages[reply_to].to_json()
        self._push_event(
            group,
            "message_new",
            {
                "message": body,
                "client_info": {
                    "button_actions": ["text", "vkpay", "open_app", "location", "open_link", "callback"],
                    "keyboard": True,
                    "inline_keyboard": True,
                    "carousel": True,
                    "lang_id": 0,
                },
            },
        )
        return message

    def edit_message(self, group_id: int, message_id: int, text: str) -> Message:
        """The person edits their message (a message_edit event carrying the message)."""
        group = self._group(group_id)
        message = group.messages.get(message_id)
        if message is None:
            raise KeyError(f"no message {message_id} in group {group_id}")
        message.edits.append(message.text)
        message.text = text
        self._push_event(group, "message_edit", message.to_json())
        return message

    def photo_attachment(
        self, owner_id: int, content: bytes, *, width: int = 1280, height: int = 960, expires_in: int = 3600
    ) -> JsonDict:
        """A photo as VK attaches it to a comment or message: sizes with signed URLs on this server, which
        answer 404 once ``expires_in`` seconds of the emulator's clock have passed (download at once)."""
        media_id = self._new_media_id()
        url = self._store(f"photo{owner_id}_{media_id}.jpg", content, "image/jpeg", expires_in)
        sizes = [
            {
                "type": kind,
                "width": width * scale // 8,
                "height": height * scale // 8,
                "url": f"{url}&size={kind}",
            }
            for kind, scale in (("s", 1), ("m", 2), ("x", 4), ("y", 6), ("z", 8))
        ]
        return {
            "type": "photo",
            "photo": {
                "album_id": -5,
                "date": self.now(),
                "id": media_id,
                "owner_id": owner_id,
                "access_key": secrets.token_hex(9),
                "sizes": sizes,
                "orig_photo": {"type": "base", "width": width, "height": height, "url": url},
                "text": "",
                "has_tags": False,
            },
        }

    def doc_attachment(
        self, owner_id: int, content: bytes, title: str = "документ.pdf", *, expires_in: int = 3600
    ) -> JsonDict:
        """A document attachment with a signed URL on this server (see photo_attachment)."""
        media_id = self._new_media_id()
        ext = title.rsplit(".", 1)[-1].lower() if "." in title else ""
        url = self._store(
            f"doc{owner_id}_{media_id}.{ext or 'bin'}", content, "application/octet-stream", expires_in
        )
        return {
            "type": "doc",
            "doc": {
                "id": media_id,
                "owner_id": owner_id,
                "title": title,
                "size": len(content),
                "ext": ext,
                "date": self.now(),
                "type": 1 if ext in ("txt", "doc", "docx", "pdf", "odt", "rtf") else 8,
                "url": url,
            },
        }

    def push_event(self, group_id: int, event_type: str, obj: JsonDict) -> str:
        """Any raw event (an unknown type, a malformed object) into the long poll; returns its event_id."""
        return self._push_event(self._group(group_id), event_type, obj)

    def redeliver(self, group_id: int, event_id: str, times: int = 1) -> None:
        """Deliver an event again ``times`` more times, with the same event_id (VK's at-least-once)."""
        lp = self._long_polls[self._group(group_id).id]
        raw = next((e for e in lp.pushed if e.get("event_id") == event_id), None)
        if raw is None:
            raise KeyError(f"no event {event_id} in group {group_id}")
        for _ in range(times):
            self._append_event(lp, dict(raw))

    def events(self, group_id: int) -> list[JsonDict]:
        """Every event the group's long poll holds, oldest first (repeats included; types switched off by
        groups.setLongPollSettings are not there)."""
        return [e.raw for e in self._long_polls[self._group(group_id).id].events]

    def last_event_id(self, group_id: int) -> str:
        """The event_id of the group's latest event (whether or not the long poll delivers its type)."""
        return str(self._long_polls[self._group(group_id).id].pushed[-1]["event_id"])

    def long_poll_settings(self, group_id: int) -> JsonDict:
        """What groups.getLongPollSettings answers: every type is on until the client switches it off."""
        lp = self._long_polls[self._group(group_id).id]
        return {
            "is_enabled": lp.enabled,
            "api_version": lp.api_version,
            "events": {kind: 0 if kind in lp.disabled else 1 for kind in LONG_POLL_EVENT_TYPES},
        }

    async def connect_callback(
        self,
        group_id: int,
        url: str,
        *,
        confirmation_code: str = "confirm-otklik",
        secret: str | None = None,
        retries: int = 5,
        retry_delay: float = 1.0,
        timeout: float = 5.0,
    ) -> bool:
        """Point the group's Callback API at ``url``, as an admin does in the community's settings: VK first
        sends ``{"type": "confirmation"}`` and the server must answer the confirmation code. Confirmed, every
        later event is POSTed to it (with ``secret``) until it answers ``ok``, retried up to ``retries`` times
        with ``X-Retry-Counter``. Returns whether the server confirmed."""
        group = self._group(group_id)
        server = CallbackServer(url, confirmation_code, secret, retries, retry_delay, timeout)
        self.disconnect_callback(group_id)
        self.callback_servers[group.id] = server
        body: JsonDict = {"type": "confirmation", "group_id": group.id}
        if secret is not None:
            body["secret"] = secret
        attempt = await self._post_callback(server, body, 0)
        server.confirmed = attempt.status == 200 and attempt.body.strip() == confirmation_code
        if server.confirmed:
            queue: asyncio.Queue[JsonDict] = asyncio.Queue()
            self._callback_queues[group.id] = queue
            self._callback_tasks[group.id] = asyncio.create_task(self._deliver_callbacks(server, queue))
        self._notify()
        return server.confirmed

    def disconnect_callback(self, group_id: int) -> None:
        """Events stop going to the group's Callback API server (the long poll still gets them)."""
        task = self._callback_tasks.pop(group_id, None)
        if task is not None:
            task.cancel()
        self._callback_queues.pop(group_id, None)

    def callback_pending(self, group_id: int) -> int:
        """Events queued for the group's Callback API server, not yet accepted or given up."""
        server = self.callback_servers.get(group_id)
        return server.pending if server is not None and group_id in self._callback_queues else 0

    def fail_longpoll(self, group_id: int, failed: int) -> None:
        """Inject a long-poll failure: 1 (the events after the client's ts are lost to the long poll; the
        comments stay readable through wall.getComments), 2 (the key expires) or 3 (key and ts are lost)."""
        lp = self._long_polls[self._group(group_id).id]
        if failed == 1:
            lp.gaps += 1
        elif failed in (2, 3):
            old = lp.key
            lp.key = secrets.token_hex(20)
            if failed == 3:
                lp.lost_keys.add(old)
        else:
            raise ValueError("the Bots Long Poll fails with 1, 2 or 3")
        _wake(lp)

    def fail_next(
        self,
        code: int = 10,
        count: int = 1,
        *,
        methods: Iterable[str] | None = None,
        kind: FailureKind = "error",
    ) -> None:
        """Make the next ``count`` calls (of ``methods``, any when None) fail: "error" (VK error ``code``),
        "non_json" (an HTML page with status 200) or "truncated" (half of a JSON answer)."""
        wanted = frozenset(m.lower() for m in methods) if methods is not None else None
        for _ in range(count):
            self._failures.append(Failure(kind, code, wanted))

    def set_rate_limit(self, per_second: int | None) -> None:
        """Requests a second per token from now on (None: no limit); the windows start empty."""
        self.rate_limit = per_second
        self._windows = {}

    def comments(self, group_id: int, post_id: int, *, include_deleted: bool = False) -> list[Comment]:
        """Comments under the post, oldest first."""
        return [
            c
            for c in self._group(group_id).comments.values()
            if c.post_id == post_id and (include_deleted or not c.deleted)
        ]

    def published(self, group_id: int, post_id: int | None = None) -> list[Comment]:
        """What the community itself commented (under one post or all), oldest first."""
        group = self._group(group_id)
        return [
            c
            for c in group.comments.values()
            if c.from_id == group.owner_id and (post_id is None or c.post_id == post_id)
        ]

    def messages(self, group_id: int, peer_id: int | None = None) -> list[Message]:
        """The community's conversations (one peer or all), both directions, oldest first."""
        return [m for m in self._group(group_id).messages.values() if peer_id is None or m.peer_id == peer_id]

    def sent_messages(self, group_id: int, peer_id: int | None = None) -> list[Message]:
        """What the community sent (messages.send), oldest first."""
        return [m for m in self.messages(group_id, peer_id) if m.out == 1]

    def calls(self, method: str | None = None) -> list[RequestRecord]:
        """The request log, optionally for one method (case-insensitive)."""
        if method is None:
            return list(self.requests)
        wanted = method.lower()
        return [r for r in self.requests if r.method.lower() == wanted]

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until ``predicate()`` is truthy and return its value (re-checked on every change and 10 ms)."""
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
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.01))

    # --------------------------------------------------------------------------------------------- HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        try:
            raw = await _read_params(request)
        except ValueError:  # a body that is no form at all: VK answers with the parameters it could read
            raw = dict(request.query)
        record = RequestRecord(
            method=name,
            params={k: v for k, v in raw.items() if k != "access_token"},
            token_kind=None,
            received_at=self._monotonic(),
        )
        self.requests.append(record)
        try:
            try:
                result = await self._dispatch(name, raw, record)
            except VkError as error:
                record.error_code = error.code
                return web.json_response({"error": _error_json(error, name, raw)}, dumps=_dumps)
            if isinstance(result, web.StreamResponse):
                return result
            return web.json_response({"response": result}, dumps=_dumps)
        finally:
            record.finished_at = self._monotonic()
            self._notify()

    async def _dispatch(self, name: str, raw: Mapping[str, str], record: RequestRecord) -> Any:
        token_value = raw.get("access_token", "")
        if not token_value:
            raise VkError(5, "no access_token passed.")
        token = self.tokens.get(token_value)
        if token is None or token.revoked:
            raise VkError(5)
        record.token_kind = token.kind
        if not raw.get("v"):
            raise VkError(8)
        if self.rate_limit is not None:
            window = self._windows.setdefault(token.value, _SlidingWindow(self.rate_limit))
            if not window.admit(self._monotonic()):
                raise VkError(6)
        method = name.lower()
        failure = self._take_failure(method)
        if failure is not None:
            record.failure = failure.kind
            if failure.kind == "error":
                if failure.code == 5:
                    token.revoked = True  # a revoked token stays revoked
                raise VkError(failure.code)
            return _broken_answer(failure.kind, name)
        handler = self._methods.get(method)
        if handler is None:
            raise VkError(3)
        allowed = METHOD_KINDS[method]
        if token.kind not in allowed:
            if token.kind == "group":
                raise VkError(27)
            if token.kind == "service":
                raise VkError(28)
            raise VkError(15, "this method is available only with group auth")
        return handler(_Params(raw), token)

    def _take_failure(self, method: str) -> Failure | None:
        for failure in self._failures:
            if failure.applies_to(method):
                self._failures.remove(failure)
                return failure
        return None

    async def _handle_long_poll(self, request: web.Request) -> web.StreamResponse:
        try:
            group_id = int(request.match_info["group_id"])
        except ValueError:
            raise web.HTTPNotFound() from None
        lp = self._long_polls.get(group_id)
        if lp is None:
            raise web.HTTPNotFound()
        record = RequestRecord("a_check", dict(request.query), "group", self._monotonic())
        self.long_poll_checks.append(record)
        try:
            return await self._long_poll_answer(request.query, lp)
        finally:
            record.finished_at = self._monotonic()

    async def _long_poll_answer(self, query: Mapping[str, str], lp: _LongPoll) -> web.StreamResponse:
        key = query.get("key", "")
        if query.get("act") != "a_check" or key != lp.key:
            return web.json_response({"failed": 3 if key in lp.lost_keys else 2})
        try:
            ts = int(query.get("ts", ""))
        except ValueError:
            return web.json_response({"failed": 1, "ts": lp.next_ts})
        try:
            wait = float(query.get("wait", "25"))
        except ValueError:
            wait = 25.0
        wait = min(max(wait if math.isfinite(wait) else 25.0, 0.0), self.max_wait)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            if key != lp.key:  # the key expired while we waited
                return web.json_response({"failed": 3 if key in lp.lost_keys else 2})
            if lp.gaps:
                lp.gaps -= 1
                return web.json_response({"failed": 1, "ts": lp.next_ts})
            first_ts = lp.events[0].ts if lp.events else lp.next_ts
            if ts > lp.next_ts or ts < first_ts:
                return web.json_response({"failed": 1, "ts": lp.next_ts})
            if ts < lp.next_ts:
                batch = [e for e in lp.events[ts - first_ts :][:LONG_POLL_BATCH]]
                return web.json_response(
                    {"ts": str(batch[-1].ts + 1), "updates": [e.raw for e in batch]}, dumps=_dumps
                )
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closing:
                return web.json_response({"ts": str(ts), "updates": []})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lp.wake.wait(), remaining)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        stored = self.files.get(request.match_info["name"])
        if stored is None or request.query.get("sign") != stored.sign or self.now() >= stored.expires_at:
            raise web.HTTPNotFound(text="404 Not Found")  # VK's signed URLs expire to a plain 404
        stored.downloads += 1
        return web.Response(body=stored.content, content_type=stored.content_type)

    # ---------------------------------------------------------------------------------- internal state

    def _new_media_id(self) -> int:
        self._next_media_id += 1
        return self._next_media_id

    def _store(self, name: str, content: bytes, content_type: str, expires_in: int) -> str:
        stored = StoredFile(name, content, content_type, secrets.token_urlsafe(16), self.now() + expires_in)
        self.files[name] = stored
        # The base URL is known only once started: attachments are made by a running emulator.
        return f"{self.base_url}/_files/{name}?sign={stored.sign}&expires={stored.expires_at}"

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _user(self, user_id: int) -> VkUser:
        if user_id not in self.users:
            self.users[user_id] = VkUser(user_id, "Пользователь", str(user_id))
        return self.users[user_id]

    def _group(self, group_id: int) -> Group:
        """A registered group: a test's typo in a group id fails loudly instead of making a new group."""
        group = self.groups.get(group_id)
        if group is None:
            raise KeyError(f"no group {group_id}: add_group it first")
        return group

    def _post(self, group: Group, post_id: int) -> Post:
        post = group.posts.get(post_id)
        if post is None:
            raise KeyError(f"no post {post_id} on the wall of group {group.id}")
        return post

    def _comment(self, group: Group, comment_id: int) -> Comment:
        comment = group.comments.get(comment_id)
        if comment is None:
            raise KeyError(f"no comment {comment_id} on the wall of group {group.id}")
        return comment

    @staticmethod
    def _next_item_id(group: Group) -> int:
        item_id = group.next_item_id
        group.next_item_id += 1
        return item_id

    def _new_comment(
        self, group: Group, post: Post, from_id: int, text: str, attachments: list[JsonDict]
    ) -> Comment:
        return Comment(
            id=self._next_item_id(group),
            owner_id=group.owner_id,
            post_id=post.id,
            from_id=from_id,
            date=self.now(),
            text=text,
            attachments=attachments,
        )

    def _thread_reply(self, group: Group, comment: Comment, reply_to: int) -> None:
        """VK keeps two levels: a reply to a thread item joins the thread of its root comment."""
        target = self._reply_target(group, comment.post_id, reply_to)
        comment.reply_to_comment = target.id
        comment.reply_to_user = target.from_id
        comment.parents_stack = [target.parents_stack[0] if target.parents_stack else target.id]

    @staticmethod
    def _reply_target(group: Group, post_id: int, reply_to: int) -> Comment:
        target = group.comments.get(reply_to)
        if target is None or target.post_id != post_id or target.deleted:
            raise bad_param("reply_to_comment is invalid")
        return target

    def _thread_of(self, group: Group, root_id: int) -> list[Comment]:
        return [c for c in group.comments.values() if c.parents_stack[:1] == [root_id] and not c.deleted]

    def _comment_json(self, group: Group, comment: Comment) -> JsonDict:
        count = 0 if comment.parents_stack else len(self._thread_of(group, comment.id))
        return comment.to_json(count)

    def _new_message(
        self, group: Group, peer_id: int, from_id: int, out: int, text: str, attachments: list[JsonDict]
    ) -> Message:
        conversation_id = group.conversation_ids.get(peer_id, 0) + 1
        group.conversation_ids[peer_id] = conversation_id
        message = Message(
            id=group.next_message_id,
            peer_id=peer_id,
            from_id=from_id,
            out=out,
            date=self.now(),
            text=text,
            conversation_message_id=conversation_id,
            attachments=attachments,
        )
        group.next_message_id += 1
        group.messages[message.id] = message
        return message

    def _push_event(self, group: Group, event_type: str, obj: JsonDict) -> str:
        event_id = secrets.token_hex(20)
        raw: JsonDict = {
            "group_id": group.id,
            "type": event_type,
            "event_id": event_id,
            "v": self._long_polls[group.id].api_version,
            "object": obj,
        }
        self._append_event(self._long_polls[group.id], raw)
        return event_id

    def _append_event(self, lp: _LongPoll, raw: JsonDict) -> None:
        lp.pushed.append(raw)
        if raw.get("type") not in lp.disabled:
            lp.events.append(LongPollEvent(lp.next_ts, raw))
            lp.next_ts += 1
            _wake(lp)
        queue = self._callback_queues.get(int(raw["group_id"]))
        if queue is not None:
            self.callback_servers[int(raw["group_id"])].pending += 1
            queue.put_nowait(raw)
        self._notify()

    async def _deliver_callbacks(self, server: CallbackServer, queue: asyncio.Queue[JsonDict]) -> None:
        """One event at a time, in order: an event is retried until accepted or given up, then the next."""
        while True:
            raw = await queue.get()
            try:
                body = dict(raw)
                if server.secret is not None:
                    body["secret"] = server.secret
                for retry in range(server.retries + 1):
                    if retry:
                        await asyncio.sleep(server.retry_delay)
                    attempt = await self._post_callback(server, body, retry)
                    self._notify()
                    if attempt.accepted:
                        break
                else:
                    server.gave_up.append(str(raw.get("event_id")))
            finally:
                server.pending -= 1
                self._notify()

    async def _post_callback(self, server: CallbackServer, body: JsonDict, retry: int) -> CallbackAttempt:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        event_id = body.get("event_id")
        attempt = CallbackAttempt(
            str(event_id) if event_id is not None else None, str(body.get("type")), retry
        )
        server.attempts.append(attempt)
        headers = {"X-Retry-Counter": str(retry)} if retry else {}
        try:
            async with self._http.post(
                server.url,
                data=_dumps(body).encode(),
                headers={"Content-Type": "application/json", **headers},
                timeout=aiohttp.ClientTimeout(total=server.timeout),
            ) as response:
                attempt.status = response.status
                attempt.body = (await response.text())[:1000]
        except (aiohttp.ClientError, TimeoutError) as exc:
            attempt.error = f"{type(exc).__name__}: {exc}"
        return attempt

    def _owned_group(self, params: _Params, name: str = "owner_id") -> Group:
        owner_id = params.need_int(name)
        group = self.groups.get(-owner_id) if owner_id < 0 else None
        if group is None:
            raise VkError(15, "wall is not available")
        return group

    def _profiles(self, from_ids: Iterable[int]) -> tuple[list[JsonDict], list[JsonDict]]:
        ids = set(from_ids)
        profiles = [self._user(i).to_json() for i in sorted(i for i in ids if i > 0)]
        groups = [self.groups[-i].to_json() for i in sorted(i for i in ids if i < 0) if -i in self.groups]
        return profiles, groups

    # ------------------------------------------------------------------------------------------ methods

    def _groups_get_long_poll_server(self, params: _Params, token: Token) -> JsonDict:
        group_id = params.need_int("group_id")
        if group_id != token.group_id:
            raise VkError(15, "no access to this group")
        lp = self._long_polls[self._group(group_id).id]
        return {"key": lp.key, "server": f"{self.base_url}/lp/{group_id}", "ts": str(lp.next_ts)}

    def _settings_group(self, params: _Params, token: Token) -> _LongPoll:
        group_id = params.need_int("group_id")
        if token.kind == "group" and group_id != token.group_id:
            raise VkError(15, "no access to this group")
        if group_id not in self.groups:
            raise bad_param("group_id is invalid")
        return self._long_polls[group_id]

    def _groups_set_long_poll_settings(self, params: _Params, token: Token) -> int:
        lp = self._settings_group(params, token)
        if params.has("enabled"):
            lp.enabled = params.get_flag("enabled")
        if params.has("api_version"):
            lp.api_version = params.get_str("api_version")
        for kind in LONG_POLL_EVENT_TYPES:
            if params.has(kind):
                if params.get_flag(kind):
                    lp.disabled.discard(kind)
                else:
                    lp.disabled.add(kind)
        return 1

    def _groups_get_long_poll_settings(self, params: _Params, token: Token) -> JsonDict:
        return self.long_poll_settings(self._settings_group(params, token).group_id)

    def _groups_get_token_permissions(self, params: _Params, token: Token) -> JsonDict:
        mask = 0
        for name in token.permissions:
            mask |= PERMISSION_BITS[name]
        return {
            "mask": mask,
            "permissions": [
                {"setting": bit, "name": name}
                for name, bit in PERMISSION_BITS.items()
                if name in token.permissions
            ],
        }

    def _groups_get_by_id(self, params: _Params, token: Token) -> JsonDict:
        given = params.get_str("group_ids") or params.get_str("group_id")
        if not given and token.group_id is not None:
            given = str(token.group_id)
        found: list[JsonDict] = []
        for part in (p.strip() for p in given.split(",") if p.strip()):
            group = self._resolve_group(part)
            if group is None:
                raise bad_param("group_ids is undefined" if not part else f"invalid group id {part[:50]}")
            found.append(group.to_json())
        if not found:
            raise bad_param("group_ids is undefined")
        return {"groups": found, "profiles": []}

    def _resolve_group(self, part: str) -> Group | None:
        number = _int64(part)
        if number is not None:
            return self.groups.get(abs(number))
        match = _SCREEN_NAME.match(part)
        if match and (match.group(2) or match.group(3)):
            return self.groups.get(int(match.group(2) or match.group(3)))
        return next((g for g in self.groups.values() if g.screen_name == part), None)

    def _wall_get(self, params: _Params, token: Token) -> JsonDict:
        group = self._owned_group(params)
        offset = max(params.get_int("offset", 0) or 0, 0)
        count = min(max(params.get_int("count", 20) or 0, 0), 100)
        posts = sorted(group.posts.values(), key=lambda p: p.id, reverse=True)
        return {
            "count": len(posts),
            "items": [self._post_json(group, p) for p in posts[offset : offset + count]],
        }

    def _post_json(self, group: Group, post: Post) -> JsonDict:
        count = sum(1 for c in group.comments.values() if c.post_id == post.id and not c.deleted)
        return post.to_json(count)

    def _wall_get_by_id(self, params: _Params, token: Token) -> JsonDict:
        given = params.get_str("posts")
        if not given.strip():
            raise bad_param("posts is undefined")
        items: list[JsonDict] = []
        for part in (p.strip() for p in given.split(",") if p.strip()):
            match = re.fullmatch(r"(-?\d{1,19})_(\d{1,19})", part)
            if match is None:
                raise bad_param("posts is invalid")
            owner_id, post_id = int(match.group(1)), int(match.group(2))
            group = self.groups.get(-owner_id) if owner_id < 0 else None
            post = group.posts.get(post_id) if group is not None else None
            if group is not None and post is not None:
                items.append(self._post_json(group, post))
        result: JsonDict = {"items": items}
        if params.get_flag("extended"):
            result["profiles"], result["groups"] = self._profiles(i["owner_id"] for i in items)
        return result

    def _wall_get_comments(self, params: _Params, token: Token) -> JsonDict:
        group = self._owned_group(params)
        post = group.posts.get(params.need_int("post_id"))
        if post is None:
            raise bad_param("post_id is invalid")
        offset = max(params.get_int("offset", 0) or 0, 0)
        count = min(max(params.get_int("count", 10) or 0, 0), 100)
        thread_items = min(max(params.get_int("thread_items_count", 0) or 0, 0), 10)
        sort = params.get_str("sort", "asc")
        if sort not in ("asc", "desc"):
            raise bad_param("sort is invalid")
        root = params.get_int("comment_id")
        if root is not None:
            target = group.comments.get(root)
            if target is None or target.post_id != post.id:
                raise bad_param("comment_id is invalid")
            level = self._thread_of(group, root)
        else:
            level = [c for c in group.comments.values() if c.post_id == post.id and not c.parents_stack]
            level = [c for c in level if not c.deleted]
        level.sort(key=lambda c: c.id, reverse=sort == "desc")
        page = level[offset : offset + count]
        items: list[JsonDict] = []
        for comment in page:
            data = self._comment_json(group, comment)
            if not comment.parents_stack:
                thread = self._thread_of(group, comment.id)
                data["thread"] = {
                    "count": len(thread),
                    "can_post": not post.comments_closed,
                    "show_reply_button": True,
                    "groups_can_post": not post.comments_closed,
                }
                if thread_items:
                    data["thread"]["items"] = [self._comment_json(group, c) for c in thread[:thread_items]]
            items.append(data)
        total = sum(1 for c in group.comments.values() if c.post_id == post.id and not c.deleted)
        result: JsonDict = {
            "count": total if root is None else len(level),
            "current_level_count": len(level),
            "can_post": 0 if post.comments_closed else 1,
            "show_reply_button": 1,
            "groups_can_post": not post.comments_closed,
            "items": items,
        }
        if params.get_flag("extended"):
            authors = [c.from_id for c in page]
            authors += [c["from_id"] for i in items for c in i.get("thread", {}).get("items", [])]
            result["profiles"], result["groups"] = self._profiles(authors)
        return result

    def _wall_create_comment(self, params: _Params, token: Token) -> JsonDict:
        group = self._owned_group(params)
        post = group.posts.get(params.need_int("post_id"))
        if post is None:
            raise bad_param("post_id is invalid")
        text = params.get_str("message")
        attachments = _parse_attachments(params.get_str("attachments"))
        if not text.strip() and not attachments:
            raise bad_param("message is empty")
        guid = params.get_str("guid")
        if guid and (token.value, guid) in group.guids:
            earlier = group.comments[group.guids[token.value, guid]]
            return {"comment_id": earlier.id, "parents_stack": list(earlier.parents_stack)}
        if post.comments_closed:
            raise VkError(213)
        if token.kind == "group":
            if token.group_id != group.id:
                raise VkError(15, "no access to this wall")
            from_id = group.owner_id
        else:
            assert token.user_id is not None
            from_group = params.get_int("from_group", 0) or 0
            if from_group and (from_group != group.id or token.user_id not in group.admins):
                raise VkError(15, "only the community's administrators may comment as it")
            from_id = group.owner_id if from_group else token.user_id
        reply_to = params.get_int("reply_to_comment")
        if reply_to is not None:
            self._reply_target(group, post.id, reply_to)  # refuse before the comment takes a wall id
        comment = self._new_comment(group, post, from_id, text, attachments)
        if reply_to is not None:
            self._thread_reply(group, comment, reply_to)
        comment.guid = guid or None
        group.comments[comment.id] = comment
        if guid:
            group.guids[token.value, guid] = comment.id
        self._push_event(group, "wall_reply_new", self._comment_json(group, comment))
        return {"comment_id": comment.id, "parents_stack": list(comment.parents_stack)}

    def _own_comment(self, params: _Params, token: Token) -> tuple[Group, Comment]:
        """The comment a user token may change: the user's own, or any on the wall of a group they administer."""
        group = self._owned_group(params)
        comment = group.comments.get(params.need_int("comment_id"))
        if comment is None:
            raise bad_param("comment_id is invalid")
        if comment.from_id != token.user_id and token.user_id not in group.admins:
            raise VkError(15, "no access to this comment")
        return group, comment

    def _wall_edit_comment(self, params: _Params, token: Token) -> int:
        group, comment = self._own_comment(params, token)
        if comment.deleted:
            raise bad_param("comment_id is invalid")
        text = params.get_str("message")
        attachments = _parse_attachments(params.get_str("attachments"))
        if not text.strip() and not attachments:
            raise bad_param("message is empty")
        comment.revisions.append(Revision(comment.text, list(comment.attachments), self.now()))
        comment.text, comment.attachments = text, attachments
        self._push_event(group, "wall_reply_edit", self._comment_json(group, comment))
        return 1

    def _wall_delete_comment(self, params: _Params, token: Token) -> int:
        group, comment = self._own_comment(params, token)
        if not comment.deleted:
            assert token.user_id is not None
            self.delete_comment(group.id, comment.id, deleter_id=token.user_id)
        return 1

    def _wall_restore_comment(self, params: _Params, token: Token) -> int:
        group, comment = self._own_comment(params, token)
        if comment.deleted:
            self.restore_comment(group.id, comment.id)
        return 1

    def _messages_send(self, params: _Params, token: Token) -> int:
        assert token.group_id is not None
        group = self._group(token.group_id)
        peer_id = params.get_int("peer_id")
        if peer_id is None:
            peer_id = params.get_int("user_id")
        if peer_id is None:
            raise bad_param("peer_id is undefined")
        if not params.has("random_id"):
            raise bad_param("random_id is a required parameter")
        random_id = params.need_int("random_id")
        text = params.get_str("message")
        attachments = _parse_attachments(params.get_str("attachment"))
        if not text.strip() and not attachments:
            raise bad_param("message is empty or invalid")
        if len(text) > MAX_MESSAGE_LENGTH:
            raise VkError(914)
        if random_id != 0 and (peer_id, random_id) in group.random_ids:
            return group.random_ids[peer_id, random_id]
        last = group.last_inbound.get(peer_id)
        if last is None or self.now() - last > MESSAGE_WINDOW:
            raise VkError(901)
        message = self._new_message(group, peer_id, group.owner_id, 1, text, attachments)
        message.random_id = random_id
        reply_to = params.get_int("reply_to")
        message.reply_to = reply_to
        if random_id != 0:
            group.random_ids[peer_id, random_id] = message.id
        self._push_event(group, "message_reply", message.to_json())
        return message.id

    def _users_get(self, params: _Params, token: Token) -> list[JsonDict]:
        given = params.get_str("user_ids") or params.get_str("user_id")
        if not given.strip():
            if token.user_id is None:
                raise bad_param("user_ids is undefined")
            given = str(token.user_id)
        found: list[JsonDict] = []
        for part in (p.strip() for p in given.split(",") if p.strip()):
            user = self._resolve_user(part)
            if user is None:
                raise VkError(113)
            found.append(user.to_json())
        return found

    def _resolve_user(self, part: str) -> VkUser | None:
        user_id = _int64(part)
        if user_id is not None:
            # VK answers an id nobody has with a deleted profile, not an error.
            return self.users.get(user_id) or (
                VkUser(user_id, "DELETED", deactivated="deleted") if user_id > 0 else None
            )
        match = _SCREEN_NAME.match(part)
        if match and match.group(1):
            return self._resolve_user(match.group(1))
        return next((u for u in self.users.values() if u.screen_name == part), None)

    def _utils_resolve_screen_name(self, params: _Params, token: Token) -> JsonDict | list[Any]:
        name = params.get_str("screen_name").strip().rsplit("/", 1)[-1]
        if not name:
            raise bad_param("screen_name is undefined")
        user = next((u for u in self.users.values() if u.screen_name == name), None)
        if user is not None:
            return {"object_id": user.id, "type": "user"}
        group = next((g for g in self.groups.values() if g.screen_name == name), None)
        if group is not None:
            return {"object_id": group.id, "type": "group"}
        match = _SCREEN_NAME.match(name)
        if match and match.group(1) and int(match.group(1)) in self.users:
            return {"object_id": int(match.group(1)), "type": "user"}
        if match and (match.group(2) or match.group(3)):
            gid = int(match.group(2) or match.group(3))
            if gid in self.groups:
                return {"object_id": gid, "type": "group"}
        return []  # VK answers an empty list for a name nobody has


def _int64(value: str) -> int | None:
    """An integer as VK reads one: ASCII digits, within int64 (so never a 500 on '²' or 2**64)."""
    if _INTEGER.fullmatch(value) is None:
        return None
    number = int(value)
    return number if -MAX_INT64 - 1 <= number <= MAX_INT64 else None


def _wake(lp: _LongPoll) -> None:
    lp.wake.set()
    lp.wake = asyncio.Event()


async def _read_params(request: web.Request) -> dict[str, str]:
    raw: dict[str, str] = dict(request.query)
    if request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                raw[key] = value
            elif isinstance(value, bytes | bytearray):
                raw[key] = bytes(value).decode("utf-8", "replace")
    return raw


def _error_json(error: VkError, method: str, raw: Mapping[str, str]) -> JsonDict:
    """VK echoes the call's parameters (never the token) with every error."""
    request_params = [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
    request_params += [
        {"key": key, "value": value[:1000]} for key, value in raw.items() if key != "access_token"
    ]
    return {"error_code": error.code, "error_msg": error.message, "request_params": request_params}


def _broken_answer(kind: FailureKind, method: str) -> web.Response:
    if kind == "non_json":
        return web.Response(
            status=200,
            text="<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            content_type="text/html",
        )
    whole = _dumps({"response": {"method": method, "items": [{"id": 1, "text": "…"}]}})
    return web.Response(status=200, text=whole[: len(whole) // 2], content_type="application/json")


def _parse_attachments(given: str) -> list[JsonDict]:
    """``photo-1_2,doc3_4_key`` as VK reads it: at most 10, each ``<type><owner_id>_<media_id>``."""
    parts = [p.strip() for p in given.split(",") if p.strip()]
    if len(parts) > 10:
        raise bad_param("attachments: too many")
    found: list[JsonDict] = []
    for part in parts:
        match = _ATTACHMENT.match(part)
        if match is None:
            raise bad_param("attachments is invalid")
        kind, owner_id, media_id = match.group(1), int(match.group(2)), int(match.group(3))
        found.append({"type": kind, kind: {"owner_id": owner_id, "id": media_id}})
    return found


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)
