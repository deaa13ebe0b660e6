"""The guard around every handler: an unexpected error answers the person and is logged in one line.

Without it an exception in a handler left the press unanswered (the spinner turns until Telegram gives up) and
filled the log with a traceback per update; 88 such crashes came out of 4,033 hostile updates. Now the press
gets «Не удалось выполнить, попробуйте ещё раз», the message a short reply, and the log one ERROR line with the
case number when one is known (the traceback only at DEBUG).

A failed call of the bot's own to Telegram (flood control, a network error, a deleted message to reply to) is
logged but not answered with «Не удалось»: it usually comes after the use case has committed (the handler's
reply is its last step), so the person's action did happen, and a second message into a flood wait would fail
the same way.

`StorageUnavailable` is not an error of the input: it passes through, so whoever holds the update (the inbox)
keeps it and handles it again once the database is back. aiogram's own control exceptions pass too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import CancelHandler, SkipHandler
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message, TelegramObject

from views import texts
from views.callbacks import CASE_BUTTONS
from workflow.ports import StorageUnavailable

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# The case the running handler works on, for the log line; set by the handlers as soon as they know it. A
# context variable because the handler runs in the guard's task: what it sets, the guard reads after it.
_CASE: ContextVar[int | None] = ContextVar("otklik_handler_case", default=None)
_MAX_MESSAGE = 300  # characters of the exception's message in the log line


def note_case(case_id: int) -> None:
    """Tell the guard which case this update is about (named in the log line if the handler fails)."""
    _CASE.set(case_id)


def _case_in(event: TelegramObject) -> int | None:
    """The case a press names in its data, if it is one of ours (for presses that fail before a handler)."""
    if isinstance(event, CallbackQuery) and event.data:
        for factory in CASE_BUTTONS:
            try:
                return factory.unpack(event.data).case_id
            except (TypeError, ValueError):
                continue
    return None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


class GuardHandlers(BaseMiddleware):
    """Outermost middleware of the root router, for messages and presses alike."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        token = _CASE.set(None)
        try:
            return await handler(event, data)
        except (StorageUnavailable, SkipHandler, CancelHandler):
            raise
        except TelegramAPIError as exc:
            case_id = _CASE.get() or _case_in(event)
            where = f"case {case_id}" if case_id is not None else "no case"
            log.warning(
                "Telegram refused the bot's call (%s): %s: %s", where, type(exc).__name__, _one_line(exc)
            )
            return None
        except Exception as exc:
            case_id = _CASE.get() or _case_in(event)
            where = f"case {case_id}" if case_id is not None else "no case"
            kind = "press" if isinstance(event, CallbackQuery) else "message"
            log.error("%s failed (%s): %s: %s", kind, where, type(exc).__name__, _one_line(exc))
            log.debug("traceback of the %s failure above", kind, exc_info=True)
            await _answer_failure(event)
            return None
        finally:
            _CASE.reset(token)


async def _answer_failure(event: TelegramObject) -> None:
    try:
        if isinstance(event, CallbackQuery):
            await event.answer(texts.FAILED, show_alert=True)
        elif isinstance(event, Message):
            await event.reply(texts.FAILED, parse_mode=None)
    except Exception as exc:  # already answered, or Telegram is what failed: the log line above says enough
        log.debug("could not tell the person about the failure: %s", _one_line(exc))
