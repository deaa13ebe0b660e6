"""A loopback control API for a TelegramEmulator running in a process of its own (`python -m emulators.telegram`).

A test or benchmark in another process drives the emulator with it, the way an in-process test calls its Python
methods: register users and chats, push messages and button presses, read what the chats hold and which calls the
bot made. Every route is under ``/_control/`` on the Bot API's own port and speaks JSON.

A burst ("N messages at R a second") runs inside the emulator's process, so its pace does not depend on how fast
the driving process makes HTTP calls.

    GET  /_control/status                     pending updates, request counts, the emulator's clock, last call
    POST /_control/users      {"users": [{"id", "first_name", "last_name"?, "username"?}]}
    POST /_control/chats      {"chats": [{"id", "type"?, "title"?, "username"?}]}
    POST /_control/messages   {"chat_id", "user_id", "text", "reply_to_message_id"?}  -> message_id, update_id
    POST /_control/bursts     {"chat_id", "user_id", "texts": [...], "rate"?}        -> burst id
    GET  /_control/bursts/{id}                pushed so far, message ids, done
    POST /_control/callbacks  {"chat_id", "user_id", "message_id", "data"}           -> query id
    GET  /_control/callbacks/{query_id}       the answer, or null
    GET  /_control/history?chat_id=N[&from_bot=1]   every message of the chat, deleted ones included
    GET  /_control/calls?method=M[&since=I]   the request log (all methods, or one)
    POST /_control/failures   {"count", "kind", "retry_after"?, "status"?, "methods"?}
    POST /_control/limits     {"limits": null | "telegram" | {RateLimits fields}}  flood control from now on
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from emulators.control_json import PREFIX, ControlError, Handler
from emulators.control_json import body as _body
from emulators.control_json import guarded as _guarded
from emulators.control_json import integer as _int
from emulators.control_json import list_of as _list
from emulators.control_json import string as _str
from emulators.telegram.records import (
    ChatMessage,
    FailureKind,
    JsonDict,
    RateLimits,
    RequestRecord,
    visible_text,
)
from emulators.telegram.server import TelegramEmulator

_FAILURE_KINDS: tuple[FailureKind, ...] = ("retry_after", "server_error", "bad_gateway_html", "disconnect")

@dataclass
class Burst:
    """Messages pushed one after another at a fixed pace by a task of the emulator's process."""

    id: int
    chat_id: int
    user_id: int
    texts: list[str]
    rate: float | None  # messages a second; None: all at once
    message_ids: list[int] = field(default_factory=list)
    pushed_at: list[float] = field(default_factory=list)  # the emulator's clock at each push
    started_at: float = 0.0
    finished_at: float | None = None
    error: str | None = None

    def to_json(self) -> JsonDict:
        return {
            "id": self.id,
            "total": len(self.texts),
            "pushed": len(self.message_ids),
            "message_ids": list(self.message_ids),
            "pushed_at": list(self.pushed_at),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "done": self.finished_at is not None,
            "error": self.error,
        }


def message_json(msg: ChatMessage) -> JsonDict:
    """A chat message as the driver sees it: who wrote it and the text a person reads."""
    return {
        "message_id": msg.message_id,
        "chat_id": msg.chat_id,
        "from_id": msg.from_id,
        "from_bot": msg.from_bot,
        "text": visible_text(msg),
        "reply_to_message_id": msg.reply_to_message_id,
        "edits": len(msg.edits),
        "deleted": msg.deleted,
        "buttons": [[str(b.get("text", "")) for b in row] for row in msg.buttons],
    }


def call_json(index: int, record: RequestRecord) -> JsonDict:
    return {
        "index": index,
        "method": record.method,
        "chat_id": record.chat_id,
        "status": record.status,
        "description": record.description,
        "received_at": record.received_at,
        "finished_at": record.finished_at,
    }


class Control:
    """The control routes of one emulator: `emulator.add_routes(Control(emulator).routes())` before start."""

    def __init__(self, emulator: TelegramEmulator) -> None:
        self.emu = emulator
        self.bursts: dict[int, Burst] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def routes(self) -> list[web.RouteDef]:
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/status", self._status),
            ("POST", "/users", self._users),
            ("POST", "/chats", self._chats),
            ("POST", "/messages", self._messages),
            ("POST", "/bursts", self._start_burst),
            ("GET", "/bursts/{burst_id}", self._burst),
            ("POST", "/callbacks", self._callback),
            ("GET", "/callbacks/{query_id}", self._callback_answer),
            ("GET", "/history", self._history),
            ("GET", "/calls", self._calls),
            ("POST", "/failures", self._failures),
            ("POST", "/limits", self._limits),
        ]
        return [web.route(method, PREFIX + path, _guarded(handler)) for method, path, handler in table]

    async def close(self) -> None:
        """Stop the bursts still pushing (the process is going down)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------------------------------------ routes

    async def _status(self, request: web.Request) -> web.StreamResponse:
        emu = self.emu
        counts: dict[str, int] = {}
        last_call: float | None = None
        for record in emu.requests:
            counts[record.method.lower()] = counts.get(record.method.lower(), 0) + 1
            if record.method.lower() != "getupdates":
                moment = record.finished_at if record.finished_at is not None else record.received_at
                last_call = moment if last_call is None else max(last_call, moment)
        # A call still waiting for its answer counts as activity now: the bot is not idle.
        if any(r.finished_at is None and r.method.lower() != "getupdates" for r in emu.requests):
            last_call = emu._clock()
        return web.json_response(
            {
                "base_url": emu.base_url,
                "token": emu.token,
                "now": emu._clock(),
                "pending_updates": len(emu.pending_updates),
                "next_update_id": emu._next_update_id,
                "requests": len(emu.requests),
                "calls_by_method": counts,
                "last_call_at": last_call,
                "bursts_running": sum(1 for b in self.bursts.values() if b.finished_at is None),
            }
        )

    async def _users(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        for user in _list(body, "users"):
            self.emu.add_user(
                _int(user, "id"),
                _str(user, "first_name"),
                user.get("last_name"),
                user.get("username"),
            )
        return web.json_response({"ok": True})

    async def _chats(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        for chat in _list(body, "chats"):
            self.emu.add_chat(_int(chat, "id"), chat.get("type"), chat.get("title"), chat.get("username"))
        return web.json_response({"ok": True})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        reply_to = body.get("reply_to_message_id")
        msg = self.emu.push_message(
            _int(body, "chat_id"),
            _int(body, "user_id"),
            _str(body, "text"),
            reply_to_message_id=int(reply_to) if reply_to is not None else None,
        )
        return web.json_response({"message_id": msg.message_id, "update_id": self.emu._next_update_id - 1})

    async def _start_burst(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        texts = [str(t) for t in _list(body, "texts")]
        rate = body.get("rate")
        if rate is not None and (not isinstance(rate, int | float) or rate <= 0):
            raise ControlError("rate: messages a second, a positive number (or null for all at once)")
        burst = Burst(
            id=len(self.bursts) + 1,
            chat_id=_int(body, "chat_id"),
            user_id=_int(body, "user_id"),
            texts=texts,
            rate=float(rate) if rate is not None else None,
        )
        self.bursts[burst.id] = burst
        if burst.rate is None:
            self._push_all(burst)  # before answering: the caller may start the bot right after
        else:
            task = asyncio.create_task(self._run_burst(burst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return web.json_response(burst.to_json())

    async def _burst(self, request: web.Request) -> web.StreamResponse:
        burst = self.bursts.get(int(request.match_info["burst_id"]))
        if burst is None:
            raise web.HTTPNotFound(text="no such burst")
        return web.json_response(burst.to_json())

    async def _callback(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        query_id = self.emu.push_callback(
            _int(body, "chat_id"), _int(body, "user_id"), _int(body, "message_id"), _str(body, "data")
        )
        return web.json_response({"query_id": query_id})

    async def _callback_answer(self, request: web.Request) -> web.StreamResponse:
        record = self.emu.callbacks.get(request.match_info["query_id"])
        if record is None:
            raise web.HTTPNotFound(text="no such callback query")
        answer = record.answer
        return web.json_response(
            None
            if answer is None
            else {"text": answer.text, "show_alert": answer.show_alert, "answered_at": answer.answered_at}
        )

    async def _history(self, request: web.Request) -> web.StreamResponse:
        try:
            chat_id = int(request.query["chat_id"])
        except (KeyError, ValueError):
            raise ControlError("chat_id: an integer query parameter") from None
        messages = self.emu.history(chat_id)
        if "from_bot" in request.query:
            from_bot = request.query["from_bot"] not in ("0", "false", "")
            messages = [m for m in messages if m.from_bot == from_bot]
        return web.json_response([message_json(m) for m in messages])

    async def _calls(self, request: web.Request) -> web.StreamResponse:
        method = request.query.get("method", "").lower()
        since = int(request.query.get("since", "0"))
        found = [
            call_json(index, record)
            for index, record in enumerate(self.emu.requests)
            if index >= since and (not method or record.method.lower() == method)
        ]
        return web.json_response(found)

    async def _failures(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        kind = body.get("kind", "retry_after")
        if kind not in _FAILURE_KINDS:
            raise ControlError(f"kind: one of {', '.join(_FAILURE_KINDS)}")
        methods = body.get("methods")
        self.emu.fail_next(
            int(body.get("count", 1)),
            kind,
            retry_after=int(body.get("retry_after", 1)),
            status=int(body.get("status", 500)),
            methods=[str(m) for m in methods] if methods is not None else None,
        )
        return web.json_response({"ok": True})

    async def _limits(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        value = body.get("limits")
        if value is None:
            limits = None
        elif value == "telegram":
            limits = RateLimits()
        elif isinstance(value, dict):
            try:
                limits = RateLimits(**value)
            except TypeError as exc:
                raise ControlError(f"limits: {exc}") from None
        else:
            raise ControlError('limits: null, "telegram" or an object of RateLimits fields')
        self.emu.set_rate_limits(limits)
        return web.json_response({"ok": True})

    # ------------------------------------------------------------------------------------------ bursts

    def _push_one(self, burst: Burst, text: str) -> None:
        msg = self.emu.push_message(burst.chat_id, burst.user_id, text)
        burst.message_ids.append(msg.message_id)
        burst.pushed_at.append(self.emu._clock())

    def _push_all(self, burst: Burst) -> None:
        burst.started_at = self.emu._clock()
        try:
            for text in burst.texts:
                self._push_one(burst, text)
        except Exception as exc:  # a bad chat or user: the driver reads it from the burst's state
            burst.error = f"{type(exc).__name__}: {exc}"
        burst.finished_at = self.emu._clock()

    async def _run_burst(self, burst: Burst) -> None:
        """Message k goes out at start + k / rate: the pace is exact however long a push takes."""
        assert burst.rate is not None
        loop = asyncio.get_running_loop()
        start = loop.time()
        burst.started_at = self.emu._clock()
        try:
            for k, text in enumerate(burst.texts):
                delay = start + k / burst.rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                self._push_one(burst, text)
        except Exception as exc:
            burst.error = f"{type(exc).__name__}: {exc}"
        finally:
            burst.finished_at = self.emu._clock()
