"""The inline keyboards of cards, unit choice, the ПОС responsible choice and prompts (data: `callbacks`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from views import texts
from views.callbacks import (
    CONFIRMED,
    NO_LINK,
    CaseCb,
    CaseVerb,
    OrderCb,
    PosCategoryCb,
    ResponsibleCb,
    RouteCb,
)
from workflow.lifecycle import Action, Status, available_actions
from workflow.model import Actor, Case, Procedure, Role

# Case actions asked for with a prompt (a reason or a link) before the use case runs.
NEEDS_REASON = frozenset({Action.REWORK, Action.EXCLUDE})
NEEDS_LINK = frozenset({Action.PUBLISH, Action.INTERIM})
# Units to choose before the use case runs.
NEEDS_UNITS = frozenset({Action.ROUTE})
MAX_UNITS = 30  # a mask of 30 bits stays a short decimal in 64 bytes of callback data


# The main step first, the exceptional ones (return, exclude, report) below.
_BUTTON_ORDER: list[Action] = [
    Action.ROUTE,
    Action.APPROVE_ROUTING,
    Action.ACCEPT,
    Action.DECLINE,
    Action.APPROVE,
    Action.REWORK,
    Action.PUBLISH,
    Action.INTERIM,
    Action.INFO,
    Action.SUBMIT,
    Action.RETURN,
    Action.EXCLUDE,
    Action.SIGNIFICANT,
    Action.CLOSE,
]


def chat_actor(roles: set[Role], units: set[str]) -> Actor:
    """What a chat as a whole may do: the keyboard a chat sees is its roles' actions in the case's status."""
    return Actor(user_id=0, roles=frozenset(roles), units=frozenset(units))


def _label(case: Case, action: Action) -> str | None:
    pos = case.procedure is Procedure.POS
    labels: dict[Action, str] = {
        Action.ROUTE: texts.BTN_ROUTE_POS if pos else texts.BTN_ROUTE,
        Action.RETURN: texts.BTN_RETURN,
        Action.EXCLUDE: texts.BTN_EXCLUDE_POS if pos else texts.BTN_EXCLUDE_OS,
        Action.SIGNIFICANT: texts.BTN_SIGNIFICANT,
        Action.APPROVE_ROUTING: texts.BTN_APPROVE_ROUTING,
        Action.ACCEPT: texts.BTN_ACCEPT,
        Action.DECLINE: texts.BTN_DECLINE,
        Action.APPROVE: texts.BTN_APPROVE,
        Action.REWORK: texts.BTN_REWORK,
        Action.PUBLISH: texts.BTN_PUBLISH,
        Action.INTERIM: texts.BTN_INTERIM,
    }
    # INFO / SUBMIT come as replies to the card; CLOSE is left to commands (one click must not end a case).
    return labels.get(action)


def card_keyboard(case: Case, roles: set[Role], units: set[str]) -> InlineKeyboardMarkup | None:
    if Status(case.status).final:
        return None
    rows: list[list[InlineKeyboardButton]] = []
    offered = available_actions(case, chat_actor(roles, units))
    for action in sorted(offered, key=_BUTTON_ORDER.index):
        label = _label(case, action)
        if label is None:
            continue
        data = CaseCb(verb=CaseVerb(action.value), case_id=case.id, version=case.version).pack()
        rows.append([InlineKeyboardButton(text=label, callback_data=data)])
        if action is Action.APPROVE_ROUTING:
            change = CaseCb(verb=CaseVerb.CHANGE_ROUTING, case_id=case.id, version=case.version).pack()
            rows.append([InlineKeyboardButton(text=texts.BTN_CHANGE_ROUTING, callback_data=change)])
            if len(case.proposed_units) > 1:
                order = CaseCb(verb=CaseVerb.SET_ORDER, case_id=case.id, version=case.version).pack()
                rows.append([InlineKeyboardButton(text=texts.BTN_SET_ORDER, callback_data=order)])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


# --- unit selection -----------------------------------------------------------------------------------------


def mask_of(selected: Sequence[str], order: Sequence[str]) -> int:
    return sum(1 << i for i, unit in enumerate(order[:MAX_UNITS]) if unit in selected)


def units_of(mask: int, order: Sequence[str]) -> tuple[str, ...] | None:
    """The units a mask selects in config order; None for a mask naming units that do not exist."""
    if mask < 0 or mask >> min(len(order), MAX_UNITS):
        return None
    return tuple(unit for i, unit in enumerate(order[:MAX_UNITS]) if mask >> i & 1)


def route_keyboard(case: Case, mask: int, units: Mapping[str, str]) -> InlineKeyboardMarkup:
    order = list(units)[:MAX_UNITS]
    rows: list[list[InlineKeyboardButton]] = []
    for i, unit in enumerate(order):
        name = units[unit]
        chosen = bool(mask >> i & 1)
        data = RouteCb(case_id=case.id, version=case.version, mask=mask ^ (1 << i), done=False).pack()
        label = texts.BTN_SELECTED.format(name=name) if chosen else name
        rows.append([InlineKeyboardButton(text=label, callback_data=data)])
    done = RouteCb(case_id=case.id, version=case.version, mask=mask, done=True).pack()
    cancel = CaseCb(verb=CaseVerb.CANCEL, case_id=case.id, version=case.version).pack()
    rows.append(
        [
            InlineKeyboardButton(text=texts.BTN_DONE, callback_data=done),
            InlineKeyboardButton(text=texts.BTN_CANCEL, callback_data=cancel),
        ]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


# --- the order of officials (open sources п.12.1) ------------------------------------------------------------


def seq_of(indices: Sequence[int]) -> str:
    return ".".join(str(i) for i in indices)


def order_of(seq: str, order: Sequence[str]) -> tuple[str, ...] | None:
    """The units a sequence names, in its order; None for a garbled one or a unit named twice or unknown."""
    if not seq:
        return ()
    try:
        indices = [int(part) for part in seq.split(".")]
    except ValueError:
        return None
    if len(set(indices)) != len(indices) or not all(0 <= i < min(len(order), MAX_UNITS) for i in indices):
        return None
    return tuple(order[i] for i in indices)


def order_keyboard(case: Case, chosen: Sequence[str], units: Mapping[str, str]) -> InlineKeyboardMarkup:
    """The proposed units: those placed first, numbered; a press on an unplaced one puts it next."""
    config = list(units)[:MAX_UNITS]
    placed = [config.index(u) for u in chosen if u in config]
    rows: list[list[InlineKeyboardButton]] = []
    for place, unit in enumerate(chosen, start=1):
        same = OrderCb(case_id=case.id, version=case.version, seq=seq_of(placed), done=False).pack()
        label = texts.BTN_SELECTED.format(name=texts.BTN_ORDER_PLACE.format(place=place, name=units[unit]))
        rows.append([InlineKeyboardButton(text=label, callback_data=same)])
    for unit in case.proposed_units:
        if unit in chosen or unit not in config:
            continue
        data = OrderCb(
            case_id=case.id, version=case.version, seq=seq_of([*placed, config.index(unit)]), done=False
        ).pack()
        rows.append([InlineKeyboardButton(text=units[unit], callback_data=data)])
    last: list[InlineKeyboardButton] = []
    if chosen and len(chosen) == len(case.proposed_units):
        done = OrderCb(case_id=case.id, version=case.version, seq=seq_of(placed), done=True).pack()
        last.append(InlineKeyboardButton(text=texts.BTN_DONE, callback_data=done))
    if chosen:
        reset = OrderCb(case_id=case.id, version=case.version, seq="", done=False).pack()
        last.append(InlineKeyboardButton(text=texts.BTN_ORDER_RESET, callback_data=reset))
    cancel = CaseCb(verb=CaseVerb.CANCEL, case_id=case.id, version=case.version).pack()
    last.append(InlineKeyboardButton(text=texts.BTN_CANCEL, callback_data=cancel))
    rows.append(last)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def responsible_keyboard(case: Case, mask: int, units: Mapping[str, str]) -> InlineKeyboardMarkup:
    order = list(units)[:MAX_UNITS]
    rows: list[list[InlineKeyboardButton]] = []
    for i, unit in enumerate(order):
        if mask >> i & 1:
            data = ResponsibleCb(case_id=case.id, version=case.version, mask=mask, responsible=i).pack()
            label = texts.BTN_RESPONSIBLE.format(name=units[unit])
            rows.append([InlineKeyboardButton(text=label, callback_data=data)])
    cancel = CaseCb(verb=CaseVerb.CANCEL, case_id=case.id, version=case.version).pack()
    rows.append([InlineKeyboardButton(text=texts.BTN_CANCEL, callback_data=cancel)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def no_link_keyboard(
    case_id: int, version: int, action: Action, *, confirmed: bool = False
) -> InlineKeyboardMarkup:
    key = next(k for k, a in NO_LINK.items() if a is action and (k in CONFIRMED) is confirmed)
    data = CaseCb(verb=key, case_id=case_id, version=version).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=texts.BTN_NO_LINK, callback_data=data)]]
    )


def confirm_publish_keyboard(case: Case) -> InlineKeyboardMarkup:
    """Publish although units still owe information, or go back to the card."""
    ok = CaseCb(verb=CaseVerb.PUBLISH_CONFIRMED, case_id=case.id, version=case.version).pack()
    cancel = CaseCb(verb=CaseVerb.CANCEL, case_id=case.id, version=case.version).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=texts.BTN_PUBLISH_CONFIRM, callback_data=ok)],
            [InlineKeyboardButton(text=texts.BTN_CANCEL, callback_data=cancel)],
        ]
    )


def category_keyboard(categories: Mapping[str, str]) -> InlineKeyboardMarkup:
    """`categories`: id -> Russian title, as rules.categories lists them."""
    rows = [
        [InlineKeyboardButton(text=title, callback_data=PosCategoryCb(category=cid).pack())]
        for cid, title in categories.items()
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)
