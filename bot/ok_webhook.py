"""Odnoklassniki's Bot API webhook (CHANNELS.md, OK): a group message posted to `/ok/webhook` is saved to the
inbox under its `message.mid` and only then answered 200, so OK's retry of an event it got no answer to is the
row already there. OK waits 5 s for the answer and retries; past 8 hours of failures it may drop the
subscription, so a down database answers 503 quickly rather than hanging.

OK signs nothing it posts: a secret in the subscribed URL's query (`?secret=…`, when configured) is what tells
OK from anyone else posting here.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.channel_reader import ChannelReader, save_pushed

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)


def ok_webhook_handler(
    reader: ChannelReader, *, secret: str = ""
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    from aiohttp import web  # aiohttp's server side only where a webhook is served (issue 16)

    async def handle(request: web.Request) -> web.StreamResponse:
        if secret and not hmac.compare_digest(request.query.get("secret", "").encode(), secret.encode()):
            log.warning("Одноклассники: webhook: неверный секрет (с адреса %s); отклонено", request.remote)
            return web.Response(status=403, text="forbidden")
        try:
            raw = await request.json()  # aiohttp refuses a body over its client_max_size (1 MiB) with 413
        except (ValueError, UnicodeDecodeError):
            log.warning("Одноклассники: webhook: тело запроса не JSON; отклонено")
            return web.Response(status=400, text="bad request")
        if not isinstance(raw, dict):
            log.warning("Одноклассники: webhook: тело запроса не объект; отклонено")
            return web.Response(status=400, text="bad request")
        # Not a citizen's item (the parser logged why): answered 200 all the same, or OK delivers it again.
        refused = await save_pushed(reader, raw)
        return refused if refused is not None else web.json_response({"success": True})

    return handle
