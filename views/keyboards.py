"""The inline keyboards of cards, unit choice, the ПОС responsible choice and prompts (data: `callbacks`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from views import texts
from views.callbacks import (
    AUTO_PUBLISH,
    CONFIRMED,
    MAX_UNITS,
    NO_LINK,
    CaseButton,
    CaseCb,
    CaseVerb,
    DetectedCb,
    IntakeCb,
    IntakeChoice,
    OrderCb,
    PosCategoryCb,
    PosNoDueCb,
    ResponsibleCb,
    RouteCb,
    WhichCaseCb,
)
from views.layout import TELEGRAM_KEYBOARD, Item, KeyboardLimits, Row, laid_out, page_count
from workflow.intake_review import point
from workflow.lifecycle import SCREEN_PENDING, Action, Status, available_actions
from workflow.model import Actor, Case, Network, Procedure, Role
from workflow.ports import ACTIVE_PUBLICATION, FAILED, INTERIM_ANSWER, UNCLEAR, Publication
from workflow.services.publishing import channel_network, current_publication
from workflow.services.queries import CardView

# Case actions asked for with a prompt (a reason or a link) before the use case runs.
NEEDS_REASON = frozenset({Action.REWORK, Action.EXCLUDE, Action.CLOSE})  # «Закрыть» asks why first
NEEDS_LINK = frozenset({Action.PUBLISH, Action.INTERIM})
# Units to choose before the use case runs.
NEEDS_UNITS = frozenset({Action.ROUTE})


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
    Action.LINK_REPEAT,
    Action.RETURN,
    Action.EXCLUDE,
    Action.SCREEN_KEEP,
    Action.SIGNIFICANT,
    Action.CLOSE,
    Action.SET_DETECTED,  # no button: answered in the intake chat (handlers.intake)
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
        Action.CLOSE: texts.BTN_CLOSE,  # asks for the reason first: one click never ends a case
        Action.SCREEN_KEEP: texts.BTN_SCREEN_KEEP,
    }
    if action is Action.LINK_REPEAT and case.repeat_suggested is not None:
        return texts.BTN_LINK_REPEAT.format(case_id=case.repeat_suggested)
    # INFO / SUBMIT come as replies to the card; REOPEN is a command (a closed card has no buttons).
    return labels.get(action)


def card_verbs(
    case: Case,
    roles: set[Role],
    units: set[str],
    *,
    channel: Network | None = None,
    publication: Publication | None = None,
) -> tuple[CaseVerb, ...]:
    """The buttons the card shows in a chat serving `roles`/`units`, in order.

    The one list both the card keyboard is drawn from and every press is checked against (`offered`): forged
    button data can only do what the card in that chat offers, whatever the presser's roles elsewhere.
    `channel`: the network the case's item came from (issue 11): «Опубликовать» goes next to «Опубликовано
    вручную» (and «Опубликовать промежуточный» next to the interim one) while no publication is on its way;
    while one is, none of them is offered.
    """
    if Status(case.status).final:
        return ()
    verbs: list[CaseVerb] = []
    actions = available_actions(case, chat_actor(roles, units))
    if case.draft_held and Action.SUBMIT in actions:
        # A draft the answer checks held waits for its submitter: the card answers it too (a lost reply).
        verbs += [CaseVerb.SUBMIT_ANYWAY, CaseVerb.FIX_DRAFT]
    for action in sorted(actions, key=_BUTTON_ORDER.index):
        if _label(case, action) is None:
            continue
        verbs.append(CaseVerb(action.value))
        if action is Action.APPROVE_ROUTING:
            verbs.append(CaseVerb.CHANGE_ROUTING)
            if len(case.proposed_units) > 1:
                verbs.append(CaseVerb.SET_ORDER)
    if channel is not None and CaseVerb.PUBLISH in verbs:
        verbs = _with_publishing(verbs, current_publication(case, publication))
    return tuple(_with_checks(case, verbs))


def _with_checks(case: Case, verbs: list[CaseVerb]) -> list[CaseVerb]:
    """What the screening found goes first (issue 13): a significant topic puts the report to the head on top;
    a warning, «Исключить (п.15)» (one tap, the findings are the reason) and «Не исключать» right after it."""
    top: list[CaseVerb] = []
    if _suggests_report(case) and CaseVerb.SIGNIFICANT in verbs:
        top.append(CaseVerb.SIGNIFICANT)
    if case.screening == SCREEN_PENDING and CaseVerb.EXCLUDE in verbs:
        top.append(CaseVerb.SCREEN_EXCLUDE)
        if CaseVerb.SCREEN_KEEP in verbs:
            top.append(CaseVerb.SCREEN_KEEP)
    return [*top, *(v for v in verbs if v not in top)]


def _suggests_report(case: Case) -> bool:
    return case.suggest_significant and not case.significant

def _with_publishing(verbs: list[CaseVerb], publication: Publication | None) -> list[CaseVerb]:
    if publication is not None and publication.state in ACTIVE_PUBLICATION:
        return [v for v in verbs if v not in (CaseVerb.PUBLISH, CaseVerb.INTERIM)]
    if publication is not None and publication.state == UNCLEAR:
        # Nobody knows whether it went: «Опубликовать снова» or «Опубликовано вручную», each one press.
        again = CaseVerb.INTERIM_AUTO if publication.kind == INTERIM_ANSWER else CaseVerb.PUBLISH_AUTO
        at = verbs.index(CaseVerb.PUBLISH)
        rest = [v for v in verbs if v not in (CaseVerb.PUBLISH, CaseVerb.INTERIM)]
        return [*rest[:at], again, CaseVerb.SEEN_PUBLISHED, *rest[at:]]
    if publication is None or publication.state == FAILED:
        auto = {CaseVerb.PUBLISH: CaseVerb.PUBLISH_AUTO, CaseVerb.INTERIM: CaseVerb.INTERIM_AUTO}
        return [x for v in verbs for x in ((auto[v], v) if v in auto else (v,))]
    return verbs  # undeliverable: by hand only


def _verb_label(case: Case, verb: CaseVerb, verbs: Sequence[CaseVerb] = ()) -> str:
    """«Опубликовано вручную» only next to «Опубликовать» (the pair tells them apart); alone, «Опубликовано»."""
    unclear = CaseVerb.SEEN_PUBLISHED in verbs
    if verb in (CaseVerb.PUBLISH_AUTO, CaseVerb.INTERIM_AUTO) and unclear:
        return texts.BTN_PUBLISH_AGAIN
    if verb is CaseVerb.SEEN_PUBLISHED:
        return texts.BTN_INTERIM_MANUAL if CaseVerb.INTERIM_AUTO in verbs else texts.BTN_PUBLISH_MANUAL
    if verb is CaseVerb.PUBLISH_AUTO:
        return texts.BTN_PUBLISH_AUTO
    if verb is CaseVerb.INTERIM_AUTO:
        return texts.BTN_INTERIM_AUTO
    if verb is CaseVerb.PUBLISH and CaseVerb.PUBLISH_AUTO in verbs:
        return texts.BTN_PUBLISH_MANUAL
    if verb is CaseVerb.INTERIM and CaseVerb.INTERIM_AUTO in verbs:
        return texts.BTN_INTERIM_MANUAL
    if verb is CaseVerb.CHANGE_ROUTING:
        return texts.BTN_CHANGE_ROUTING
    if verb is CaseVerb.SET_ORDER:
        return texts.BTN_SET_ORDER
    if verb is CaseVerb.SCREEN_EXCLUDE:
        return texts.BTN_SCREEN_EXCLUDE.format(point=point(case.procedure))
    if verb is CaseVerb.SUBMIT_ANYWAY:
        return texts.BTN_SUBMIT_ANYWAY
    if verb is CaseVerb.FIX_DRAFT:
        return texts.BTN_FIX_DRAFT
    if verb is CaseVerb.SIGNIFICANT and _suggests_report(case):
        return texts.BTN_SIGNIFICANT_SUGGESTED
    label = _label(case, Action(verb.value))
    assert label is not None  # card_verbs lists labelled actions only
    return label


def card_keyboard(
    case: Case,
    roles: set[Role],
    units: set[str],
    *,
    channel: Network | None = None,
    publication: Publication | None = None,
) -> InlineKeyboardMarkup | None:
    verbs = card_verbs(case, roles, units, channel=channel, publication=publication)
    rows = [
        [
            InlineKeyboardButton(
                text=_verb_label(case, verb, verbs),
                callback_data=CaseCb(verb=verb, case_id=case.id, version=case.version).pack(),
            )
        ]
        for verb in verbs
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def view_keyboard(view: CardView, roles: set[Role], units: set[str]) -> InlineKeyboardMarkup | None:
    """The card keyboard of a case as read for its card (the item's network and its publication known)."""
    return card_keyboard(
        view.case, roles, units, channel=channel_network(view.message), publication=view.publication
    )


# --- what a press may do ----------------------------------------------------------------------------------


def well_formed(data: CaseButton, order: Sequence[str]) -> bool:
    """The data names only configured units, each once, as the keyboards draw them (else: not our button)."""
    if isinstance(data, RouteCb):
        return units_of(data.mask, order) is not None
    if isinstance(data, OrderCb):
        return order_of(data.seq, order) is not None
    if isinstance(data, ResponsibleCb):
        selected = units_of(data.mask, order)
        return selected is not None and data.responsible < len(order) and order[data.responsible] in selected
    return True


def offered(data: CaseButton, case: Case, roles: set[Role], units: set[str], order: Sequence[str]) -> bool:
    """Whether a keyboard drawn for the case as it is now, in a chat serving `roles`/`units`, has this button.

    The card's buttons come from `card_verbs`; the keyboards they open (unit toggles, the order of officials,
    the ПОС responsible, the link prompt, the publication confirmation) are offered only with the button that
    opens them, and only with what they show (proposed units, a complete order). The version is not checked
    here: a button of an older card is the use case's to refuse («устарела», «уже согласовано»).
    """
    verbs = set(card_verbs(case, roles, units))
    if isinstance(data, CaseCb):
        verb = data.verb
        if verb is CaseVerb.CANCEL:
            return True  # it only redraws this chat's own card keyboard for the case as it is
        if verb in NO_LINK:
            return CaseVerb(NO_LINK[verb].value) in verbs
        if verb is CaseVerb.INTERIM_AUTO:
            return CaseVerb.INTERIM in verbs
        if verb is CaseVerb.SEEN_PUBLISHED:  # the use case refuses it unless a publication is left unclear
            return CaseVerb.PUBLISH in verbs or CaseVerb.INTERIM in verbs
        if verb is CaseVerb.PUBLISH_CONFIRMED or verb in AUTO_PUBLISH:
            # «Опубликовать» goes with «Опубликовано»; the use case refuses it where the item's network,
            # or a publication on its way, says no.
            return CaseVerb.PUBLISH in verbs
        return verb in verbs
    if isinstance(data, RouteCb):
        return CaseVerb.ROUTE in verbs or CaseVerb.CHANGE_ROUTING in verbs
    if isinstance(data, OrderCb):
        chosen = order_of(data.seq, order)
        if CaseVerb.SET_ORDER not in verbs or chosen is None or not set(chosen) <= set(case.proposed_units):
            return False
        return not data.done or len(chosen) == len(case.proposed_units)
    selected = units_of(data.mask, order) or ()
    return CaseVerb.ROUTE in verbs and case.procedure is Procedure.POS and len(selected) > 1


def pressed_action(data: CaseButton) -> Action:
    """The use case a button leads to (for the refusal of one not offered: the domain's reason if it has one)."""
    if isinstance(data, CaseCb):
        return data.verb.action or Action.APPROVE_ROUTING  # change / order open the office head's approval
    if isinstance(data, OrderCb):
        return Action.APPROVE_ROUTING
    return Action.ROUTE


# --- unit selection -----------------------------------------------------------------------------------------


def mask_of(selected: Sequence[str], order: Sequence[str]) -> int:
    return sum(1 << i for i, unit in enumerate(order[:MAX_UNITS]) if unit in selected)


def units_of(mask: int, order: Sequence[str]) -> tuple[str, ...] | None:
    """The units a mask selects in config order; None for a mask naming units that do not exist."""
    if mask < 0 or mask >> min(len(order), MAX_UNITS):
        return None
    return tuple(unit for i, unit in enumerate(order[:MAX_UNITS]) if mask >> i & 1)


def _unit_item(name: str, chosen: bool, data: str) -> Item:
    label = texts.BTN_SELECTED.format(name=name) if chosen else name
    widest = len(texts.BTN_SELECTED.format(name=name))  # laid out as if chosen: a toggle never moves a button
    return Item(InlineKeyboardButton(text=label, callback_data=data), widest)


def _route_items(case: Case, mask: int, units: Mapping[str, str], page: int) -> list[Item]:
    order = list(units)[:MAX_UNITS]
    return [
        _unit_item(
            units[unit],
            bool(mask >> i & 1),
            RouteCb(case_id=case.id, version=case.version, mask=mask ^ (1 << i), page=page, done=False).pack(),
        )
        for i, unit in enumerate(order)
    ]


def _route_tail(case: Case, mask: int) -> list[Row]:
    done = RouteCb(case_id=case.id, version=case.version, mask=mask, page=0, done=True).pack()
    cancel = CaseCb(verb=CaseVerb.CANCEL, case_id=case.id, version=case.version).pack()
    return [
        [
            InlineKeyboardButton(text=texts.BTN_DONE, callback_data=done),
            InlineKeyboardButton(text=texts.BTN_CANCEL, callback_data=cancel),
        ]
    ]


def route_pages(case: Case, mask: int, units: Mapping[str, str], limits: KeyboardLimits) -> int:
    """How many pages the unit toggles take on this messenger (a press naming another page is not ours)."""
    return page_count(_route_items(case, mask, units, 0), _route_tail(case, mask), limits)


def route_keyboard(
    case: Case, mask: int, units: Mapping[str, str], limits: KeyboardLimits = TELEGRAM_KEYBOARD, page: int = 0
) -> InlineKeyboardMarkup | None:
    """The unit toggles, within the messenger's `limits` (packed, then paged); None for a page it lacks."""
    if not 0 <= page < route_pages(case, mask, units, limits):  # before any data is drawn for it
        return None
    rows = laid_out(
        _route_items(case, mask, units, page),
        _route_tail(case, mask),
        limits,
        page=page,
        to_page=lambda n: RouteCb(case_id=case.id, version=case.version, mask=mask, page=n, done=False).pack(),
    )
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows is not None else None


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


def _responsible_parts(case: Case, mask: int, units: Mapping[str, str]) -> tuple[list[Item], list[Row]]:
    order = list(units)[:MAX_UNITS]
    items = []
    for i, unit in enumerate(order):
        if mask >> i & 1:
            data = ResponsibleCb(case_id=case.id, version=case.version, mask=mask, responsible=i).pack()
            label = texts.BTN_RESPONSIBLE.format(name=units[unit])
            items.append(Item(InlineKeyboardButton(text=label, callback_data=data), len(label)))
    cancel = CaseCb(verb=CaseVerb.CANCEL, case_id=case.id, version=case.version).pack()
    return items, [[InlineKeyboardButton(text=texts.BTN_CANCEL, callback_data=cancel)]]


def responsible_pages(case: Case, mask: int, units: Mapping[str, str], limits: KeyboardLimits) -> int:
    return page_count(*_responsible_parts(case, mask, units), limits)


def responsible_keyboard(
    case: Case, mask: int, units: Mapping[str, str], limits: KeyboardLimits = TELEGRAM_KEYBOARD, page: int = 0
) -> InlineKeyboardMarkup | None:
    """The ПОС responsible among the chosen units, within `limits`; its pages are «Готово» of the toggles
    at that page (RouteCb done). None for a page it lacks."""
    items, tail = _responsible_parts(case, mask, units)
    rows = laid_out(
        items,
        tail,
        limits,
        page=page,
        to_page=lambda n: RouteCb(case_id=case.id, version=case.version, mask=mask, page=n, done=True).pack(),
    )
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows is not None else None


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


def confirm_auto_publish_keyboard(case: Case) -> InlineKeyboardMarkup:
    """«Опубликовать» although units still owe information, or go back to the card."""
    ok = CaseCb(verb=CaseVerb.PUBLISH_AUTO_CONFIRMED, case_id=case.id, version=case.version).pack()
    cancel = CaseCb(verb=CaseVerb.CANCEL, case_id=case.id, version=case.version).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=texts.BTN_PUBLISH_AUTO_CONFIRM, callback_data=ok)],
            [InlineKeyboardButton(text=texts.BTN_CANCEL, callback_data=cancel)],
        ]
    )


def held_draft_keyboard(case: Case) -> InlineKeyboardMarkup:
    """Under the answer checks' findings of a held draft: send it anyway, or correct it."""
    anyway = CaseCb(verb=CaseVerb.SUBMIT_ANYWAY, case_id=case.id, version=case.version).pack()
    fix = CaseCb(verb=CaseVerb.FIX_DRAFT, case_id=case.id, version=case.version).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=texts.BTN_SUBMIT_ANYWAY, callback_data=anyway)],
            [InlineKeyboardButton(text=texts.BTN_FIX_DRAFT, callback_data=fix)],
        ]
    )


def no_due_keyboard() -> InlineKeyboardMarkup:
    """The ПОС dialogue's due-date step: a typed date, or this one button when ПОС shows none."""
    button = InlineKeyboardButton(text=texts.BTN_POS_NO_DUE, callback_data=PosNoDueCb().pack())
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


def which_case_keyboard(choices: Sequence[tuple[int, str]]) -> InlineKeyboardMarkup:
    """One button per open case, in the order given (nearest due first): «№ N — short text…»."""
    rows = []
    for case_id, text in choices:
        label = texts.WHICH_CASE_BUTTON.format(case_id=case_id, text=_short(text))
        rows.append([InlineKeyboardButton(text=label, callback_data=WhichCaseCb(case_id=case_id).pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _short(text: str, limit: int = 40) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1].rstrip() + "…"


def category_keyboard(categories: Mapping[str, str]) -> InlineKeyboardMarkup:
    """`categories`: id -> Russian title, as rules.categories lists them."""
    rows = [
        [InlineKeyboardButton(text=title, callback_data=PosCategoryCb(category=cid).pack())]
        for cid, title in categories.items()
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


# --- the intake chat ------------------------------------------------------------------------------------------

_INTAKE_ROWS: tuple[tuple[IntakeChoice, ...], ...] = (
    (IntakeChoice.VK, IntakeChoice.OK, IntakeChoice.TELEGRAM),
    (IntakeChoice.CURATOR, IntakeChoice.OTHER),
    (IntakeChoice.SKIP,),
)


def _intake_button(choice: IntakeChoice, label: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=label, callback_data=IntakeCb(choice=choice).pack())


def intake_keyboard(recognised: IntakeChoice | None = None) -> InlineKeyboardMarkup:
    """The question under an intake message: the networks, «От ЦУР», «Другое», «Не регистрировать»; a recognised
    choice (a link in the text, a forwarded channel post, the curator's forward) comes first, marked."""
    rows: list[list[InlineKeyboardButton]] = []
    if recognised is not None:
        label = texts.BTN_INTAKE_RECOGNISED.format(label=texts.BTN_INTAKE[recognised.value])
        rows.append([_intake_button(recognised, label)])
    for row in _INTAKE_ROWS:
        buttons = [_intake_button(c, texts.BTN_INTAKE[c.value]) for c in row if c is not recognised]
        if buttons:
            rows.append(buttons)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def detected_keyboard(case_id: int, posted: str) -> InlineKeyboardMarkup:
    """Under the detection-time question: «Как в сообщении: ЧЧ:ММ» (the post time)."""
    label = texts.BTN_DETECTED_AS_POSTED.format(at=posted)
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=label, callback_data=DetectedCb(case_id=case_id).pack())]]
    )
