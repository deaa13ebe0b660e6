"""One INFO log line per business event, with the case number, for an administrator reading the log.

The domain does not log (tests/test_layers.py keeps frameworks and I/O out of it): the use cases that write
(registration and every action) are wrapped here, after their commit, and delivery (bot/delivery.py) logs each
notification sent or not delivered. `otklik run` uses these Services; the lines read, for example:

    № 12: зарегистрировано (telegram), Мария Иванова, id 11
    № 12: «Направить» — Мария Иванова, id 11; статус routed
"""

from __future__ import annotations

import logging
from typing import Any

from workflow.handover import HandOver
from workflow.lifecycle import Action
from workflow.model import Actor, InboundMessage, Network
from workflow.services import HandOverOutcome, Services
from workflow.services.cases import Outcome

log = logging.getLogger("otklik.events")


def _who(actor: Actor) -> str:
    return f"{actor.name}, id {actor.user_id}" if actor.name else f"id {actor.user_id}"


class LoggedServices(Services):
    """The same use cases; each committed registration and action is logged in one line."""

    async def register(self, *args: Any, **kwargs: Any) -> Outcome:
        outcome = await super().register(*args, **kwargs)
        if outcome.created:
            message = kwargs.get("message", args[0] if args else None)
            actor = kwargs.get("actor", args[1] if len(args) > 1 else None)
            source = getattr(getattr(message, "source", None), "value", "?")
            who = f", {_who(actor)}" if isinstance(actor, Actor) else ""
            log.info("№ %d: зарегистрировано (%s)%s", outcome.case.id, source, who)
        return outcome

    async def act(self, *args: Any, **kwargs: Any) -> Outcome:
        outcome = await super().act(*args, **kwargs)
        if not outcome.replayed:
            action = kwargs.get("action", args[1] if len(args) > 1 else None)
            actor = kwargs.get("actor", args[2] if len(args) > 2 else None)
            label = action.label if isinstance(action, Action) else str(action)
            who = _who(actor) if isinstance(actor, Actor) else "?"
            log.info("№ %d: «%s» — %s; статус %s", outcome.case.id, label, who, outcome.case.status)
        return outcome

    async def hand_over(
        self,
        message: InboundMessage,
        actor: Actor,
        handover: HandOver,
        *,
        item: tuple[Network, str] | None,
        origin: str,
    ) -> HandOverOutcome:
        outcome = await super().hand_over(message, actor, handover, item=item, origin=origin)
        if outcome.attached and outcome.created:
            moved = f", T0 {outcome.case.t0.isoformat()}" if outcome.moved else ", T0 не изменён"
            log.info("№ %d: присоединена передача ЦУР%s — %s", outcome.case.id, moved, _who(actor))
        return outcome
