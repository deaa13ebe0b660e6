"""What every emulator's `/_control/` API shares: reading a JSON body's fields and answering a malformed
request 400 with the reason (emulators/telegram/control.py, emulators/vk/control.py).

Emulators import nothing of the product; this module is theirs alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

PREFIX = "/_control"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ControlError(Exception):
    """A malformed control request: answered 400 with the reason."""


def guarded(handler: Handler, *malformed: type[Exception]) -> Handler:
    """`handler` answering 400 with the reason for a malformed request (besides ControlError, ValueError and
    KeyError, the emulator's own `malformed` errors)."""
    caught: tuple[type[Exception], ...] = (ControlError, ValueError, KeyError, *malformed)

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except caught as exc:
            return web.json_response({"error": str(exc)}, status=400)

    return run


async def body(request: web.Request) -> dict[str, Any]:
    with contextlib.suppress(ValueError):
        value = await request.json()
        if isinstance(value, dict):
            return value
    raise ControlError("the body must be a JSON object")


def list_of(fields: dict[str, Any], key: str) -> list[Any]:
    value = fields.get(key)
    if not isinstance(value, list):
        raise ControlError(f"{key}: a JSON list")
    return value


def integer(fields: dict[str, Any], key: str) -> int:
    value = fields.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ControlError(f"{key}: an integer")
    return int(value)


def string(fields: dict[str, Any], key: str) -> str:
    value = fields.get(key)
    if not isinstance(value, str):
        raise ControlError(f"{key}: a string")
    return value
