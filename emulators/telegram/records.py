"""What the Telegram emulator remembers: users, chats, messages and their versions, callbacks, files, requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

JsonDict = dict[str, Any]
FailureKind = Literal["retry_after", "server_error", "bad_gateway_html", "disconnect"]


@dataclass
class EmuUser:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "ru"
    is_bot: bool = False

    def to_json(self) -> JsonDict:
        data: JsonDict = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if (value := getattr(self, key)) is not None:
                data[key] = value
        return data


@dataclass
class EmuChat:
    id: int
    type: str  # "private", "group", "supergroup" or "channel"
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    def to_json(self) -> JsonDict:
        data: JsonDict = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name", "last_name"):
            if (value := getattr(self, key)) is not None:
                data[key] = value
        return data


@dataclass(frozen=True)
class MessageVersion:
    """A message's content before an edit."""

    text: str | None
    parse_mode: str | None
    plain_text: str | None
    entities: list[JsonDict]
    reply_markup: JsonDict | None
    replaced_at: float


@dataclass
class ChatMessage:
    """A message in an emulated chat, from the bot or from a user.

    ``text`` is what the sender sent (raw HTML when ``parse_mode`` is HTML; the caption for media);
    ``plain_text`` and ``entities`` are what Telegram made of it: what the user sees.
    """

    chat_id: int
    message_id: int
    from_id: int
    from_bot: bool
    date: int
    text: str | None
    parse_mode: str | None = None
    plain_text: str | None = None
    entities: list[JsonDict] = field(default_factory=list)
    reply_markup: JsonDict | None = None
    reply_to_message_id: int | None = None
    photo: list[JsonDict] | None = None
    document: JsonDict | None = None
    video: JsonDict | None = None
    media_group_id: str | None = None  # an album's messages share it
    forward_origin: JsonDict | None = None  # a forwarded message: MessageOrigin as Telegram sends it
    # A comment under a channel post: the id of the post's copy in the discussion group (the thread's root).
    message_thread_id: int | None = None
    is_automatic_forward: bool = (
        False  # the channel post's copy that opens its thread in the discussion group
    )
    sender_chat_id: int | None = None  # posted on behalf of a chat (the channel); from_id 0: no "from" at all
    edits: list[MessageVersion] = field(default_factory=list)
    edit_date: int | None = None
    deleted: bool = False
    # Sent with disable_notification: the recipients get it without sound. Telegram does not echo it in the
    # Message it returns, so it is a record of the request, not part of the message's JSON.
    disable_notification: bool = False

    @property
    def buttons(self) -> list[list[JsonDict]]:
        """The inline keyboard rows, empty when there is none."""
        if not self.reply_markup:
            return []
        rows: list[list[JsonDict]] = self.reply_markup.get("inline_keyboard", [])
        return rows

    def callback_data(self, label: str) -> str | None:
        """The data of the callback button ``label`` (None: no such button)."""
        for row in self.buttons:
            for button in row:
                if button.get("text") == label and "callback_data" in button:
                    return str(button["callback_data"])
        return None

    @property
    def formatting(self) -> list[str]:
        """The kinds of formatting a person sees, in order (emulators/staff.py): the entities' types."""
        return [str(e.get("type")) for e in self.entities]

    @property
    def silent(self) -> bool:
        """Delivered without sound (disable_notification)."""
        return self.disable_notification


def visible_text(msg: ChatMessage | MessageVersion) -> str:
    """The text (or caption) exactly as the user sees it: HTML tags dropped, entities unescaped.

    Works on a message and on the earlier versions in its ``edits``."""
    return msg.plain_text or ""


@dataclass(frozen=True)
class CallbackAnswer:
    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int
    answered_at: float


@dataclass
class CallbackQueryRecord:
    id: str
    chat_id: int
    user_id: int
    message_id: int
    data: str
    answer: CallbackAnswer | None = None


@dataclass(frozen=True)
class StoredFile:
    file_id: str
    file_unique_id: str
    content: bytes
    filename: str | None
    mime_type: str | None
    file_path: str


@dataclass
class RequestRecord:
    """One HTTP call, for assertions and latency figures. Times are from the emulator's clock."""

    method: str
    received_at: float
    params: JsonDict = field(default_factory=dict)
    chat_id: int | None = None
    finished_at: float | None = None
    status: int | None = None
    description: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def shown(self) -> list[object]:
        """What the call asks Telegram to show a person: text, caption, keyboard, an album's items."""
        return [self.params[key] for key in _SHOWN if self.params.get(key) is not None]


_SHOWN = ("text", "caption", "reply_markup", "media")


@dataclass(frozen=True)
class RateLimits:
    """Telegram's flood limits; shrink the windows to test pacing quickly."""

    global_count: int = 30
    global_window: float = 1.0
    private_count: int = 1
    private_window: float = 1.0
    group_count: int = 20
    group_window: float = 60.0


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    retry_after: int
    status: int
    methods: frozenset[str] | None

    def applies_to(self, method: str) -> bool:
        return self.methods is None or method in self.methods


class ApiError(Exception):
    """An error answer: becomes {"ok": false, "error_code": ..., "description": ...}."""

    def __init__(
        self,
        code: int,
        description: str,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def to_json(self) -> JsonDict:
        data: JsonDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            data["parameters"] = {"retry_after": self.retry_after}
        elif self.migrate_to_chat_id is not None:
            data["parameters"] = {"migrate_to_chat_id": self.migrate_to_chat_id}
        return data


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")
