"""A loopback control API for a VkEmulator running in a process of its own (`python -m emulators.vk`).

A test, benchmark or the demo in another process drives the emulator with it the way an in-process test calls
its Python methods. Every route is under ``/_control/`` on the API's own port and speaks JSON; a bad request is
answered 400 with ``{"error": reason}``.

    GET  /_control/status                        base URL, clock, counts of calls, events and comments
    POST /_control/users       {"users": [{"id", "first_name", "last_name"?, "screen_name"?}]}
    POST /_control/groups      {"id", "name"?, "screen_name"?, "post"?, "admins"?}  -> group_id, post_id?
    POST /_control/tokens      {"kind", "group_id"?, "user_id"?, "value"?, "permissions"?}  -> token
    POST /_control/tokens/revoke {"token"}
    POST /_control/posts       {"group_id", "text", "comments_closed"?}      -> post_id, event_id
    POST /_control/posts/close {"group_id", "post_id", "closed"?}
    POST /_control/comments    {"group_id", "post_id", "from_id", "text", "attachments"?, "reply_to_comment"?}
                                                                             -> comment_id, event_id
    POST /_control/comments/edit    {"group_id", "comment_id", "text", "attachments"?}   -> event_id
    POST /_control/comments/delete  {"group_id", "comment_id", "deleter_id"?}            -> event_id
    POST /_control/comments/restore {"group_id", "comment_id"}                           -> event_id
    GET  /_control/comments?group_id=G&post_id=P[&include_deleted=1][&from_group=1]
    POST /_control/bursts      {"group_id", "post_id", "from_id", "texts": [...]}  -> comment ids, all at once
    POST /_control/messages    {"group_id", "from_id", "text", "attachments"?}  -> message_id, event_id
    POST /_control/messages/edit {"group_id", "message_id", "text"}             -> event_id
    GET  /_control/messages?group_id=G[&peer_id=P][&out=0|1]
    POST /_control/events      {"group_id", "type", "object"}  a raw event     -> event_id
    POST /_control/events/redeliver {"group_id", "event_id", "times"?}
    GET  /_control/events?group_id=G[&since=I]
    GET  /_control/calls?method=M[&since=I]
    GET  /_control/clock                          -> now
    POST /_control/clock       {"now"?} or {"advance"?}   -> now
    POST /_control/failures    {"code"?, "count"?, "methods"?, "kind"?}
    POST /_control/longpoll/failures {"group_id", "failed"}
    POST /_control/limits      {"per_second": N | null}
    POST /_control/attachments {"owner_id", "kind": "photo"|"doc", "content_base64", "title"?, "expires_in"?}
                                                        -> the attachment object, its URLs signed and expiring
    POST /_control/callback    {"group_id", "url", "confirmation_code"?, "secret"?, "retries"?, "retry_delay"?}
                                                        -> confirmed (events go there from now on)
    GET  /_control/callback?group_id=G            attempts, pending, gave_up
    POST /_control/callback/disconnect {"group_id"}
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, get_args

from aiohttp import web

from emulators.control_json import PREFIX, ControlError, Handler
from emulators.control_json import body as _body
from emulators.control_json import guarded as _guarded
from emulators.control_json import integer as _int
from emulators.control_json import list_of as _list
from emulators.control_json import string as _str
from emulators.vk.records import TOKEN_KINDS, Comment, FailureKind, JsonDict, Message, RequestRecord, VkError
from emulators.vk.server import VkEmulator

_FAILURE_KINDS: tuple[str, ...] = get_args(FailureKind)

def comment_json(comment: Comment) -> JsonDict:
    """A comment as the driver sees it, deleted or not, with its earlier texts."""
    return {
        "id": comment.id,
        "owner_id": comment.owner_id,
        "post_id": comment.post_id,
        "from_id": comment.from_id,
        "date": comment.date,
        "text": comment.text,
        "attachments": comment.attachments,
        "reply_to_comment": comment.reply_to_comment,
        "parents_stack": comment.parents_stack,
        "deleter_id": comment.deleter_id,
        "revisions": [r.text for r in comment.revisions],
        "guid": comment.guid,
    }


def message_json(message: Message) -> JsonDict:
    return {**message.to_json(), "reply_to": message.reply_to, "edits": list(message.edits)}


def call_json(index: int, record: RequestRecord) -> JsonDict:
    return {
        "index": index,
        "method": record.method,
        "params": record.params,
        "token_kind": record.token_kind,
        "error_code": record.error_code,
        "failure": record.failure,
        "received_at": record.received_at,
        "finished_at": record.finished_at,
    }


class Control:
    """The control routes of one emulator: `emulator.add_routes(Control(emulator).routes())` before start."""

    def __init__(self, emulator: VkEmulator) -> None:
        self.emu = emulator

    def routes(self) -> list[web.RouteDef]:
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/status", self._status),
            ("POST", "/users", self._users),
            ("POST", "/groups", self._groups),
            ("POST", "/tokens", self._tokens),
            ("POST", "/tokens/revoke", self._revoke),
            ("POST", "/posts", self._posts),
            ("POST", "/posts/close", self._close_post),
            ("POST", "/comments", self._add_comment),
            ("POST", "/comments/edit", self._edit_comment),
            ("POST", "/comments/delete", self._delete_comment),
            ("POST", "/comments/restore", self._restore_comment),
            ("GET", "/comments", self._comments),
            ("POST", "/bursts", self._burst),
            ("POST", "/messages", self._add_message),
            ("POST", "/messages/edit", self._edit_message),
            ("GET", "/messages", self._messages),
            ("POST", "/events", self._push_event),
            ("POST", "/events/redeliver", self._redeliver),
            ("GET", "/events", self._events),
            ("GET", "/calls", self._calls),
            ("GET", "/clock", self._clock),
            ("POST", "/clock", self._set_clock),
            ("POST", "/failures", self._failures),
            ("POST", "/longpoll/failures", self._long_poll_failures),
            ("POST", "/limits", self._limits),
            ("POST", "/attachments", self._attachment),
            ("POST", "/callback", self._connect_callback),
            ("GET", "/callback", self._callback_state),
            ("POST", "/callback/disconnect", self._disconnect_callback),
        ]
        return [web.route(method, PREFIX + path, _guarded(handler, VkError, TypeError)) for method, path, handler in table]

    # ------------------------------------------------------------------------------------------ routes

    async def _status(self, request: web.Request) -> web.StreamResponse:
        emu = self.emu
        counts: dict[str, int] = {}
        for record in emu.requests:
            counts[record.method] = counts.get(record.method, 0) + 1
        return web.json_response(
            {
                "base_url": emu.base_url,
                "now": emu.now(),
                "requests": len(emu.requests),
                "calls_by_method": counts,
                "groups": {
                    str(g.id): {
                        "posts": len(g.posts),
                        "comments": len(g.comments),
                        "messages": len(g.messages),
                        "events": len(emu.events(g.id)),
                    }
                    for g in emu.groups.values()
                },
            }
        )

    async def _users(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        for user in _list(body, "users"):
            if not isinstance(user, dict):
                raise ControlError("users: a list of objects")
            self.emu.add_user(
                _int(user, "id"),
                _str(user, "first_name"),
                _opt_str(user, "last_name") or "",
                _opt_str(user, "screen_name"),
            )
        return web.json_response({"ok": True})

    async def _groups(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        group = self.emu.add_group(_int(body, "id"), _opt_str(body, "name"), _opt_str(body, "screen_name"))
        answer: JsonDict = {"group_id": group.id}
        for admin in body.get("admins") or []:
            self.emu.add_admin(group.id, int(admin))
        if body.get("post") is not None:
            answer["post_id"] = self.emu.add_post(group.id, _str(body, "post")).id
        return web.json_response(answer)

    async def _tokens(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        kind = body.get("kind")
        if kind not in TOKEN_KINDS:
            raise ControlError(f"kind: one of {', '.join(TOKEN_KINDS)}")
        permissions = body.get("permissions")
        token = self.emu.add_token(
            kind,
            group_id=_opt_int(body, "group_id"),
            user_id=_opt_int(body, "user_id"),
            value=_opt_str(body, "value"),
            **({"permissions": [str(p) for p in permissions]} if isinstance(permissions, list) else {}),
        )
        return web.json_response({"token": token})

    async def _revoke(self, request: web.Request) -> web.StreamResponse:
        self.emu.revoke_token(_str(await _body(request), "token"))
        return web.json_response({"ok": True})

    async def _posts(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        group_id = _int(body, "group_id")
        post = self.emu.add_post(
            group_id, _str(body, "text"), comments_closed=bool(body.get("comments_closed"))
        )
        return web.json_response({"post_id": post.id, "event_id": self.emu.last_event_id(group_id)})

    async def _close_post(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        self.emu.close_comments(_int(body, "group_id"), _int(body, "post_id"), bool(body.get("closed", True)))
        return web.json_response({"ok": True})

    async def _add_comment(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        group_id = _int(body, "group_id")
        comment = self.emu.add_comment(
            group_id,
            _int(body, "post_id"),
            _int(body, "from_id"),
            _str(body, "text"),
            attachments=_attachments(body),
            reply_to_comment=_opt_int(body, "reply_to_comment"),
        )
        return web.json_response({"comment_id": comment.id, "event_id": self.emu.last_event_id(group_id)})

    async def _edit_comment(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        group_id = _int(body, "group_id")
        self.emu.edit_comment(
            group_id,
            _int(body, "comment_id"),
            _str(body, "text"),
            attachments=_attachments(body) if "attachments" in body else None,
        )
        return web.json_response({"event_id": self.emu.last_event_id(group_id)})

    async def _delete_comment(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        group_id = _int(body, "group_id")
        self.emu.delete_comment(group_id, _int(body, "comment_id"), _opt_int(body, "deleter_id"))
        return web.json_response({"event_id": self.emu.last_event_id(group_id)})

    async def _restore_comment(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        group_id = _int(body, "group_id")
        self.emu.restore_comment(group_id, _int(body, "comment_id"))
        return web.json_response({"event_id": self.emu.last_event_id(group_id)})

    async def _comments(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        group_id, post_id = _query_int(query, "group_id"), _query_int(query, "post_id")
        if _query_flag(query, "from_group"):
            found = self.emu.published(group_id, post_id)
        else:
            found = self.emu.comments(
                group_id, post_id, include_deleted=_query_flag(query, "include_deleted")
            )
        return web.json_response([comment_json(c) for c in found])

    async def _burst(self, request: web.Request) -> web.StreamResponse:
        """Many comments at once, pushed in the emulator's process (the benchmark's burst)."""
        body = await _body(request)
        group_id, post_id, from_id = _int(body, "group_id"), _int(body, "post_id"), _int(body, "from_id")
        texts = [str(t) for t in _list(body, "texts")]
        ids = [self.emu.add_comment(group_id, post_id, from_id, text).id for text in texts]
        return web.json_response({"comment_ids": ids, "pushed_at": self.emu.now()})

    async def _add_message(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        group_id = _int(body, "group_id")
        message = self.emu.push_message(
            group_id, _int(body, "from_id"), _str(body, "text"), attachments=_attachments(body)
        )
        return web.json_response(
            {
                "message_id": message.id,
                "conversation_message_id": message.conversation_message_id,
                "event_id": self.emu.last_event_id(group_id),
            }
        )

    async def _edit_message(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        group_id = _int(body, "group_id")
        self.emu.edit_message(group_id, _int(body, "message_id"), _str(body, "text"))
        return web.json_response({"event_id": self.emu.last_event_id(group_id)})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        peer = query.get("peer_id")
        found = self.emu.messages(
            _query_int(query, "group_id"), _query_int(query, "peer_id") if peer else None
        )
        if "out" in query:
            found = [m for m in found if m.out == (1 if _query_flag(query, "out") else 0)]
        return web.json_response([message_json(m) for m in found])

    async def _push_event(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        obj = body.get("object")
        if not isinstance(obj, dict):
            raise ControlError("object: a JSON object")
        event_id = self.emu.push_event(_int(body, "group_id"), _str(body, "type"), obj)
        return web.json_response({"event_id": event_id})

    async def _redeliver(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        times = _opt_int(body, "times")
        self.emu.redeliver(_int(body, "group_id"), _str(body, "event_id"), 1 if times is None else times)
        return web.json_response({"ok": True})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        since = _query_int(request.query, "since") if "since" in request.query else 0
        return web.json_response(self.emu.events(_query_int(request.query, "group_id"))[since:])

    async def _calls(self, request: web.Request) -> web.StreamResponse:
        method = request.query.get("method", "").lower()
        since = _query_int(request.query, "since") if "since" in request.query else 0
        return web.json_response(
            [
                call_json(index, record)
                for index, record in enumerate(self.emu.requests)
                if index >= since and (not method or record.method.lower() == method)
            ]
        )

    async def _clock(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"now": self.emu.now()})

    async def _set_clock(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        if "now" in body:
            self.emu.set_time(_number(body, "now"))
        elif "advance" in body:
            self.emu.advance(_number(body, "advance"))
        else:
            raise ControlError('give "now" (Unix seconds) or "advance" (seconds)')
        return web.json_response({"now": self.emu.now()})

    async def _failures(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        kind = body.get("kind", "error")
        if kind not in _FAILURE_KINDS:
            raise ControlError(f"kind: one of {', '.join(_FAILURE_KINDS)}")
        methods = body.get("methods")
        if methods is not None and not isinstance(methods, list):
            raise ControlError("methods: a list of method names, or null for any")
        code, count = _opt_int(body, "code"), _opt_int(body, "count")
        self.emu.fail_next(
            10 if code is None else code,
            1 if count is None else count,
            methods=[str(m) for m in methods] if methods is not None else None,
            kind=kind,
        )
        return web.json_response({"ok": True})

    async def _long_poll_failures(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        self.emu.fail_longpoll(_int(body, "group_id"), _int(body, "failed"))
        return web.json_response({"ok": True})

    async def _limits(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        if "per_second" not in body:
            raise ControlError("per_second: requests a second per token, or null for no limit")
        self.emu.set_rate_limit(_opt_int(body, "per_second"))
        return web.json_response({"ok": True})

    async def _attachment(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        try:
            content = base64.b64decode(_str(body, "content_base64"), validate=True)
        except binascii.Error:
            raise ControlError("content_base64: the file's bytes in base64") from None
        owner_id, kind = _int(body, "owner_id"), body.get("kind")
        expires_in = _opt_int(body, "expires_in")
        lifetime = 3600 if expires_in is None else expires_in
        if kind == "photo":
            attachment = self.emu.photo_attachment(owner_id, content, expires_in=lifetime)
        elif kind == "doc":
            title = _opt_str(body, "title") or "документ.pdf"
            attachment = self.emu.doc_attachment(owner_id, content, title, expires_in=lifetime)
        else:
            raise ControlError('kind: "photo" or "doc"')
        return web.json_response(attachment)

    async def _connect_callback(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        retries, delay = _opt_int(body, "retries"), body.get("retry_delay")
        confirmed = await self.emu.connect_callback(
            _int(body, "group_id"),
            _str(body, "url"),
            confirmation_code=_opt_str(body, "confirmation_code") or "confirm-otklik",
            secret=_opt_str(body, "secret"),
            retries=5 if retries is None else retries,
            retry_delay=1.0 if delay is None else _number(body, "retry_delay"),
        )
        return web.json_response({"confirmed": confirmed})

    async def _callback_state(self, request: web.Request) -> web.StreamResponse:
        group_id = _query_int(request.query, "group_id")
        server = self.emu.callback_servers.get(group_id)
        if server is None:
            raise ControlError("no Callback API server for this group")
        return web.json_response(
            {
                "url": server.url,
                "confirmed": server.confirmed,
                "pending": self.emu.callback_pending(group_id),
                "gave_up": list(server.gave_up),
                "attempts": [
                    {
                        "event_id": a.event_id,
                        "type": a.type,
                        "retry": a.retry,
                        "status": a.status,
                        "body": a.body,
                        "error": a.error,
                    }
                    for a in server.attempts
                ],
            }
        )

    async def _disconnect_callback(self, request: web.Request) -> web.StreamResponse:
        self.emu.disconnect_callback(_int(await _body(request), "group_id"))
        return web.json_response({"ok": True})


def _opt_int(body: dict[str, Any], key: str) -> int | None:
    return None if body.get(key) is None else _int(body, key)


def _number(body: dict[str, Any], key: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ControlError(f"{key}: a number")
    return float(value)


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    return None if body.get(key) is None else _str(body, key)


def _attachments(body: dict[str, Any]) -> list[JsonDict]:
    value = body.get("attachments", [])
    if not isinstance(value, list) or not all(isinstance(a, dict) for a in value):
        raise ControlError("attachments: a list of VK attachment objects")
    return value


def _query_int(query: Any, key: str) -> int:
    try:
        return int(query[key])
    except (KeyError, ValueError):
        raise ControlError(f"{key}: an integer query parameter") from None


def _query_flag(query: Any, key: str) -> bool:
    return str(query.get(key, "")) not in ("", "0", "false")
