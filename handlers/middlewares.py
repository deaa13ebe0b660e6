"""Who is pressing, in which chat: resolved once per update, strangers refused in one place.

Every message and callback handler gets `actor` (the staff member), `chat_roles` and `chat_units` (what the
chat works as). A stranger's press is answered with a private toast; a stranger's message in a private chat
gets the explanation, and in a work group nothing at all: the bot does not answer every passer-by in public.

Two commands pass for strangers, with `actor` None (handlers.ids answers them): `/id` anywhere and `/start` in
a private chat, so whoever sets the bot up learns the ids to put in config.toml.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiogram import BaseMiddleware, Bot
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, Message, TelegramObject, User

from views import texts
from workflow.model import Actor, Role

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# The same filters handlers.ids registers: what passes here is answered there, nothing else reaches a handler.
_ANYONE = Command("id")
_STRANGER_IN_PRIVATE = CommandStart()


class StaffDirectory(Protocol):
    """The slice of the staff directory that handlers read."""

    def actor(self, user_id: int) -> Actor | None: ...

    def roles_of_chat(self, chat_id: int) -> tuple[set[Role], set[str]]: ...


class IdentifyPresser(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        directory: StaffDirectory = data["directory"]
        user: User | None
        if isinstance(event, CallbackQuery):
            chat = event.message.chat if event.message is not None else None
            user = event.from_user
        elif isinstance(event, Message):
            chat, user = event.chat, event.from_user
        else:
            return await handler(event, data)
        if user is None or user.is_bot:
            return None
        actor = directory.actor(user.id)
        private = chat is None or chat.type == ChatType.PRIVATE
        if actor is None and not await _open_to_strangers(event, data.get("bot"), private=private):
            await _refuse_stranger(event, private=private)
            return None
        chat_roles, chat_units = directory.roles_of_chat(chat.id if chat is not None else user.id)
        data.update(actor=actor, chat_roles=chat_roles, chat_units=chat_units)
        return await handler(event, data)


async def _open_to_strangers(event: CallbackQuery | Message, bot: Bot | None, *, private: bool) -> bool:
    if not isinstance(event, Message) or bot is None or not event.text:
        return False
    if await _ANYONE(event, bot):
        return True
    return private and bool(await _STRANGER_IN_PRIVATE(event, bot))


async def _refuse_stranger(event: CallbackQuery | Message, *, private: bool) -> None:
    if isinstance(event, CallbackQuery):
        await event.answer(texts.NOT_REGISTERED, show_alert=True)
    elif private:
        await event.answer(texts.NOT_REGISTERED, parse_mode=None)
