"""A loopback emulator of the MAX Bot API (platform-api.max.ru): what it records, and the server."""

from emulators.max.records import (
    BUTTONS_LIMIT,
    REQUESTS_PER_SECOND,
    TEXT_LIMIT,
    CallbackAnswer,
    CallbackRecord,
    MaxApiError,
    MaxChat,
    MaxMessage,
    MaxUser,
    MessageVersion,
    RequestRecord,
    visible_text,
)
from emulators.max.server import DEFAULT_BOT_ID, DEFAULT_TOKEN, DIALOG_BASE, MaxEmulator

__all__ = [
    "BUTTONS_LIMIT",
    "DEFAULT_BOT_ID",
    "DEFAULT_TOKEN",
    "DIALOG_BASE",
    "REQUESTS_PER_SECOND",
    "TEXT_LIMIT",
    "CallbackAnswer",
    "CallbackRecord",
    "MaxApiError",
    "MaxChat",
    "MaxEmulator",
    "MaxMessage",
    "MaxUser",
    "MessageVersion",
    "RequestRecord",
    "visible_text",
]
