"""A loopback emulator of the Telegram Bot API: its HTML parser, what it records, and the server."""

from emulators.telegram.html import HtmlParseError, html_to_text, parse_html, utf16_len
from emulators.telegram.records import (
    ApiError,
    CallbackAnswer,
    CallbackQueryRecord,
    ChatMessage,
    EmuChat,
    EmuUser,
    FailureKind,
    MessageVersion,
    RateLimits,
    RequestRecord,
    StoredFile,
    visible_text,
)
from emulators.telegram.server import DEFAULT_TOKEN, TelegramEmulator

__all__ = [
    "DEFAULT_TOKEN",
    "ApiError",
    "CallbackAnswer",
    "CallbackQueryRecord",
    "ChatMessage",
    "EmuChat",
    "EmuUser",
    "FailureKind",
    "HtmlParseError",
    "MessageVersion",
    "RateLimits",
    "RequestRecord",
    "StoredFile",
    "TelegramEmulator",
    "html_to_text",
    "parse_html",
    "utf16_len",
    "visible_text",
]
