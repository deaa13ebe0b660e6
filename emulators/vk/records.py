"""What the VK emulator remembers: tokens, users, groups with their walls and messages, events, requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

JsonDict = dict[str, Any]
TokenKind = Literal["group", "service", "user"]
FailureKind = Literal["error", "non_json", "truncated"]
TOKEN_KINDS: Final[tuple[TokenKind, ...]] = ("group", "service", "user")

# VK's own texts for the errors the emulator gives (dev.vk.com/ru/reference/errors).
ERROR_MESSAGES: Final[dict[int, str]] = {
    1: "Unknown error occurred",
    3: "Unknown method passed",
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    8: "Invalid request: v (version) is required",
    9: "Flood control",
    10: "Internal server error",
    15: "Access denied",
    18: "User was deleted or banned",
    27: "Group authorization failed: method is unavailable with group auth.",
    28: "Application authorization failed: method is unavailable with service token.",
    29: "Rate limit reached",
    100: "One of the parameters specified was missing or invalid",
    113: "Invalid user id",
    212: "Access to post comments denied",
    213: "Access to status replies denied",
    222: "Hyperlinks are forbidden",
    223: "Too many replies",
    901: "Can't send messages for users without permission",
    902: "Can't send messages to this user due to their privacy settings",
    914: "Message is too long",
    943: "Cannot use this intent",
    944: "Limits overflow for this type of intent",
    950: "Can't send message, reply timed out",
}

# Community token rights as groups.getTokenPermissions names them, with their bits.
PERMISSION_BITS: Final[dict[str, int]] = {
    "stories": 1,
    "photos": 4,
    "app_widget": 64,
    "messages": 4096,
    "wall": 8192,
    "docs": 131072,
    "manage": 262144,
}
DEFAULT_PERMISSIONS: Final = ("manage", "messages", "photos", "docs", "wall")


class VkError(Exception):
    """A VK API error answered as ``{"error": {"error_code", "error_msg", "request_params"}}``."""

    def __init__(self, code: int, detail: str | None = None) -> None:
        base = ERROR_MESSAGES.get(code, ERROR_MESSAGES[1])
        self.code = code
        self.message = f"{base}: {detail}" if detail else base
        super().__init__(f"[{code}] {self.message}")


def bad_param(detail: str) -> VkError:
    return VkError(100, detail)


@dataclass
class Token:
    value: str
    kind: TokenKind
    group_id: int | None = None  # a community token's group
    user_id: int | None = None  # a user token's owner
    permissions: tuple[str, ...] = DEFAULT_PERMISSIONS
    revoked: bool = False


@dataclass
class VkUser:
    id: int
    first_name: str
    last_name: str = ""
    screen_name: str | None = None
    deactivated: str | None = None  # "deleted" or "banned"

    def to_json(self) -> JsonDict:
        if self.deactivated is not None:
            return {
                "id": self.id,
                "first_name": self.first_name,
                "last_name": self.last_name,
                "deactivated": self.deactivated,
            }
        return {
            "id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "can_access_closed": True,
            "is_closed": False,
        }


@dataclass
class Revision:
    """A comment's text and attachments before an edit, and when it was replaced (the emulator's clock)."""

    text: str
    attachments: list[JsonDict]
    replaced_at: int


@dataclass
class Comment:
    id: int
    owner_id: int
    post_id: int
    from_id: int
    date: int
    text: str
    attachments: list[JsonDict] = field(default_factory=list)
    reply_to_comment: int | None = None
    reply_to_user: int | None = None
    parents_stack: list[int] = field(default_factory=list)
    deleter_id: int | None = None  # set while deleted: the author (withdrawn) or a moderator
    revisions: list[Revision] = field(default_factory=list)
    guid: str | None = None

    @property
    def deleted(self) -> bool:
        return self.deleter_id is not None

    def to_json(self, thread_count: int = 0) -> JsonDict:
        data: JsonDict = {
            "id": self.id,
            "from_id": self.from_id,
            "post_id": self.post_id,
            "owner_id": self.owner_id,
            "parents_stack": list(self.parents_stack),
            "date": self.date,
            "text": self.text,
            "thread": {"count": thread_count},
            "post_owner_id": self.owner_id,
        }
        if self.attachments:
            data["attachments"] = [dict(a) for a in self.attachments]
        if self.reply_to_comment is not None:
            data["reply_to_comment"] = self.reply_to_comment
        if self.reply_to_user is not None:
            data["reply_to_user"] = self.reply_to_user
        return data


@dataclass
class Post:
    id: int
    owner_id: int
    from_id: int
    date: int
    text: str
    comments_closed: bool = False

    def to_json(self, comment_count: int) -> JsonDict:
        return {
            "id": self.id,
            "owner_id": self.owner_id,
            "from_id": self.from_id,
            "date": self.date,
            "post_type": "post",
            "text": self.text,
            "attachments": [],
            "comments": {
                "count": comment_count,
                "can_post": 0 if self.comments_closed else 1,
                "groups_can_post": not self.comments_closed,
            },
        }


@dataclass
class Message:
    """A community message: from a citizen (out=0) or sent by the community (out=1)."""

    id: int
    peer_id: int
    from_id: int
    out: int
    date: int
    text: str
    conversation_message_id: int
    attachments: list[JsonDict] = field(default_factory=list)
    random_id: int = 0
    reply_to: int | None = None  # the id of the message it answers
    edits: list[str] = field(default_factory=list)

    def to_json(self) -> JsonDict:
        return {
            "date": self.date,
            "from_id": self.from_id,
            "id": self.id,
            "out": self.out,
            "version": 1,
            "attachments": [dict(a) for a in self.attachments],
            "conversation_message_id": self.conversation_message_id,
            "fwd_messages": [],
            "important": False,
            "is_hidden": False,
            "peer_id": self.peer_id,
            "random_id": self.random_id,
            "text": self.text,
        }


@dataclass
class Group:
    id: int
    name: str
    screen_name: str
    posts: dict[int, Post] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)  # comment ids are numbered per wall
    messages: dict[int, Message] = field(default_factory=dict)
    next_item_id: int = 1  # posts and comments share a wall's numbering, as on VK
    next_message_id: int = 1
    conversation_ids: dict[int, int] = field(default_factory=dict)  # peer -> last conversation_message_id
    last_inbound: dict[int, int] = field(default_factory=dict)  # peer -> date of their last message
    guids: dict[tuple[str, str], int] = field(default_factory=dict)  # (token, guid) -> comment id
    random_ids: dict[tuple[int, int], int] = field(default_factory=dict)  # (peer, random_id) -> message id
    admins: set[int] = field(default_factory=set)  # users whose tokens may act as the community

    @property
    def owner_id(self) -> int:
        return -self.id

    def to_json(self) -> JsonDict:
        return {
            "id": self.id,
            "name": self.name,
            "screen_name": self.screen_name,
            "is_closed": 0,
            "type": "group",
            "photo_50": f"https://vk.com/images/community_50.png?g={self.id}",
        }


@dataclass
class LongPollEvent:
    ts: int
    raw: JsonDict


@dataclass
class RequestRecord:
    """One API call as the emulator saw it; ``error_code`` is None for a successful answer."""

    method: str
    params: dict[str, str]
    token_kind: TokenKind | None
    received_at: float
    error_code: int | None = None
    failure: FailureKind | None = None
    finished_at: float | None = None


@dataclass
class Failure:
    kind: FailureKind
    code: int
    methods: frozenset[str] | None  # lower-case method names; None: any method

    def applies_to(self, method: str) -> bool:
        return self.methods is None or method in self.methods


@dataclass
class CallbackAttempt:
    """One POST of an event to a Callback API server, and what that server answered."""

    event_id: str | None
    type: str
    retry: int  # 0 for the first attempt; VK's X-Retry-Counter for the others
    status: int | None = None  # None: no HTTP answer (refused, timed out)
    body: str = ""
    error: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == 200 and self.body == "ok"


@dataclass
class CallbackServer:
    """A group's Callback API server: where its events go instead of (besides) the long poll."""

    url: str
    confirmation_code: str
    secret: str | None = None
    retries: int = 5  # attempts after the first, each after ``retry_delay`` seconds
    retry_delay: float = 1.0
    timeout: float = 5.0
    confirmed: bool = False
    pending: int = 0  # events queued and not yet accepted or given up
    attempts: list[CallbackAttempt] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)  # event ids never accepted


@dataclass
class StoredFile:
    """A photo or document a citizen attached, served at a signed URL that stops working at ``expires_at``."""

    name: str
    content: bytes
    content_type: str
    sign: str
    expires_at: int  # the emulator's clock
    downloads: int = 0
