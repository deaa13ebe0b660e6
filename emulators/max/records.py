"""What the MAX emulator remembers: users, chats, messages and their versions, callbacks and their answers, calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]

TEXT_LIMIT = 4000  # characters a message (dev.max.ru: "до 4000 символов")
BUTTONS_LIMIT = 210  # buttons on one inline keyboard
ROWS_LIMIT = 30
ROW_BUTTONS_LIMIT = 7
REQUESTS_PER_SECOND = 30  # the platform API's limit for one bot


@dataclass
class MaxUser:
    user_id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    is_bot: bool = False

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def to_json(self) -> JsonDict:
        data: JsonDict = {
            "user_id": self.user_id,
            "first_name": self.first_name,
            "name": self.name,
            "is_bot": self.is_bot,
            "last_activity_time": 0,
        }
        if self.last_name is not None:
            data["last_name"] = self.last_name
        if self.username is not None:
            data["username"] = self.username
        return data


@dataclass
class MaxChat:
    """A group chat ("chat") or a user's dialog with the bot ("dialog")."""

    chat_id: int
    type: str  # "chat" | "dialog" | "channel"
    title: str | None = None
    dialog_with: int | None = None  # a dialog: the user's id
    members: dict[int, bool] = field(default_factory=dict)  # user id → is_admin
    owner_id: int | None = None
    bot_status: str = "active"  # the bot's membership: "active", "removed", "left"
    bot_is_admin: bool = False

    def to_json(self, bot_id: int) -> JsonDict:
        data: JsonDict = {
            "chat_id": self.chat_id,
            "type": self.type,
            "status": self.bot_status,
            "title": self.title,
            "icon": None,
            "last_event_time": 0,
            "participants_count": len(self.members) + (1 if self.bot_status == "active" else 0),
            "is_public": False,
            "description": None,
        }
        if self.owner_id is not None:
            data["owner_id"] = self.owner_id
        if self.dialog_with is not None:
            data["dialog_with_user"] = {"user_id": self.dialog_with}
        return data


@dataclass(frozen=True)
class MaxFile:
    """A file uploaded through ``POST /uploads`` (the bot's) or sent by a user, as the emulator keeps it."""

    type: str  # "image" | "file" | "video" | "audio": the attachment type it goes as
    name: str
    data: bytes
    token: str  # what a message's ``attachments[].payload.token`` names it by
    key: str  # its download path's last part: ``GET /files/{key}``

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class MessageVersion:
    """A message's content before an edit."""

    text: str
    format: str | None
    plain_text: str
    attachments: list[JsonDict]
    replaced_at: float


@dataclass
class MaxMessage:
    """A message in an emulated chat. ``text`` is what the sender sent (raw HTML under ``format: html``);
    ``plain_text`` is what a person reads."""

    chat_id: int
    mid: str
    seq: int
    from_id: int
    from_bot: bool
    timestamp: int  # ms
    text: str
    format: str | None = None
    plain_text: str = ""
    attachments: list[JsonDict] = field(default_factory=list)
    reply_to_mid: str | None = None
    reply_to_message_id: int | None = None  # the replied-to message's seq (the Telegram emulator's name)
    edits: list[MessageVersion] = field(default_factory=list)
    deleted: bool = False
    notify: bool = True
    files: list[MaxFile] = field(default_factory=list)  # its image/file/video/audio attachments, in order
    markup: list[JsonDict] = field(default_factory=list)  # MAX's {type, from, length} of the HTML text

    @property
    def message_id(self) -> int:
        """The number a test names the message by (its ``seq`` in the chat), as on the Telegram emulator."""
        return self.seq

    @property
    def buttons(self) -> list[list[JsonDict]]:
        """The inline keyboard rows, empty when there is none."""
        for attachment in self.attachments:
            if attachment.get("type") == "inline_keyboard":
                rows: list[list[JsonDict]] = attachment.get("payload", {}).get("buttons", [])
                return rows
        return []

    def callback_data(self, label: str) -> str | None:
        """The payload of the callback button ``label`` (None: no such button)."""
        for row in self.buttons:
            for button in row:
                if button.get("text") == label and button.get("type") == "callback":
                    return str(button["payload"])
        return None

    @property
    def formatting(self) -> list[str]:
        """The kinds of formatting a person sees, in order, in the neutral words of emulators/staff.py (the
        Telegram entity types): the markup MAX reports beside the plain text, mapped back."""
        return [_NEUTRAL.get(str(item["type"]), str(item["type"])) for item in self.markup]

    @property
    def silent(self) -> bool:
        """Delivered without a notification (``notify: false``)."""
        return not self.notify


# MAX's markup types in the neutral words of emulators/staff.py.
_NEUTRAL = {"strong": "bold", "emphasized": "italic", "monospaced": "code", "link": "link",
            "underline": "underline", "strikethrough": "strikethrough"}  # fmt: skip


def visible_text(msg: MaxMessage | MessageVersion) -> str:
    """The text exactly as a person reads it: HTML tags dropped, entities unescaped."""
    return msg.plain_text


@dataclass(frozen=True)
class CallbackAnswer:
    callback_id: str
    notification: str | None
    message: JsonDict | None  # the new body of the pressed message, when the answer carries one
    answered_at: float

    @property
    def text(self) -> str | None:
        """The notification a person sees (the Telegram emulator's ``CallbackAnswer.text``)."""
        return self.notification


@dataclass
class CallbackRecord:
    callback_id: str
    chat_id: int
    user_id: int
    mid: str
    payload: str
    answer: CallbackAnswer | None = None


@dataclass
class RequestRecord:
    method: str  # "POST /messages", "GET /updates", ...
    received_at: float
    status: int | None = None  # None while in flight
    code: str | None = None
    chat_id: int | None = None
    params: JsonDict = field(default_factory=dict)
    body: Any = None
    finished_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def shown(self) -> list[object]:
        """What the call asks MAX to show a person: text, attachments (a keyboard), a press's notification, the
        new body an answer carries."""
        if not isinstance(self.body, dict):
            return []
        return [self.body[key] for key in ("text", "attachments", "notification", "message")
                if self.body.get(key) is not None]  # fmt: skip


class MaxApiError(Exception):
    """An error answer of the platform API: HTTP status, a machine code and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def to_json(self) -> JsonDict:
        return {"code": self.code, "message": self.message}
