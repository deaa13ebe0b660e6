"""The read side: what cards and commands show, each read in one read-only transaction.

Lists read one page with one indexed query whatever the number of open cases; a card reads its case alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workflow.lifecycle import Action, ActionPayload, transition
from workflow.model import Actor, Case, DomainError, Event, InboundMessage, Role, Source, Term, valid_id
from workflow.ports import OwedBy, Reading, TermPage
from workflow.services.base import NOT_FOUND, STALE_CARD, UseCaseBase

# Roles held for a unit: their terms are a person's only for the units that person works in.
UNIT_ROLES = frozenset({Role.UNIT_OFFICIAL, Role.EXECUTOR})


def owed_by(actor: Actor) -> OwedBy:
    return OwedBy(roles=actor.roles - UNIT_ROLES, unit_roles=actor.roles & UNIT_ROLES, units=actor.units)


@dataclass(frozen=True)
class CardView:
    """Everything a case card shows, read at one instant."""

    case: Case
    message: InboundMessage | None
    open_terms: list[Term]
    events: list[Event]
    draft: str | None


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
            page = await tx.owed_terms(owed_by(actor), limit, silent=self.rules.return_only_terms, now=now)
        return TermList(page, now)

    async def overdue(self, limit: int) -> TermList:
        now = self.clock.now()
        async with self.repo.reading() as tx:
            page = await tx.overdue_terms(now, limit, silent=self.rules.return_only_terms)
        return TermList(page, now)

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
