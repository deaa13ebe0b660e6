"""Every button's callback data: typed aiogram `CallbackData` factories, versioned by their prefix.

A prefix names the layout of its fields (`c1` is version 1 of the case button): a changed layout gets a new
prefix, so a button drawn by an older build is refused as unknown instead of being misread. Each button carries
the case id and the case version it was drawn for, so a press on an old card is refused by the use case. The
unit multi-select keeps the selection in the data itself (a bit mask over the configured unit order): nothing to
store, nothing lost on a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from aiogram.filters.callback_data import CallbackData

from workflow.lifecycle import Action


class CaseVerb(StrEnum):
    """What a case button does: a use case (an `Action`) or a step of the keyboard itself."""

    ROUTE = Action.ROUTE.value
    APPROVE_ROUTING = Action.APPROVE_ROUTING.value
    RETURN = Action.RETURN.value
    DECLINE = Action.DECLINE.value
    ACCEPT = Action.ACCEPT.value
    APPROVE = Action.APPROVE.value
    REWORK = Action.REWORK.value
    PUBLISH = Action.PUBLISH.value
    INTERIM = Action.INTERIM.value
    EXCLUDE = Action.EXCLUDE.value
    SIGNIFICANT = Action.SIGNIFICANT.value
    CHANGE_ROUTING = "change"  # office head: open the unit toggles to change the proposed routing
    SET_ORDER = "order"  # office head: open the order of officials (п.12.1) for the proposed units
    CANCEL = "cancel"  # close the toggles, back to the card's keyboard
    PUBLISH_NO_LINK = "nl_publish"  # the link prompt's «без ссылки»
    INTERIM_NO_LINK = "nl_interim"
    # Publication confirmed although units still owe information (RULES.md §6): the link prompt, its «без ссылки».
    PUBLISH_CONFIRMED = "publish_ok"
    PUBLISH_NO_LINK_CONFIRMED = "nl_publish_ok"

    @property
    def action(self) -> Action | None:
        """The use case this verb runs by itself (None for keyboard steps)."""
        if self in NO_LINK:
            return NO_LINK[self]
        if self is CaseVerb.PUBLISH_CONFIRMED:
            return Action.PUBLISH
        try:
            return Action(self.value)
        except ValueError:
            return None


NO_LINK: Mapping[CaseVerb, Action] = {
    CaseVerb.PUBLISH_NO_LINK: Action.PUBLISH,
    CaseVerb.INTERIM_NO_LINK: Action.INTERIM,
    CaseVerb.PUBLISH_NO_LINK_CONFIRMED: Action.PUBLISH,
}
# The verbs whose use case runs with `ActionPayload.confirm`.
CONFIRMED = frozenset({CaseVerb.PUBLISH_CONFIRMED, CaseVerb.PUBLISH_NO_LINK_CONFIRMED})


class CaseCb(CallbackData, prefix="c1"):
    verb: CaseVerb
    case_id: int
    version: int


class RouteCb(CallbackData, prefix="r1"):
    case_id: int
    version: int
    mask: int
    done: bool


class OrderCb(CallbackData, prefix="o1"):
    """The order of officials being chosen: `seq` lists indices into the configured unit order, dot-separated."""

    case_id: int
    version: int
    seq: str
    done: bool


class ResponsibleCb(CallbackData, prefix="p1"):
    case_id: int
    version: int
    mask: int
    responsible: int  # index into the configured unit order


class PosCategoryCb(CallbackData, prefix="pc1"):
    category: str
