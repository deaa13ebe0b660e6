"""Odnoklassniki: comments under the group's posts and the group's messages in, answers out (CHANNELS.md, OK).

No maintained library covers OK, so this is a small aiohttp client of its two APIs:
- the REST API `fb.do` (an application key and secret plus an admin's long-lived user token): comments are
  read by polling — `group.getStatTopics` for the topics' comment counters, `discussions.getComments` from the
  anchor saved in the channel cursor for the new ones; a sweep re-reads recent topics with `includeRemoved`,
  the only way OK shows a deletion; answers go with `discussions.addDiscussionComment(as_admin=true)`;
- the Bot API (the group's key): messages arrive on our webhook (bot/ok_webhook.py), answers go with
  `POST /graph/me/messages/{chat_id}`. Its long polling is **[?]** in CHANNELS.md and not built.

`parse_ok_event` turns one saved raw event into the domain's `ChannelItem` (pure, never raises).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from workflow.lifecycle import clean_text
from workflow.model import ChannelItem, ItemKind, Network
from workflow.ports import (
    Answer,
    ChannelBatch,
    PublishError,
    PublishFailed,
    PublishLater,
    PublishRefused,
)

log = logging.getLogger(__name__)

CHANNEL = "ok"
API_BASE = "https://api.ok.ru"
TEXT_LIMIT = 10_000  # characters kept of a citizen's text (a card shows about 3,500)
COMMENT_TEXT_LIMIT = 3_000  # addDiscussionComment (CHANNELS.md)
# The Bot API's limit on a message is not in CHANNELS.md **[?]**: a longer answer is refused before any call.
MESSAGE_TEXT_LIMIT = 4_000
CALL_TIMEOUT_SECONDS = 30.0
PAGE = 100  # comments asked for at a time
CURSOR_TOPICS = 200  # topics remembered in the cursor (the newest getStatTopics names)
SWEEP_TOPICS = 20  # topics the deletion sweep re-reads
SWEEP_COMMENTS = 500  # comments of one topic the sweep re-reads at most

# Raw event types Otklik itself gives the comments it read (the webhook's messages are saved as OK sent them).
COMMENT = "ok_comment"  # read by the poller: new, or removed when OK marks it so
COMMENT_SEEN = "ok_comment_seen"  # read again by the sweep: an edit when its text changed
_SIGNATURE_FREE = frozenset({"access_token", "session_key", "sig"})
_GROUP_AUTHOR = frozenset({"GROUP", "group"})
_COMMENT_KEY = re.compile(r"([0-9A-Za-z_-]{1,40}):([0-9A-Za-z_-]{1,60})")
_MID = re.compile(r"mid:[0-9A-Za-z._-]{1,200}")
_CHAT = re.compile(r"chat:[0-9A-Za-z._-]{1,200}")
_CHAT_OF_LINK = re.compile(r"[?&]chat_id=(chat:[0-9A-Za-z._-]{1,200})")


# --- signature ------------------------------------------------------------------------------------------------


def signature(params: Mapping[str, str], access_token: str, application_secret: str) -> str:
    """`sig` of an fb.do call: md5 of the sorted "k=v" pairs (no access_token, session_key, sig) followed by
    the session secret md5(access_token + application_secret), lower-case hex (CHANNELS.md)."""
    secret = hashlib.md5((access_token + application_secret).encode()).hexdigest()
    joined = "".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in _SIGNATURE_FREE)
    return hashlib.md5((joined + secret).encode()).hexdigest()


# --- parsing --------------------------------------------------------------------------------------------------


def _id(value: object) -> str | None:
    """An OK id (they come as strings or numbers) as a short string of safe characters; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str) and re.fullmatch(r"[0-9A-Za-z_-]{1,60}", value):
        return value
    return None


def _first(obj: Mapping[str, Any], *names: str) -> object:
    """The first of `names` present: OK's field names for comments are not settled (CHANNELS.md [?])."""
    for name in names:
        if obj.get(name) is not None:
            return obj[name]
    return None


def _text(value: object, where: str, report: bool) -> str:
    text = clean_text(value) if isinstance(value, str) else ""
    if len(text) > TEXT_LIMIT:
        if report:
            log.warning(
                "Одноклассники: текст %s длиной %d символов сокращён до %d", where, len(text), TEXT_LIMIT
            )
        text = text[:TEXT_LIMIT]
    return text


def _revision(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]


def _date(value: object) -> datetime | None:
    """OK's dates: "2026-12-02 09:12:00" (Moscow time **[?]**: read as given, UTC) or milliseconds."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 32_503_680_000_000:
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        try:
            return datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            return None
    return None


def _removed(comment: Mapping[str, Any]) -> bool:
    """Whether `includeRemoved` gave this comment as removed (the flag's name is not settled: any of these)."""
    for name in ("deleted", "removed", "is_deleted", "is_removed"):
        if comment.get(name) in (True, 1, "true"):
            return True
    return str(comment.get("status") or "").upper() in ("DELETED", "REMOVED")


def topic_link(group_id: str, topic_id: str) -> str:
    return f"https://ok.ru/group/{group_id}/topic/{topic_id}"


def _comment(raw: Mapping[str, Any], group_id: str, seen_at: datetime, report: bool) -> ChannelItem | None:
    topic, comment = _id(raw.get("topic_id")), raw.get("comment")
    if topic is None or not isinstance(comment, Mapping):
        return None
    cid = _id(_first(comment, "id", "comment_id"))
    if cid is None:
        return None
    author = _id(_first(comment, "author_id", "user_id", "uid"))
    if str(comment.get("author_type") or "") in _GROUP_AUTHOR or author == group_id:
        return None  # our own answer read back: never a case (CHANNELS.md)
    key = f"{topic}:{cid}"
    base = ChannelItem(network=Network.OK, key=key, kind=ItemKind.NEW, seen_at=seen_at,
                       link=f"{topic_link(group_id, topic)}?comment={cid}", thread=f"topic{topic}")  # fmt: skip
    if _removed(comment):
        # OK does not say who removed it; staff know their own removals, so the card says the author withdrew
        # it (as Telegram's), and the operator decides.
        return ChannelItem(network=Network.OK, key=key, kind=ItemKind.DELETE, seen_at=seen_at, link=base.link,
                           thread=base.thread, revision="removed", deleted_by_author=True)  # fmt: skip
    if author is None:
        return None
    text = _text(_first(comment, "text", "comment", "message"), f"комментария {key}", report)
    name = _text(_first(comment, "author_name", "name"), "имени", False)[:200]
    kind = ItemKind.EDIT if raw.get("type") == COMMENT_SEEN else ItemKind.NEW
    numeric = int(author) if author.isdigit() and len(author) < 19 else 0
    return ChannelItem(
        network=Network.OK, key=key, kind=kind, seen_at=seen_at, text=text,
        author=f"{name} (ok.ru/profile/{author})" if name else f"ok.ru/profile/{author}", author_id=numeric,
        link=base.link, thread=base.thread, revision=_revision(text) if kind is ItemKind.EDIT else "",
        written_at=_date(_first(comment, "date", "date_ms")),
    )  # fmt: skip


def _message(raw: Mapping[str, Any], group_id: str, seen_at: datetime, report: bool) -> ChannelItem | None:
    if raw.get("webhookType") not in (None, "MESSAGE_CREATED"):
        return None  # a chat's system events are no citizen's item
    sender, recipient, message = raw.get("sender"), raw.get("recipient"), raw.get("message")
    if not (isinstance(sender, Mapping) and isinstance(recipient, Mapping) and isinstance(message, Mapping)):
        return None
    mid, chat, user = message.get("mid"), recipient.get("chat_id"), sender.get("user_id")
    if not (isinstance(mid, str) and _MID.fullmatch(mid) and isinstance(chat, str) and _CHAT.fullmatch(chat)):
        return None
    if not isinstance(user, str) or not re.fullmatch(r"user:[0-9A-Za-z_-]{1,60}", user):
        return None
    uid = user.removeprefix("user:")
    text = _text(message.get("text"), f"сообщения {mid}", report)
    name = _text(sender.get("name"), "имени", False)[:200]
    stamp = raw.get("timestamp")
    return ChannelItem(
        network=Network.OK, key=mid, kind=ItemKind.NEW, seen_at=seen_at, text=text,
        author=f"{name} (ok.ru/profile/{uid})" if name else f"ok.ru/profile/{uid}",
        author_id=int(uid) if uid.isdigit() and len(uid) < 19 else 0,
        link=f"https://ok.ru/group/{group_id}/messages?chat_id={chat}", thread=chat,
        written_at=_date(stamp) if isinstance(stamp, int) else None,
    )  # fmt: skip


def parse_ok_event(
    raw: object, group_id: str, *, seen_at: datetime, report: bool = True
) -> ChannelItem | None:
    """One saved event (a comment the poller or the sweep read, or a Bot API webhook payload) as a
    `ChannelItem`; None for our own answers, for what is no citizen's item and for broken events (one log line
    unless `report` is False). Never raises."""
    try:
        if not isinstance(raw, Mapping):
            item = None
        elif raw.get("type") in (COMMENT, COMMENT_SEEN):
            item = _comment(raw, group_id, seen_at, report)
            if item is None and not _own(raw, group_id):
                _skip(report, "комментарий без нужных полей")
            return item
        else:
            item = _message(raw, group_id, seen_at, report)
            if item is not None or raw.get("webhookType") not in (None, "MESSAGE_CREATED"):
                return item
        _skip(report, "сообщение без нужных полей")
        return None
    except Exception as exc:  # a parser bug must not stop intake: the event is logged and left
        _skip(report, f"ошибка разбора {type(exc).__name__}")
        return None


def _own(raw: Mapping[str, Any], group_id: str) -> bool:
    comment = raw.get("comment")
    if not isinstance(comment, Mapping):
        return False
    author = _id(_first(comment, "author_id", "user_id", "uid"))
    return str(comment.get("author_type") or "") in _GROUP_AUTHOR or author == group_id


def _skip(report: bool, why: str) -> None:
    if report:
        log.warning("Одноклассники: событие пропущено: %s", why)


def inbox_key(item: ChannelItem) -> str:
    """The inbox key of an item's event: one row per item, kind and revision (as VK's)."""
    return f"{item.key}:{item.kind.value}" + (f":{item.revision}" if item.revision else "")


# --- the REST client -------------------------------------------------------------------------------------------


class OkError(Exception):
    """OK answered with `error_code` (or not at all: code 0). `reason` is Russian, one line for the log/card."""

    def __init__(self, code: int, reason: str, detail: str = "") -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.detail = detail


class OkUnanswered(Exception):
    """No answer from OK (a timeout, a dropped connection, not JSON): a call that posts may have posted."""


# What OK's error codes mean to whoever must act (codes from OK's REST documentation; 102 for an expired
# token is CHANNELS.md's [?]).
ERRORS: Mapping[int, str] = {
    2: "сервис Одноклассников временно недоступен",
    8: "Одноклассники ограничили частоту запросов",
    100: "Одноклассники отвергли параметры запроса",
    101: "Одноклассники не знают ключ приложения: проверьте application_key",
    102: "токен Одноклассников истёк или отозван: нужен новый (OTKLIK_OK_ACCESS_TOKEN)",
    103: "токен Одноклассников недействителен: нужен новый (OTKLIK_OK_ACCESS_TOKEN)",
    104: "Одноклассники отвергли подпись запроса: проверьте секретный ключ приложения (OTKLIK_OK_APP_SECRET)",
}
_AUTH = frozenset({101, 102, 103, 104})  # a person must fix the settings
_TEMPORARY = frozenset({1, 2, 8, 9})


def reason_of(code: int, message: str) -> str:
    return ERRORS.get(code, f"ошибка Одноклассников {code} ({message[:200]})")


Session = Callable[[], aiohttp.ClientSession]


class _LazySession:
    """One aiohttp session per client, opened at the first call (the clients are built before the loop runs);
    `timeout` is the client's own field."""

    timeout: float
    _session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


@dataclass
class OkApi(_LazySession):
    """fb.do calls, signed. Every call also renews the long-lived token (OK keeps it 30 days from the last)."""

    application_key: str
    application_secret: str
    access_token: str
    base_url: str = API_BASE
    timeout: float = CALL_TIMEOUT_SECONDS

    def signed(self, method: str, params: Mapping[str, object]) -> dict[str, str]:
        values = {k: _param(v) for k, v in params.items()}
        values.update(method=method, application_key=self.application_key, format="json")
        values["sig"] = signature(values, self.access_token, self.application_secret)
        values["access_token"] = self.access_token
        return values

    async def call(self, method: str, **params: object) -> Any:
        """The method's result; raises OkError for OK's own error answer, OkUnanswered for no answer."""
        try:
            async with self.session().post(
                f"{self.base_url}/fb.do", data=self.signed(method, params)
            ) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OkUnanswered(f"{type(exc).__name__}: {exc}"[:300]) from None
        try:
            result = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise OkUnanswered(f"не JSON (HTTP {response.status}, {len(body)} байт)") from None
        error = _error_of(result)
        if error is not None:
            raise error
        return result


def _param(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _error_of(result: object) -> OkError | None:
    if not isinstance(result, Mapping) or result.get("error_code") is None:
        return None
    raw = result.get("error_code")
    code = raw if isinstance(raw, int) and not isinstance(raw, bool) else 0
    message = str(result.get("error_msg") or "")[:300]
    return OkError(code, reason_of(code, message), message)


def _list(result: object, *names: str) -> list[Mapping[str, Any]]:
    """The list under the first of `names` (or the result itself when OK gives a bare list)."""
    found: object = result
    if isinstance(result, Mapping):
        found = _first(result, *names)
    return [entry for entry in found if isinstance(entry, Mapping)] if isinstance(found, list) else []


def _count(topic: Mapping[str, Any]) -> int:
    value = _first(topic, "comments_count", "comments", "discussion_count")
    if isinstance(value, Mapping):
        value = _first(value, "count", "total")
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True, slots=True)
class Page:
    comments: list[Mapping[str, Any]]
    anchor: str | None
    more: bool
    valid: bool = True  # False: no list of comments in the answer (OK's shape changed, or a proxy's junk)


async def comments_page(api: OkApi, topic_id: str, anchor: str | None, count: int = PAGE) -> Page:
    params: dict[str, object] = {"discussionId": topic_id, "discussionType": "GROUP_TOPIC", "count": count,
                                 "direction": "FORWARD", "includeRemoved": True}  # fmt: skip
    if anchor:
        params["anchor"] = anchor
    result = await api.call("discussions.getComments", **params)
    comments = _list(result, "comments", "items", "discussion_comments")
    listed = isinstance(result, list) or (
        isinstance(result, Mapping)
        and isinstance(_first(result, "comments", "items", "discussion_comments"), list)
    )
    if not listed and not (isinstance(result, Mapping) and result.get("has_more") is False):
        return Page([], anchor, False, valid=False)
    next_anchor = _first(result, "anchor", "pagingAnchor") if isinstance(result, Mapping) else None
    more = _first(result, "has_more", "hasMore") if isinstance(result, Mapping) else None
    return Page(comments, str(next_anchor)[:500] if next_anchor else anchor, more in (True, 1, "true"))


# --- reading comments ---------------------------------------------------------------------------------------------


def _cursor(raw: str | None) -> dict[str, dict[str, Any]]:
    """The saved cursor: topic id -> {"anchor": the last read, "count": the counter then}; junk reads as none."""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    topics = data.get("topics") if isinstance(data, dict) else None
    if not isinstance(topics, dict):
        return {}
    return {k: v for k, v in topics.items() if isinstance(k, str) and isinstance(v, dict)}


class OkComments:
    """The comment feed: each `next_batch` waits the poll interval, asks the topics' counters and reads the
    comments after each changed topic's saved anchor. The new anchors are the batch's cursor, saved with its
    events (storage/inbox.py), so a restart reads on from there and a batch read again is the same rows."""

    channel = CHANNEL

    def __init__(
        self,
        api: OkApi,
        group_id: str,
        *,
        interval: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.api = api
        self.group_id = group_id
        self.interval = interval
        self._sleep = sleep
        self._first = True

    def item(self, raw: dict[str, object], seen_at: datetime, *, report: bool = True) -> ChannelItem | None:
        return parse_ok_event(raw, self.group_id, seen_at=seen_at, report=report)

    async def next_batch(self, cursor: str | None) -> ChannelBatch:
        if not self._first:
            await self._sleep(self.interval)
        self._first = False
        try:
            return await self._read(cursor)
        except OkError as exc:
            log.warning("Одноклассники: комментарии не прочитаны: %s (код %d)", exc.reason, exc.code)
        except OkUnanswered as exc:
            log.warning("Одноклассники: комментарии не прочитаны: нет ответа (%s); повтор", exc)
        return ChannelBatch((), cursor, failed=True)

    async def _read(self, cursor: str | None) -> ChannelBatch:
        saved = _cursor(cursor)
        stats = await self.api.call("group.getStatTopics", gid=self.group_id, fields="COMMENTS,ID")
        topics = [(tid, _count(t)) for t in _list(stats, "topics", "items") if (tid := _id(t.get("id")))]
        events: list[dict[str, object]] = []
        fresh: dict[str, dict[str, Any]] = {}
        for topic_id, count in topics[:CURSOR_TOPICS]:
            known = saved.get(topic_id, {})
            anchor = known.get("anchor") if isinstance(known.get("anchor"), str) else None
            if known and known.get("count") == count:
                fresh[topic_id] = known
                continue
            valid = True
            while True:
                page = await comments_page(self.api, topic_id, anchor)
                events += [{"type": COMMENT, "topic_id": topic_id, "comment": dict(c)} for c in page.comments]
                anchor = page.anchor
                valid = page.valid
                if not page.more or not page.comments:
                    break
            if valid:
                fresh[topic_id] = {"anchor": anchor, "count": count}
            else:  # the counter is not taken as read: the next poll asks again from the same anchor
                log.warning("Одноклассники: тема %s: ответ без списка комментариев; повтор", topic_id)
                fresh[topic_id] = {"anchor": anchor, "count": -1}
        # A first read (no cursor) may have missed what came before: the reader's sweep looks once it starts.
        return ChannelBatch(tuple(events), json.dumps({"topics": fresh}, sort_keys=True), gap=cursor is None)

    async def sweep(self) -> list[dict[str, object]]:
        """The newest topics' comments read again with `includeRemoved`: a removed one is its deletion, a
        present one its text now (an edit when it changed; the item itself when its «new» event was lost)."""
        try:
            stats = await self.api.call("group.getStatTopics", gid=self.group_id, fields="COMMENTS,ID")
        except (OkError, OkUnanswered) as exc:
            log.warning("Одноклассники: сверка не удалась: %s", getattr(exc, "reason", exc))
            raise
        events: list[dict[str, object]] = []
        for topic in _list(stats, "topics", "items")[:SWEEP_TOPICS]:
            topic_id = _id(topic.get("id"))
            if topic_id is None:
                continue
            anchor: str | None = None
            read = 0
            while read < SWEEP_COMMENTS:
                page = await comments_page(self.api, topic_id, anchor)
                read += len(page.comments)
                for c in page.comments:
                    kind = COMMENT if _removed(c) else COMMENT_SEEN
                    events.append({"type": kind, "topic_id": topic_id, "comment": dict(c)})
                anchor = page.anchor
                if not page.more or not page.comments:
                    break
        return events


async def keep_alive(api: OkApi) -> str:
    """One REST call (any call renews the long-lived token: a daily one is enough); the current user's name
    or id. Raises OkError / OkUnanswered as `call` does; the callers say what it means."""
    result = await api.call("users.getCurrentUser")
    if isinstance(result, Mapping):
        return str(_first(result, "name", "uid") or "")
    return ""


# --- the Bot API ----------------------------------------------------------------------------------------------------


@dataclass
class OkBot(_LazySession):
    """The group's Bot API key: subscribe our webhook, send a message."""

    token: str
    base_url: str = API_BASE
    timeout: float = CALL_TIMEOUT_SECONDS

    async def post(self, path: str, payload: Mapping[str, object]) -> Mapping[str, Any]:
        try:
            async with self.session().post(
                f"{self.base_url}{path}", params={"access_token": self.token},
                data=json.dumps(payload, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json;charset=utf-8"},
            ) as response:  # fmt: skip
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OkUnanswered(f"{type(exc).__name__}: {exc}"[:300]) from None
        try:
            result = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise OkUnanswered(f"не JSON (HTTP {response.status}, {len(body)} байт)") from None
        error = _error_of(result)
        if error is not None:
            raise error
        if not isinstance(result, Mapping):
            raise OkUnanswered("ответ не объект")
        return result

    async def subscribe(self, url: str) -> None:
        await self.post("/graph/me/subscribe", {"url": url})

    async def send(self, chat_id: str, text: str) -> str:
        result = await self.post(f"/graph/me/messages/{chat_id}",
                                 {"recipient": {"chat_id": chat_id}, "message": {"text": text}})  # fmt: skip
        mid = result.get("message_id")
        return mid if isinstance(mid, str) else ""


# --- publishing -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommentTarget:
    topic_id: str
    comment_id: str


@dataclass(frozen=True, slots=True)
class ChatTarget:
    chat_id: str


def ok_target(item_key: str, item_link: str) -> CommentTarget | ChatTarget | None:
    """What an answer goes under: the comment (its key names the topic) or the chat (named in the link)."""
    if _MID.fullmatch(item_key):
        chat = _CHAT_OF_LINK.search(item_link)
        return ChatTarget(chat.group(1)) if chat else None
    comment = _COMMENT_KEY.fullmatch(item_key)
    return CommentTarget(comment.group(1), comment.group(2)) if comment else None


NO_TARGET = "не понятно, на какой комментарий или сообщение в Одноклассниках отвечать"
NO_COMMENTS = "публикация комментариев в Одноклассниках не настроена (ключ приложения и токен)"
NO_MESSAGES = "публикация сообщений в Одноклассниках не настроена (ключ Bot API группы)"


class OkPublisher:
    """An answer as a comment of the group (addDiscussionComment, as_admin) or a Bot API message.

    OK takes no idempotency key (`idempotent` False): the row is «sending» before the call, a claim a dead
    run left is the operator's to settle («неизвестно, опубликован ли ответ»). A comment is reconciled: before
    posting, and after a call that got no answer, the topic is read again for the group's own reply to that
    comment with this text — found, it is the published answer, so pressing «publish again» after an unclear
    end never posts a second one. A message cannot be read back: no answer after the call is «unclear»."""

    network = Network.OK
    idempotent = False
    rate_per_second = 3.0  # OK does not publish its limit [?]: a modest pace

    def __init__(self, group_id: str, api: OkApi | None, bot: OkBot | None) -> None:
        self.group_id = group_id
        self.api = api
        self.bot = bot

    def refusal(self, answer: Answer) -> str | None:
        target = ok_target(answer.item_key, answer.item_link)
        if target is None:
            return NO_TARGET
        if not answer.text.strip():
            return "текст ответа пуст"
        if isinstance(target, CommentTarget):
            if self.api is None:
                return NO_COMMENTS
            limit, where = COMMENT_TEXT_LIMIT, "комментарии"
        else:
            if self.bot is None:
                return NO_MESSAGES
            limit, where = MESSAGE_TEXT_LIMIT, "сообщении"
        if len(answer.text) > limit:
            return f"ответ длиннее {limit} знаков, которые Одноклассники допускают в {where}: сократите его"
        return None

    async def publish(self, answer: Answer) -> str:
        target = ok_target(answer.item_key, answer.item_link)
        if target is None:
            raise PublishRefused(NO_TARGET, detail=answer.item_key[:100])
        try:
            if isinstance(target, CommentTarget):
                return await self._comment(target, answer)
            return await self._message(target, answer)
        except OkError as exc:
            raise _classified(exc) from None

    async def _comment(self, target: CommentTarget, answer: Answer) -> str:
        if self.api is None:
            raise PublishRefused(NO_COMMENTS)
        try:
            found = await self._already_posted(target, answer.text)
        except OkUnanswered as exc:
            raise PublishLater("Одноклассники не ответили", detail=str(exc)) from None  # nothing posted yet
        if found is not None:
            return found
        try:
            result = await self.api.call(
                "discussions.addDiscussionComment", entityId=target.topic_id, entityType="GROUP_TOPIC",
                comment=answer.text, reply_to_comment_id=target.comment_id, as_admin=True,
            )  # fmt: skip
        except OkUnanswered as exc:
            try:
                found = await self._already_posted(target, answer.text)
            except (OkError, OkUnanswered):
                found = None
            if found is not None:
                return found
            raise PublishFailed(
                "Одноклассники не ответили на публикацию: проверьте, появился ли ответ",
                detail=str(exc),
                unclear=True,
            ) from None
        cid = _id(result) or (
            _id(_first(result, "id", "comment_id")) if isinstance(result, Mapping) else None
        )
        return (
            f"{topic_link(self.group_id, target.topic_id)}?comment={cid}"
            if cid
            else topic_link(self.group_id, target.topic_id)
        )

    async def _already_posted(self, target: CommentTarget, text: str) -> str | None:
        """The link of the group's own reply to the comment with this text, if the topic has one."""
        assert self.api is not None
        anchor: str | None = None
        read = 0
        while read < SWEEP_COMMENTS:
            page = await comments_page(self.api, target.topic_id, anchor)
            read += len(page.comments)
            for c in page.comments:
                reply_to = _id(_first(c, "reply_to_comment_id", "reply_to_id", "replyToCommentId"))
                ours = (
                    _own({"comment": c}, self.group_id) and reply_to == target.comment_id and not _removed(c)
                )
                if ours and clean_text(str(_first(c, "text", "comment", "message") or "")) == clean_text(
                    text
                ):
                    cid = _id(_first(c, "id", "comment_id"))
                    return f"{topic_link(self.group_id, target.topic_id)}?comment={cid}"
            anchor = page.anchor
            if not page.more or not page.comments:
                return None
        return None

    async def _message(self, target: ChatTarget, answer: Answer) -> str:
        if self.bot is None:
            raise PublishRefused(NO_MESSAGES)
        try:
            mid = await self.bot.send(target.chat_id, answer.text)
        except OkUnanswered as exc:
            raise PublishFailed(
                "Одноклассники не ответили на отправку сообщения: проверьте, дошло ли оно",
                detail=str(exc), unclear=True,
            ) from None  # fmt: skip
        return f"https://ok.ru/group/{self.group_id}/messages?chat_id={target.chat_id}" + (
            f"&mid={mid}" if mid else ""
        )


_RATE_PAUSE = timedelta(minutes=1)


def _classified(exc: OkError) -> PublishError:
    """OK's error answer (the call was refused: nothing was posted) as the publication's outcome."""
    if exc.code in _AUTH:
        return PublishFailed(exc.reason, detail=exc.detail, alert=True)
    if exc.code in _TEMPORARY:
        return PublishLater(exc.reason, detail=exc.detail, delay=_RATE_PAUSE if exc.code == 8 else None)
    if exc.code == 455 or "COMMENTS_DISABLED" in exc.detail.upper():
        return PublishRefused("комментарии к записи закрыты", detail=exc.detail)
    return PublishFailed(exc.reason, detail=exc.detail)


class OkMessagesOnly:
    """The OK channel's source when only the Bot API is configured: the webhook saves the messages (bot/
    ok_webhook.py), nothing is polled (the reader runs with `listen` off and no sweep)."""

    channel = CHANNEL

    def __init__(self, group_id: str) -> None:
        self.group_id = group_id

    def item(self, raw: dict[str, object], seen_at: datetime, *, report: bool = True) -> ChannelItem | None:
        return parse_ok_event(raw, self.group_id, seen_at=seen_at, report=report)

    async def next_batch(self, cursor: str | None) -> ChannelBatch:
        return ChannelBatch((), cursor, failed=True)  # never asked: there is no feed to read
