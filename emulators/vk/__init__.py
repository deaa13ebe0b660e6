"""A loopback emulator of the VK API and its Bots Long Poll: what it records, and the server."""

from emulators.vk.records import (
    ERROR_MESSAGES,
    CallbackAttempt,
    CallbackServer,
    Comment,
    FailureKind,
    Group,
    Message,
    Post,
    RequestRecord,
    Revision,
    StoredFile,
    Token,
    TokenKind,
    VkError,
    VkUser,
)
from emulators.vk.server import API_VERSION, DEFAULT_RATE_LIMIT, VkEmulator

__all__ = [
    "API_VERSION",
    "DEFAULT_RATE_LIMIT",
    "ERROR_MESSAGES",
    "CallbackAttempt",
    "CallbackServer",
    "Comment",
    "FailureKind",
    "Group",
    "Message",
    "Post",
    "RequestRecord",
    "Revision",
    "StoredFile",
    "Token",
    "TokenKind",
    "VkEmulator",
    "VkError",
    "VkUser",
]
