"""VK: community wall comments and community messages in, on vk-api (CHANNELS.md, VK).

`parse_vk_event` turns one raw Bots Long Poll event into the domain's `ChannelItem` (pure, never raises).
`VkLongPoll` reads the long poll from a saved `ts`, `VkReconciler` sweeps recent posts' comments with the
service key. vk-api is synchronous: its calls run in a thread (`asyncio.to_thread`; the long poll, which waits,
on a daemon thread: `in_daemon_thread`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import requests
from vk_api import VkApi
from vk_api.bot_longpoll import VkBotLongPoll
from vk_api.exceptions import ApiError, Captcha, VkApiError

from channels.vk_session import VkApiSession
from channels.vk_window import AnsweredWindow
from workflow.lifecycle import clean_text
from workflow.model import Attachment, ChannelItem, ItemKind, Network
from workflow.ports import (
    Answer,
    ChannelBatch,
    PublishError,
    PublishFailed,
    PublishLater,
    PublishRefused,
)

log = logging.getLogger(__name__)
# Whether the parse being made reports what it skips or cuts: the reader's parse (at save) does, the workers'
# parse of the same saved event does not, so each event is one log line.
_reporting: contextvars.ContextVar[bool] = contextvars.ContextVar("vk_parse_reporting", default=True)

CHANNEL = "vk"
API_VERSION = "5.199"
# Characters kept of a citizen's text (VK allows 16,384 in a comment; a card shows about 3,500).
TEXT_LIMIT = 10_000
REQUESTS_PER_SECOND = 20  # a community token's limit; vk-api's default pace is 3 a second
_MAX_VK_ID = 2**63 - 1
_NUMBER = re.compile(r"-?[0-9]{1,19}")  # ASCII digits only: int() also takes «²», «١», «４»

WALL_KINDS: Mapping[str, ItemKind] = {
    "wall_reply_new": ItemKind.NEW,
    "wall_reply_edit": ItemKind.EDIT,
    "wall_reply_restore": ItemKind.RESTORE,
    "wall_reply_delete": ItemKind.DELETE,
}
MESSAGE_KINDS: Mapping[str, ItemKind] = {"message_new": ItemKind.NEW, "message_edit": ItemKind.EDIT}
# Events we subscribe to but that are no citizen's item (a new post is ours).
_NOT_ITEMS = frozenset(
    {"wall_post_new", "message_reply", "message_allow", "message_deny", "message_typing_state"}
)


def _int(value: object) -> int | None:
    """A VK id or date as an int (JSON numbers; VK never quotes them, but a forged event might); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) <= _MAX_VK_ID else None
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        number = int(value)
        return number if abs(number) <= _MAX_VK_ID else None
    return None


def _text(value: object, where: str) -> str:
    text = clean_text(value) if isinstance(value, str) else ""
    if len(text) > TEXT_LIMIT:
        if _reporting.get():
            log.warning("ВКонтакте: текст %s длиной %d символов сокращён до %d", where, len(text), TEXT_LIMIT)
        text = text[:TEXT_LIMIT]
    return text


def _revision(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]


def _date(value: object) -> datetime | None:
    stamp = _int(value)
    if stamp is None or not 0 < stamp < 32_503_680_000:  # up to year 3000: anything else is no date
        return None
    return datetime.fromtimestamp(stamp, UTC)


def _largest_photo(photo: Mapping[str, Any]) -> str:
    sizes = photo.get("sizes")
    best, area = "", -1
    if isinstance(sizes, list):
        for size in sizes:
            if not isinstance(size, Mapping) or not isinstance(size.get("url"), str):
                continue
            w, h = _int(size.get("width")) or 0, _int(size.get("height")) or 0
            if w * h > area:
                best, area = size["url"], w * h
    return best


def attachments_of(raw: object) -> tuple[Attachment, ...]:
    """VK `attachments[]` as the domain describes them (photo URLs are signed: the reference is the URL now)."""
    if not isinstance(raw, list):
        return ()
    found: list[Attachment] = []
    for entry in raw[:50]:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("type"), str):
            continue
        kind = entry["type"]
        body = entry.get(kind)
        body = body if isinstance(body, Mapping) else {}
        title = _text(body.get("title"), "вложения")[:200]
        if kind == "photo":
            found.append(Attachment("photo", _largest_photo(body)))
        elif kind == "doc":
            found.append(Attachment("document", str(body.get("url") or ""), title))
        elif kind == "video":
            owner, vid = _int(body.get("owner_id")), _int(body.get("id"))
            ref = f"https://vk.com/video{owner}_{vid}" if owner is not None and vid is not None else ""
            found.append(Attachment("video", ref, title))
        elif kind == "link":
            found.append(Attachment("link", str(body.get("url") or ""), title))
        else:
            found.append(Attachment(kind[:30], ""))
    return tuple(found)


# Otklik's own note on a saved raw event: the author's name as VK gave it when the event was read (users.get,
# or the profiles of wall.getComments), so the card names a person and not only an id.
NAME_KEY = "otklik_author"


def _author(obj: Mapping[str, Any], author: int) -> str:
    handle = f"id{author}" if author > 0 else f"club{-author}"
    name = _text(obj.get(NAME_KEY), "имени")[:200]
    return f"{name} ({handle})" if name else handle


def _named_objects(events: Sequence[dict[str, object]]) -> list[tuple[int, dict[str, object]]]:
    """(author id, the object to note the name on) of the events that carry a citizen's text."""
    found: list[tuple[int, dict[str, object]]] = []
    for raw in events:
        obj = raw.get("object")
        if not isinstance(obj, dict):
            continue
        inner = obj.get("message")
        target = inner if raw.get("type") == "message_new" and isinstance(inner, dict) else obj
        author = _int(target.get("from_id"))
        if author is not None and author > 0:
            found.append((author, target))
    return found


def note_names(events: Sequence[dict[str, object]], names: Mapping[int, str]) -> None:
    for author, target in _named_objects(events):
        if author in names:
            target[NAME_KEY] = names[author]


def profile_names(profiles: object) -> dict[int, str]:
    """users.get answers and `profiles` of extended answers: id -> «Имя Фамилия»."""
    names: dict[int, str] = {}
    if isinstance(profiles, list):
        for p in profiles:
            if isinstance(p, Mapping) and (uid := _int(p.get("id"))) is not None:
                name = " ".join(str(p.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
                if name:
                    names[uid] = name
    return names


def comment_link(owner_id: int, post_id: int, comment_id: int) -> str:
    return f"https://vk.com/wall{owner_id}_{post_id}?reply={comment_id}"


def _skip(raw: Mapping[str, Any] | object, why: str) -> None:
    if not _reporting.get():
        return
    kind = raw.get("type") if isinstance(raw, Mapping) else type(raw).__name__
    log.warning("ВКонтакте: событие %.40r пропущено: %s", kind, why)


def _wall(
    kind: ItemKind, obj: Mapping[str, Any], group_id: int, event_id: str, seen_at: datetime
) -> ChannelItem | None:
    owner, cid, post = _int(obj.get("owner_id")), _int(obj.get("id")), _int(obj.get("post_id"))
    if owner is None or cid is None or post is None or cid <= 0 or post <= 0:
        return None
    key = f"{owner}_{cid}"
    base = ChannelItem(
        network=Network.VK, key=key, kind=kind, seen_at=seen_at, thread=f"wall{owner}_{post}",
        link=comment_link(owner, post, cid), revision=event_id,
    )  # fmt: skip
    if kind is ItemKind.DELETE:
        deleter = _int(obj.get("deleter_id"))
        return replace(base, author_id=deleter or 0)
    author = _int(obj.get("from_id"))
    if author is None:
        return None
    if author == -group_id:
        return None  # our own answer coming back: never a case (CHANNELS.md)
    text = _text(obj.get("text"), f"комментария {key}")
    return replace(
        base,
        text=text,
        author=_author(obj, author),
        author_id=author,
        attachments=attachments_of(obj.get("attachments")),
        written_at=_date(obj.get("date")),
        revision="" if kind is ItemKind.NEW else event_id or _revision(text),
    )


def _message(
    kind: ItemKind, obj: Mapping[str, Any], group_id: int, event_id: str, seen_at: datetime
) -> ChannelItem | None:
    # message_new wraps the message with client_info; message_edit is the message itself.
    inner = obj.get("message")
    message: Mapping[str, Any] = inner if isinstance(inner, Mapping) else obj
    if _int(message.get("out")) == 1:
        return None  # what the community sent: our own
    peer, cmid, author = (_int(message.get(k)) for k in ("peer_id", "conversation_message_id", "from_id"))
    if peer is None or cmid is None or author is None or cmid <= 0:
        return None
    if author == -group_id or author <= 0:
        return None
    key = f"dm:{peer}:{cmid}"
    text = _text(message.get("text"), f"сообщения {key}")
    return ChannelItem(
        network=Network.VK, key=key, kind=kind, seen_at=seen_at, text=text, author=_author(message, author),
        author_id=author, link=f"https://vk.com/gim{group_id}?sel={peer}",
        attachments=attachments_of(message.get("attachments")), thread=f"dm{peer}",
        revision="" if kind is ItemKind.NEW else event_id or _revision(text), written_at=_date(message.get("date")),
    )  # fmt: skip


def parse_vk_event(
    raw: object, group_id: int, *, seen_at: datetime, report: bool = True
) -> ChannelItem | None:
    """One Bots Long Poll (or Callback) event as a `ChannelItem`; None for our own echoes, for events that are
    no citizen's item, and for broken ones (one log line unless `report` is False). Never raises."""
    token = _reporting.set(report)
    try:
        return _parse(raw, group_id, seen_at)
    finally:
        _reporting.reset(token)


def _parse(raw: object, group_id: int, seen_at: datetime) -> ChannelItem | None:
    try:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("type"), str):
            _skip(raw, "не событие")
            return None
        kind_name, obj = raw["type"], raw.get("object")
        if kind_name in _NOT_ITEMS:
            return None
        if not isinstance(obj, Mapping):
            _skip(raw, "нет объекта")
            return None
        event_id = str(raw.get("event_id") or "")[:64]
        item: ChannelItem | None
        if kind_name in WALL_KINDS:
            item = _wall(WALL_KINDS[kind_name], obj, group_id, event_id, seen_at)
        elif kind_name in MESSAGE_KINDS:
            item = _message(MESSAGE_KINDS[kind_name], obj, group_id, event_id, seen_at)
        else:
            _skip(raw, "неизвестный тип")
            return None
        if item is None and not _echo(kind_name, obj, group_id):
            _skip(raw, "нет нужных полей")
        return item
    except Exception as exc:  # a parser bug must not stop intake: the event is logged and left
        _skip(raw, f"ошибка разбора {type(exc).__name__}")
        return None


def _echo(kind: str, obj: Mapping[str, Any], group_id: int) -> bool:
    inner = obj.get("message")
    message: Mapping[str, Any] = inner if isinstance(inner, Mapping) else obj
    return _int(message.get("from_id")) == -group_id or _int(message.get("out")) == 1


def inbox_key(item: ChannelItem) -> str:
    """The inbox key of an item's event: one row per item and kind (and revision), so a redelivered event or
    the reconciler seeing the item again is the row already there."""
    return f"{item.key}:{item.kind.value}" + (f":{item.revision}" if item.revision else "")


# --- reading -------------------------------------------------------------------------------------------------


def make_api(token: str, session: requests.Session | None = None) -> VkApi:
    """A vk-api client on `session` (tests point it at the emulator: channels/vk_session.py)."""
    api = VkApi(token=token, session=session, api_version=API_VERSION)
    api.RPS_DELAY = 1 / REQUESTS_PER_SECOND
    return api


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]


T = TypeVar("T")


async def in_daemon_thread(call: Callable[[], T], name: str) -> T:
    """`asyncio.to_thread` for a call that waits long (a long poll holds up to `wait` s): on a daemon thread,
    so a stop while it waits ends at once instead of the process waiting for it at exit. What it would have
    brought is not lost: the cursor moves only when a batch is saved."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():  # cancelled: the caller stopped waiting
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = call()
        except BaseException as exc:  # handed to the awaiting task, as to_thread does
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name=name, daemon=True).start()
    return await future


class VkLongPoll:
    """Bots Long Poll from a saved `ts`. vk-api's `VkBotLongPoll` gets the server and key; its `check()` drops
    `failed: 1` silently and does not guard `.json()`, so the check call is made here: non-JSON, timeouts and
    HTTP errors are an empty failed batch, `failed: 1` and `3` a gap to sweep, `failed: 2` a new key."""

    channel = CHANNEL

    def __init__(self, api: VkApi, group_id: int, *, wait: int = 25) -> None:
        self.api = api
        self.group_id = group_id
        self.wait = wait
        self._poll: VkBotLongPoll | None = None

    def item(self, raw: dict[str, object], seen_at: datetime, *, report: bool = True) -> ChannelItem | None:
        return parse_vk_event(raw, self.group_id, seen_at=seen_at, report=report)

    async def next_batch(self, cursor: str | None) -> ChannelBatch:
        return await in_daemon_thread(lambda: self._check(cursor), "vk-long-poll")

    def _check(self, cursor: str | None) -> ChannelBatch:
        fresh = False
        try:
            if self._poll is None:
                # Construction asks groups.getLongPollServer; the saved ts replaces the fresh one it brings.
                self._poll = VkBotLongPoll(self.api, self.group_id, wait=self.wait)
                fresh = cursor is None
            poll = self._poll
            if cursor is not None:
                poll.ts = cursor
            response = poll.session.get(
                poll.url, params={"act": "a_check", "key": poll.key, "ts": poll.ts, "wait": self.wait},
                timeout=self.wait + 10,
            )  # fmt: skip
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, VkApiError, ValueError, KeyError, TypeError) as exc:
            log.warning("ВКонтакте: long poll не ответил: %s; повтор", _short(exc))
            if not isinstance(exc, requests.Timeout):
                self._poll = None  # a new server and key next time
            return ChannelBatch((), cursor, failed=True)
        if not isinstance(data, dict):
            log.warning("ВКонтакте: long poll ответил не объектом; повтор")
            return ChannelBatch((), cursor, failed=True)
        failed = data.get("failed")
        ts = data.get("ts")
        if failed is None:
            updates = data.get("updates")
            if not isinstance(updates, list) or not isinstance(ts, str | int) or isinstance(ts, bool):
                log.warning("ВКонтакте: в ответе long poll нет ts или updates; повтор")
                return ChannelBatch((), cursor, failed=True)
            events = tuple(u for u in updates if isinstance(u, dict))
            try:
                self._name(events)
            except Exception as exc:  # names are a nicety: the batch goes in without them
                log.warning("ВКонтакте: имена авторов не разобраны: %s", _short(exc))
            return ChannelBatch(events, str(ts), gap=fresh)
        if failed == 1 and isinstance(ts, str | int) and not isinstance(ts, bool):
            log.warning("ВКонтакте: long poll сообщил о потерянных событиях (failed 1); будет сверка")
            return ChannelBatch((), str(ts), gap=True)
        try:
            if failed == 2:
                poll.update_longpoll_server(update_ts=False)
                return ChannelBatch((), cursor)
            poll.update_longpoll_server()  # failed 3 (or anything else): new key and ts, the gap swept
            log.warning("ВКонтакте: long poll выдал новый ts (failed %.10r); будет сверка", failed)
            return ChannelBatch((), str(poll.ts), gap=True)
        except (requests.RequestException, VkApiError, ValueError, KeyError, TypeError) as exc:
            log.warning("ВКонтакте: новый ключ long poll не получен: %s; повтор", _short(exc))
            self._poll = None
            return ChannelBatch((), cursor, failed=True)

    def _name(self, events: Sequence[dict[str, object]]) -> None:
        """The authors' names with one users.get; without them (an error, an unknown id) the card shows ids."""
        ids = sorted({author for author, _ in _named_objects(events)})
        if not ids:
            return
        try:
            answer = self.api.method("users.get", {"user_ids": ",".join(map(str, ids[:1000]))})
        except (requests.RequestException, VkApiError, ValueError, KeyError, TypeError) as exc:
            log.info("ВКонтакте: имена авторов не получены: %s", _short(exc))
            return
        note_names(events, profile_names(answer))


class SweepFailed(Exception):
    """The sweep could not read the wall (the reason is logged where it failed)."""


class VkReconciler:
    """With the service key: the newest `posts` posts of the wall and the newest `comments` comments of each,
    as `wall_reply_new` events, so the items a gap lost go the same way as the long poll's."""

    def __init__(self, api: VkApi, group_id: int, *, posts: int = 20, comments: int = 100) -> None:
        self.api = api
        self.group_id = group_id
        self.posts = posts
        self.comments = comments

    async def sweep(self) -> list[dict[str, object]]:
        return await asyncio.to_thread(self._sweep)

    def _call(self, method: str, values: dict[str, object]) -> Mapping[str, Any] | None:
        try:
            result = self.api.method(method, values)
        except (requests.RequestException, VkApiError, ValueError, KeyError, TypeError) as exc:
            log.warning("ВКонтакте: сверка, %s не удался: %s", method, _short(exc))
            return None
        return result if isinstance(result, Mapping) else None

    def _sweep(self) -> list[dict[str, object]]:
        owner = -self.group_id
        wall = self._call("wall.get", {"owner_id": owner, "count": self.posts})
        if wall is None:
            raise SweepFailed("wall.get")  # the reader counts a sweep that reached VK as a read, not this one
        events: list[dict[str, object]] = []
        for post in _items(wall):
            post_id = _int(post.get("id"))
            if post_id is None:
                continue
            page = self._call(
                "wall.getComments",
                {
                    "owner_id": owner,
                    "post_id": post_id,
                    "count": self.comments,
                    "sort": "desc",
                    "thread_items_count": 10,
                    "extended": 1,
                },
            )
            names = profile_names(page.get("profiles") if page is not None else None)
            for comment in _comments(_items(page)):
                obj: dict[str, object] = {**comment, "post_id": post_id, "owner_id": owner}
                author = _int(comment.get("from_id"))
                if author is not None and author in names:
                    obj[NAME_KEY] = names[author]
                events.append({"type": "wall_reply_new", "object": obj, "group_id": self.group_id})
        return events


def _items(response: Mapping[str, Any] | None) -> Sequence[Mapping[str, Any]]:
    items = response.get("items") if response is not None else None
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def _comments(top: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Top-level comments and the replies in their threads."""
    found: list[Mapping[str, Any]] = []
    for comment in top:
        found.append(comment)
        thread = comment.get("thread")
        if isinstance(thread, Mapping):
            found += _items(thread)
    return found


# --- health ---------------------------------------------------------------------------------------------------

# What the community token needs (CHANNELS.md): the wall (comments), messages, docs (attachments).
NEEDED_PERMISSIONS = ("wall", "messages", "docs")


def token_permissions(api: VkApi) -> set[str]:
    """groups.getTokenPermissions: the names of the community token's rights (raises VkApiError, requests'
    errors; the caller says what they mean)."""
    result = api.method("groups.getTokenPermissions")
    names: set[str] = set()
    if isinstance(result, Mapping) and isinstance(result.get("permissions"), list):
        names = {
            p["name"]
            for p in result["permissions"]
            if isinstance(p, Mapping) and isinstance(p.get("name"), str)
        }
    return names


def service_key_works(api: VkApi, group_id: int) -> None:
    """One service-key call the sweep makes (wall.get of the community); raises as vk-api does."""
    api.method("wall.get", {"owner_id": -group_id, "count": 1})


# --- publishing answers back ----------------------------------------------------------------------------------

# VK's limits on an answer's text: 9,000 characters in a community message (CHANNELS.md; the emulator refuses
# more with error 914); a wall comment is limited by the 16,384 characters VK keeps of one **[?]** — no source
# settled it below that, so the longer answer is refused before any call rather than cut.
MESSAGE_TEXT_LIMIT = 9_000
COMMENT_TEXT_LIMIT = 16_384
_INT32_MAX = 2**31 - 1  # messages.send's random_id is a signed 32-bit number
_WALL_KEY = re.compile(r"(-[0-9]{1,19})_([0-9]{1,19})")
_DM_KEY = re.compile(r"dm:([0-9]{1,19}):([0-9]{1,19})")
_POST_OF_LINK = re.compile(r"wall(-[0-9]{1,19})_([0-9]{1,19})\?reply=([0-9]{1,19})")
_FLOOD_PAUSE = timedelta(minutes=5)
CALL_TIMEOUT_SECONDS = 60.0  # one publishing call; past it the worker retries (safe: the idempotency key)
_RATE_PAUSE = timedelta(seconds=1)

# VK's refusals the operator answers by hand (the text is ready on the card), in Russian.
_BY_HAND: Mapping[int, str] = {
    212: "комментарии к записи закрыты",
    213: "комментарии к записи закрыты",
    222: "ВКонтакте не разрешает ссылки в этом комментарии",
    223: "в ветке комментариев слишком много ответов",
    901: "гражданин не разрешил сообществу писать ему (или прошло больше суток с его последнего сообщения)",
    902: "настройки приватности гражданина не позволяют сообществу написать ему",
    914: "сообщение слишком длинное для ВКонтакте",
    943: "писать гражданину вне суток после его сообщения ВКонтакте разрешает только с особой отметкой",
    944: "писать гражданину вне суток после его сообщения ВКонтакте разрешает только с особой отметкой",
    950: "прошло больше суток с последнего сообщения гражданина: ответить сообществом уже нельзя",
}


@dataclass(frozen=True, slots=True)
class WallTarget:
    owner_id: int
    post_id: int
    comment_id: int


@dataclass(frozen=True, slots=True)
class MessageTarget:
    peer_id: int


def vk_target(item_key: str, item_link: str) -> WallTarget | MessageTarget | None:
    """What an answer goes under: the comment (its post from the item's link) or the conversation."""
    if dm := _DM_KEY.fullmatch(item_key):
        return MessageTarget(int(dm.group(1)))
    wall = _WALL_KEY.fullmatch(item_key)
    post = _POST_OF_LINK.search(item_link)
    if wall is None or post is None:
        return None
    owner, comment = int(wall.group(1)), int(wall.group(2))
    if int(post.group(1)) != owner or int(post.group(3)) != comment:
        return None  # the link names another comment than the key: no guessing where to answer
    return WallTarget(owner, int(post.group(2)), comment)


def random_id_of(key: int) -> int:
    """The publication row id as messages.send's random_id (a signed 32-bit number, checked against the whole
    history of the conversation): the id itself while it fits."""
    return key if key <= _INT32_MAX else key % _INT32_MAX + 1


class VkPublisher:
    """Answers a wall comment as the community (wall.createComment with `guid`) or a community message
    (messages.send with `random_id`), both the publication row id: a retry after a crash posts once.

    VK's errors become what CHANNELS.md says: closed comments and the 24-hour window are the operator's to
    answer by hand; a revoked token fails and alerts; rate, flood, internal and transport errors retry later;
    a daily quota waits until tomorrow."""

    network = Network.VK
    idempotent = True
    rate_per_second = 20.0  # a community token's limit (error 6 past it)

    def __init__(self, api: VkApi, group_id: int) -> None:
        self.api = api
        self.group_id = group_id
        self._prepare(api)
        # One client per thread: `VkApi.method` holds a lock across its pause and its whole HTTP round trip, so
        # calls through one client go one after another, each a round trip plus RPS_DELAY, well under VK's 20
        # a second. The worker paces the calls to VK's rate (bot/publisher.py, Pacer); each thread's own client
        # (and requests session, which is not to be shared between threads) lets them overlap.
        self._local = threading.local()
        self._local.api = api
        # The pace itself is kept here, where the call is made and answered (channels/vk_window.py says why):
        # the worker's pacer spaces the rows it starts, and only this one can never earn error 6.
        self.window = AnsweredWindow(int(self.rate_per_second))

    @staticmethod
    def _prepare(api: VkApi) -> None:
        # vk-api retries error 6 by itself every 0.5 s without end; here it is the worker's retry instead.
        api.error_handlers.pop(6, None)
        api.RPS_DELAY = 0  # the worker's pacer keeps the rate; vk-api's pause would only add to it

    def _client(self) -> VkApi:
        api: VkApi | None = getattr(self._local, "api", None)
        if api is None:
            api = self._local.api = _clone(self.api)
            self._prepare(api)
        return api

    def refusal(self, answer: Answer) -> str | None:
        target = vk_target(answer.item_key, answer.item_link)
        if target is None:
            return "не понятно, на какой комментарий или сообщение ВКонтакте отвечать"
        if isinstance(target, WallTarget) and target.owner_id != -self.group_id:
            return "комментарий оставлен не на стене сообщества"
        if not answer.text.strip():
            return "текст ответа пуст"
        limit, where = (
            (MESSAGE_TEXT_LIMIT, "сообщении")
            if isinstance(target, MessageTarget)
            else (COMMENT_TEXT_LIMIT, "комментарии")
        )
        if len(answer.text) > limit:
            return f"ответ длиннее {limit} знаков, которые ВКонтакте допускает в {where}: сократите его"
        return None

    async def publish(self, answer: Answer) -> str:
        try:
            call = asyncio.get_running_loop().run_in_executor(_publishing_threads(), self._publish, answer)
            return await asyncio.wait_for(call, CALL_TIMEOUT_SECONDS)
        except TimeoutError:
            # vk-api's requests have no timeout of their own; a call still under way may yet post, and the
            # retry with the same guid / random_id then finds that post instead of making a second.
            raise PublishLater("ВКонтакте не ответил вовремя") from None

    def _publish(self, answer: Answer) -> str:
        target = vk_target(answer.item_key, answer.item_link)
        if target is None:
            raise PublishRefused("не понятно, на какой комментарий или сообщение ВКонтакте отвечать")
        try:
            with self.window.slot():
                if isinstance(target, WallTarget):
                    return self._comment(target, answer)
                return self._message(target, answer)
        except ApiError as exc:
            raise _classified(exc.code, str(exc)) from None
        except Captcha as exc:
            raise PublishLater("ВКонтакте просит капчу", detail=_short(exc), delay=_FLOOD_PAUSE) from None
        except (requests.RequestException, VkApiError, ValueError, KeyError, TypeError) as exc:
            raise PublishLater("ВКонтакте не ответил", detail=_short(exc)) from None

    def _comment(self, target: WallTarget, answer: Answer) -> str:
        result = self._client().method(
            "wall.createComment",
            {
                "owner_id": target.owner_id,
                "post_id": target.post_id,
                "from_group": self.group_id,
                "reply_to_comment": target.comment_id,
                "message": answer.text,
                "guid": str(answer.idempotency_key),
            },
        )
        comment_id = _int(result.get("comment_id")) if isinstance(result, Mapping) else None
        if comment_id is None or comment_id <= 0:
            raise PublishLater("ВКонтакте не назвал номер комментария")  # the guid makes the retry safe
        return f"https://vk.com/wall{target.owner_id}_{target.post_id}?reply={comment_id}"

    def _message(self, target: MessageTarget, answer: Answer) -> str:
        result = self._client().method(
            "messages.send",
            {
                "peer_id": target.peer_id,
                "message": answer.text,
                "random_id": random_id_of(answer.idempotency_key),
            },
        )
        message_id = _int(result)
        if message_id is None or message_id <= 0:
            raise PublishLater("ВКонтакте не назвал номер сообщения")
        return f"https://vk.com/gim{self.group_id}?sel={target.peer_id}&msgid={message_id}"


_THREADS: ThreadPoolExecutor | None = None
_THREADS_LOCK = threading.Lock()


def _publishing_threads() -> ThreadPoolExecutor:
    """The threads VK publishing calls run in, one set per process: a call waiting for its slot holds its
    thread, which must not be one of asyncio's default few (the sweeps use those)."""
    global _THREADS
    with _THREADS_LOCK:
        if _THREADS is None:
            _THREADS = ThreadPoolExecutor(REQUESTS_PER_SECOND, thread_name_prefix="vk-publish")
        return _THREADS


def _clone(api: VkApi) -> VkApi:
    """Another client with `api`'s token, version and API base, on a session of its own."""
    session: requests.Session = (
        VkApiSession(api.http.api_base) if isinstance(api.http, VkApiSession) else requests.Session()
    )
    return VkApi(token=api.token["access_token"], session=session, api_version=api.api_version)


def _classified(code: int, detail: str) -> PublishError:
    """A VK error code as the publication's outcome (CHANNELS.md, «Limits and errors»)."""
    if code in _BY_HAND:
        return PublishRefused(_BY_HAND[code], detail=detail)
    if code == 5:
        reason = "ключ доступа сообщества ВКонтакте недействителен (отозван): нужен новый ключ в настройках"
        return PublishFailed(reason, detail=detail, alert=True)
    if code in (15, 27):
        reason = "у ключа доступа сообщества нет прав публиковать ответ: проверьте ключ в настройках"
        return PublishFailed(reason, detail=detail, alert=True)
    if code == 6:
        return PublishLater("слишком много запросов к ВКонтакте в секунду", detail=detail, delay=_RATE_PAUSE)
    if code == 9:
        return PublishLater("ВКонтакте временно ограничил частоту действий", detail=detail, delay=_FLOOD_PAUSE)
    if code == 10:
        return PublishLater("внутренняя ошибка ВКонтакте", detail=detail)
    if code == 29:
        return PublishLater("исчерпан суточный лимит ВКонтакте", detail=detail, until_tomorrow=True)
    if code == 100:
        return PublishFailed(f"ВКонтакте отверг параметры запроса ({detail[:200]})", detail=detail)
    return PublishFailed(f"ошибка ВКонтакте {code} ({detail[:200]})", detail=detail)


# The event types Otklik reads (CHANNELS.md: the Long Poll API settings must have them on).
LONG_POLL_EVENTS = (
    "wall_reply_new",
    "wall_reply_edit",
    "wall_reply_delete",
    "wall_reply_restore",
    "message_new",
    "message_edit",
)


@dataclass(frozen=True, slots=True)
class LongPollSettings:
    enabled: bool
    api_version: str
    events_on: frozenset[str]


def long_poll_settings(api: VkApi, group_id: int) -> LongPollSettings:
    """groups.getLongPollSettings of the community (raises as vk-api does; an odd answer reads as «off»)."""
    result = api.method("groups.getLongPollSettings", {"group_id": group_id})
    if not isinstance(result, Mapping):
        return LongPollSettings(False, "", frozenset())
    events = result.get("events")
    on = (
        frozenset(k for k, v in events.items() if v in (1, True))
        if isinstance(events, Mapping)
        else frozenset()
    )
    return LongPollSettings(result.get("is_enabled") in (1, True), str(result.get("api_version") or ""), on)
