"""The OK emulator's `/_control/` API for tests and the demo: a citizen comments, writes, a comment goes, and
what the group published is read back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from emulators.control_json import PREFIX, body, guarded, string

if TYPE_CHECKING:
    from emulators.ok.server import OkEmulator


def control_routes(emu: OkEmulator) -> list[web.RouteDef]:
    async def comment(request: web.Request) -> web.StreamResponse:
        fields = await body(request)
        made = emu.comment(string(fields, "topic_id"), string(fields, "author_id"), string(fields, "text"),
                           name=str(fields.get("name") or ""))  # fmt: skip
        return web.json_response({"comment_id": made.id})

    async def delete(request: web.Request) -> web.StreamResponse:
        fields = await body(request)
        emu.delete(string(fields, "topic_id"), string(fields, "comment_id"))
        return web.json_response({"ok": True})

    async def edit(request: web.Request) -> web.StreamResponse:
        fields = await body(request)
        emu.edit(string(fields, "topic_id"), string(fields, "comment_id"), string(fields, "text"))
        return web.json_response({"ok": True})

    async def message(request: web.Request) -> web.StreamResponse:
        fields = await body(request)
        event = emu.message(string(fields, "user_id"), string(fields, "chat_id"), string(fields, "text"),
                            name=str(fields.get("name") or ""))  # fmt: skip
        return web.json_response({"mid": event["message"]["mid"]})

    async def answers(_request: web.Request) -> web.StreamResponse:
        comments = [{"topic_id": t, "comment_id": c.id, "reply_to": c.reply_to_comment_id, "text": c.text}
                    for t, c in emu.answers()]  # fmt: skip
        messages = [{"chat_id": m.chat_id, "text": m.text, "mid": m.mid} for m in emu.sent]
        return web.json_response({"comments": comments, "messages": messages})

    return [
        web.post(f"{PREFIX}/comment", guarded(comment)),
        web.post(f"{PREFIX}/delete", guarded(delete)),
        web.post(f"{PREFIX}/edit", guarded(edit)),
        web.post(f"{PREFIX}/message", guarded(message)),
        web.get(f"{PREFIX}/answers", guarded(answers)),
    ]
