"""A loopback emulator of Odnoklassniki's REST API (`fb.do`) and Bot API, as CHANNELS.md (OK) describes them.

- `fb.do` recomputes `sig` (error 104 PARAM_SIGNATURE on a mismatch), checks the application key (101) and the
  user token (102 when unknown or expired; every successful call renews it for 30 days), and implements
  `group.getStatTopics`, `discussions.getComments` (anchors, `includeRemoved`), `discussions.addDiscussionComment`
  and `users.getCurrentUser`.
- The Bot API: `POST /graph/me/subscribe` and `POST /graph/me/messages/{chat_id}` check the group's key and the
  content type; a webhook deliverer posts each message event to the subscribed URL, waiting 5 s for a 200 and
  retrying otherwise.
- `/_control/…` (emulators/ok/control.py) lets tests write comments and messages, delete comments and read
  what was published.

Emulators import nothing of the product: the signature is computed here from CHANNELS.md's formula again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

TOKEN_DAYS = 30
DELIVERY_TIMEOUT = 5.0  # OK waits this long for the webhook's 200
_SIGNATURE_FREE = frozenset({"access_token", "session_key", "sig"})
JSON_TYPE = "application/json"


def ok_sig(params: dict[str, str], access_token: str, application_secret: str) -> str:
    secret = hashlib.md5((access_token + application_secret).encode()).hexdigest()
    joined = "".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in _SIGNATURE_FREE)
    return hashlib.md5((joined + secret).encode()).hexdigest()


@dataclass
class OkComment:
    id: str
    author_id: str
    text: str
    date: str
    author_name: str = ""
    author_type: str = "USER"
    reply_to_comment_id: str = ""
    deleted: bool = False

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "author_id": self.author_id, "author_type": self.author_type,
                                "date": self.date}  # fmt: skip
        if self.deleted:
            body["deleted"] = True  # includeRemoved: the comment is there, its text is not
            return body
        body.update(text=self.text, author_name=self.author_name)
        if self.reply_to_comment_id:
            body["reply_to_comment_id"] = self.reply_to_comment_id
        return body


@dataclass
class Delivery:
    """One attempt to post a webhook event: what our server answered (0: no answer within the 5 s)."""

    payload: dict[str, Any]
    status: int


@dataclass
class SentMessage:
    chat_id: str
    text: str
    mid: str


@dataclass
class OkEmulator:
    """`async with OkEmulator() as emu`: a server on 127.0.0.1; its state is touched from its own loop only."""

    group_id: str = "70000000000001"
    application_key: str = "CBAEMULATOR"
    application_secret: str = "emulator-secret"
    retry_delay: float = 0.05  # between webhook attempts (OK's own schedule is not published)
    max_attempts: int = 5
    now: float = 1_790_000_000.0  # the emulator's clock (Unix seconds): tests move it, nothing sleeps
    host: str = "127.0.0.1"
    port: int = 0

    tokens: dict[str, float] = field(default_factory=dict)  # user token -> expires at
    bot_tokens: set[str] = field(default_factory=set)
    topics: dict[str, list[OkComment]] = field(default_factory=dict)  # the newest topic last
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (method, params) of fb.do
    deliveries: list[Delivery] = field(default_factory=list)
    sent: list[SentMessage] = field(default_factory=list)
    webhook_url: str = ""
    # Tests' faults: method (or "messages") -> what to do on its next call ("drop": do it, then close the
    # connection unanswered; "hang": close it before doing anything; "garbage": an HTML error page; "junk":
    # JSON of the wrong shape; an int: answer that error code).
    faults: dict[str, list[str | int]] = field(default_factory=dict)
    _next_id: int = 1_000_000
    _queue: asyncio.Queue[dict[str, Any]] | None = None
    _deliverer: asyncio.Task[None] | None = None
    _runner: web.AppRunner | None = None
    _http: aiohttp.ClientSession | None = None
    _delivered: asyncio.Event = field(default_factory=asyncio.Event)

    # --- lifecycle ----------------------------------------------------------------------------------------

    async def __aenter__(self) -> OkEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        from emulators.ok.control import control_routes

        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/fb.do", self._fb_do)
        app.router.add_post("/graph/me/subscribe", self._subscribe)
        app.router.add_post("/graph/me/messages/{chat_id}", self._send)
        app.router.add_routes(control_routes(self))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._queue = asyncio.Queue()
        self._http = aiohttp.ClientSession()
        self._deliverer = asyncio.create_task(self._deliver_all(), name="ok-webhook")

    async def stop(self) -> None:
        if self._deliverer is not None:
            self._deliverer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._deliverer
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- set-up and the citizens' side (tests call these directly or through /_control) ----------------------

    def user_token(self, token: str = "user-token") -> str:
        self.tokens[token] = self.now + TOKEN_DAYS * 86400
        return token

    def bot_token(self, token: str = "bot-token") -> str:
        self.bot_tokens.add(token)
        return token

    def add_topic(self, topic_id: str) -> None:
        self.topics.setdefault(topic_id, [])

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _date(self) -> str:
        import datetime as _dt

        return _dt.datetime.fromtimestamp(self.now, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S")

    def comment(self, topic_id: str, author_id: str, text: str, *, name: str = "") -> OkComment:
        self.add_topic(topic_id)
        made = OkComment(self._new_id(), author_id, text, self._date(), author_name=name)
        self.topics[topic_id].append(made)
        return made

    def delete(self, topic_id: str, comment_id: str) -> None:
        for c in self.topics.get(topic_id, []):
            if c.id == comment_id:
                c.deleted = True
                return
        raise KeyError(f"no comment {topic_id}:{comment_id}")

    def edit(self, topic_id: str, comment_id: str, text: str) -> None:
        for c in self.topics.get(topic_id, []):
            if c.id == comment_id and not c.deleted:
                c.text = text
                return
        raise KeyError(f"no comment {topic_id}:{comment_id}")

    def answers(self) -> list[tuple[str, OkComment]]:
        """The group's own comments (what addDiscussionComment published), with their topics."""
        return [(t, c) for t, cs in self.topics.items() for c in cs if c.author_type == "GROUP"]

    def message(
        self, user_id: str, chat_id: str, text: str, *, name: str = "", mid: str = ""
    ) -> dict[str, Any]:
        """A citizen writes to the group: the event goes to the subscribed webhook (retried as OK does)."""
        event = {
            "sender": {"user_id": f"user:{user_id}", "name": name},
            "recipient": {"chat_id": chat_id},
            "message": {
                "text": text,
                "seq": self._next_id,
                "mid": mid or f"mid:{chat_id[5:]}.{self._new_id()}",
            },
            "timestamp": int(self.now * 1000),
            "webhookType": "MESSAGE_CREATED",
        }
        assert self._queue is not None
        self._queue.put_nowait(event)
        return event

    async def delivered(self, payload: dict[str, Any], *, timeout: float = 10.0) -> list[Delivery]:
        """Wait until this payload got a 200 (or all its attempts failed); its attempts."""
        async with asyncio.timeout(timeout):
            while True:
                mine = [d for d in self.deliveries if d.payload is payload]
                if any(d.status == 200 for d in mine) or len(mine) >= self.max_attempts:
                    return mine
                self._delivered.clear()
                await self._delivered.wait()

    # --- the webhook deliverer ---------------------------------------------------------------------------------

    async def _deliver_all(self) -> None:
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            for attempt in range(self.max_attempts):
                status = await self._post(event)
                self.deliveries.append(Delivery(event, status))
                self._delivered.set()
                if status == 200:
                    break
                if attempt + 1 < self.max_attempts:
                    await asyncio.sleep(self.retry_delay)

    async def _post(self, event: dict[str, Any]) -> int:
        if not self.webhook_url or self._http is None:
            return 0
        try:
            async with self._http.post(self.webhook_url, json=event,
                                       timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT)) as response:  # fmt: skip
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    # --- the Bot API --------------------------------------------------------------------------------------------

    def _bot_refusal(self, request: web.Request) -> web.Response | None:
        if request.query.get("access_token", "") not in self.bot_tokens:
            return web.json_response({"error_code": 102, "error_msg": "PARAM_SESSION_EXPIRED : invalid key"})
        if request.content_type != JSON_TYPE or request.charset not in (None, "utf-8"):
            return web.json_response({"error_code": 100, "error_msg": "PARAM : content type must be JSON"})
        return None

    async def _subscribe(self, request: web.Request) -> web.Response:
        refused = self._bot_refusal(request)
        if refused is not None:
            return refused
        body = await _json(request)
        url = body.get("url") if body else None
        if not isinstance(url, str) or not url.startswith("http"):
            return web.json_response({"error_code": 100, "error_msg": "PARAM : url"})
        self.webhook_url = url
        return web.json_response({"success": True})

    async def _send(self, request: web.Request) -> web.Response:
        refused = self._bot_refusal(request)
        if refused is not None:
            return refused
        body = await _json(request)
        chat = request.match_info["chat_id"]
        message = body.get("message") if body else None
        recipient = body.get("recipient") if body else None
        text = message.get("text") if isinstance(message, dict) else None
        if not isinstance(text, str) or not isinstance(recipient, dict) or recipient.get("chat_id") != chat:
            return web.json_response({"error_code": 100, "error_msg": "PARAM : recipient or message"})
        fault = self._fault("messages")
        if fault == "hang":
            return _hang_up(request)
        mid = f"mid:{chat[5:]}.{self._new_id()}"
        self.sent.append(SentMessage(chat, text, mid))
        if fault == "drop":
            return _hang_up(request)
        return web.json_response({"success": True, "message_id": mid})

    # --- fb.do ----------------------------------------------------------------------------------------------------

    def _fault(self, method: str) -> str | int | None:
        queue = self.faults.get(method)
        return queue.pop(0) if queue else None

    async def _fb_do(self, request: web.Request) -> web.StreamResponse:
        params = {k: v for k, v in request.query.items()}
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        method = params.get("method", "")
        self.requests.append((method, params))
        if params.get("application_key") != self.application_key:
            return _error(101, "PARAM_API_KEY : Application key is invalid")
        token = params.get("access_token", "")
        if token not in self.tokens or self.tokens[token] <= self.now:
            return _error(102, "PARAM_SESSION_EXPIRED : Session expired")
        if params.get("sig", "") != ok_sig(params, token, self.application_secret):
            return _error(104, "PARAM_SIGNATURE : Invalid signature")
        fault = self._fault(method)
        if isinstance(fault, int):
            return _error(fault, f"EMULATED : error {fault}")
        if fault == "hang":
            return _hang_up(request)
        if fault == "garbage":  # a proxy's error page instead of OK's JSON
            return web.Response(
                status=502, text="<html><body>502 Bad Gateway</body></html>", content_type="text/html"
            )
        if fault == "junk":  # JSON, but not the shape asked for
            return web.json_response({"topics": "many", "comments": {"a": 1}, "anchor": ["x"]})
        handler = self._methods().get(method)
        if handler is None:
            return _error(3, f"METHOD : unknown method {method}")
        try:
            result = handler(params)
        except _Refused as exc:
            return _error(exc.code, exc.message)
        self.tokens[token] = self.now + TOKEN_DAYS * 86400  # any call renews the long-lived token
        if fault == "drop":
            return _hang_up(request)
        return web.json_response(result)

    def _methods(self) -> dict[str, Callable[[dict[str, str]], Any]]:
        return {
            "group.getStatTopics": self._stat_topics,
            "discussions.getComments": self._get_comments,
            "discussions.addDiscussionComment": self._add_comment,
            "users.getCurrentUser": lambda _p: {"uid": "577000001", "name": "Администратор группы"},
        }

    def _stat_topics(self, params: dict[str, str]) -> Any:
        if params.get("gid") != self.group_id:
            raise _Refused(100, "PARAM : gid")
        newest = list(reversed(self.topics.items()))
        return {"topics": [{"id": t, "comments_count": sum(not c.deleted for c in cs)} for t, cs in newest]}

    def _get_comments(self, params: dict[str, str]) -> Any:
        topic = self.topics.get(params.get("discussionId", ""))
        if topic is None or params.get("discussionType") != "GROUP_TOPIC":
            raise _Refused(100, "PARAM : discussionId")
        removed = params.get("includeRemoved") == "true"
        count = min(int(params.get("count") or 20), 100)
        anchor = params.get("anchor")
        start = 0
        if anchor:
            if not anchor.startswith("A") or not anchor[1:].isdigit():
                raise _Refused(100, "PARAM : anchor")
            start = int(anchor[1:]) + 1
        page: list[dict[str, Any]] = []
        last = start - 1
        for position in range(start, len(topic)):
            if len(page) == count:
                break
            last = position
            if topic[position].deleted and not removed:
                continue
            page.append(topic[position].as_json())
        answer: dict[str, Any] = {"comments": page, "has_more": last + 1 < len(topic)}
        if last >= 0:
            answer["anchor"] = f"A{last}"
        return answer

    def _add_comment(self, params: dict[str, str]) -> Any:
        topic = self.topics.get(params.get("entityId", ""))
        if topic is None or params.get("entityType") != "GROUP_TOPIC":
            raise _Refused(100, "PARAM : entityId")
        text = params.get("comment", "")
        if not text or len(text) > 3000:
            raise _Refused(100, "PARAM : comment")
        if params.get("as_admin") != "true":
            raise _Refused(10, "PERMISSION_DENIED : as_admin required here")
        reply = params.get("reply_to_comment_id", "")
        made = OkComment(self._new_id(), self.group_id, text, self._date(), author_name="Группа",
                         author_type="GROUP", reply_to_comment_id=reply)  # fmt: skip
        topic.append(made)
        return made.id


class _Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _hang_up(request: web.Request) -> web.Response:
    """No answer at all: the connection closes, as a call cut off by a timeout looks to the client."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500)


def _error(code: int, message: str) -> web.Response:
    return web.json_response({"error_code": code, "error_msg": message, "error_data": None})


async def _json(request: web.Request) -> dict[str, Any] | None:
    try:
        value = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None
