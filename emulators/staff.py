"""What a test sees of a staff messenger's emulator, whichever messenger it is (issue 15): Telegram's or MAX's.

The e2e World and its tests speak only this. Where the two platforms differ in nature the form here is neutral:
requests by kind ("send", "edit", …) instead of Telegram's method names or MAX's "VERB /path"; failures by kind
("flood", "server_error") instead of Telegram's retry_after answers or MAX's bare 429; formatting as a list of
kinds ("bold", "link", …) instead of Telegram's entities or MAX's markup. Both emulators satisfy the Protocols
(mypy checks it at the end of this module).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

T = TypeVar("T")
JsonDict = dict[str, Any]

# What a bot's request does, in neutral words: post a message, edit one (text or keyboard), delete one, answer a
# button press, ask for updates, post a file.
CallKind = Literal["send", "edit", "delete", "answer", "poll", "send_file"]
# A failure injected into the next requests of a kind: the platform's "too many requests" (Telegram: 429 with
# retry_after; MAX: 429, which names no wait), a server error (500), a proxy's HTML 502 page, or the connection
# dropped before the request is served (nothing happened; the call's status is 0).
FailureKind = Literal["flood", "server_error", "bad_gateway", "disconnect"]
# Formatting kinds a person sees (Telegram's entity types; MAX's markup mapped to them).
FORMATTING = frozenset({"bold", "italic", "underline", "strikethrough", "code", "pre", "link"})


# What kind of file a message carries, as a person sees it.
FileKind = Literal["photo", "document", "video"]


@dataclass(frozen=True)
class ShownFile:
    """A file on a message: its kind, its name and its bytes (Telegram keeps one file id for a file passed on;
    MAX uploads it again under a new token, so tests compare bytes)."""

    kind: FileKind
    name: str
    data: bytes


class StaffVersion(Protocol):
    """A message's content before an edit."""

    @property
    def plain_text(self) -> str | None: ...


class StaffMessage(Protocol):
    """A message in an emulated chat, from a person or from the bot, named by its number in the chat."""

    @property
    def chat_id(self) -> int: ...
    @property
    def message_id(self) -> int: ...
    @property
    def from_bot(self) -> bool: ...
    @property
    def reply_to_message_id(self) -> int | None: ...
    @property
    def text(self) -> str | None: ...
    @property
    def plain_text(self) -> str | None: ...
    @property
    def deleted(self) -> bool: ...
    @property
    def buttons(self) -> list[list[JsonDict]]: ...
    @property
    def edits(self) -> Sequence[StaffVersion]: ...
    @property
    def formatting(self) -> list[str]: ...
    @property
    def silent(self) -> bool: ...
    def callback_data(self, label: str) -> str | None:
        """The data a press on the callback button ``label`` sends (None: no such button)."""
        ...


class StaffAnswer(Protocol):
    """The bot's answer to a press (the notification a person sees, if any)."""

    @property
    def text(self) -> str | None: ...


class StaffCallback(Protocol):
    @property
    def answer(self) -> StaffAnswer | None: ...


class StaffCall(Protocol):
    """One request of the bot: its status (None while in flight; 0 for a dropped connection) and chat."""

    @property
    def method(self) -> str: ...
    @property
    def status(self) -> int | None: ...
    @property
    def chat_id(self) -> int | None: ...
    @property
    def params(self) -> JsonDict: ...
    @property
    def shown(self) -> list[object]:
        """What the request asks the messenger to show a person, as sent: texts, captions, notifications,
        keyboards (a JSON string or an object, as the platform takes it)."""
        ...


class StaffEmulator(Protocol):
    """The test-facing API of a staff messenger's emulator. A chat is named as Otklik names it: a group by its
    (negative) id, a person's chat with the bot by the person's id."""

    @property
    def token(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def pending_updates(self) -> list[JsonDict]: ...
    @property
    def callbacks(self) -> Mapping[str, StaffCallback]: ...
    @property
    def text_limit(self) -> int:
        """The most a message's text may hold, in the platform's own measure (``text_length``)."""
        ...

    def text_length(self, text: str) -> int:
        """A text's length as the platform counts it against ``text_limit`` (Telegram: UTF-16 code units)."""
        ...

    def sent(self, chat_id: int) -> Sequence[StaffMessage]: ...
    def history(self, chat_id: int) -> Sequence[StaffMessage]: ...
    def message(self, chat_id: int, message_id: int) -> StaffMessage: ...
    def push_message(
        self, chat_id: int, user_id: int, text: str | None = None, reply_to_message_id: int | None = None,
        photo: bytes | None = None,
    ) -> StaffMessage:
        """A person writes; with ``photo`` they send a photo and ``text`` is its caption."""
        ...

    def files_of(self, msg: StaffMessage) -> list[ShownFile]:
        """The files a message carries, in order (a Telegram photo once, at its largest size)."""
        ...

    def push_callback(self, chat_id: int, user_id: int, message_id: int, data: str) -> str: ...
    def calls_of(self, kind: CallKind | None = None) -> Sequence[StaffCall]: ...
    def fail_next_of(
        self, kinds: Sequence[CallKind], count: int = 1, failure: FailureKind = "flood", *, retry_after: int = 1
    ) -> None:
        """The next ``count`` requests of these kinds fail. ``retry_after``: the wait a flood names where the
        platform names one (Telegram); MAX's 429 names none."""
        ...

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T: ...
    async def stop(self) -> None: ...


def visible_text(msg: StaffMessage | StaffVersion) -> str:
    """The text exactly as a person reads it: markup dropped, entities unescaped."""
    return msg.plain_text or ""


if TYPE_CHECKING:  # both emulators are staff emulators: mypy proves it here
    from emulators.max import MaxEmulator
    from emulators.telegram import TelegramEmulator

    def _telegram(emulator: TelegramEmulator) -> StaffEmulator:
        return emulator

    def _max(emulator: MaxEmulator) -> StaffEmulator:
        return emulator
