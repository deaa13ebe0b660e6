"""Who may see a case: the one rule behind /case, /find, /overdue and replies about a case.

Staff of the administration's offices (operator, curators, office head, head, coordinator) see every case; a
unit's people (unit officials, executors) see only the cases routed or proposed to their units. Whatever the
command, a case the person may not see is answered as one that does not exist.

What is shown in a group is shown to everyone in it (`audience`): in a unit's chat only what that unit may see,
whoever asks; in a group that serves no role or unit, nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from workflow.model import Actor, Case, Role

# Roles held for a unit: a person holding only these works on his units' cases alone.
UNIT_ROLES = frozenset({Role.UNIT_OFFICIAL, Role.EXECUTOR})


def seen_units(actor: Actor) -> frozenset[str] | None:
    """The units whose cases `actor` may see; None when he may see every case."""
    if actor.roles - UNIT_ROLES:
        return None
    return frozenset(actor.units)


def may_see_units(case_units: Collection[str], actor: Actor) -> bool:
    """Whether `actor` may see a case assigned or proposed to `case_units`."""
    units = seen_units(actor)
    return units is None or not units.isdisjoint(case_units)


def may_see(case: Case, actor: Actor) -> bool:
    return may_see_units((*case.units, *case.proposed_units), actor)


def audience(actor: Actor, chat_roles: Collection[Role], chat_units: Collection[str], *, private: bool) -> Actor:
    """Who sees what `actor` asks for in this chat, as an Actor for `seen_units` and `may_see` (never for acting).

    A private chat: the person. A chat serving an office role (the intake, the office head's, the head's, the
    curators' chats): the person, as the office staff in it see every case anyway. A unit's chat: the chat's
    units among those the person may see. A group serving nothing: no unit at all.
    """
    roles = frozenset(chat_roles)
    if private or roles - UNIT_ROLES:
        return actor
    own = seen_units(actor)
    units = frozenset(chat_units) if own is None else own & frozenset(chat_units)
    return replace(actor, roles=frozenset({Role.UNIT_OFFICIAL}), units=units)
