"""The read side: what cards and commands show, each read in one read-only transaction.

Lists read one page with one indexed query whatever the number of open cases; a card reads its case alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from workflow.lifecycle import FINAL_STATUSES, TABLE, Action, ActionPayload, transition
from workflow.model import (
    Actor,
    Case,
    DomainError,
    Event,
    InboundMessage,
    Role,
    Source,
    Term,
    parse_id,
    valid_id,
)
from workflow.ports import AccessEntry, FoundCase, OwedBy, OwedStep, Publication, Reading, TermPage
from workflow.rules import Rules, RulesError
from workflow.search import FIND_LIMIT, fold, link_key, looks_like_link
from workflow.services.base import NOT_FOUND, STALE_CARD, UseCaseBase
from workflow.visibility import UNIT_ROLES, may_see_units, seen_units

FIND_RESULTS = 10  # lines of a /find answer, the newest cases first
FIND_MIN = 2  # characters of a /find query, fewer is no search
FIND_RECENT = timedelta(days=90)  # /find reaches cases ended (final) this long ago
LOOKUP_RESULTS = 10  # cases one /case argument may name (a link shared by several messages)
LOOKUP_MAX = 2000  # characters of a /case argument looked at; a longer one is no number and no link
_POS_NUMBER = re.compile(r"[0-9]{5,20}")  # as /pos takes it (handlers/pos_intake.py)
_CASE_MARKS = ("№", "#")  # «/case №15»: the case number only, never a ПОС number
_POS_MARK = "пос"  # «/case ПОС 4512345»: the ПОС number only


def owed_steps(actor: Actor, rules: Rules) -> tuple[OwedStep, ...]:
    """The terms `actor` would complete by a step of his own although another role holds them (lifecycle
    TABLE): the ПОС coordinator's posting of an approved answer, whose pos.answer the ПОС curator holds.

    Unit roles are left out (their terms are owed by unit), and so are return-only terms (nothing is owed
    once they lapse).
    """
    roles = actor.roles - UNIT_ROLES - {Role.SYSTEM}
    found: dict[tuple[str, str], set[str]] = {}
    for (procedure, status, _action), step in TABLE.items():
        for role in roles & set(step.roles):
            for term_id in step.stop:
                try:
                    rule = rules.term(term_id)
                except RulesError:
                    continue
                if rule.owner is not role and not rule.return_only:
                    found.setdefault((procedure.value, status.value), set()).add(term_id)
    return tuple(OwedStep(p, s, frozenset(ids)) for (p, s), ids in sorted(found.items()))


def owed_by(actor: Actor, steps: tuple[OwedStep, ...] = ()) -> OwedBy:
    """Unit roles' terms are a person's only for the units he works in."""
    return OwedBy(
        roles=actor.roles - UNIT_ROLES, unit_roles=actor.roles & UNIT_ROLES, units=actor.units, steps=steps
    )


@dataclass(frozen=True)
class CardView:
    """Everything a case card shows, read at one instant."""

    case: Case
    message: InboundMessage | None
    open_terms: list[Term]
    events: list[Event]
    draft: str | None
    publication: Publication | None = None  # the newest answer queued for the item's network (issue 11)


class LookupKind(StrEnum):
    USAGE = "usage"  # neither a number nor a link
    NUMBER = "number"  # a case number and/or a ПОС number
    LINK = "link"


@dataclass(frozen=True)
class Lookup:
    """What a /case argument names: the cases the person may see (none: «not found», whatever exists)."""

    kind: LookupKind
    found: tuple[FoundCase, ...] = ()


class FindRefusal(StrEnum):
    NONE = ""
    SHORT = "short"  # empty or one character: no search
    LONG = "long"  # past FIND_LIMIT characters


@dataclass(frozen=True)
class FindResult:
    refusal: FindRefusal
    found: tuple[FoundCase, ...] = ()
    more: bool = False  # more cases match than are listed


def _visible(found: Iterable[FoundCase], actor: Actor) -> tuple[FoundCase, ...]:
    seen: dict[int, FoundCase] = {}
    for item in found:
        if may_see_units(item.units, actor):
            seen.setdefault(item.case_id, item)
    return tuple(sorted(seen.values(), key=lambda f: -f.case_id))


@dataclass(frozen=True)
class TermList:
    """A page of open terms and the instant it was read at (for «осталось» / «просрочено на»)."""

    page: TermPage
    now: datetime


async def read_card(tx: Reading, case_id: int) -> CardView | None:
    case = await tx.get_case(case_id)
    if case is None:
        return None
    terms = sorted(await tx.terms(case_id, open_only=True), key=lambda t: (t.due, t.id))
    return CardView(
        case=case,
        message=await tx.get_message(case_id),
        open_terms=terms,
        events=await tx.events(case_id),
        draft=await tx.latest_draft(case_id, case.draft_version) if case.draft_version else None,
        publication=await tx.latest_publication(case_id),
    )


class QueryUseCases(UseCaseBase):
    async def case(self, case_id: int) -> Case:
        if not valid_id(case_id):  # beyond 64 bits no case can exist, and the driver would overflow
            raise DomainError(NOT_FOUND, code="not_found")
        async with self.repo.reading() as tx:
            case = await tx.get_case(case_id)
        if case is None:
            raise DomainError(NOT_FOUND, code="not_found")
        return case

    async def registered(self, source: Source, source_id: str) -> int | None:
        """The case registered from this source message, if any ((source, source id) is unique)."""
        async with self.repo.reading() as tx:
            return await tx.find_case_by_source(source.value, source_id)

    async def card_view(self, case_id: int) -> CardView:
        if not valid_id(case_id):
            raise DomainError(NOT_FOUND, code="not_found")
        async with self.repo.reading() as tx:
            view = await read_card(tx, case_id)
        if view is None:
            raise DomainError(NOT_FOUND, code="not_found")
        return view

    async def my_terms(self, actor: Actor, limit: int) -> TermList:
        """The open terms `actor` owes, by role and for unit roles by unit, the earliest due first."""
        now = self.clock.now()
        async with self.repo.reading() as tx:
            owed = owed_by(actor, owed_steps(actor, self.rules))
            page = await tx.owed_terms(owed, limit, silent=self.rules.return_only_terms, now=now)
        return TermList(page, now)

    async def overdue(self, limit: int, actor: Actor | None = None) -> TermList:
        """Open terms past due, the earliest first: of every case, or of the cases `actor` may see."""
        now = self.clock.now()
        units = seen_units(actor) if actor is not None else None
        silent = self.rules.return_only_terms
        if units is not None and not units:
            return TermList(TermPage(terms=(), total=0), now)
        async with self.repo.reading() as tx:
            if units is None:
                page = await tx.overdue_terms(now, limit, silent=silent)
            else:
                page = await tx.overdue_terms_of_units(now, limit, units, silent=silent)
        return TermList(page, now)

    async def lookup(self, argument: str, actor: Actor) -> Lookup:
        """/case: a case number, a ПОС number or a network link (of the message or of the published answer).

        A number that is both a case number and a ПОС number names both cases; «№15» is the case number only,
        «ПОС 4512345» the ПОС number only. An id no case could have (0, past 2^63) reaches no SQL.
        """
        value = argument.strip()
        if not value or len(value) > LOOKUP_MAX:
            return Lookup(LookupKind.USAGE)
        case_only = value.startswith(_CASE_MARKS)
        pos_only = value[: len(_POS_MARK)].casefold() == _POS_MARK
        if case_only:
            value = value[1:].strip()
        elif pos_only:
            value = value[len(_POS_MARK) :].strip(" :№#")
        if value.isascii() and value.isdigit():
            case_id = None if pos_only else parse_id(value)
            number = None if case_only or not _POS_NUMBER.fullmatch(value) else value
            if case_id is None and number is None:
                return Lookup(LookupKind.NUMBER)
            async with self.repo.reading() as tx:
                found = await tx.found_cases([case_id]) if case_id is not None else []
                if number is not None:
                    found += await tx.cases_by_external_number(number, LOOKUP_RESULTS)
            return Lookup(LookupKind.NUMBER, _visible(found, actor))
        key = link_key(value) if not (case_only or pos_only) and looks_like_link(value) else ""
        if not key:
            return Lookup(LookupKind.USAGE)
        async with self.repo.reading() as tx:
            found = await tx.cases_by_link(key, LOOKUP_RESULTS)
        return Lookup(LookupKind.LINK, _visible(found, actor))

    async def find(self, query: str, actor: Actor) -> FindResult:
        """/find: a folded substring of the message (text, author, link, ПОС number) among open cases and those
        ended within FIND_RECENT, only those `actor` may see, the newest first."""
        if len(query) > FIND_LIMIT:
            return FindResult(FindRefusal.LONG)
        needle = fold(query)
        if len(needle) < FIND_MIN:
            return FindResult(FindRefusal.SHORT)
        now = self.clock.now()
        units = seen_units(actor)
        if units is not None and not units:
            return FindResult(FindRefusal.NONE)
        async with self.repo.reading() as tx:
            found = await tx.find_cases(
                needle,
                final=frozenset(s.value for s in FINAL_STATUSES),
                closed_since=now - FIND_RECENT,
                units=units,
                limit=FIND_RESULTS + 1,
            )
        visible = _visible(found, actor)  # the SQL filter already did; the rule has the last word
        return FindResult(FindRefusal.NONE, visible[:FIND_RESULTS], more=len(visible) > FIND_RESULTS)

    async def record_views(
        self, case_ids: Iterable[int], actor: Actor, *, chat_id: int | None, what: str
    ) -> None:
        """Log that `actor` is being shown these cases' personal data (issue 14), before they are shown."""
        ids = list(dict.fromkeys(case_ids))
        if not ids:
            return
        now = self.clock.now()
        roles = frozenset(r.value for r in actor.roles)
        entries = [AccessEntry(i, actor.user_id, roles, chat_id, what, now) for i in ids]
        async with self.repo.transaction() as tx:
            await tx.record_access(entries)

    async def check(
        self,
        case_id: int,
        action: Action,
        actor: Actor,
        version: int,
        *,
        payload: ActionPayload | None = None,
    ) -> Case:
        """Before a step of the keyboard (unit toggles, a prompt): the refusal `act` would give, or the case.

        The transition answers role, second-press and status questions the same way `act` will; a payload
        complaint ("invalid") only means the person has yet to choose or type it. Then the card's version.
        """
        case = await self.case(case_id)
        try:
            transition(
                case, action, actor, self.clock.now(), rules=self.rules, calendar=self.calendar,
                payload=payload or ActionPayload(),
            )  # fmt: skip
        except DomainError as exc:
            if exc.code != "invalid":
                raise
        if version != case.version:
            raise DomainError(STALE_CARD, code="stale")
        return case
