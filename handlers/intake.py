"""The intake chat: a message (or forward) an operator posts there is a message handed over by the region
curator; it is registered as an open-source case and its card appears in the working chats."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from aiogram import Router
from aiogram.types import (
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
)

from handlers.replies import attachments_of
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import REGISTER_ROLES
from workflow.model import Actor, DomainError, InboundMessage, Procedure, Role, Source
from workflow.services import Services

# The detection time a ЦУР card states (п.10), e.g. «Выявлено: 01.12.2026 09:40» or «Дата выявления 01.12.2026,
# 09:40»: local time of the administration.
_DETECTED = re.compile(
    r"^\s*(?:выявлено(?:\s+цур)?|дата\s+и\s+время\s+выявления|дата\s+выявления|время\s+выявления)\s*:?\s*"
    r"([0-9]{2})\.([0-9]{2})\.([0-9]{4})[\s,]+([0-9]{1,2}):([0-9]{2})",  # ASCII digits
    re.IGNORECASE | re.MULTILINE,
)


def detected_in(text: str, tz: tzinfo) -> datetime | None:
    """The detection time a forwarded ЦУР card states, or None (then T0 is the post time)."""
    found = _DETECTED.search(text)
    if found is None:
        return None
    day, month, year, hour, minute = (int(g) for g in found.groups())
    try:
        return datetime(year, month, day, hour, minute, tzinfo=tz)
    except ValueError:
        return None


def router() -> Router:
    r = Router(name="intake")
    r.message.register(on_intake, _in_intake_chat)
    return r


def _in_intake_chat(message: Message, chat_roles: set[Role]) -> bool:
    if Role.OPERATOR not in chat_roles:
        return False
    if message.reply_to_message is not None or (message.text or "").startswith("/"):
        return False
    return bool(message.text or message.caption or message.photo or message.document or message.video)


def _origin(message: Message) -> tuple[str, str]:
    """(author, link) of a forwarded message, as far as Telegram tells."""
    origin = message.forward_origin
    if isinstance(origin, MessageOriginUser):
        return origin.sender_user.full_name, ""
    if isinstance(origin, MessageOriginHiddenUser):
        return origin.sender_user_name, ""
    if isinstance(origin, MessageOriginChannel):
        link = f"https://t.me/{origin.chat.username}/{origin.message_id}" if origin.chat.username else ""
        return origin.chat.title or "", link
    if isinstance(origin, MessageOriginChat):
        return origin.sender_chat.title or "", ""
    return "", ""


async def on_intake(message: Message, services: Services, actor: Actor, calendar: WorkingCalendar) -> None:
    if not actor.roles & set(REGISTER_ROLES[Procedure.OPEN_SOURCES]):
        return  # staff talking in the chat, not handing a message over
    author, link = _origin(message)
    text = message.text or message.caption or ""
    inbound = InboundMessage(
        source=Source.REGION_CURATOR,
        source_id=f"{message.chat.id}:{message.message_id}",
        procedure=Procedure.OPEN_SOURCES,
        text=text,
        received_at=message.date,
        # T0 is the ЦУР detection time when the card states one; the domain refuses a wrong one in one line.
        detected_at=detected_in(text, calendar.tz),
        author=author,
        link=link,
        attachments=attachments_of(message),
    )
    try:
        await services.register(inbound, actor)
    except DomainError as exc:
        await message.reply(exc.message, parse_mode=None)
        return
    # Already registered: the source id is this very chat message, so this is the same update handled again
    # (an inbox row re-handled after a crash or an outage); its card is there already, so nothing is said.
