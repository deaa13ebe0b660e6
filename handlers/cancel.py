"""/cancel: ends whatever dialogue the person has in progress in this chat, and says what it ended.

A dialogue is the /pos registration (handlers.pos_intake) or a prompt the person's button press asked for (a
reason for a rework or a return, a publication link: handlers.buttons). A reply to a cancelled prompt is then
told so (handlers.replies), a press on its «Без ссылки» is refused. With nothing in progress: «Нечего отменять».
The router comes before the dialogue's steps, so /cancel (or «/Cancel», as a phone capitalises it) is never
taken as an answer.
"""

from __future__ import annotations

import contextlib

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import Message

from handlers.common import cancel_prompts
from handlers.pos_intake import cancel_dialogue
from views import texts


def router() -> Router:
    r = Router(name="cancel")
    r.message.register(on_cancel, Command("cancel", ignore_case=True))
    return r


async def on_cancel(message: Message, bot: Bot, state: FSMContext, fsm_storage: BaseStorage) -> None:
    if message.from_user is None:
        return
    lines: list[str] = []
    if await cancel_dialogue(state):
        lines.append(texts.POS_CANCEL)
    for message_id, prompt in await cancel_prompts(
        fsm_storage, bot.id, message.chat.id, message.from_user.id
    ):
        lines.append(texts.PROMPT_CANCELLED_DONE.format(what=prompt.action.label, case_id=prompt.case_id))
        # A link prompt's «Без ссылки» goes with it (a reason prompt's ForceReply cannot be taken back).
        with contextlib.suppress(Exception):
            await bot.edit_message_reply_markup(
                chat_id=message.chat.id, message_id=message_id, reply_markup=None
            )
    await message.answer("\n".join(lines) if lines else texts.NOTHING_TO_CANCEL, parse_mode=None)
