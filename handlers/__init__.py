"""aiogram routers: parse an update, call one use case, render the reply.

Handlers take their dependencies from the Dispatcher's workflow data: `services`, `directory`, `delivery`,
`calendar`, `rules` (and aiogram's own `bot`, `state`, `fsm_storage`); the middleware adds `actor`,
`chat_roles` and `chat_units`.
"""

from __future__ import annotations

from aiogram import Router

from handlers import buttons, commands, intake, pos_intake, replies
from handlers.middlewares import IdentifyPresser


def build_routers() -> list[Router]:
    """One root router: the presser identified for every message and press, then, in order, commands beat
    everything, the ПОС dialogue's states beat replies and intake, and the catch-all answer to unrecognised
    buttons comes last."""
    root = Router(name="otklik")
    identify = IdentifyPresser()
    root.message.outer_middleware(identify)
    root.callback_query.outer_middleware(identify)
    root.include_routers(
        commands.router(),
        pos_intake.router(),
        buttons.router(),
        replies.router(),
        intake.router(),
        buttons.fallback_router(),
    )
    return [root]
