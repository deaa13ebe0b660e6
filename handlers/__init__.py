"""aiogram routers: parse an update, call one use case, render the reply.

Handlers take their dependencies from the Dispatcher's workflow data: `services`, `directory`, `delivery`,
`calendar`, `rules`, `reporting` (and aiogram's own `bot`, `state`, `fsm_storage`); the middleware adds `actor`,
`chat_roles` and `chat_units`.
"""

from __future__ import annotations

from aiogram import Router

from handlers import buttons, cancel, commands, ids, intake, pos_intake, replies, reports
from handlers.errors import GuardHandlers
from handlers.middlewares import IdentifyPresser


def build_routers() -> list[Router]:
    """One root router: every handler guarded (an unexpected error answers the person, see handlers.errors),
    the presser identified for every message and press, then, in order, the set-up commands, commands beat
    everything, the ПОС dialogue's states beat intake and replies, and the catch-all answer to unrecognised
    buttons comes last."""
    root = Router(name="otklik")
    guard, identify = GuardHandlers(), IdentifyPresser()
    for observer in (root.message, root.callback_query):
        observer.outer_middleware(guard)  # first registered: outermost, so it guards the middleware too
        observer.outer_middleware(identify)
    root.my_chat_member.outer_middleware(guard)
    root.include_routers(
        ids.router(),  # /id for anyone and a stranger's /start: before the staff's own /start
        commands.router(),
        reports.router(),
        cancel.router(),  # before the dialogue's steps: /cancel is never an answer
        pos_intake.router(),
        buttons.router(),
        intake.router(),  # before replies: an answer to its detection question is a reply to a bot message
        replies.router(),
        buttons.fallback_router(),
    )
    return [root]
