"""Case statuses, actions and the transition table of both procedures (RULES.md §2, §3).

`transition` is pure: a case, an action, who does it and when, in; the next case, its audit event, the terms
to open and close and who must hear about it, out. Refusals are `DomainError`s with a Russian message that
says why and a `code`: "forbidden" (role or unit), "wrong_status", "already_done" (a second press),
"invalid" (payload).

The table (`TABLE`) maps (procedure, status, action) to a `Step`: allowed roles, next status, terms done,
terms made moot, terms opened, who is told. The few computed parts (routing, units' own actions, flags) are
small `effect` functions that return a `Delta`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Literal

from workflow.model import (
    SYSTEM_ACTOR,
    Actor,
    Assignment,
    Attachment,
    Case,
    DomainError,
    Event,
    InboundMessage,
    Procedure,
    Role,
    Source,
    TermHandover,
    TermRetime,
    TermStart,
    TermStop,
    UndoState,
)
from workflow.rules import DEFAULT_UNDO_WINDOW, Anchor, Calendar, Rules
from workflow.screening import Findings

DRAFT_LIMIT = 20_000  # characters of a draft answer or of a unit's information
REASON_LIMIT = 4_000  # characters of a reason or a comment
LINK_LIMIT = 2_000
REGISTER = "register"  # Event.action of registration (open_case)
SCREEN_PENDING = "pending"  # Case.screening: findings wait for a person's decision
SCREEN_KEPT = "kept"  # Case.screening: a person decided to keep the message in work
SCREENING = "screening"  # the registration event's data key of the screening findings
SCREEN_MATCHES = 12  # triggering words kept per message (a 100 KB text of abuse keeps a dozen)
SCREEN_MATCH_LIMIT = 60  # characters of one triggering word or phrase as kept

OS = Procedure.OPEN_SOURCES
POS = Procedure.POS


class Status(StrEnum):
    NEW = "new"
    ROUTING_PROPOSED = "routing_proposed"  # open sources: waiting for the office head's approval
    IN_UNITS = "in_units"  # open sources: routed to structural units
    IN_WORK = "in_work"  # ПОС: routed to executors
    ON_APPROVAL = "on_approval"
    REWORK = "rework"
    APPROVED = "approved"
    INTERIM = "interim"  # the interim answer is out; the final one is pending
    ANSWERED = "answered"
    RETURNED = "returned"  # open sources п.6: not the administration's competence, back to the region curator
    EXCLUDED = "excluded"  # п.15 / п.17: not processed, not answered
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]

    @property
    def final(self) -> bool:
        return self in FINAL_STATUSES


_STATUS_LABELS: Mapping[Status, str] = {
    Status.NEW: "Новое",
    Status.ROUTING_PROPOSED: "Направление на согласовании",
    Status.IN_UNITS: "В подразделениях",
    Status.IN_WORK: "У исполнителей",
    Status.ON_APPROVAL: "На согласовании",
    Status.REWORK: "На доработке",
    Status.APPROVED: "Согласовано",
    Status.INTERIM: "Дан промежуточный ответ",
    Status.ANSWERED: "Ответ дан",
    Status.RETURNED: "Возвращено куратору ЦУР",
    Status.EXCLUDED: "Исключено из обработки",
    Status.CLOSED: "Закрыто",
}

FINAL_STATUSES = frozenset({Status.ANSWERED, Status.RETURNED, Status.EXCLUDED, Status.CLOSED})


class Action(StrEnum):
    ROUTE = "route"
    APPROVE_ROUTING = "approve_routing"
    RETURN = "return"
    INFO = "info"
    DECLINE = "decline"
    ACCEPT = "accept"
    SUBMIT = "submit"
    APPROVE = "approve"
    REWORK = "rework"
    PUBLISH = "publish"
    INTERIM = "interim"
    EXCLUDE = "exclude"
    SIGNIFICANT = "significant"
    CLOSE = "close"
    REOPEN = "reopen"
    SET_DETECTED = "set_detected"  # open sources: the ЦУР detection time stated after registration (п.10)
    # п.15 / п.17 screening flagged the message at intake; a person decided to keep it in work (issue 13).
    SCREEN_KEEP = "screen_keep"
    # The suggested earlier case (Case.repeat_suggested: same author or nearly the same text) confirmed as the
    # one this message repeats (issue 13 item 4): `repeat_of` is set, as a repeat registered as such has it.
    LINK_REPEAT = "link_repeat"

    @property
    def label(self) -> str:
        return _ACTION_LABELS[self]


_ACTION_LABELS: Mapping[Action, str] = {
    Action.ROUTE: "Направить",
    Action.APPROVE_ROUTING: "Согласовать направление",
    Action.RETURN: "Вернуть куратору ЦУР",
    Action.INFO: "Направить информацию",
    Action.DECLINE: "Не наша компетенция",
    Action.ACCEPT: "Принять в работу",
    Action.SUBMIT: "Направить проект на согласование",
    Action.APPROVE: "Согласовать",
    Action.REWORK: "Вернуть на доработку",
    Action.PUBLISH: "Ответ размещён",
    Action.INTERIM: "Промежуточный ответ размещён",
    Action.EXCLUDE: "Исключить из обработки",
    Action.SIGNIFICANT: "Доложить Главе района",
    Action.CLOSE: "Закрыть",
    Action.REOPEN: "Возобновить",
    Action.SET_DETECTED: "Указано время выявления ЦУР",
    Action.SCREEN_KEEP: "Не исключать",
    Action.LINK_REPEAT: "Отмечено как повторное",
}

# "Недостаточно прав: <what> может только <who>".
_ACTION_PHRASES: Mapping[Action, str] = {
    Action.ROUTE: "направить сообщение по компетенции",
    Action.APPROVE_ROUTING: "согласовать направление в подразделения",
    Action.RETURN: "вернуть сообщение куратору ЦУР",
    Action.INFO: "направить информацию для ответа",
    Action.DECLINE: "вернуть сообщение как не относящееся к компетенции",
    Action.ACCEPT: "принять сообщение в работу",
    Action.SUBMIT: "направить проект ответа на согласование",
    Action.APPROVE: "согласовать проект",
    Action.REWORK: "вернуть проект на доработку",
    Action.PUBLISH: "отметить ответ размещённым",
    Action.INTERIM: "отметить промежуточный ответ размещённым",
    Action.EXCLUDE: "исключить сообщение из обработки",
    Action.SIGNIFICANT: "доложить Главе района",
    Action.CLOSE: "закрыть сообщение",
    Action.REOPEN: "возобновить работу по закрытому сообщению",
    Action.SET_DETECTED: "указать время выявления сообщения ЦУР",
    Action.SCREEN_KEEP: "снять предупреждение проверки текста",
    Action.LINK_REPEAT: "отметить сообщение как повторное",
}

ROLE_NAMES: Mapping[Role, str] = {
    Role.OPERATOR: "уполномоченное лицо управления делами",
    Role.OFFICE_HEAD: "начальник управления делами",
    Role.REGION_CURATOR: "куратор ЦУР",
    Role.UNIT_OFFICIAL: "должностное лицо подразделения",
    Role.HEAD: "Глава района",
    Role.COORDINATOR: "координатор",
    Role.POS_CURATOR: "куратор ПОС",
    Role.EXECUTOR: "исполнитель",
    Role.SYSTEM: "система",
}


class NoticeKind(StrEnum):
    REGISTERED = "registered"
    ROUTING_PROPOSED = "routing_proposed"
    ROUTED = "routed"  # to each unit newly assigned (or whose part changed)
    UNASSIGNED = "unassigned"  # to a unit taken off the case by re-routing
    RETURNED_TO_CURATOR = "returned_to_curator"
    INFO_RECEIVED = "info_received"
    UNIT_DECLINED = "unit_declined"
    DRAFT_SUBMITTED = "draft_submitted"
    APPROVED = "approved"
    REWORK = "rework"
    INTERIM_PUBLISHED = "interim_published"
    SIGNIFICANT = "significant"
    CASE_CLOSED = "case_closed"  # to units still assigned when the case is closed or excluded
    TURN = "turn"  # open sources п.12.1: a unit's turn in the order of officials has come
    PUBLISHED_WITHOUT_INFO = "published_without_info"  # to units that still owed information
    ANSWER_PUBLISHED = "answer_published"  # to the region curator, about his hand-over
    INTERIM_OUT = "interim_out"  # to the region curator, about his hand-over
    CASE_EXCLUDED = "case_excluded"  # to the region curator, about his hand-over
    CASE_REOPENED = "case_reopened"  # to the units of a closed case the office head reopened

    @property
    def label(self) -> str:
        return _NOTICE_LABELS[self]


_NOTICE_LABELS: Mapping[NoticeKind, str] = {
    NoticeKind.REGISTERED: "Новое сообщение",
    NoticeKind.ROUTING_PROPOSED: "Предложено направление в подразделения — требуется согласование",
    NoticeKind.ROUTED: "Сообщение направлено вам для работы",
    NoticeKind.UNASSIGNED: "Сообщение передано другому подразделению",
    NoticeKind.RETURNED_TO_CURATOR: "Сообщение возвращено: не относится к компетенции администрации",
    NoticeKind.INFO_RECEIVED: "Поступила информация для ответа",
    NoticeKind.UNIT_DECLINED: "Подразделение вернуло сообщение: не его компетенция",
    NoticeKind.DRAFT_SUBMITTED: "Проект ответа на согласование",
    NoticeKind.APPROVED: "Проект ответа согласован",
    NoticeKind.REWORK: "Проект ответа возвращён на доработку",
    NoticeKind.INTERIM_PUBLISHED: "Дан промежуточный ответ — готовьте окончательный",
    NoticeKind.SIGNIFICANT: "Общественно значимое сообщение (п.17)",
    NoticeKind.CASE_CLOSED: "Работа по сообщению прекращена",
    NoticeKind.TURN: "Подошла очередь вашего подразделения подготовить информацию",
    NoticeKind.PUBLISHED_WITHOUT_INFO: "Ответ опубликован без информации вашего подразделения — срок снят",
    NoticeKind.ANSWER_PUBLISHED: "Ответ на переданное вами сообщение опубликован",
    NoticeKind.INTERIM_OUT: "По переданному вами сообщению опубликован промежуточный ответ",
    NoticeKind.CASE_EXCLUDED: "Переданное вами сообщение исключено из обработки",
    NoticeKind.CASE_REOPENED: "Работа по сообщению возобновлена",
}


@dataclass(frozen=True, slots=True)
class Notice:
    """Someone to tell at once; `unit` narrows `to_role` to one unit's people, `payload` feeds the card."""

    kind: NoticeKind
    to_role: Role
    unit: str | None = None
    term_id: str | None = None
    payload: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ActionPayload:
    """What a person typed or chose along with the button. Fields an action does not use are ignored."""

    text: str = ""  # the draft (submit) or a unit's information (info); up to DRAFT_LIMIT
    reason: str = ""  # required: rework, exclude, close, reopen; optional: return, decline, significant
    units: tuple[str, ...] = ()  # route, approve_routing: the units, in order
    order: tuple[str, ...] = ()  # approve_routing: the same units in the order they prepare information
    responsible: str | None = None  # ПОС route with several units: the responsible one (п.14.1)
    unit: str | None = None  # info / decline / accept / submit: which of the actor's units acts
    link: str = ""  # publish / interim: where the answer is
    attachments: tuple[Attachment, ...] = ()
    confirm: bool = False  # publish: yes, publish although units still owe information (RULES.md §6)
    detected_at: datetime | None = None  # set_detected: when ЦУР detected the message
    # Where the action came from, unique per source message (e.g. "telegram:<chat>:<message>"): recorded in
    # its events, so handling the same message again (a re-handled inbox row) changes nothing.
    origin: str = ""


@dataclass(frozen=True, slots=True)
class Transition:
    """The outcome of one action. Term starts carry `started_at` = the instant the term counts from."""

    case: Case
    events: tuple[Event, ...]
    starts: tuple[TermStart, ...] = ()
    stops: tuple[TermStop, ...] = ()
    notices: tuple[Notice, ...] = ()
    draft_text: str | None = None  # a submitted draft, to store as draft `case.draft_version`
    handovers: tuple[TermHandover, ...] = ()  # open terms that pass to another holder (after `stops`)
    # A reopen: the terms the close cancelled (not those it found missed) open again, with their own due.
    reopen_terms: bool = False
    undone: UndoState | None = None  # an undo: the state to put back (the case is already `case`)

    retimes: tuple[TermRetime, ...] = ()  # open terms that move with a new T0 (set_detected)


# --- table machinery ----------------------------------------------------------------------------------------

# A notice recipient: a role, the unit role of every assigned unit, or the ПОС responsible executor.
Recipient = Role | Literal["units", "responsible"]


@dataclass(frozen=True, slots=True)
class Context:
    case: Case
    action: Action
    actor: Actor
    at: datetime
    payload: ActionPayload
    rules: Rules
    calendar: Calendar
    unit: str | None  # the acting unit of a unit-scoped step


@dataclass(frozen=True, slots=True)
class Delta:
    """What an effect adds to the step's data."""

    case: Case
    to: Status | None = None  # overrides the step's next status
    starts: tuple[TermStart, ...] = ()
    stops: tuple[TermStop, ...] = ()
    notices: tuple[Notice, ...] = ()
    data: Mapping[str, object] = field(default_factory=dict)
    handovers: tuple[TermHandover, ...] = ()
    retimes: tuple[TermRetime, ...] = ()


Effect = Callable[[Context], Delta]
Need = Literal["required", "optional", "none"]


@dataclass(frozen=True, slots=True)
class Step:
    roles: tuple[Role, ...]
    to: Status | None = None  # None: the status stays
    stop: tuple[str, ...] = ()  # terms this step completes (per-unit ones: the acting unit's)
    cancel: tuple[str, ...] = ()  # terms this step makes moot
    start: tuple[str, ...] = ()  # case-wide terms it opens
    close_all: bool = False  # final: every other term of the procedure is cancelled
    notify: tuple[tuple[NoticeKind, Recipient], ...] = ()
    text: Need = "none"
    reason: Need = "none"
    unit_scoped: bool = False
    effect: Effect | None = None


UNIT_ROLE: Mapping[Procedure, Role] = {OS: Role.UNIT_OFFICIAL, POS: Role.EXECUTOR}
# The action that is the return a return-only term is about (RULES.md §6); any other step that stops such a
# term ends it met, whenever it comes.
RETURN_ACTION: Mapping[Procedure, str] = {OS: "return", POS: "decline"}
DETECTED_LEEWAY = timedelta(
    minutes=1
)  # a detection time may follow the post time by this much (clocks differ)
ROUTE_TERM: Mapping[Procedure, str] = {OS: "os.route", POS: "pos.route"}
# The instants a message may state (RULES.md §2: received / detected, T0): from 2000 to a day past now (clocks
# and time zones differ). A pasted ПОС notice dated 01.12.9026 once got registered and its card computed terms
# across 7,000 years without holidays (26 s of a frozen bot); one of year 0001 crashed the calendar.
EARLIEST_MESSAGE = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_LEEWAY = timedelta(days=1)
CARD_NUMBER_LIMIT = 64  # a ЦУР IM card's number as kept on the case
CURATOR_LIMIT = 200  # the name of who handed it over
POS_DUE_HORIZON_DAYS = 366  # a ПОС due date further than this after the arrival is a mistyped year
REGISTER_ROLES: Mapping[Procedure, tuple[Role, ...]] = {
    OS: (Role.OPERATOR, Role.REGION_CURATOR, Role.SYSTEM),
    POS: (Role.POS_CURATOR, Role.COORDINATOR, Role.SYSTEM),
}
INITIAL_TERMS: Mapping[Procedure, tuple[str, ...]] = {
    # os.return and os.route are alternatives: both run from T0 until one of them is done.
    OS: ("os.return", "os.route", "os.publish", "os.draft"),
    POS: ("pos.route", "pos.answer", "pos.draft"),
}

_CLEAN = re.compile(r"[\x00-\x08\x0b-\x1f]")  # C0 controls but \t and \n (\r is folded into \n first)


def clean_text(text: str) -> str:
    """Text as data: line ends normalised, C0 controls but \\n and \\t removed, outer blanks trimmed.

    HTML and markup stay as typed; escaping is the renderer's job.
    """
    return _CLEAN.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip()


# --- refusals -----------------------------------------------------------------------------------------------


def _forbidden(message: str) -> DomainError:
    return DomainError(message, code="forbidden")


def _invalid(message: str) -> DomainError:
    return DomainError(message, code="invalid")


def _confirm(message: str) -> DomainError:
    """A step that needs the person's explicit confirmation (`ActionPayload.confirm`) before it is done."""
    return DomainError(message, code="confirm")


def _already(message: str) -> DomainError:
    return DomainError(message, code="already_done")


def _wrong_status(status: Status) -> DomainError:
    return DomainError(f"Действие недоступно в статусе «{status.label}»", code="wrong_status")


def _who(roles: Iterable[Role]) -> str:
    return " или ".join(ROLE_NAMES[r] for r in roles if r is not Role.SYSTEM)


_ALREADY: Mapping[tuple[Action, Status], str] = {
    (Action.APPROVE_ROUTING, Status.IN_UNITS): "Направление уже согласовано",
    (Action.RETURN, Status.RETURNED): "Сообщение уже возвращено куратору ЦУР",
    (Action.SUBMIT, Status.ON_APPROVAL): "Проект уже направлен на согласование",
    (Action.APPROVE, Status.APPROVED): "Уже согласовано",
    (Action.REWORK, Status.REWORK): "Проект уже возвращён на доработку",
    (Action.PUBLISH, Status.ANSWERED): "Ответ уже отмечен размещённым",
    (Action.INTERIM, Status.INTERIM): "Промежуточный ответ уже дан",
    (Action.EXCLUDE, Status.EXCLUDED): "Сообщение уже исключено из обработки",
    (Action.CLOSE, Status.CLOSED): "Сообщение уже закрыто",
}


# A unit's own second press, checked once the acting unit is known.
_UNIT_ALREADY: Mapping[Action, tuple[Callable[[Assignment], bool], str]] = {
    Action.INFO: (lambda a: a.info_given, "Информация уже направлена"),
    Action.ACCEPT: (lambda a: a.accepted, "Уже принято в работу"),
}


def _check_already(case: Case, action: Action, status: Status) -> None:
    message = _ALREADY.get((action, status))
    if message is None and action is Action.SIGNIFICANT and case.significant:
        message = "Уже доложено Главе района"
    if message is None and action is Action.INTERIM and case.interim and not status.final:
        message = "Промежуточный ответ уже дан"
    if message is None and action is Action.SET_DETECTED and (case.detection_stated or case.received_at):
        message = "Время выявления ЦУР уже указано"
    if message is None and action is Action.SCREEN_KEEP and case.screening == SCREEN_KEPT:
        message = "Уже решено не исключать"
    if message is None and action is Action.SCREEN_KEEP and case.screening != SCREEN_PENDING:
        raise _wrong_status_text("Проверка п.15 ничего не нашла в этом сообщении: решать нечего")
    if message is None and action is Action.LINK_REPEAT and case.repeat_of is not None:
        message = f"Уже отмечено как повторное к № {case.repeat_of}"
    if message is not None:
        raise _already(message)


# --- payload ------------------------------------------------------------------------------------------------

_TEXT_NAMES: Mapping[Action, str] = {Action.SUBMIT: "Проект ответа", Action.INFO: "Информация"}
_REASON_NAMES: Mapping[Action, str] = {
    Action.REWORK: "причину возврата на доработку",
    Action.EXCLUDE: "причину исключения (п.15 / п.17 Порядка)",
    Action.CLOSE: "причину закрытия",
    Action.REOPEN: "причину возобновления",
}


def _count(n: int) -> str:
    return f"{n:,}".replace(",", " ")


def _checked_text(value: str, need: Need, limit: int, empty: str, name: str) -> str:
    if need == "none":
        return ""
    text = clean_text(value)
    if not text and need == "required":
        raise _invalid(empty)
    if len(text) > limit:
        raise _invalid(f"{name} длиннее {_count(limit)} знаков ({_count(len(text))})")
    return text


def _checked_payload(step: Step, action: Action, payload: ActionPayload) -> ActionPayload:
    name = _TEXT_NAMES.get(action, "Текст")
    text_need = step.text
    if action is Action.INFO and payload.attachments:
        text_need = "optional"  # a unit may answer with files alone
    text = _checked_text(payload.text, text_need, DRAFT_LIMIT, f"{name}: пустой текст — напишите текст", name)
    reason = _checked_text(
        payload.reason,
        step.reason,
        REASON_LIMIT,
        f"Укажите {_REASON_NAMES.get(action, 'причину')}",
        "Причина" if step.reason == "required" else "Комментарий",
    )
    link = clean_text(payload.link)
    if link and (len(link) > LINK_LIMIT or not link.startswith(("http://", "https://")) or " " in link):
        raise _invalid(
            "Ссылка на ответ должна начинаться с http:// или https:// и быть не длиннее 2 000 знаков"
        )
    return replace(payload, text=text, reason=reason, link=link)


def _known_units(ctx: Context, units: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(units))  # a repeated unit counts once
    if not chosen:
        raise _invalid("Выберите хотя бы одно подразделение")
    unknown = [u for u in chosen if u not in ctx.rules.units]
    if unknown:
        raise _invalid(f"Неизвестное подразделение: {', '.join(unknown)}")
    return chosen


# --- acting unit --------------------------------------------------------------------------------------------

# Among several of the actor's units on the case, the ones an action still makes sense for.
_PENDING: Mapping[Action, Callable[[Assignment], bool]] = {
    Action.INFO: lambda a: not a.info_given and not a.responsible,
    Action.ACCEPT: lambda a: not a.accepted,
    Action.SUBMIT: lambda a: a.responsible,
}


def _acting_unit(case: Case, actor: Actor, action: Action, payload: ActionPayload, rules: Rules) -> str:
    if payload.unit is not None:
        unit = payload.unit
        if unit not in actor.units:
            raise _forbidden(
                f"Недостаточно прав: вы не состоите в подразделении «{rules.units.get(unit, unit)}»"
            )
        if case.assignment(unit) is None:
            if action is Action.DECLINE and unit in case.declined_units:
                raise _already("Подразделение уже вернуло сообщение")
            raise _forbidden("Недостаточно прав: сообщение не направлено в ваше подразделение")
        return unit
    mine = [a for a in case.assignments if a.unit in actor.units]
    if not mine:
        if action is Action.DECLINE and actor.units & set(case.declined_units):
            raise _already("Подразделение уже вернуло сообщение")
        raise _forbidden("Недостаточно прав: сообщение не направлено в ваше подразделение")
    if len(mine) > 1:
        wanted = _PENDING.get(action)
        pending = [a for a in mine if wanted is None or wanted(a)]
        mine = pending if len(pending) == 1 else mine
    if len(mine) > 1:
        names = ", ".join(rules.units.get(a.unit, a.unit) for a in mine)
        raise _invalid(
            f"Укажите подразделение: сообщение направлено в несколько ваших подразделений ({names})"
        )
    return mine[0].unit


# --- terms --------------------------------------------------------------------------------------------------


def _limits(case: Case, calendar: Calendar) -> dict[str, datetime]:
    """Terms the case caps: the ПОС due date ПОС shows caps pos.answer (RULES.md §6), when it is stricter."""
    if case.pos_due is None:
        return {}
    return {"pos.answer": calendar.end_of_working_day(case.pos_due)}


def _due(ctx: Context, term_id: str, anchor: datetime) -> datetime:
    return ctx.rules.due(
        term_id, anchor, ctx.calendar, category=ctx.case.category, limits=_limits(ctx.case, ctx.calendar)
    )


def _start(
    ctx: Context, term_id: str, *, unit: str | None = None, anchor: datetime | None = None
) -> TermStart:
    """Open a term counted from its anchor: T0 for T0 terms, the event instant (`at`) for the rest."""
    rule = ctx.rules.term(term_id)
    if anchor is None:
        anchor = ctx.case.t0 if rule.event is Anchor.T0 else ctx.at
    if unit is None and not rule.per_unit and rule.owner is UNIT_ROLE[ctx.case.procedure]:
        unit = ctx.case.responsible_unit  # a case-wide executor term is the responsible unit's
    due = _due(ctx, term_id, anchor)
    note = ""
    if rule.not_after is not None:
        due = min(due, _due(ctx, rule.not_after, anchor))
        if rule.late_working_days is not None and ctx.at >= due:
            # Opened when its cap has already come: it runs from the opening instead (pos.coexec, п.14.2).
            anchor, note = ctx.at, rule.late_note
            due = ctx.calendar.add_working_days(ctx.at, rule.late_working_days)
    return TermStart(
        term_id=term_id,
        due=due,
        owner=rule.owner,
        started_at=anchor,
        unit=unit,
        note=note,
        person=_holder(ctx, rule.owner, unit),
    )


def _holder(ctx: Context, owner: Role, unit: str | None) -> str:
    """Who holds a term the step opens, where the step tells (RULES.md §6, "who holds a term now"): the one
    who sent the draft holds its rework; else the person who did the step, when the next step is theirs (the
    operator who registered holds os.route, the curator who routed a returned message again…). Empty when the
    step does not tell: the use cases may then name the only staff member of that role (ports.People)."""
    if ctx.action is Action.REWORK and ctx.case.drafted_by:
        return ctx.case.drafted_by
    actor = ctx.actor
    if not actor.name or owner not in actor.roles:
        return ""
    if owner in UNIT_ROLE.values() and (unit is None or unit not in actor.units):
        return ""
    return actor.name


def _done(rules: Rules, procedure: Procedure, action: Action, term_id: str, unit: str | None) -> TermStop:
    """A term the step completes. A return-only term ends met unless the step is the return itself, which is
    met only within the term (RULES.md §6)."""
    rule = rules.term(term_id)
    forced = True if rule.return_only and action.value != RETURN_ACTION[procedure] else None
    return TermStop(term_id, unit if rule.per_unit else None, met=forced)


def _cancel(rules: Rules, term_id: str, unit: str | None = None) -> TermStop:
    """A term made moot. One already past due stays a miss (misses are history), but a return-only term's
    lapse is no miss."""
    return TermStop(term_id, unit, cancelled=True, keep_miss=not rules.term(term_id).return_only)


def _unit_terms(ctx: Context) -> tuple[str, ...]:
    return tuple(r.id for r in ctx.rules.terms_of(ctx.case.procedure) if r.per_unit)


def _drop_unit(ctx: Context, unit: str, *, keep: Iterable[str] = ()) -> tuple[TermStop, ...]:
    """Cancel every per-unit term of `unit` (but `keep`, which the caller stops as done)."""
    kept = set(keep)
    return tuple(_cancel(ctx.rules, t, unit) for t in _unit_terms(ctx) if t not in kept)


def _owing_units(case: Case) -> tuple[str, ...]:
    """Units that still owe information for the common answer (open sources: all; ПОС: the co-executors)."""
    return tuple(
        a.unit for a in case.assignments if not a.info_given and not (case.procedure is POS and a.responsible)
    )


# --- the order of officials (open sources п.12.1) -----------------------------------------------------------


def _checked_order(ctx: Context, order: Iterable[str], units: tuple[str, ...]) -> tuple[str, ...]:
    """The order as given (repeats once), or () for none; it must name exactly the routed units."""
    chosen = tuple(dict.fromkeys(order))
    if not chosen:
        return ()
    names = ctx.rules.units
    stray = [u for u in chosen if u not in units]
    if stray:
        listed = ", ".join(names.get(u, u) for u in stray)
        raise _invalid(f"В очерёдности указано подразделение, в которое сообщение не направляется: {listed}")
    missing = [u for u in units if u not in chosen]
    if missing:
        listed = ", ".join(names.get(u, u) for u in missing)
        raise _invalid(f"Очерёдность должна перечислять все подразделения направления; не указаны: {listed}")
    return chosen if len(chosen) > 1 else ()


def _turns(ctx: Context, case: Case) -> tuple[Case, tuple[TermStart, ...], tuple[str, ...]]:
    """Start the os.unit_info of every unit whose turn has come: with an order, the first unit in it that has
    not given its information; without one, every unit. Returns the case, the starts and the units started."""
    ordered = sorted((a for a in case.assignments if a.order > 0), key=lambda a: a.order)
    if ordered:
        first = next((a for a in ordered if not a.info_given), None)
        due = [first] if first is not None and first.waiting else []
    else:
        due = [a for a in case.assignments if a.waiting]
    if not due:
        return case, (), ()
    for a in due:
        case = _with_assignment(case, replace(a, waiting=False))
    starts = tuple(_start(ctx, "os.unit_info", unit=a.unit) for a in due)
    return case, starts, tuple(a.unit for a in due)


def _order_payload(case: Case, unit: str) -> dict[str, object]:
    assignment = case.assignment(unit)
    if assignment is None or assignment.order <= 0:
        return {}
    return {"order": assignment.order, "of": sum(1 for a in case.assignments if a.order > 0)}


# --- effects: the computed parts ----------------------------------------------------------------------------


def _propose_routing(ctx: Context) -> Delta:
    units = _known_units(ctx, ctx.payload.units)
    order = _checked_order(ctx, ctx.payload.order, units)
    payload: dict[str, object] = {"units": list(units)}
    if order:
        payload["order"] = list(order)
    return Delta(
        case=replace(ctx.case, proposed_units=units, proposed_order=order),
        notices=(Notice(NoticeKind.ROUTING_PROPOSED, Role.OFFICE_HEAD, payload=dict(payload)),),
        # os.route waits for the office head's approval now: he holds it (RULES.md §6).
        handovers=(TermHandover("os.route", Role.OFFICE_HEAD),),
        data=payload,
    )


def _approve_routing(ctx: Context) -> Delta:
    """Open sources: the office head fixes the units (may change them) and their order (п.12.1).

    With an order the first unit's os.unit_info starts now and each next one's when the one before it gave its
    information; without one every unit's starts now.
    """
    units = _known_units(ctx, ctx.payload.units or ctx.case.proposed_units)
    proposed = ctx.case.proposed_order if set(ctx.case.proposed_order) == set(units) else ()
    order = _checked_order(ctx, ctx.payload.order or proposed, units)
    sequence = order or units
    before = {a.unit: a for a in ctx.case.assignments}
    assignments: list[Assignment] = []
    for unit in sequence:
        old = before.get(unit)
        place = order.index(unit) + 1 if order else 0
        if old is None:
            assignments.append(Assignment(unit, order=place, waiting=True))
        else:
            assignments.append(replace(old, order=place))
    stops, gone = _taken_off(ctx, before, sequence)
    case = replace(
        ctx.case,
        assignments=tuple(assignments),
        proposed_units=(),
        proposed_order=(),
        declined_units=tuple(u for u in ctx.case.declined_units if u not in sequence),
    )
    case, starts, started = _turns(ctx, case)
    notices: list[Notice] = []
    for unit in sequence:
        told = _order_payload(case, unit)
        if unit not in before:
            turn: dict[str, object] = {"turn": unit in started} if told else {}
            notices.append(Notice(NoticeKind.ROUTED, Role.UNIT_OFFICIAL, unit, payload={**told, **turn}))
        elif unit in started:
            notices.append(Notice(NoticeKind.TURN, Role.UNIT_OFFICIAL, unit, payload=told))
    data: dict[str, object] = {"units": list(units)}
    if order:
        data["order"] = list(order)
    return Delta(case=case, starts=starts, stops=stops, notices=(*notices, *gone), data=data)


def _route_pos(ctx: Context) -> Delta:
    """ПОС: the curator names executors and, with several, the responsible one (п.14.1)."""
    units = _known_units(ctx, ctx.payload.units)
    responsible = ctx.payload.responsible
    if responsible is None and len(units) == 1:
        responsible = units[0]
    if responsible is None:
        raise _invalid(
            "Укажите ответственного исполнителя: сообщение направляется нескольким исполнителям (п.14.1)"
        )
    if responsible not in units:
        raise _invalid("Ответственный исполнитель должен быть среди выбранных исполнителей")
    before = {a.unit: a for a in ctx.case.assignments}
    assignments: list[Assignment] = []
    starts: list[TermStart] = []
    stops: list[TermStop] = []
    notices: list[Notice] = []
    for unit in units:
        old = before.get(unit)
        lead = unit == responsible
        assignments.append(replace(old, responsible=lead) if old else Assignment(unit, responsible=lead))
        if old is None:
            starts.append(_start(ctx, "pos.return", unit=unit))
        # pos.coexec runs for a co-executor until it gives its information (п.14.2).
        owes_info = not lead and not (old is not None and old.info_given)
        owed_info = old is not None and not old.responsible and not old.info_given
        if owes_info and not owed_info:
            starts.append(_start(ctx, "pos.coexec", unit=unit))
        elif owed_info and not owes_info:
            stops.append(_cancel(ctx.rules, "pos.coexec", unit))
        if old is None or old.responsible != lead:
            notices.append(Notice(NoticeKind.ROUTED, Role.EXECUTOR, unit, payload={"responsible": lead}))
    gone_stops, gone = _taken_off(ctx, before, units)
    case = replace(
        ctx.case,
        assignments=tuple(assignments),
        declined_units=tuple(u for u in ctx.case.declined_units if u not in units),
    )
    return Delta(
        case=case,
        starts=tuple(starts),
        stops=(*stops, *gone_stops),
        notices=(*notices, *gone),
        # The common draft is the responsible executor's (п.14.3): reminders and a miss name its unit.
        handovers=_lead_terms(ctx, responsible),
        data={"units": list(units), "responsible": responsible},
    )


def _lead_terms(ctx: Context, unit: str | None, person: str = "") -> tuple[TermHandover, ...]:
    """The case-wide executor terms (pos.draft, pos.rework) pass to the responsible unit (None: unnamed)."""
    return tuple(
        TermHandover(r.id, Role.EXECUTOR, new_unit=unit, person=person)
        for r in ctx.rules.terms_of(POS)
        if not r.per_unit and r.owner is Role.EXECUTOR and r.event is not Anchor.INTERIM
    )


def _taken_off(
    ctx: Context, before: Mapping[str, Assignment], units: Iterable[str]
) -> tuple[tuple[TermStop, ...], tuple[Notice, ...]]:
    kept = set(units)
    removed = [u for u in before if u not in kept]
    role = UNIT_ROLE[ctx.case.procedure]
    stops = tuple(stop for u in removed for stop in _drop_unit(ctx, u))
    return stops, tuple(Notice(NoticeKind.UNASSIGNED, role, u) for u in removed)


def _adds_files(action: Action, payload: ActionPayload) -> bool:
    """Files alone after the unit's information (an album's further photos, a photo sent later): they join the
    information given, rather than being refused as information given twice."""
    return action is Action.INFO and bool(payload.attachments) and not clean_text(payload.text)


def _info(ctx: Context) -> Delta:
    unit = _unit(ctx)
    assignment = _assignment(ctx)
    if ctx.case.procedure is POS and assignment.responsible:
        raise _forbidden(
            "Ответственный исполнитель готовит общий ответ сам; "
            "информацию ему направляют соисполнители (п.14.2)"
        )
    if assignment.info_given:  # files added to the information given (_adds_files): passed on, nothing else
        files: dict[str, object] = {
            "unit": unit,
            "attachments": [{"kind": a.kind, "ref": a.ref, "name": a.name} for a in ctx.payload.attachments],
        }
        to, lead = (
            (Role.OPERATOR, None) if ctx.case.procedure is OS else (Role.EXECUTOR, ctx.case.responsible_unit)
        )
        if ctx.case.procedure is POS and lead is None:
            to = _router(POS)
        notice = Notice(NoticeKind.INFO_RECEIVED, to, lead, payload=files)
        return Delta(case=ctx.case, notices=(notice,), data={"unit": unit, "files_added": True})
    case = _with_assignment(ctx.case, replace(assignment, info_given=True, accepted=True, waiting=False))
    payload: dict[str, object] = {"unit": unit, "text": ctx.payload.text}
    if ctx.payload.attachments:  # the files travel with the notice to whoever prepares the answer (п.14)
        payload["attachments"] = [
            {"kind": a.kind, "ref": a.ref, "name": a.name} for a in ctx.payload.attachments
        ]
    starts: tuple[TermStart, ...] = ()
    turns: list[Notice] = []
    if ctx.case.procedure is OS:
        notice = Notice(NoticeKind.INFO_RECEIVED, Role.OPERATOR, payload=payload)
        case, starts, started = _turns(ctx, case)
        turns += (
            Notice(NoticeKind.TURN, Role.UNIT_OFFICIAL, u, payload=_order_payload(case, u)) for u in started
        )
    elif ctx.case.responsible_unit is not None:
        notice = Notice(NoticeKind.INFO_RECEIVED, Role.EXECUTOR, ctx.case.responsible_unit, payload=payload)
    else:  # the responsible unit declined and none is named yet: the curator holds the information
        notice = Notice(NoticeKind.INFO_RECEIVED, _router(POS), payload=payload)
    return Delta(case=case, starts=starts, notices=(notice, *turns), data={"unit": unit})


def _accept(ctx: Context) -> Delta:
    assignment = _assignment(ctx)
    unit = _unit(ctx)
    handovers: tuple[TermHandover, ...] = ()
    if ctx.actor.name:
        # The person who accepted holds the unit's terms from now on: reminders and a miss name them.
        own = tuple(
            TermHandover(t, Role.EXECUTOR, unit, unit, ctx.actor.name)
            for t in _unit_terms(ctx)
            if not ctx.rules.return_only(t)
        )
        lead = _lead_terms(ctx, unit, ctx.actor.name) if assignment.responsible else ()
        handovers = (*own, *lead)
    return Delta(
        case=_with_assignment(ctx.case, replace(assignment, accepted=True)),
        handovers=handovers,
        data={"unit": unit},
    )


def _decline(ctx: Context) -> Delta:
    """A unit returns the message as not its competence; with none left it goes back for re-routing."""
    unit = _unit(ctx)
    gone = _assignment(ctx)
    rest = tuple(a for a in ctx.case.assignments if a.unit != unit)
    stops = list(_drop_unit(ctx, unit, keep=_step(ctx).stop))
    starts: list[TermStart] = []
    to: Status | None = None
    if not rest:
        to = Status.NEW
        # Re-routing counts from now, not from T0.
        starts.append(_start(ctx, ROUTE_TERM[ctx.case.procedure], anchor=ctx.at))
    elif gone.responsible and len(rest) == 1:
        # The one executor left prepares the answer: it is responsible and no longer a co-executor.
        rest = (replace(rest[0], responsible=True),)
        if not rest[0].info_given:
            stops.append(_cancel(ctx.rules, "pos.coexec", rest[0].unit))
    case = replace(
        ctx.case,
        assignments=rest,
        declined_units=(*ctx.case.declined_units, unit),
        proposed_units=tuple(u for u in ctx.case.proposed_units if u != unit),
        proposed_order=tuple(u for u in ctx.case.proposed_order if u != unit),
    )
    notices: list[Notice] = []
    if ctx.case.procedure is OS and rest:
        # The next unit in the order takes its turn when the one that declined held it.
        case, turn_starts, started = _turns(ctx, case)
        starts += turn_starts
        notices += (
            Notice(NoticeKind.TURN, Role.UNIT_OFFICIAL, u, payload=_order_payload(case, u)) for u in started
        )
    handovers: tuple[TermHandover, ...] = ()
    if ctx.case.procedure is POS and gone.responsible:
        handovers = _lead_terms(ctx, case.responsible_unit)
    need_lead = ctx.case.procedure is POS and case.responsible_unit is None and bool(rest)
    payload: dict[str, object] = {"unit": unit, "reason": ctx.payload.reason, "need_responsible": need_lead}
    return Delta(
        case=case,
        to=to,
        starts=tuple(starts),
        stops=tuple(stops),
        notices=(Notice(NoticeKind.UNIT_DECLINED, _router(ctx.case.procedure), payload=payload), *notices),
        handovers=handovers,
        data={"unit": unit, "remaining": [a.unit for a in rest]},
    )


def _submit(ctx: Context) -> Delta:
    case = ctx.case
    data: dict[str, object] = {"draft_version": case.draft_version + 1, "final": case.interim}
    if case.procedure is POS:
        assignment = _assignment(ctx)
        if not assignment.responsible:
            raise _forbidden(
                "Недостаточно прав: проект общего ответа направляет ответственный исполнитель (п.14.3)"
            )
        case = _with_assignment(case, replace(assignment, accepted=True))
        data["unit"] = assignment.unit
    case = replace(
        case, draft_version=case.draft_version + 1, rework_reason="", drafted_by=ctx.actor.name, draft_held=False
    )
    approver = ACTION_ROLES[(case.procedure, Action.APPROVE)][0]
    notice = Notice(NoticeKind.DRAFT_SUBMITTED, approver, payload=dict(data))
    return Delta(case=case, notices=(notice,), data=data)


def _approve(ctx: Context) -> Delta:
    """An approved final draft (after an interim answer) is to be published: open sources open os.final_publish;
    in ПОС pos.final runs on to the posting, now held by the pos curator who posts it."""
    case = replace(ctx.case, rework_reason="")
    starts: tuple[TermStart, ...] = ()
    handovers: tuple[TermHandover, ...] = ()
    if case.interim and case.procedure is OS:
        starts = (_start(ctx, "os.final_publish"),)
    elif case.interim:
        # The curator who approved posts it: he holds the term (named, when the directory names him).
        person = ctx.actor.name if _router(POS) in ctx.actor.roles else ""
        handovers = (TermHandover("pos.final", _router(POS), person=person),)
    return Delta(
        case=case, starts=starts, handovers=handovers, data={"draft_version": ctx.case.draft_version}
    )


def _rework(ctx: Context) -> Delta:
    return Delta(
        case=replace(ctx.case, rework_reason=ctx.payload.reason),
        data={"draft_version": ctx.case.draft_version},
    )


def _publish(ctx: Context) -> Delta:
    """The answer goes out. Units still owing information are named and the publisher confirms; they are told
    and their terms are cancelled with the rest (RULES.md §6). The region curator hears of his hand-over."""
    link = ctx.payload.link or ctx.case.published_link
    owing = _owing_units(ctx.case)
    if owing and not ctx.payload.confirm:
        names = ", ".join(ctx.rules.units.get(u, u) for u in owing)
        raise _confirm(
            f"Информацию для ответа ещё не направили: {names}. Подтвердите публикацию ответа без неё — "
            "их сроки будут сняты."
        )
    role = UNIT_ROLE[ctx.case.procedure]
    notices = [Notice(NoticeKind.PUBLISHED_WITHOUT_INFO, role, u) for u in owing]
    notices += _to_region_curator(ctx, NoticeKind.ANSWER_PUBLISHED, {"link": link})
    data: dict[str, object] = {"link": ctx.payload.link}
    if owing:
        data["without_info"] = list(owing)
    return Delta(case=replace(ctx.case, published_link=link), notices=tuple(notices), data=data)


def _interim(ctx: Context) -> Delta:
    link = ctx.payload.link or ctx.case.published_link
    return Delta(
        case=replace(ctx.case, published_link=link, interim=True),
        notices=_to_region_curator(ctx, NoticeKind.INTERIM_OUT, {"link": link}),
        data={"link": ctx.payload.link},
    )


def _exclude(ctx: Context) -> Delta:
    return Delta(case=ctx.case, notices=_to_region_curator(ctx, NoticeKind.CASE_EXCLUDED, {}))


def _to_region_curator(ctx: Context, kind: NoticeKind, payload: dict[str, object]) -> tuple[Notice, ...]:
    """The region curator hears how a message he handed over ends (RULES.md §6)."""
    if not ctx.case.handed_over:
        return ()
    return (Notice(kind, Role.REGION_CURATOR, payload={k: v for k, v in payload.items() if v}),)


def _significant(ctx: Context) -> Delta:
    return Delta(case=replace(ctx.case, significant=True))


def _screen_keep(ctx: Context) -> Delta:
    """A person read the flagged message and keeps it in work; the findings stay in the registration event."""
    return Delta(case=replace(ctx.case, screening=SCREEN_KEPT), data={"screening": SCREEN_KEPT})
def _link_repeat(ctx: Context) -> Delta:
    """The suggested earlier case becomes the one this message repeats (its answer must name measures)."""
    earlier = ctx.case.repeat_suggested
    if earlier is None:
        raise _invalid("Предыдущее сообщение для этого не предложено: повторное отмечают при регистрации")
    return Delta(case=replace(ctx.case, repeat_of=earlier), data={"repeat_of": earlier})


def _close(ctx: Context) -> Delta:
    """The office head closes the case; the status it was in is kept for a reopen."""
    return Delta(case=replace(ctx.case, closed_from=ctx.case.status))


def _reopen(ctx: Context) -> Delta:
    """A closed case goes back to the status it was closed in (REOPEN_POLICY)."""
    back = Status(ctx.case.closed_from) if ctx.case.closed_from else Status.NEW
    return Delta(case=replace(ctx.case, closed_from=""), to=back)


def _set_detected(ctx: Context) -> Delta:
    """The ЦУР detection time stated after registration (RULES.md §2: T0 = detected_at, п.10).

    A hand-over registered without it counts from the post time; stated later, T0 moves there and the open T0
    terms (os.return, os.route, os.publish, os.draft) are recomputed from it, keeping what was sent about them.
    Only while none of them has closed (the table allows it before the routing is approved): a term already met
    or missed is history and is not re-judged. A T0 term re-opened since (re-routing after every unit
    declined) counts from its own instant, so the step is refused once a unit has declined.
    """
    case = ctx.case
    detected = ctx.payload.detected_at
    if detected is None:
        raise _invalid("Укажите время выявления ЦУР")
    if not case.handed_over:
        raise _invalid("Время выявления ЦУР указывается только для сообщений, переданных куратором ЦУР")
    if case.declined_units:
        raise DomainError(_DETECTED_TOO_LATE, code="wrong_status")
    posted = case.received_at or case.t0
    check_detected(detected, posted, ctx.at)
    moved = replace(
        case, t0=detected, received_at=posted if detected != posted else None, detection_stated=True
    )
    retimes = t0_retimes(case, moved, ctx.actor, ctx.at, rules=ctx.rules, calendar=ctx.calendar)
    data: dict[str, object] = {"detected_at": detected.isoformat(), "previous_t0": case.t0.isoformat()}
    return Delta(case=moved, retimes=retimes, data=data)


def t0_retimes(
    before: Case, moved: Case, actor: Actor, at: datetime, *, rules: Rules, calendar: Calendar
) -> tuple[TermRetime, ...]:
    """The T0 terms of an open-sources case recomputed from `moved.t0`. Each names the start it moves from (the
    old T0): the use case moves only the open rows that still count from there, so a term already met or
    missed stays history, and one re-opened since (re-routing) keeps its own instant."""
    after = Context(moved, Action.ROUTE, actor, at, ActionPayload(), rules, calendar, None)
    starts = (_start(after, term_id) for term_id in INITIAL_TERMS[OS])
    return tuple(TermRetime(s.term_id, before.t0, s.started_at, s.due) for s in starts)


_DETECTED_TOO_LATE = "Время выявления ЦУР уже не изменить: сроки направления и возврата по сообщению закрыты"


# Helpers for unit-scoped effects.


def _unit(ctx: Context) -> str:
    assert ctx.unit is not None, "unit-scoped step without an acting unit"
    return ctx.unit


def _assignment(ctx: Context) -> Assignment:
    found = ctx.case.assignment(_unit(ctx))
    assert found is not None  # _acting_unit checked it
    return found


def _with_assignment(case: Case, assignment: Assignment) -> Case:
    return replace(
        case, assignments=tuple(assignment if a.unit == assignment.unit else a for a in case.assignments)
    )


def _router(procedure: Procedure) -> Role:
    """Who routes the procedure's messages (and hears when a unit hands one back)."""
    return ACTION_ROLES[(procedure, Action.ROUTE)][0]


def _step(ctx: Context) -> Step:
    return TABLE[(ctx.case.procedure, Status(ctx.case.status), ctx.action)]


# --- the table ----------------------------------------------------------------------------------------------

_R = Role
_S = Status
_N = NoticeKind

OS_OPEN = (_S.NEW, _S.ROUTING_PROPOSED, _S.IN_UNITS, _S.ON_APPROVAL, _S.REWORK, _S.APPROVED, _S.INTERIM)
POS_OPEN = (_S.NEW, _S.IN_WORK, _S.ON_APPROVAL, _S.REWORK, _S.APPROVED, _S.INTERIM)
# Where a unit's own work (information, acceptance) is still welcome: the case is routed and not closed.
OS_ROUTED = (_S.ROUTING_PROPOSED, _S.IN_UNITS, _S.ON_APPROVAL, _S.REWORK, _S.APPROVED, _S.INTERIM)
POS_ROUTED = (_S.IN_WORK, _S.ON_APPROVAL, _S.REWORK, _S.APPROVED, _S.INTERIM)

_OPERATOR = (_R.OPERATOR,)
_UNIT = (_R.UNIT_OFFICIAL,)
_REGION = (_R.REGION_CURATOR,)
_POS_CURATOR = (_R.POS_CURATOR,)
_POSTERS = (_R.POS_CURATOR, _R.COORDINATOR)  # who marks an answer posted in ПОС
_EXECUTOR = (_R.EXECUTOR,)
_OFFICE_HEAD = (_R.OFFICE_HEAD,)


# fmt: off
def _build() -> dict[tuple[Procedure, Status, Action], Step]:
    t: dict[tuple[Procedure, Status, Action], Step] = {}

    def add(procedure: Procedure, statuses: Iterable[Status], action: Action, step: Step) -> None:
        for status in statuses:
            t[(procedure, status, action)] = step

    # Open sources (RULES.md §2).
    # The proposal passes os.route to the office head; once routed, the return-only os.return ends met (§6).
    propose = Step(_OPERATOR, _S.ROUTING_PROPOSED, effect=_propose_routing)
    add(OS, (_S.NEW, _S.ROUTING_PROPOSED, _S.IN_UNITS), Action.ROUTE, propose)
    add(OS, (_S.ROUTING_PROPOSED,), Action.APPROVE_ROUTING,
        Step(_OFFICE_HEAD, _S.IN_UNITS, stop=("os.route", "os.return"), effect=_approve_routing))
    add(OS, (_S.NEW, _S.ROUTING_PROPOSED), Action.RETURN,
        Step(_OPERATOR, _S.RETURNED, stop=("os.return",), close_all=True, reason="optional",
             notify=((_N.RETURNED_TO_CURATOR, _R.REGION_CURATOR),)))
    add(OS, OS_ROUTED, Action.INFO,
        Step(_UNIT, stop=("os.unit_info",), text="required", unit_scoped=True, effect=_info))
    add(OS, (_S.ROUTING_PROPOSED, _S.IN_UNITS), Action.DECLINE,
        Step(_UNIT, reason="optional", unit_scoped=True, effect=_decline))
    for status, done in ((_S.IN_UNITS, "os.draft"), (_S.REWORK, "os.rework"), (_S.INTERIM, "os.final")):
        add(OS, (status,), Action.SUBMIT,
            Step(_OPERATOR, _S.ON_APPROVAL, stop=(done,), start=("os.approve",), text="required",
                 effect=_submit))
    add(OS, (_S.ON_APPROVAL,), Action.APPROVE,
        Step(_REGION, _S.APPROVED, stop=("os.approve",), notify=((_N.APPROVED, _R.OPERATOR),),
             effect=_approve))
    add(OS, (_S.ON_APPROVAL,), Action.REWORK,
        Step(_REGION, _S.REWORK, stop=("os.approve",), start=("os.rework",), reason="required",
             notify=((_N.REWORK, _R.OPERATOR),), effect=_rework))
    add(OS, (_S.APPROVED,), Action.PUBLISH,
        Step(_OPERATOR, _S.ANSWERED, stop=("os.publish", "os.final_publish"), close_all=True, effect=_publish))
    add(OS, (_S.APPROVED,), Action.INTERIM,
        Step(_OPERATOR, _S.INTERIM, stop=("os.publish",), start=("os.final",), effect=_interim))
    add(OS, OS_OPEN, Action.EXCLUDE,
        Step(_OPERATOR, _S.EXCLUDED, close_all=True, reason="required", notify=((_N.CASE_CLOSED, "units"),),
             effect=_exclude))
    add(OS, OS_OPEN, Action.SIGNIFICANT,
        Step((_R.OPERATOR, _R.SYSTEM), reason="optional",
             notify=((_N.SIGNIFICANT, _R.HEAD), (_N.SIGNIFICANT, _R.OFFICE_HEAD)), effect=_significant))
    add(OS, OS_OPEN, Action.CLOSE,
        Step(_OFFICE_HEAD, _S.CLOSED, close_all=True, reason="required", notify=((_N.CASE_CLOSED, "units"),),
             effect=_close))
    add(OS, (_S.CLOSED,), Action.REOPEN,
        Step(_OFFICE_HEAD, reason="required", notify=((_N.CASE_REOPENED, "units"),), effect=_reopen))
    add(OS, OS_OPEN, Action.SCREEN_KEEP, Step(_OPERATOR, effect=_screen_keep))
    add(OS, OS_OPEN, Action.LINK_REPEAT, Step(_OPERATOR, effect=_link_repeat))
    # While every T0 term is still open: before the routing is approved (see _set_detected).
    add(OS, (_S.NEW, _S.ROUTING_PROPOSED), Action.SET_DETECTED,
        Step((_R.OPERATOR, _R.REGION_CURATOR), effect=_set_detected))

    # ПОС (RULES.md §3).
    add(POS, (_S.NEW, _S.IN_WORK), Action.ROUTE,
        Step(_POS_CURATOR, _S.IN_WORK, stop=("pos.route",), effect=_route_pos))
    add(POS, POS_ROUTED, Action.ACCEPT,
        Step(_EXECUTOR, stop=("pos.return",), unit_scoped=True, effect=_accept))
    add(POS, POS_ROUTED, Action.INFO,
        Step(_EXECUTOR, stop=("pos.coexec", "pos.return"), text="required", unit_scoped=True, effect=_info))
    add(POS, (_S.IN_WORK,), Action.DECLINE,
        Step(_EXECUTOR, stop=("pos.return",), reason="optional", unit_scoped=True, effect=_decline))
    # pos.final runs on past the final draft, to the posting (п.13).
    pos_done: tuple[tuple[Status, tuple[str, ...]], ...] = (
        (_S.IN_WORK, ("pos.draft",)), (_S.REWORK, ("pos.rework",)), (_S.INTERIM, ()),
    )
    for status, finished in pos_done:
        add(POS, (status,), Action.SUBMIT,
            Step(_EXECUTOR, _S.ON_APPROVAL, stop=(*finished, "pos.return"), start=("pos.approve",),
                 text="required", unit_scoped=True, effect=_submit))
    add(POS, (_S.ON_APPROVAL,), Action.APPROVE,
        Step(_POS_CURATOR, _S.APPROVED, stop=("pos.approve",),
             notify=((_N.APPROVED, "responsible"), (_N.APPROVED, _R.COORDINATOR)), effect=_approve))
    add(POS, (_S.ON_APPROVAL,), Action.REWORK,
        Step(_POS_CURATOR, _S.REWORK, stop=("pos.approve",), start=("pos.rework",), reason="required",
             notify=((_N.REWORK, "responsible"),), effect=_rework))
    add(POS, (_S.APPROVED,), Action.PUBLISH,
        Step(_POSTERS, _S.ANSWERED, stop=("pos.answer", "pos.final"), close_all=True, effect=_publish))
    add(POS, (_S.APPROVED,), Action.INTERIM,
        Step(_POSTERS, _S.INTERIM, stop=("pos.answer",), start=("pos.final",),
             notify=((_N.INTERIM_PUBLISHED, "responsible"),), effect=_interim))
    add(POS, POS_OPEN, Action.EXCLUDE,
        Step(_POS_CURATOR, _S.EXCLUDED, close_all=True, reason="required",
             notify=((_N.CASE_CLOSED, "units"),)))
    add(POS, POS_OPEN, Action.SCREEN_KEEP, Step(_POS_CURATOR, effect=_screen_keep))
    add(POS, POS_OPEN, Action.CLOSE,
        Step(_OFFICE_HEAD, _S.CLOSED, close_all=True, reason="required", notify=((_N.CASE_CLOSED, "units"),),
             effect=_close))
    add(POS, (_S.CLOSED,), Action.REOPEN,
        Step(_OFFICE_HEAD, reason="required", notify=((_N.CASE_REOPENED, "units"),), effect=_reopen))
    add(POS, POS_OPEN, Action.LINK_REPEAT, Step(_POS_CURATOR, effect=_link_repeat))
    return t
# fmt: on


TABLE: Mapping[tuple[Procedure, Status, Action], Step] = _build()


def _action_roles() -> dict[tuple[Procedure, Action], tuple[Role, ...]]:
    roles: dict[tuple[Procedure, Action], tuple[Role, ...]] = {}
    for (procedure, _status, action), step in TABLE.items():
        known = roles.setdefault((procedure, action), step.roles)
        assert known == step.roles, f"{procedure}/{action}: one action, one set of roles"
    return roles


ACTION_ROLES: Mapping[tuple[Procedure, Action], tuple[Role, ...]] = _action_roles()


# --- entry points -------------------------------------------------------------------------------------------


def _aware(at: datetime, what: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {at.isoformat()}")


def _acting_role(actor: Actor, roles: tuple[Role, ...]) -> Role | None:
    return next((role for role in roles if actor.has(role)), None)


def transition(
    case: Case,
    action: Action,
    actor: Actor,
    at: datetime,
    *,
    rules: Rules,
    calendar: Calendar,
    payload: ActionPayload | None = None,
) -> Transition:
    """Apply `action` to `case`, or raise DomainError saying why (checks: role, done, status, payload)."""
    _aware(at, "at")
    action = Action(action)
    status = Status(case.status)
    roles = ACTION_ROLES.get((case.procedure, action))
    if roles is None:
        raise _wrong_status(status)  # the action does not exist in this procedure
    role = _acting_role(actor, roles)
    if role is None:
        raise _forbidden(f"Недостаточно прав: {_ACTION_PHRASES[action]} может только {_who(roles)}")
    _check_already(case, action, status)
    step = TABLE.get((case.procedure, status, action))
    if step is None and action is Action.SET_DETECTED and case.procedure is OS:
        raise DomainError(_DETECTED_TOO_LATE, code="wrong_status")
    if step is None:
        raise _wrong_status(status)
    raw = payload or ActionPayload()
    unit = _acting_unit(case, actor, action, raw, rules) if step.unit_scoped else None
    assignment = case.assignment(unit) if unit is not None else None
    done = _UNIT_ALREADY.get(action)
    if assignment is not None and done is not None and done[0](assignment) and not _adds_files(action, raw):
        raise _already(done[1])
    ctx = Context(case, action, actor, at, _checked_payload(step, action, raw), rules, calendar, unit)
    delta = step.effect(ctx) if step.effect is not None else Delta(case=case)

    new_status = delta.to or step.to or status
    stops = [_done(rules, case.procedure, action, t, unit) for t in step.stop]
    stops += delta.stops
    stops += (_cancel(rules, t) for t in step.cancel)
    if step.close_all:
        met = set(step.stop)
        rest = (r.id for r in rules.terms_of(case.procedure) if r.id not in met)
        stops += (_cancel(rules, t) for t in rest)
    # Case-wide terms count from T0 or from this event; computed on the case as the effect left it.
    after = replace(ctx, case=delta.case)
    starts = (*delta.starts, *(_start(after, t) for t in step.start))

    notices = list(delta.notices)
    for kind, recipient in step.notify:
        notices += _recipients(after, kind, recipient)
    data: dict[str, object] = {"from": status.value, "to": new_status.value, **delta.data}
    if actor.name and role is not Role.SYSTEM:
        data["by"] = actor.name  # history lines name the person, not only the role
    if ctx.payload.reason:
        data["reason"] = ctx.payload.reason
    if ctx.payload.attachments:
        data["attachments"] = [
            {"kind": a.kind, "ref": a.ref, "name": a.name} for a in ctx.payload.attachments
        ]
    event = Event(
        action=action.value,
        actor_id=actor.user_id,
        actor_role=role,
        at=at,
        text=ctx.payload.text or ctx.payload.reason,
        data=data,
    )
    new_case = replace(delta.case, status=new_status.value, version=case.version + 1)
    return Transition(
        case=new_case,
        events=(event,),
        starts=starts,
        stops=tuple(stops),
        notices=tuple(_with_reason(n, ctx.payload.reason) for n in notices),
        draft_text=ctx.payload.text if action is Action.SUBMIT else None,
        handovers=delta.handovers,
        reopen_terms=action is Action.REOPEN,
        retimes=delta.retimes,
    )


def _recipients(ctx: Context, kind: NoticeKind, recipient: Recipient) -> list[Notice]:
    case = ctx.case
    if recipient == "units":
        role = UNIT_ROLE[case.procedure]
        return [Notice(kind, role, unit) for unit in case.units]
    if recipient == "responsible":
        lead = case.responsible_unit
        if lead is None:  # no executor named (it declined): the curator acts for the case
            return [Notice(kind, _router(case.procedure))]
        return [Notice(kind, Role.EXECUTOR, lead)]
    return [Notice(kind, recipient)]


def _with_reason(notice: Notice, reason: str) -> Notice:
    if not reason or "reason" in notice.payload:
        return notice
    return replace(notice, payload={**notice.payload, "reason": reason})


def open_case(
    message: InboundMessage,
    case_id: int,
    at: datetime,
    *,
    rules: Rules,
    calendar: Calendar,
    actor: Actor = SYSTEM_ACTOR,
    repeat_of: int | None = None,
    screening: Findings | None = None,
) -> Transition:
    """Register a message as a new case (a repeat message too: the same cycle, `repeat_of` set).

    `screening`: what workflow.screening found in the text (None: not screened). Findings are kept in the
    registration event's data; flags make the case wait for a person's decision (Case.screening), a
    significant topic makes the card suggest the report to the head.

    T0 is `message.t0`: the ЦУР detection time of an open-sources message when given, else `received_at`; the
    initial terms (INITIAL_TERMS) count from it. A ПОС due date from ПОС caps pos.answer when stricter.
    """
    _aware(at, "at")
    _aware(message.received_at, "message.received_at")
    procedure = message.procedure
    role = registering_role(actor, procedure)
    category: str | None = None
    if procedure is POS:
        category = message.category
        if category not in rules.categories:
            names = "; ".join(f"{c.id} — {c.title}" for c in rules.categories.values())
            raise _invalid(f"Укажите категорию сообщения ПОС ({names})")
    check_message_instant(message.received_at, at)
    if message.detected_at is not None and message.detected_at.utcoffset() is not None:
        check_message_instant(message.detected_at, at)
    _check_detected(message, at)
    _check_pos_due(message, calendar)
    detected = message.detected_at
    case = Case(
        id=case_id,
        procedure=procedure,
        status=Status.NEW.value,
        version=1,
        t0=message.t0,
        category=category,
        repeat_of=repeat_of,
        received_at=message.received_at if detected is not None and detected != message.received_at else None,
        handed_over=message.handed_over or message.source is Source.REGION_CURATOR,
        pos_due=message.pos_due,
        detection_stated=detected is not None,
        cur_number=message.cur_number[:CARD_NUMBER_LIMIT],
        cur_curator=message.cur_curator[:CURATOR_LIMIT],
        screening=SCREEN_PENDING if screening is not None and screening.flags else "",
        suggest_significant=screening is not None and screening.significant,
    )
    if message.pos_due is not None:
        case = replace(case, rules_answer_due=rules.due("pos.answer", case.t0, calendar, category=category))
    # No action yet: the context only gives the initial terms their clock (T0, rules, calendar).
    ctx = Context(case, Action.ROUTE, actor, at, ActionPayload(), rules, calendar, None)
    starts = tuple(_start(ctx, term_id) for term_id in INITIAL_TERMS[procedure])
    info: dict[str, object] = {
        "source": message.source.value,
        "source_id": message.source_id,
        "t0": case.t0.isoformat(),
        "category": category,
        "repeat_of": repeat_of,
    }
    if detected is not None:
        info["received_at"] = message.received_at.isoformat()
    if message.network is not None:
        info["network"] = message.network.value
    if case.handed_over:
        info["handed_over"] = True
    if message.pos_due is not None:
        info["pos_due"] = message.pos_due.isoformat()
    if screening is not None and (screening.flags or screening.significant):
        info[SCREENING] = screening_data(screening)
    data: dict[str, object] = {"to": Status.NEW.value, **info}
    if actor.name and role is not Role.SYSTEM:
        data["by"] = actor.name  # history lines name the person, not only the role
    event = Event(action=REGISTER, actor_id=actor.user_id, actor_role=role, at=at, data=data)
    notice = Notice(
        NoticeKind.REGISTERED, Role.OPERATOR if procedure is OS else Role.POS_CURATOR, payload=info
    )
    return Transition(case=case, events=(event,), starts=starts, notices=(notice,))


def screening_data(findings: Findings) -> dict[str, object]:
    """Screening findings as event data: flags, significance and the triggering words (bounded)."""
    matches = [
        {"flag": m.flag, "text": m.text[:SCREEN_MATCH_LIMIT]} for m in findings.matches[:SCREEN_MATCHES]
    ]
    return {"flags": list(findings.flags), "significant": findings.significant, "matches": matches}


def registering_role(actor: Actor, procedure: Procedure) -> Role:
    """The role the actor registers a message of `procedure` in, or the refusal saying who may."""
    roles = REGISTER_ROLES[procedure]
    role = _acting_role(actor, roles)
    if role is None:
        raise _forbidden(f"Недостаточно прав: зарегистрировать сообщение может только {_who(roles)}")
    return role


def check_message_instant(when: datetime, now: datetime) -> None:
    """An instant a message states (when it arrived, when ЦУР detected it): from 2000 to a day after `now`.

    Pure, for the domain (open_case) and for the dialogue that asks for it, which can refuse it at once.
    """
    if when < EARLIEST_MESSAGE:
        raise _invalid("Дата сообщения не может быть раньше 01.01.2000: проверьте год")
    if when > now + FUTURE_LEEWAY:
        raise _invalid("Дата сообщения не может быть позже завтрашнего дня: проверьте год")


def _check_detected(message: InboundMessage, at: datetime) -> None:
    """The ЦУР detection time (RULES.md §2): open sources only, aware, not in the future, not after the post."""
    detected = message.detected_at
    if detected is None:
        return
    if message.procedure is POS:
        raise _invalid("Время выявления ЦУР указывается только для сообщений из открытых источников")
    check_detected(detected, message.received_at, at)


def check_detected(detected: datetime, posted: datetime, now: datetime) -> None:
    """A ЦУР detection time: aware, from 2000, not in the future, not after the hand-over was posted.

    Pure, for open_case, set_detected and the prompt that asks for it (which refuses at once).
    """
    if detected.tzinfo is None or detected.utcoffset() is None:
        raise _invalid("Время выявления ЦУР: укажите часовой пояс, например 2026-12-01T09:00+07:00")
    check_message_instant(detected, now)
    if detected > now:
        raise _invalid("Время выявления ЦУР не может быть позже текущего момента")
    if detected > posted + DETECTED_LEEWAY:
        raise _invalid("Время выявления ЦУР не может быть позже поступления сообщения в администрацию")


def _check_pos_due(message: InboundMessage, calendar: Calendar) -> None:
    """The answer due date ПОС shows (RULES.md §6): ПОС only, a date, not before the message arrived."""
    due = message.pos_due
    if due is None:
        return
    if message.procedure is not POS:
        raise _invalid("Срок ответа по данным ПОС указывается только для сообщений ПОС")
    if isinstance(due, datetime):
        raise _invalid("Срок ответа по данным ПОС — это дата без времени, например 2026-11-20")
    check_pos_due(due, message.received_at, calendar.tz)


def check_pos_due(due: date, received_at: datetime, tz: tzinfo) -> None:
    """The ПОС due date against the arrival (local dates): not before it, and within a year of it (ПОС's
    longest term is 20 days; a later year is a typo). Pure, for the domain and for the dialogue that asks."""
    received = received_at.astimezone(tz).date()
    if due < received:
        raise _invalid("Срок ответа по данным ПОС не может быть раньше даты поступления сообщения")
    if (due - received).days > POS_DUE_HORIZON_DAYS:
        raise _invalid(
            "Срок ответа по данным ПОС не может быть позже чем через год после поступления: проверьте год"
        )


# --- undo ---------------------------------------------------------------------------------------------------

UNDO = "undo"  # Event.action of an undo
# Every action of the table can be undone: its event keeps the case before it and the term rows it opened,
# closed and handed over (model.UndoState), so the inverse is exact whatever the action did. Not undoable:
# the registration (exclude or close the case instead) and an undo itself (do the action again instead).
# What went out stays out: notices already sent are not recalled (the cards show the undo in the history), an
# answer published in a network is not unpublished. A term closed missed by the action and opened again by
# its undo is still past due, so it is missed again where it is closed; its alert keys keep it from being sent
# twice (RULES.md §6: misses are history).
# Not undoable either: the stated detection time, which moves term rows in place (retimes) that UndoState
# does not record.
UNDOABLE: frozenset[str] = frozenset(a.value for a in Action) - {Action.SET_DETECTED.value}
# A reopen (REOPEN_POLICY): the office head reopens a case he closed, with a reason. The case returns to the
# status it was closed in, with its units and drafts; the terms the close cancelled open again with their own
# due instants (the Порядок counts them from T0 or from their event, not from the reopen), so a term whose due
# passed while the case was closed is overdue at once and alerted as missed. Terms the close found already
# missed stay closed, missed: the breach is recorded once (RULES.md §6). A case returned, excluded or answered
# is not reopened: a repeat message is a new case (п.13 / п.15 ПОС); a mistaken step is undone within minutes.
REOPEN_POLICY = "closed cases only; status before close; cancelled terms reopen with their due; misses stay"


def undo_last(
    case: Case, last: Event | None, actor: Actor, at: datetime, *, window: timedelta = DEFAULT_UNDO_WINDOW
) -> Transition:
    """Undo `last`, the case's latest event, for its author within `window`; DomainError saying why not.

    The transition puts back the case as it was before the action (at a new version) and records an «undo»
    event naming the undone one; `undone` tells the use case which term rows to put back.
    """
    _aware(at, "at")
    if last is None or last.action == REGISTER:
        raise _wrong_status_text("Отменять нечего: по сообщению ещё не было действий")
    if last.action == UNDO:
        raise _already("Последнее действие уже отменено")
    state = last.undo
    if state is None or last.action not in UNDOABLE:
        raise _wrong_status_text("Это действие отменить нельзя")
    if last.actor_id != actor.user_id or actor.user_id == SYSTEM_ACTOR.user_id:
        raise _forbidden("Отменить действие может только тот, кто его выполнил")
    if at - last.at > window:
        minutes = max(1, int(window.total_seconds() // 60))
        raise _wrong_status_text(f"Отменить действие можно только в течение {minutes} мин после него")
    if state.case.version + 1 != case.version:
        raise _wrong_status_text("После этого действия по сообщению уже было другое — отменить его нельзя")
    restored = replace(state.case, version=case.version + 1)
    try:
        label = Action(last.action).label
    except ValueError:
        label = last.action
    data: dict[str, object] = {
        "from": case.status,
        "to": restored.status,
        "undone": last.action,
        "undone_id": last.id,
        "undone_label": label,
    }
    if actor.name:
        data["by"] = actor.name
    event = Event(action=UNDO, actor_id=actor.user_id, actor_role=last.actor_role, at=at, data=data)
    return Transition(case=restored, events=(event,), undone=state)


def _wrong_status_text(message: str) -> DomainError:
    return DomainError(message, code="wrong_status")


def available_actions(case: Case, actor: Actor) -> tuple[Action, ...]:
    """Actions the table offers this actor in the case's status (for keyboards; `transition` decides)."""
    status = Status(case.status)
    found: list[Action] = []
    for action in Action:
        step = TABLE.get((case.procedure, status, action))
        if step is None or _acting_role(actor, step.roles) is None:
            continue
        if step.unit_scoped and not actor.units & set(case.units):
            continue
        # «Принять» once pressed is no longer an offer: the unit has accepted (a second press says so anyway).
        if action is Action.ACCEPT and all(a.accepted for a in case.assignments if a.unit in actor.units):
            continue
        # One interim answer a case (п.11): once given, the approved final draft is the answer itself.
        if action is Action.INTERIM and case.interim:
            continue
        # In ПОС only the responsible executor sends the common draft (п.14.3); co-executors give information.
        if action is Action.SUBMIT and case.procedure is POS and case.responsible_unit not in actor.units:
            continue
        # «Не исключать» answers the screening's warning, once (Case.screening).
        if action is Action.SCREEN_KEEP and case.screening != SCREEN_PENDING:
            continue
        # The detection time is asked for once, of a hand-over registered without it (handlers.intake).
        if action is Action.SET_DETECTED and (
            not case.handed_over or case.detection_stated or case.received_at is not None
        ):
            continue
        # «Повторное к № N» only where an earlier case was suggested and nothing is linked yet.
        if action is Action.LINK_REPEAT and (case.repeat_suggested is None or case.repeat_of is not None):
            continue
        found.append(action)
    return tuple(found)
