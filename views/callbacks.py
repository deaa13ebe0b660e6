"""Every button's callback data: typed aiogram `CallbackData` factories, versioned by their prefix.

A prefix names the layout of its fields (`c1` is version 1 of the case button): a changed layout gets a new
prefix, so a button drawn by an older build is refused as unknown instead of being misread. Each button carries
the case id and the case version it was drawn for, so a press on an old card is refused by the use case. The
unit multi-select keeps the selection in the data itself (a bit mask over the configured unit order): nothing to
store, nothing lost on a restart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from aiogram.filters.callback_data import CallbackData
from pydantic import BeforeValidator, Field

from workflow.lifecycle import Action
from workflow.model import MAX_ID

# A regional deployment's units (issue 16): a mask of 60 bits is at most 19 decimal digits, so a unit toggle
# stays within Telegram's 64 bytes of callback data for any case id and version below 10**17.
MAX_UNITS = 60
MAX_PAGES = 100  # pages of a paged keyboard (views/layout.py): 60 units never need more than 60

_ASCII_INT = re.compile(r"0|[1-9][0-9]{0,19}")  # what `pack` writes: no sign, no "_", no leading zeros


def _ascii_int(value: Any) -> Any:
    """Refuse what pydantic would otherwise read as a number: «²», Arabic-Indic or fullwidth digits, " 1",
    "+1", "1_0", "1.0", 10**30. Only the form `pack` itself writes is a number here."""
    if isinstance(value, str) and not _ASCII_INT.fullmatch(value):
        raise ValueError("not a number in canonical ASCII form")
    return value


def _bit(value: Any) -> Any:
    """A flag as `pack` writes it, "1" or "0" (pydantic would also take "yes", "on", "true"...)."""
    if isinstance(value, str) and value not in ("0", "1"):
        raise ValueError("not a 0/1 flag")
    return value


# Every number in a button is range-checked here, before it can reach SQL: ids and versions are positive
# 64-bit integers (BIGINT on PostgreSQL), masks and unit indexes stay within the configured units.
Id = Annotated[int, BeforeValidator(_ascii_int), Field(ge=1, le=MAX_ID)]
Mask = Annotated[int, BeforeValidator(_ascii_int), Field(ge=0, lt=1 << MAX_UNITS)]
UnitIndex = Annotated[int, BeforeValidator(_ascii_int), Field(ge=0, lt=MAX_UNITS)]
Flag = Annotated[bool, BeforeValidator(_bit)]
Page = Annotated[int, BeforeValidator(_ascii_int), Field(ge=0, lt=MAX_PAGES)]
# Dot-separated unit indexes, each unit at most once (checked by `keyboards.order_of`).
Seq = Annotated[
    str, Field(max_length=3 * MAX_UNITS, pattern=r"^(?:(?:0|[1-9][0-9]?)(?:\.(?:0|[1-9][0-9]?))*)?$")
]


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
    CLOSE = Action.CLOSE.value  # office head: asks for the reason, then closes
    LINK_REPEAT = Action.LINK_REPEAT.value  # «Повторное к № N»: the suggested earlier case, one press
    CHANGE_ROUTING = "change"  # office head: open the unit toggles to change the proposed routing
    SET_ORDER = "order"  # office head: open the order of officials (п.12.1) for the proposed units
    CANCEL = "cancel"  # close the toggles, back to the card's keyboard
    PUBLISH_NO_LINK = "nl_publish"  # the link prompt's «без ссылки»
    INTERIM_NO_LINK = "nl_interim"
    # Publication confirmed although units still owe information (RULES.md §6): the link prompt, its «без ссылки».
    PUBLISH_CONFIRMED = "publish_ok"
    PUBLISH_NO_LINK_CONFIRMED = "nl_publish_ok"
    # «Опубликовать» (issue 11): the approved answer goes to the item's network by itself; confirmed: although
    # units still owe information.
    PUBLISH_AUTO = "send"
    PUBLISH_AUTO_CONFIRMED = "send_ok"
    # «Опубликовать промежуточный» (п.11): the approved draft goes out as the interim answer.
    INTERIM_AUTO = "send_interim"
    # «Опубликовано вручную» of a publication left unclear (a dead run mid-send): the operator saw it went.
    SEEN_PUBLISHED = "seen"
    # Otklik's checks (issue 13): «Исключить (п.15)» with the findings as the reason, «Не исключать»; under a
    # draft the answer checks held, «Отправить всё равно» and «Исправить».
    SCREEN_EXCLUDE = "x_screen"
    SCREEN_KEEP = Action.SCREEN_KEEP.value
    SUBMIT_ANYWAY = "submit_ok"
    FIX_DRAFT = "fix"

    @property
    def action(self) -> Action | None:
        """The use case this verb runs by itself (None for keyboard steps)."""
        if self in NO_LINK:
            return NO_LINK[self]
        if self in (CaseVerb.PUBLISH_CONFIRMED, CaseVerb.PUBLISH_AUTO, CaseVerb.PUBLISH_AUTO_CONFIRMED):
            return Action.PUBLISH
        if self is CaseVerb.INTERIM_AUTO:
            return Action.INTERIM
        if self is CaseVerb.SEEN_PUBLISHED:
            return Action.PUBLISH
        if self is CaseVerb.SCREEN_EXCLUDE:
            return Action.EXCLUDE
        if self in (CaseVerb.SUBMIT_ANYWAY, CaseVerb.FIX_DRAFT):
            return Action.SUBMIT
        try:
            return Action(self.value)
        except ValueError:
            return None


NO_LINK: Mapping[CaseVerb, Action] = {
    CaseVerb.PUBLISH_NO_LINK: Action.PUBLISH,
    CaseVerb.INTERIM_NO_LINK: Action.INTERIM,
    CaseVerb.PUBLISH_NO_LINK_CONFIRMED: Action.PUBLISH,
}
# The verbs that queue the answer for its network (workflow/services/publishing.py).
AUTO_PUBLISH = frozenset({CaseVerb.PUBLISH_AUTO, CaseVerb.PUBLISH_AUTO_CONFIRMED, CaseVerb.INTERIM_AUTO})
# The verbs whose use case runs with `ActionPayload.confirm`.
CONFIRMED = frozenset({CaseVerb.PUBLISH_CONFIRMED, CaseVerb.PUBLISH_NO_LINK_CONFIRMED})


class CaseCb(CallbackData, prefix="c1"):
    verb: CaseVerb
    case_id: Id
    version: Id


class RouteCb(CallbackData, prefix="r2"):
    """The unit toggles (not `done`) at `page` of their keyboard; «Готово» (`done`) at `page` 0, or the ПОС
    responsible choice it opens at `page` (its «Ещё ▸» / «◂ Назад»). r1 had no page: an r1 button is unknown."""

    case_id: Id
    version: Id
    mask: Mask
    page: Page
    done: Flag


class OrderCb(CallbackData, prefix="o1"):
    """The order of officials being chosen: `seq` lists indices into the configured unit order, dot-separated."""

    case_id: Id
    version: Id
    seq: Seq
    done: Flag


class ResponsibleCb(CallbackData, prefix="p1"):
    case_id: Id
    version: Id
    mask: Mask
    responsible: UnitIndex  # index into the configured unit order


class WhichCaseCb(CallbackData, prefix="w1"):
    """«К какому сообщению?»: the person's plain message (the one the question replies to) is meant for this
    case. Nothing else is carried: the message is the question's reply_to_message at press time."""

    case_id: Id


class PosCategoryCb(CallbackData, prefix="pc1"):
    category: Annotated[str, Field(max_length=60)]


class PosNoDueCb(CallbackData, prefix="pd1"):
    """«Не указан» at the ПОС dialogue's due-date step: ПОС shows no due date of its own."""


class IntakeChoice(StrEnum):
    """The answer to the intake chat's question under a message: where it came from, or not to register it."""

    VK = "vk"
    OK = "ok"
    TELEGRAM = "telegram"
    CURATOR = "curator"  # handed over by the region curator of ЦУР (п.6)
    OTHER = "other"
    SKIP = "skip"  # chit-chat, not a citizen's message: nothing is registered


class IntakeCb(CallbackData, prefix="i1"):
    """A button of the intake question. No case and no message id: the question is a reply to the message, and
    Telegram hands that message over with the press (callback_query.message.reply_to_message)."""

    choice: IntakeChoice


class DetectedCb(CallbackData, prefix="d1"):
    """«Как в сообщении»: the ЦУР detection time is the hand-over's post time. Also names the case a typed
    answer to the same question is for (the question's keyboard comes with the reply)."""

    case_id: Id


CASE_BUTTONS = (CaseCb, RouteCb, OrderCb, ResponsibleCb)
CaseButton = CaseCb | RouteCb | OrderCb | ResponsibleCb


def canonical(data: CallbackData, raw: str | None) -> bool:
    """The data is exactly what `pack` writes for it: anything else was not drawn by this build."""
    return raw is not None and data.pack() == raw
