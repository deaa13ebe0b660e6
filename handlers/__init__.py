"""aiogram routers: parse an update, call one use case, render the reply.

Handlers take their dependencies from the Dispatcher's workflow data: `services`, `directory`, `delivery`,
`calendar`, `rules` (and aiogram's own `bot`, `state`, `fsm_storage`).
"""

from __future__ import annotations

from aiogram import Router

from handlers import buttons, commands, intake, pos_intake, replies


def build_routers() -> list[Router]:
    """In order: commands beat everything; the ПОС dialogue's states beat replies and intake; the catch-all
    answer to unrecognised buttons comes last."""
    return [
        commands.router(),
        pos_intake.router(),
        buttons.router(),
        replies.router(),
        intake.router(),
        buttons.fallback_router(),
    ]
