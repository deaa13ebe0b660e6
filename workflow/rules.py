"""Regulation No. 746 as data: every term of both procedures, the ПОС category classes, reminders and alerts.

The built-in defaults are RULES.md §2, §3 and §5. A municipality with other numbers overrides them from the
`[rules]` table of its config (`Rules.from_mapping`); the lifecycle (`workflow/lifecycle.py`) decides *when*
a term opens and closes, this module decides *how long* it is and who owes it.

Config shape (every key optional; a term table may hold kind, amount, anchor, owner, title, clause, escalate,
return_only):

    [rules.terms."os.publish"]
    amount = 480                  # minutes for working_minutes kinds, days for *_days kinds
    owner = "operator"
    escalate = ["head"]           # extra roles told when the term is missed
    [rules.terms."os.return"]
    return_only = true            # owed only when the message is returned: no reminders, a lapse is no miss
    [rules.terms."os.draft"]
    kind = "before_working_minutes"
    anchor = "os.publish"         # "before" kinds count back from another term
    amount = 120
    [rules.pos_categories]
    federal_fast = 8              # override a known class's days
    regional = { days = 10, title = "Региональная категория" }   # add a class
    [rules.reminders]
    fractions = [0.5, 0.8]
    [rules.alerts]
    missed = ["office_head"]      # told about every missed term, besides its owner and the curator
    [rules.curators]
    open_sources = "region_curator"
    pos = "pos_curator"
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol

from workflow.model import Procedure, Role


class RulesError(ValueError):
    """Invalid rules config or a request the rules cannot answer; the message is one line naming the key."""


class Calendar(Protocol):
    """The part of `workflow.calendar.WorkingCalendar` the rules use (kept structural: no import cycle)."""

    def add_working(self, start: datetime, minutes: int | float) -> datetime: ...

    def subtract_working(self, end: datetime, minutes: int | float) -> datetime: ...

    def working_time_between(self, a: datetime, b: datetime) -> timedelta: ...

    def add_working_days(self, event: datetime, n: int) -> datetime: ...

    def add_calendar_days(self, event: datetime, n: int) -> datetime: ...

    def days_before(self, due: datetime, n: int) -> datetime: ...

    def end_of_working_day(self, d: date) -> datetime: ...

    @property
    def tz(self) -> tzinfo: ...


class TermKind(StrEnum):
    WORKING_MINUTES = "working_minutes"
    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"
    CATEGORY_DAYS = "category_days"  # days of the case's ПОС category class (п.10)
    # amount = percent of the category's days, counted as calendar days from the anchor
    CATEGORY_FRACTION = "category_fraction"
    BEFORE_WORKING_MINUTES = "before_working_minutes"  # another term's due minus working minutes
    # end of working hours of (another term's day - N calendar days), or of the last working day before it
    BEFORE_DAYS = "before_days"
    IMMEDIATE = "immediate"

    @property
    def is_before(self) -> bool:
        return self in (TermKind.BEFORE_WORKING_MINUTES, TermKind.BEFORE_DAYS)

    @property
    def takes_amount(self) -> bool:
        return self not in (TermKind.CATEGORY_DAYS, TermKind.IMMEDIATE)


class Anchor(StrEnum):
    """The instant a term counts from: an event of the lifecycle ("before" terms name a term instead)."""

    T0 = "t0"  # detected_at (open sources) / received_at (ПОС)
    ROUTED = "routed"  # the office head approved routing to the unit
    ASSIGNED = "assigned"  # the ПОС curator assigned the executor
    DRAFT_SUBMITTED = "draft_submitted"
    RETURNED_FOR_REWORK = "returned_for_rework"
    INTERIM = "interim"  # the interim answer was published / sent
    APPROVED = "approved"  # the curator approved the draft (here: the final draft after an interim answer)


@dataclass(frozen=True, slots=True)
class TermRule:
    id: str
    procedure: Procedure
    clause: str
    event: Anchor  # the lifecycle event that opens the term; fixed, not configurable
    kind: TermKind
    amount: int | None  # minutes or days; percent for category_fraction; None for category_days / immediate
    owner: Role
    title: str  # Russian, for cards
    per_unit: bool = False  # one term per assigned unit
    before: str | None = None  # the term a "before" kind counts back from
    escalate: tuple[Role, ...] = ()  # told on a miss besides owner, curator and the alert roles
    # RULES.md §6: a term owed only *if* the step is taken (a return when the message is not ours). Nobody is
    # reminded or alerted about it; its lapse is acceptance; a return after the due instant is a miss.
    return_only: bool = False
    # Never later than this term's due (counted from the same event): pos.coexec before pos.draft (п.14.2) …
    not_after: str | None = None
    # … and opened at or after that instant, it runs this many working days from its opening instead.
    late_working_days: int | None = None
    late_note: str = ""  # Russian, on the card when the late rule applied

    @property
    def anchor(self) -> str:
        """Which instant the term counts from: an `Anchor` value, or another term's id for "before" kinds."""
        return self.before if self.before is not None else self.event.value


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    days: int
    title: str


def _t(
    id: str,
    clause: str,
    event: Anchor,
    kind: TermKind,
    amount: int | None,
    owner: Role,
    title: str,
    *,
    per_unit: bool = False,
    before: str | None = None,
    escalate: tuple[Role, ...] = (),
    return_only: bool = False,
    not_after: str | None = None,
    late_working_days: int | None = None,
    late_note: str = "",
) -> TermRule:
    procedure = Procedure.OPEN_SOURCES if id.startswith("os.") else Procedure.POS
    return TermRule(
        id, procedure, clause, event, kind, amount, owner, title, per_unit, before, escalate, return_only,
        not_after, late_working_days, late_note,
    )  # fmt: skip


_K = TermKind
_A = Anchor
_R = Role

# fmt: off
DEFAULT_TERMS: tuple[TermRule, ...] = (
    # Open sources (RULES.md §2). os.return and os.route are alternatives opened together at T0; os.return is
    # owed only if the message is not ours (return-only, RULES.md §6) and ends met once it is routed.
    _t("os.return", "п.6", _A.T0, _K.WORKING_MINUTES, 30, _R.OPERATOR,
       "Возврат куратору ЦУР (не компетенция администрации)", return_only=True),
    # Held by the operator until the routing is proposed, then by the office head until approved.
    _t("os.route", "п.6", _A.T0, _K.WORKING_MINUTES, 60, _R.OPERATOR,
       "Направление в подразделение"),
    _t("os.unit_info", "п.12.3", _A.ROUTED, _K.WORKING_MINUTES, 120, _R.UNIT_OFFICIAL,
       "Информация подразделения для ответа", per_unit=True),
    _t("os.draft", "п.7", _A.T0, _K.BEFORE_WORKING_MINUTES, 120, _R.OPERATOR,
       "Проект ответа куратору ЦУР", before="os.publish"),
    _t("os.approve", "п.8", _A.DRAFT_SUBMITTED, _K.WORKING_MINUTES, 30, _R.REGION_CURATOR,
       "Согласование проекта куратором ЦУР"),
    _t("os.rework", "п.9", _A.RETURNED_FOR_REWORK, _K.WORKING_MINUTES, 60, _R.OPERATOR,
       "Доработка проекта"),
    _t("os.publish", "п.10", _A.T0, _K.WORKING_MINUTES, 540, _R.OPERATOR,
       "Публикация ответа", escalate=(_R.HEAD,)),
    _t("os.final", "п.11", _A.INTERIM, _K.WORKING_DAYS, 7, _R.OPERATOR,
       "Окончательный проект ответа после промежуточного"),
    # The text sets no term for publishing the approved final answer: our default, configurable.
    _t("os.final_publish", "п.11", _A.APPROVED, _K.WORKING_MINUTES, 60, _R.OPERATOR,
       "Публикация окончательного ответа"),
    # ПОС (RULES.md §3).
    _t("pos.route", "п.8", _A.T0, _K.WORKING_MINUTES, 60, _R.POS_CURATOR,
       "Направление исполнителям"),
    # Return-only (RULES.md §6): ends met when the executor accepts, gives information or a draft.
    _t("pos.return", "п.9.1", _A.ASSIGNED, _K.WORKING_MINUTES, 30, _R.EXECUTOR,
       "Возврат куратору ПОС (не компетенция исполнителя)", per_unit=True, return_only=True),
    # "All" owe pos.answer (RULES.md); the pos curator posts it in ПОС, so the curator owns the term.
    _t("pos.answer", "п.10", _A.T0, _K.CATEGORY_DAYS, None, _R.POS_CURATOR,
       "Размещение ответа в ПОС", escalate=(_R.HEAD,)),
    _t("pos.draft", "п.9.2", _A.T0, _K.BEFORE_DAYS, 2, _R.EXECUTOR,
       "Проект ответа куратору ПОС", before="pos.answer"),
    _t("pos.approve", "п.11", _A.DRAFT_SUBMITTED, _K.WORKING_DAYS, 1, _R.POS_CURATOR,
       "Согласование проекта куратором ПОС"),
    _t("pos.rework", "п.12", _A.RETURNED_FOR_REWORK, _K.WORKING_DAYS, 1, _R.EXECUTOR,
       "Доработка проекта"),
    # Runs until the final answer is posted in ПОС (п.13); its draft goes through pos.approve / pos.rework.
    _t("pos.final", "п.13", _A.INTERIM, _K.WORKING_DAYS, 7, _R.EXECUTOR,
       "Окончательный ответ после промежуточного"),
    # amount = 50: half of the п.10 category term (8/14/20 -> 4/7/10 days), never after pos.draft; a
    # co-executor assigned after that instant has 1 working day.
    _t("pos.coexec", "п.14.2", _A.T0, _K.CATEGORY_FRACTION, 50, _R.EXECUTOR,
       "Информация соисполнителя ответственному исполнителю", per_unit=True,
       not_after="pos.draft", late_working_days=1,
       late_note="соисполнитель назначен после срока проекта ответа: 1 рабочий день с назначения"),
)
# fmt: on

DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category("federal_fast", 8, "Ускоренное решение (категория федерального уровня)"),
    Category("local_fast", 14, "Ускоренное решение (категория района и ЦУР НСО)"),
    Category("other", 20, "Прочие категории"),
)

DEFAULT_UNITS: Mapping[str, str] = MappingProxyType(
    {
        "housing": "ЖКХ, строительство и дорожное хозяйство",
        "education": "Управление образования",
        "social": "Социальная защита",
        "culture": "Культура, молодёжная политика и спорт",
        "economy": "Экономика и финансы",
        "settlements": "Администрации сельских поселений",
    }
)

DEFAULT_REMINDER_FRACTIONS: tuple[float, ...] = (0.5, 0.8)
DEFAULT_CURATORS: Mapping[Procedure, Role] = MappingProxyType(
    {
        Procedure.OPEN_SOURCES: Role.REGION_CURATOR,
        Procedure.POS: Role.POS_CURATOR,
    }
)
DEFAULT_MISSED_ALERTS: tuple[Role, ...] = (Role.OFFICE_HEAD,)
DEFAULT_UNDO_WINDOW = timedelta(minutes=5)
UNDO_MAX_MINUTES = 24 * 60

_TERM_KEYS = frozenset({"kind", "amount", "anchor", "owner", "title", "clause", "escalate", "return_only"})
_TOP_KEYS = frozenset({"terms", "pos_categories", "reminders", "alerts", "curators", "undo"})
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Rules:
    terms: Mapping[str, TermRule]
    categories: Mapping[str, Category]
    reminder_fractions: tuple[float, ...] = DEFAULT_REMINDER_FRACTIONS
    curators: Mapping[Procedure, Role] = field(default_factory=lambda: DEFAULT_CURATORS)
    missed_alerts: tuple[Role, ...] = DEFAULT_MISSED_ALERTS
    # unit id -> Russian title; the deployment passes its [units] table
    units: Mapping[str, str] = field(default_factory=lambda: DEFAULT_UNITS)
    # How long after an action its author may undo it ([rules.undo] minutes).
    undo_window: timedelta = DEFAULT_UNDO_WINDOW

    # --- construction -------------------------------------------------------------------------------------

    @classmethod
    def default(cls, *, units: Mapping[str, str] | None = None) -> Rules:
        return cls.from_mapping({}, units=units)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, units: Mapping[str, str] | None = None) -> Rules:
        """The defaults with `data` (a parsed `[rules]` table) merged over them; RulesError on any bad key."""
        _table(data, "rules")
        for key in data:
            if key not in _TOP_KEYS:
                raise RulesError(f"rules.{_key(key)}: unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
        terms = {rule.id: rule for rule in DEFAULT_TERMS}
        for term_id, override in _table(data.get("terms", {}), "rules.terms").items():
            where = f"rules.terms.{_key(term_id)}"
            if term_id not in terms:
                raise RulesError(f"{where}: unknown term (known: {', '.join(terms)})")
            terms[term_id] = _merge_term(terms[term_id], _table(override, where), where)
        # Check the edited terms first, so an error names the key the administrator wrote.
        edited = [terms[t] for t in data.get("terms", {})]
        _check_before_chains([*edited, *(r for r in terms.values() if r not in edited)], terms)
        return cls(
            terms=MappingProxyType(terms),
            categories=MappingProxyType(_categories(data.get("pos_categories", {}))),
            reminder_fractions=_fractions(data.get("reminders", {})),
            curators=MappingProxyType(_curators(data.get("curators", {}))),
            missed_alerts=_alerts(data.get("alerts", {})),
            units=MappingProxyType(_units(units)) if units is not None else DEFAULT_UNITS,
            undo_window=_undo_window(data.get("undo", {})),
        )

    # --- queries ------------------------------------------------------------------------------------------

    def term(self, term_id: str) -> TermRule:
        try:
            return self.terms[term_id]
        except KeyError:
            raise RulesError(f"unknown term {term_id!r} (known: {', '.join(self.terms)})") from None

    def terms_of(self, procedure: Procedure) -> tuple[TermRule, ...]:
        return tuple(rule for rule in self.terms.values() if rule.procedure == procedure)

    def category(self, category: str | None) -> Category:
        if category is None:
            raise RulesError(f"a category is required (one of: {', '.join(self.categories)})")
        try:
            return self.categories[category]
        except KeyError:
            raise RulesError(f"unknown category {category!r} (known: {', '.join(self.categories)})") from None

    def curator(self, procedure: Procedure) -> Role:
        return self.curators[procedure]

    def miss_recipients(self, term_id: str, holder: Role | None = None) -> tuple[Role, ...]:
        """Who hears of a missed term (RULES.md §5): the holder (the owner unless the term passed to another
        role), the procedure's curator, alerts, escalation."""
        rule = self.term(term_id)
        first = holder if holder is not None else rule.owner
        return _unique((first, self.curator(rule.procedure), *self.missed_alerts, *rule.escalate))

    def return_only(self, term_id: str) -> bool:
        """A return-only term (RULES.md §6): no reminder and no alert from the sweep; False for unknown ids."""
        rule = self.terms.get(term_id)
        return rule is not None and rule.return_only

    @property
    def return_only_terms(self) -> frozenset[str]:
        """The ids of the return-only terms (lists leave them out once past due)."""
        return frozenset(r.id for r in self.terms.values() if r.return_only)

    def lapsed_silently(self, term_id: str, due: datetime, now: datetime) -> bool:
        """A return-only term past its due and still open: the message counts as accepted, nothing is overdue
        (cards and lists leave it out)."""
        return self.return_only(term_id) and due < now

    def due(
        self,
        term_id: str,
        anchor: datetime,
        calendar: Calendar,
        *,
        category: str | None = None,
        limits: Mapping[str, datetime] | None = None,
    ) -> datetime:
        """The term's due instant counted from `anchor` ("before" kinds: the referenced term's anchor).

        `limits` caps named terms (the ПОС due date ПОС shows caps pos.answer), and the terms counted back from
        them follow.
        """
        found = self._due(term_id, anchor, calendar, category=category, limits=limits or {})
        limit = (limits or {}).get(term_id)
        return min(found, limit) if limit is not None else found

    def _due(
        self,
        term_id: str,
        anchor: datetime,
        calendar: Calendar,
        *,
        category: str | None,
        limits: Mapping[str, datetime],
    ) -> datetime:
        rule = self.term(term_id)
        if anchor.tzinfo is None or anchor.utcoffset() is None:
            raise RulesError(
                f"{term_id}: the anchor instant must be timezone-aware, got {anchor.isoformat()}"
            )
        kind, amount = rule.kind, rule.amount or 0
        if kind is TermKind.WORKING_MINUTES:
            return calendar.add_working(anchor, amount)
        if kind is TermKind.WORKING_DAYS:
            return calendar.add_working_days(anchor, amount)
        if kind is TermKind.CALENDAR_DAYS:
            return calendar.add_calendar_days(anchor, amount)
        if kind is TermKind.CATEGORY_DAYS:
            return calendar.add_calendar_days(anchor, self._category_for(term_id, category).days)
        if kind is TermKind.CATEGORY_FRACTION:
            # "within half the term" (п.14.2): round down so the share never exceeds it; at least 1 day.
            days = max(1, self._category_for(term_id, category).days * amount // 100)
            return calendar.add_calendar_days(anchor, days)
        if kind is TermKind.IMMEDIATE:
            return anchor
        assert rule.before is not None  # validated at construction
        other = self.due(rule.before, anchor, calendar, category=category, limits=limits)
        if kind is TermKind.BEFORE_WORKING_MINUTES:
            return calendar.subtract_working(other, amount)
        return calendar.days_before(other, amount)

    def _category_for(self, term_id: str, category: str | None) -> Category:
        try:
            return self.category(category)
        except RulesError as exc:
            raise RulesError(f"{term_id}: {exc}") from None

    def needs_category(self, term_id: str) -> bool:
        rule = self.term(term_id)
        if rule.kind in (TermKind.CATEGORY_DAYS, TermKind.CATEGORY_FRACTION):
            return True
        return rule.before is not None and self.needs_category(rule.before)


def due(
    term_id: str,
    anchor: datetime,
    calendar: Calendar,
    *,
    category: str | None = None,
    rules: Rules | None = None,
) -> datetime:
    """`Rules.due` on the given rules (the built-in defaults when none)."""
    return (rules or DEFAULT_RULES).due(term_id, anchor, calendar, category=category)


# --- config parsing ---------------------------------------------------------------------------------------


def _key(name: object) -> str:
    text = str(name)
    return text if _ID.match(text) else f'"{text}"'


def _table(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RulesError(f"{where}: must be a table, got {value!r}")
    return value


def _positive_int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise RulesError(f"{where}: must be a positive integer, got {value!r}")
    return value


def _role(value: object, where: str) -> Role:
    role = next((r for r in Role if r.value == value), None)
    if role is None or role is Role.SYSTEM:
        known = ", ".join(r.value for r in Role if r is not Role.SYSTEM)
        raise RulesError(f"{where}: unknown role {value!r} (known: {known})")
    return role


def _roles(value: object, where: str) -> tuple[Role, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise RulesError(f"{where}: must be a list of roles, got {value!r}")
    return _unique(_role(item, where) for item in value)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RulesError(f"{where}: must be a non-empty string, got {value!r}")
    return value.strip()


def _merge_term(rule: TermRule, override: Mapping[str, Any], where: str) -> TermRule:
    for key in override:
        if key not in _TERM_KEYS:
            raise RulesError(f"{where}.{_key(key)}: unknown key (known: {', '.join(sorted(_TERM_KEYS))})")
    kind = rule.kind
    if "kind" in override:
        try:
            kind = TermKind(override["kind"])
        except ValueError:
            known = ", ".join(k.value for k in TermKind)
            raise RulesError(f"{where}.kind: unknown kind {override['kind']!r} (known: {known})") from None
    amount = rule.amount
    if "amount" in override:
        if not kind.takes_amount:
            raise RulesError(f"{where}.amount: a {kind.value} term takes no amount")
        amount = _positive_int(override["amount"], f"{where}.amount")
    elif kind is not rule.kind:
        # The old amount is in another unit (minutes vs days): a new kind needs its own.
        if kind.takes_amount:
            raise RulesError(f"{where}.amount: required when the kind changes to {kind.value}")
        amount = None
    if not kind.takes_amount:
        amount = None
    if kind is TermKind.CATEGORY_FRACTION and amount is not None and amount > 100:
        raise RulesError(
            f"{where}.amount: a category_fraction amount is a percent from 1 to 100, got {amount}"
        )
    before = rule.before if kind.is_before else None
    if "anchor" in override:
        anchor = override["anchor"]
        if kind.is_before:
            before = _text(anchor, f"{where}.anchor")
        elif anchor != rule.event.value:
            raise RulesError(
                f"{where}.anchor: the lifecycle opens this term at {rule.event.value!r}; only a before kind "
                f"may name another term, got {anchor!r}"
            )
    if kind.is_before and before is None:
        raise RulesError(f"{where}.anchor: a {kind.value} term needs the id of the term it counts back from")
    return replace(
        rule,
        kind=kind,
        amount=amount,
        before=before,
        owner=_role(override["owner"], f"{where}.owner") if "owner" in override else rule.owner,
        title=_text(override["title"], f"{where}.title") if "title" in override else rule.title,
        clause=_text(override["clause"], f"{where}.clause") if "clause" in override else rule.clause,
        escalate=_roles(override["escalate"], f"{where}.escalate")
        if "escalate" in override
        else rule.escalate,
        return_only=_flag(override["return_only"], f"{where}.return_only")
        if "return_only" in override
        else rule.return_only,
    )


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise RulesError(f"{where}: must be true or false, got {value!r}")
    return value


def _check_before_chains(order: Iterable[TermRule], terms: Mapping[str, TermRule]) -> None:
    for rule in order:
        seen = [rule.id]
        current = rule
        where = f"rules.terms.{_key(rule.id)}.anchor"
        while current.before is not None:
            target = terms.get(current.before)
            if target is None:
                raise RulesError(f"{where}: points at a missing term {current.before!r}")
            if target.procedure is not rule.procedure:
                raise RulesError(f"{where}: {target.id!r} belongs to another procedure")
            if target.id in seen:
                raise RulesError(f"{where}: a cycle of before terms: {' -> '.join([*seen, target.id])}")
            if target.per_unit:
                raise RulesError(f"{where}: cannot count back from the per-unit term {target.id!r}")
            seen.append(target.id)
            current = target
        # The lifecycle opens a before term at its own event; the term it counts back from must count from the
        # same instant, or the anchor the lifecycle passes would be the wrong one.
        if current is not rule and current.event is not rule.event:
            raise RulesError(
                f"rules.terms.{_key(rule.id)}.anchor: {current.id!r} counts from {current.event.value!r}, "
                f"but {rule.id!r} opens at {rule.event.value!r}"
            )


def _categories(data: object) -> dict[str, Category]:
    categories = {c.id: c for c in DEFAULT_CATEGORIES}
    for cid, value in _table(data, "rules.pos_categories").items():
        where = f"rules.pos_categories.{_key(cid)}"
        if isinstance(value, Mapping):
            # A table may add a class (other municipalities have other category lists) or retitle one.
            for key in value:
                if key not in ("days", "title"):
                    raise RulesError(f"{where}.{_key(key)}: unknown key (known: days, title)")
            if not _ID.match(str(cid)):
                raise RulesError(f"{where}: a category id is lower-case latin letters, digits and _")
            base = categories.get(cid)
            if base is None:
                if "days" not in value or "title" not in value:
                    raise RulesError(f"{where}: a new category needs both days and title")
                base = Category(cid, 1, "")
            days = _positive_int(value["days"], f"{where}.days") if "days" in value else base.days
            title = _text(value["title"], f"{where}.title") if "title" in value else base.title
            categories[cid] = Category(cid, days, title)
        elif cid in categories:
            categories[cid] = replace(categories[cid], days=_positive_int(value, where))
        else:
            raise RulesError(
                f"{where}: unknown category (known: {', '.join(categories)}); "
                "to add one give a table with days and title"
            )
    return categories


def _fractions(data: object) -> tuple[float, ...]:
    table = _table(data, "rules.reminders")
    for key in table:
        if key != "fractions":
            raise RulesError(f"rules.reminders.{_key(key)}: unknown key (known: fractions)")
    value = table.get("fractions", DEFAULT_REMINDER_FRACTIONS)
    where = "rules.reminders.fractions"
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise RulesError(f"{where}: must be a list of numbers between 0 and 1, got {value!r}")
    fractions: list[float] = []
    for item in value:
        ok = (
            isinstance(item, int | float)
            and not isinstance(item, bool)
            and math.isfinite(item)
            and 0 < item < 1
        )
        if not ok:
            raise RulesError(
                f"{where}: every fraction must be a number strictly between 0 and 1, got {item!r}"
            )
        fractions.append(float(item))
    return tuple(sorted(set(fractions)))


def _undo_window(data: object) -> timedelta:
    table = _table(data, "rules.undo")
    for key in table:
        if key != "minutes":
            raise RulesError(f"rules.undo.{_key(key)}: unknown key (known: minutes)")
    value = table.get("minutes", int(DEFAULT_UNDO_WINDOW.total_seconds() // 60))
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= UNDO_MAX_MINUTES:
        raise RulesError(
            f"rules.undo.minutes: must be a whole number from 0 to {UNDO_MAX_MINUTES}, got {value!r}"
        )
    return timedelta(minutes=value)


def _curators(data: object) -> dict[Procedure, Role]:
    curators = dict(DEFAULT_CURATORS)
    for key, value in _table(data, "rules.curators").items():
        try:
            procedure = Procedure(key)
        except ValueError:
            known = ", ".join(p.value for p in Procedure)
            raise RulesError(f"rules.curators.{_key(key)}: unknown procedure (known: {known})") from None
        curators[procedure] = _role(value, f"rules.curators.{_key(key)}")
    return curators


def _alerts(data: object) -> tuple[Role, ...]:
    table = _table(data, "rules.alerts")
    for key in table:
        if key != "missed":
            raise RulesError(f"rules.alerts.{_key(key)}: unknown key (known: missed)")
    return _roles(table["missed"], "rules.alerts.missed") if "missed" in table else DEFAULT_MISSED_ALERTS


def _units(units: Mapping[str, str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for uid, title in _table(units, "units").items():
        if not _ID.match(str(uid)):
            raise RulesError(f"units.{_key(uid)}: a unit id is lower-case latin letters, digits and _")
        result[uid] = _text(title, f"units.{_key(uid)}")
    if not result:
        raise RulesError("units: at least one unit is needed")
    return result


def _unique(roles: Iterable[Role]) -> tuple[Role, ...]:
    return tuple(dict.fromkeys(roles))


DEFAULT_RULES = Rules.default()
