"""The staff's messenger of `otklik demo` (issue 15): Telegram's emulator or MAX's, seen through one small face.

The demo's director presses buttons and writes messages, and its transcript prints what every chat saw; both
need the same few things of either emulator. Each message is read into a `Seen` (its visible text, the label of
its file, its buttons with their callback data, its earlier versions), so the director and the transcript never
ask which messenger they are on, and the transcript's format is one for both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from bot.settings import MessengerSettings, TelegramSettings
from emulators.max import MaxEmulator, MaxMessage
from emulators.max import MessageVersion as MaxVersion
from emulators.staff import StaffEmulator, StaffMessage
from emulators.telegram import ChatMessage, TelegramEmulator, visible_text

Messenger = Literal["telegram", "max"]
MESSENGERS: tuple[Messenger, ...] = ("telegram", "max")
MESSENGER_NAMES: dict[Messenger, str] = {"telegram": "Telegram", "max": "MAX"}

T = TypeVar("T")


@dataclass(frozen=True)
class Button:
    text: str
    data: str | None  # the callback data (Telegram) or payload (MAX); None for a link


@dataclass(frozen=True)
class Version:
    """A message's content before an edit: its text and buttons."""

    text: str
    buttons: tuple[tuple[Button, ...], ...]


@dataclass(frozen=True)
class Seen:
    """A message as its reader sees it, whichever messenger carried it."""

    chat_id: int
    message_id: int
    date: int  # seconds since the epoch
    from_bot: bool
    from_id: int
    text: str  # what a person reads: the bot's text without tags, a person's text as typed
    media: str  # «[фото]», «[документ имя]», «[видео]» or ""
    buttons: tuple[tuple[Button, ...], ...]
    versions: tuple[Version, ...]  # earlier versions, oldest first
    reply_to: int | None  # the message id this one answers


class StaffChats(Protocol):
    """What the demo needs of the staff's messenger emulator."""

    kind: Messenger

    def add_user(self, user_id: int, first_name: str, last_name: str | None) -> None: ...

    def add_chat(self, chat_id: int, title: str) -> None: ...

    def history(self, chat_id: int) -> list[Seen]: ...

    def sent(self, chat_id: int) -> list[Seen]: ...

    def message(self, chat_id: int, message_id: int) -> Seen: ...

    def push_message(
        self, chat_id: int, user_id: int, text: str, *, reply_to: int | None = None, photo: bytes | None = None
    ) -> None: ...

    def push_callback(self, chat_id: int, user_id: int, message_id: int, data: str) -> None: ...

    @property
    def has_pending_updates(self) -> bool: ...

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T: ...

    def connection(self) -> tuple[str, str, MessengerSettings]:
        """The Telegram API's base and token the app is given, and the staff's messenger settings."""
        ...


def _media_label(msg: ChatMessage) -> str:
    if msg.photo:
        return "[фото]"
    if msg.document:
        return f"[документ {msg.document.get('file_name', '')}]".replace(" ]", "]")
    if msg.video:
        return "[видео]"
    return ""


def _telegram_buttons(rows: list[list[dict[str, Any]]]) -> tuple[tuple[Button, ...], ...]:
    return tuple(
        tuple(Button(str(b.get("text", "")), b.get("callback_data")) for b in row) for row in rows
    )


class _Staff:
    """What the demo asks alike of either emulator, through their shared test face (emulators/staff.py); a
    subclass reads one of its messages into a `Seen`."""

    emu: StaffEmulator

    def seen(self, msg: StaffMessage) -> Seen:
        raise NotImplementedError

    def history(self, chat_id: int) -> list[Seen]:
        return [self.seen(m) for m in self.emu.history(chat_id)]

    def sent(self, chat_id: int) -> list[Seen]:
        return [self.seen(m) for m in self.emu.sent(chat_id)]

    def message(self, chat_id: int, message_id: int) -> Seen:
        return self.seen(self.emu.message(chat_id, message_id))

    def push_message(
        self, chat_id: int, user_id: int, text: str, *, reply_to: int | None = None, photo: bytes | None = None
    ) -> None:
        # MAX's emulator keeps a photo as a file it serves by payload.url, as MAX does: the bot fetches it and
        # uploads it again when it passes it on.
        self.emu.push_message(chat_id, user_id, text, reply_to_message_id=reply_to, photo=photo)

    def push_callback(self, chat_id: int, user_id: int, message_id: int, data: str) -> None:
        self.emu.push_callback(chat_id, user_id, message_id, data)

    @property
    def has_pending_updates(self) -> bool:
        return bool(self.emu.pending_updates)

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        return await self.emu.wait_for(predicate, timeout=timeout)


class TelegramStaff(_Staff):
    """The staff in Telegram's emulator (the demo's default)."""

    kind: Messenger = "telegram"

    emu: TelegramEmulator

    def __init__(self, emu: TelegramEmulator) -> None:
        self.emu = emu

    def add_user(self, user_id: int, first_name: str, last_name: str | None) -> None:
        self.emu.add_user(user_id, first_name, last_name)

    def add_chat(self, chat_id: int, title: str) -> None:
        self.emu.add_chat(chat_id, None if chat_id > 0 else "supergroup", title=title)

    def seen(self, msg: StaffMessage) -> Seen:
        assert isinstance(msg, ChatMessage)
        versions = tuple(
            Version(visible_text(v), _telegram_buttons((v.reply_markup or {}).get("inline_keyboard", [])))
            for v in msg.edits
        )
        return Seen(
            chat_id=msg.chat_id, message_id=msg.message_id, date=msg.date, from_bot=msg.from_bot,
            from_id=msg.from_id, text=visible_text(msg) if msg.from_bot else (msg.text or ""),
            media=_media_label(msg), buttons=_telegram_buttons(msg.buttons), versions=versions,
            reply_to=msg.reply_to_message_id,
        )  # fmt: skip

    def connection(self) -> tuple[str, str, MessengerSettings]:
        return self.emu.base_url, self.emu.token, MessengerSettings()


def _max_buttons(rows: list[list[dict[str, Any]]]) -> tuple[tuple[Button, ...], ...]:
    return tuple(
        tuple(
            Button(str(b.get("text", "")), str(b["payload"]) if b.get("type") == "callback" else None)
            for b in row
        )
        for row in rows
    )


def _max_version_buttons(version: MaxVersion) -> tuple[tuple[Button, ...], ...]:
    for attachment in version.attachments:
        if attachment.get("type") == "inline_keyboard":
            return _max_buttons(attachment.get("payload", {}).get("buttons", []))
    return ()


def _max_media_label(msg: MaxMessage) -> str:
    kinds = [str(a.get("type")) for a in msg.attachments]
    if "image" in kinds:
        return "[фото]"
    for attachment in msg.attachments:
        if attachment.get("type") == "file":
            return f"[документ {attachment.get('filename', '')}]".replace(" ]", "]")
    if "video" in kinds:
        return "[видео]"
    return ""


class MaxStaff(_Staff):
    """The staff in MAX's emulator (`otklik demo --messenger max`), through the real MaxSession."""

    kind: Messenger = "max"

    emu: MaxEmulator

    def __init__(self, emu: MaxEmulator) -> None:
        self.emu = emu

    def add_user(self, user_id: int, first_name: str, last_name: str | None) -> None:
        self.emu.add_user(user_id, first_name, last_name)

    def add_chat(self, chat_id: int, title: str) -> None:
        self.emu.add_chat(chat_id, title=title)

    def seen(self, msg: StaffMessage) -> Seen:
        assert isinstance(msg, MaxMessage)
        versions = tuple(Version(v.plain_text, _max_version_buttons(v)) for v in msg.edits)
        return Seen(
            chat_id=msg.chat_id, message_id=msg.message_id, date=msg.timestamp // 1000, from_bot=msg.from_bot,
            from_id=msg.from_id, text=msg.plain_text if msg.from_bot else msg.text, media=_max_media_label(msg),
            buttons=_max_buttons(msg.buttons), versions=versions, reply_to=msg.reply_to_message_id,
        )  # fmt: skip

    def connection(self) -> tuple[str, str, MessengerSettings]:
        """No Telegram at all: no token (the app asks for none on MAX), Telegram's address left as configured."""
        messenger = MessengerSettings(
            kind="max", max_token=self.emu.token, max_api_base=self.emu.base_url, max_rate_limits=False
        )
        return TelegramSettings().api_base, "", messenger
