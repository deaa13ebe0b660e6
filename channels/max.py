"""MAX as a citizens' channel (issue 15 item 3): a citizen's dialog with the administration's MAX bot, and the
messages of the administration's MAX group chat when one is named, become cases; answers go back as replies.

The aiogram Messages MaxSession (bot/max_session.py) hands over look like Telegram's private and group messages,
so `channels.telegram.citizen_item` and `TelegramPublisher` do the work; this module holds what is MAX's own:
the network, the 4,000-character limit, the links (none: MAX publishes no link format for a dialog's or a
group's message [?]), which messages are a citizen's, and how MAX words its refusals.

Natural keys are "<chat id>:<message id>" as aiogram sees them: a dialog is named by the citizen's user id, a
message by its seq (the session keeps the mid each stands for, so the reply finds it after restarts).

What the MAX Bot API lets a bot read of a *channel* (comments under its posts) is not documented [?]: only
dialogs and group chats are read here.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot
from aiogram.types import Message

from channels.telegram import Messenger, OnGone, TelegramPublisher, Where
from workflow.model import Network
from workflow.ports import Clock

ANSWER_LIMIT = 4000  # characters a MAX message (dev.max.ru)


@dataclass(frozen=True, slots=True)
class MaxChannelConfig:
    """What the citizens' intake router needs of `[channels.max]`."""

    group_id: int | None = None  # the administration's MAX group chat whose members' messages are cases
    direct_messages: bool = True
    # A «Начать» press (/start without a payload) is greeted: true when no staff router runs on this bot
    # (the staff on Telegram); with the staff on MAX it gets the set-up answer (handlers.ids), as on Telegram.
    greet_any_start: bool = False

    @property
    def via(self) -> Messenger:
        return MAX


def where_from(message: Message, config: MaxChannelConfig, *, bot_id: int) -> Where | None:
    """Whether this MAX message is a citizen's item: a message in his dialog with the bot (PRIVATE), or in the
    administration's group (COMMENT); None for the bot's own and other bots' messages, commands and every
    other chat. Staff are told apart by the caller, from the staff directory."""
    user = message.from_user
    if user is None or user.id == bot_id or user.is_bot:
        return None
    if (message.text or "").startswith("/"):
        return None
    if config.group_id is not None and message.chat.id == config.group_id:
        return Where.COMMENT
    if message.chat.type == "private" and message.chat.id == user.id and config.direct_messages:
        return Where.PRIVATE
    return None


def _no_link(message: Message, thread: int | None = None) -> str:
    return ""


def _reply_gone(text: str) -> bool:
    # The platform's answer to a reply whose message is gone (the emulator's wording; MAX's own is not
    # documented [?]): «link.mid: message not found».
    return "link.mid" in text and "not found" in text


def _forbidden_reason(text: str) -> str:
    lowered = text.lower()
    if "chat.denied" in lowered or "not a member" in lowered:
        return "автор остановил бота или удалил диалог с ним"
    if "not.found" in lowered or "not found" in lowered:
        return "диалога с автором больше нет"
    return "MAX запрещает боту писать автору"


MAX = Messenger(
    network=Network.MAX,
    name="MAX",
    answer_limit=ANSWER_LIMIT,
    item_link=_no_link,
    sent_link=_no_link,
    reply_gone=_reply_gone,
    forbidden_reason=_forbidden_reason,
    gone_hint=(
        "Сообщение удалено в MAX, ответить на него нельзя: напишите автору вручную и нажмите «Опубликовано "
        "вручную», или закройте обращение как снятое автором."
    ),
)


class MaxPublisher(TelegramPublisher):
    """The approved answer as a reply in the citizen's dialog (or to his message in the group), through the
    citizens' MAX bot. MAX takes no idempotency key [?]: as on Telegram, a claim a dead run left and a failure
    that may have posted the answer are the operator's to settle."""

    rate_per_second = 1.0  # no per-chat rule is documented [?]; one answer at a time is far below 30/s

    def __init__(self, bot: Bot, clock: Clock, *, on_gone: OnGone | None = None) -> None:
        super().__init__(bot, clock, on_gone=on_gone, via=MAX)
