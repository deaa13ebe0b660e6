"""aiogram routers: parse an update, call one use case, render the reply.

Handlers take their dependencies from the Dispatcher's workflow data: `services`, `directory`, `delivery`,
`calendar`, `rules` (and aiogram's own `bot`, `state`, `fsm_storage`); the middleware adds `actor`,
`chat_roles` and `chat_units`.
"""

from __future__ import annotations

from aiogram import Router

from handlers import buttons, commands, intake, pos_intake, replies
from handlers.errors import GuardHandlers
from handlers.middlewares import IdentifyPresser


def build_routers() -> list[Router]:
    """One root router: every handler guarded (an unexpected error answers the person, see handlers.errors),
    the presser identified for every message and press, then, in order, commands beat everything, the ПОС
    dialogue's states beat intake and replies, and the catch-all answer to unrecognised buttons comes last."""
    root = Router(name="otklik")
    guard, identify = GuardHandlers(), IdentifyPresser()
    for observer in (root.message, root.callback_query):
        observer.outer_middleware(guard)  # first registered: outermost, so it guards the middleware too
        observer.outer_middleware(identify)
    root.include_routers(
        commands.router(),
        pos_intake.router(),
        buttons.router(),
        intake.router(),  # before replies: an answer to its detection question is a reply to a bot message
        replies.router(),
        buttons.fallback_router(),
    )
    return [root]
