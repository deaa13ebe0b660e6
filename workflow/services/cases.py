"""The writing use cases: register a message, apply an action to a case.

Each reads the clock once, runs the pure transition, and writes the case, its events, its terms and its
notifications in one transaction. After the commit it wakes the Notifier; delivery reads the outbox, so a crash
between commit and delivery loses nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from workflow.answer_checks import Finding
from workflow.clusters import signature
from workflow.draft_review import hold, with_checks
from workflow.draft_review import review as review_draft
from workflow.lifecycle import (
    Action,
    ActionPayload,
    Notice,
    NoticeKind,
    Transition,
    clean_text,
    open_case,
    transition,
    undo_last,
)
from workflow.model import (
    SOURCE_EVENTS,
    Actor,
    Case,
    DomainError,
    Event,
    InboundMessage,
    Role,
    Term,
    TermHandover,
    TermHolder,
    TermStart,
    UndoState,
    valid_id,
)
from workflow.ports import (
    Notification,
    Point,
    Reading,
    Retimed,
    StaleVersion,
    Transaction,
)
from workflow.screening import Findings
from workflow.services.base import NOT_FOUND, STALE_CARD, UseCaseBase
from workflow.services.clusters import author_key, cluster_case, signed_at, suggest_repeat, with_suggestion
from workflow.services.sweep import MISSED, attention_points, term_notifications

ORIGIN = "origin"  # the event data key of ActionPayload.origin
log = logging.getLogger(__name__)
_Term = TypeVar("_Term", TermStart, TermHandover)


def _last_close(events: list[Event]) -> Event | None:
    return next((e for e in reversed(events) if e.action == Action.CLOSE.value), None)


NO_UNIT_CHAT = (
    "Нельзя направить в {units}: в настройках «Отклика» не указан чат подразделения, там сообщение никто не "
    "увидит. Ничего не изменено; сообщите администратору."
)
NO_HEAD_CHAT = (
    "Доложить Главе района через «Отклик» нельзя: в настройках не указан чат Главы района. Ничего не изменено; "
    "доложите другим способом и сообщите администратору."
)


async def _applied(tx: Reading, case_id: int, origin: str) -> bool:
    """Whether an action from this origin is in the case's events already (a message handled twice)."""
    return any(event.data.get(ORIGIN) == origin for event in await tx.events(case_id))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a use case did: the case as committed and the notifications it queued."""

    case: Case
    notifications: tuple[Notification, ...] = ()
    created: bool = True
    replayed: bool = False  # the same origin was applied before: nothing changed, nothing to answer
    held: tuple[Finding, ...] = ()  # a submit the answer checks held (draft_review.hold): not submitted


class CaseUseCases(UseCaseBase):
    # --- registration ---------------------------------------------------------------------------------

    async def register(
        self, message: InboundMessage, actor: Actor, *, repeat_of: int | None = None
    ) -> Outcome:
        """Register an inbound message as a case; the same (source, source id) twice is one case."""
        # Text enters here from every channel: C0 controls (U+0000 among them, which storage refuses) go.
        message = replace(
            message,
            text=clean_text(message.text),
            author=clean_text(message.author),
            link=clean_text(message.link),
            external_number=clean_text(message.external_number),
            cur_number=clean_text(message.cur_number),
            cur_curator=clean_text(message.cur_curator),
        )
        findings = self._screened(message)
        try:
            return await self._register(message, actor, repeat_of, findings)
        except DomainError:
            raise
        except Exception:
            # Two registrations of one message raced: both saw no case, the loser's insert hit the unique
            # (source, source id) and its transaction rolled back. The winner's case is the answer.
            async with self.repo.transaction() as tx:
                existing = await tx.find_case_by_source(message.source.value, message.source_id)
                case = await tx.get_case(existing) if existing is not None else None
            if case is None:
                raise
            return Outcome(case=case, created=False)

    def _screened(self, message: InboundMessage) -> Findings | None:
        """п.15 / п.17 screening of the text; a failure in it never blocks registration (no findings, one line)."""
        try:
            return self.screener(message.text)
        except Exception as exc:
            why = " ".join(str(exc).split())[:200]  # one line whatever the exception says
            log.error("screening failed for %s:%s, registered without findings: %s: %s", message.source.value,
                      message.source_id[:80], type(exc).__name__, why)  # fmt: skip
            return None

    async def _register(
        self, message: InboundMessage, actor: Actor, repeat_of: int | None, findings: Findings | None = None
    ) -> Outcome:
        now = self.clock.now()

        # The whole transaction is one closure (Repository.write): on SQLite it runs in the writer's thread.
        async def body(tx: Transaction) -> Outcome:
            existing = await tx.find_case_by_source(message.source.value, message.source_id)
            if existing is not None:
                case = await tx.get_case(existing)
                assert case is not None
                return Outcome(case=case, created=False)
            if repeat_of is not None and (not valid_id(repeat_of) or await tx.get_case(repeat_of) is None):
                raise DomainError(f"Предыдущее сообщение № {repeat_of} не найдено.", code="invalid")
            opened = open_case(
                message, 0, now, actor=actor, rules=self.rules, calendar=self.calendar, repeat_of=repeat_of,
                screening=findings,
            )  # fmt: skip
            # Issue 13: compared with earlier messages (a repeat to offer) and with its window (a spike).
            sign, at = signature(message.text), signed_at(message, now)
            if repeat_of is None:
                earlier = await suggest_repeat(tx, message.procedure, sign, author_key(message), at, self.spikes)
                if earlier is not None:
                    opened = with_suggestion(opened, earlier)
            case = await tx.add_case(opened.case, message)
            notifications = await self._write(tx, case, opened, now, actor)
            spikes = await cluster_case(tx, case, message, sign, at, now, self.spikes)
            if spikes:
                await tx.enqueue(spikes)
                notifications = (*notifications, *spikes)
            return Outcome(case=case, notifications=notifications)

        outcome = await self.repo.write(body)
        if outcome.created:
            await self._wake([outcome.case.id], outcome.notifications)
        return outcome

    # --- every other action ----------------------------------------------------------------------------

    async def act(
        self,
        case_id: int,
        action: Action,
        actor: Actor,
        *,
        expected_version: int | None = None,
        payload: ActionPayload | None = None,
        review: bool = False,
    ) -> Outcome:
        """Apply one action to a case. `expected_version` comes from the card the person pressed.

        A submit's event records the answer checks' findings of its draft; with `review` (the submitter's own
        reply) a draft with findings is held instead, unless `payload.confirm` says «send anyway».
        """
        if not valid_id(case_id):  # an id from outside beyond 64 bits: refused before SQL
            raise DomainError(NOT_FOUND, code="not_found")
        if expected_version is not None and not valid_id(expected_version):
            raise DomainError(STALE_CARD, code="stale")
        now = self.clock.now()

        async def body(tx: Transaction) -> Outcome:
            case = await tx.get_case(case_id)
            if case is None:
                raise DomainError(NOT_FOUND, code="not_found")
            origin = payload.origin if payload is not None else ""
            if origin and await _applied(tx, case_id, origin):
                return Outcome(case=case, created=False, replayed=True)
            # The lifecycle speaks first, so a second press answers «Уже согласовано», not «устарела».
            result = transition(
                case, action, actor, now, rules=self.rules, calendar=self.calendar, payload=payload
            )
            if expected_version is not None and expected_version != case.version:
                raise DomainError(STALE_CARD, code="stale")
            self._check_reach(case, action, result)
            held: tuple[Finding, ...] = ()
            if action is Action.SUBMIT:
                findings = review_draft(
                    case, await tx.get_message(case_id), result.draft_text or "", payload.attachments if payload else ()
                )
                confirmed = payload is not None and payload.confirm
                if review and findings and not confirmed:
                    result, held = hold(case, result, findings), findings
                else:
                    result = with_checks(result, findings, anyway=confirmed)
            result, notifications = await self._commit(
                tx, case, result, now, actor, origin, undoable=not held
            )
            return Outcome(case=result.case, notifications=notifications, held=held)

        outcome = await self.repo.write(body)
        if not outcome.replayed:
            await self._wake([outcome.case.id], outcome.notifications)
        return outcome

    async def undo(self, case_id: int, actor: Actor, *, origin: str = "") -> Outcome:
        """Undo the case's last action for its author, within the undo window, while nothing followed it.

        A recorded «undo» event, not a deletion: the case as it was before the action comes back at a new
        version, the term rows the action opened are cancelled, those it closed open again, the holders it
        changed are handed back (workflow.lifecycle.undo_last says what can be undone).
        """
        if not valid_id(case_id):
            raise DomainError(NOT_FOUND, code="not_found")
        now = self.clock.now()
        async with self.repo.transaction() as tx:
            case = await tx.get_case(case_id)
            if case is None:
                raise DomainError(NOT_FOUND, code="not_found")
            events = await tx.events(case_id)
            if origin and any(event.data.get(ORIGIN) == origin for event in events):
                return Outcome(case=case, created=False, replayed=True)
            # A citizen's edit of the comment since is no step of anyone's: it does not bar the undo.
            events = [event for event in events if event.action not in SOURCE_EVENTS]
            result = undo_last(
                case, events[-1] if events else None, actor, now, window=self.rules.undo_window
            )
            result, notifications = await self._commit(tx, case, result, now, actor, origin, undoable=False)
        await self._wake([result.case.id], notifications)
        return Outcome(case=result.case, notifications=notifications)

    async def _commit(
        self,
        tx: Transaction,
        case: Case,
        result: Transition,
        now: datetime,
        actor: Actor,
        origin: str,
        *,
        undoable: bool,
    ) -> tuple[Transition, tuple[Notification, ...]]:
        """Save a transition of `case` at its version (a concurrent change makes the card stale) and write its
        terms, events and notices; the events carry `origin` (a message handled twice is recognised) and, when
        `undoable`, what undoes the action."""
        if origin:
            stamped = tuple(replace(e, data={**e.data, ORIGIN: origin}) for e in result.events)
            result = replace(result, events=stamped)
        try:
            await tx.save_case(result.case, case.version)
        except StaleVersion:
            raise DomainError(STALE_CARD, code="stale") from None
        before = case if undoable else None
        return result, await self._write(tx, result.case, result, now, actor, before=before)

    async def applied(self, case_id: int, origin: str) -> bool:
        """Whether an action from `origin` (a source message) is in the case's history: handled before."""
        async with self.repo.reading() as tx:
            return await _applied(tx, case_id, origin)

    def _check_reach(self, before: Case, action: Action, result: Transition) -> None:
        """Refuse a step whose point is to tell someone the configuration gives no chat: routing to a unit
        without a chat (nobody there would ever see the case), a report to the head without the head's chat.
        Checked after the transition (its own refusals come first) and before anything is written."""
        if self.reach is None:
            return
        if action in (Action.ROUTE, Action.APPROVE_ROUTING):
            chosen = (*result.case.units, *result.case.proposed_units)
            new = [u for u in dict.fromkeys(chosen) if u not in before.units]
            silent = [u for u in new if not self.reach.unit_reachable(u)]
            if silent:
                names = ", ".join(f"«{self.rules.units.get(u, u)}» ({u})" for u in silent)
                raise DomainError(NO_UNIT_CHAT.format(units=names), code="no_chat")
        if action is Action.SIGNIFICANT:
            heads = {n.to_role for n in result.notices if n.kind == NoticeKind.SIGNIFICANT}
            if Role.HEAD in heads and not self.reach.role_reachable(Role.HEAD):
                raise DomainError(NO_HEAD_CHAT, code="no_chat")

    # --- shared writing ----------------------------------------------------------------------------------

    async def _write(
        self,
        tx: Transaction,
        case: Case,
        result: Transition,
        now: datetime,
        actor: Actor,
        *,
        before: Case | None = None,
    ) -> tuple[Notification, ...]:
        """Write a transition. With `before` (the case before an action) its event keeps what undoes it."""
        opened: list[int] = []
        closed_rows: list[int] = []
        holders: tuple[TermHolder, ...] = ()
        if result.undone is not None:
            await self._put_back(tx, case.id, result.undone, now, actor)
        if result.reopen_terms:
            opened += await self._reopen_terms(tx, case.id, now, actor)
        if result.draft_text is not None:
            await tx.add_draft(case.id, case.draft_version, result.draft_text, actor.user_id, now)
        late: list[Notification] = []
        if result.stops:
            closed = await tx.close_terms(case.id, result.stops, now, actor.user_id)
            closed_rows += (term.id for term in closed)
            # A term closed missed that nobody was alerted about (a late return: the sweep never alerts about
            # a return-only term) is alerted now, as §5 says; the sweep's dedup keys keep it once.
            for term in closed:
                if term.met is False and MISSED not in term.sent:
                    late += term_notifications(term, MISSED, now, self.rules)
        if result.handovers:
            if before is not None:
                holders = tuple(TermHolder(t.id, t.owner, t.unit, t.person) for t in await tx.terms(case.id))
            await tx.hand_over_terms(case.id, [self._named(h) for h in result.handovers])
        if result.retimes:
            await tx.retime_terms(case.id, await self._retimed(tx, case.id, result))
        if result.starts:
            named = [self._named(s) for s in result.starts]
            starts = [(s, attention_points(s, self.rules, self.calendar)) for s in named]
            opened += await tx.open_terms(case.id, starts)
        events = result.events
        if before is not None and events:
            state = UndoState(before, tuple(opened), tuple(closed_rows), holders)
            events = (*events[:-1], replace(events[-1], undo=state))
        if events:
            await tx.append_events(case.id, events)
        notices = (self._notice_to_notification(case, notice, now) for notice in result.notices)
        notifications = (*notices, *late)
        if notifications:
            await tx.enqueue(notifications)
        return notifications

    def _named(self, term: _Term) -> _Term:
        """A term the step opens or hands over without naming its holder: the directory's only holder of the
        role (of the unit), when there is one (RULES.md §6)."""
        if term.person or self.people is None:
            return term
        unit = term.new_unit if isinstance(term, TermHandover) else term.unit
        person = self.people.sole_holder(term.owner, unit)
        return replace(term, person=person) if person else term

    def _unsent(self, term: Term) -> list[Point]:
        """The term's points not sent yet, in time order (the first is its next attention instant)."""
        return [p for p in attention_points(term, self.rules, self.calendar) if p[0] not in term.sent]

    async def _put_back(
        self, tx: Transaction, case_id: int, state: UndoState, now: datetime, actor: Actor
    ) -> None:
        """An undo's terms: the rows the action opened are cancelled, those it closed open again (their sent
        keys kept, so no reminder goes twice), the holders it changed are handed back."""
        rows = {t.id: t for t in await tx.terms(case_id, open_only=False)}
        cancel = [i for i in state.opened if i in rows and rows[i].closed_at is None]
        reopen = [
            (i, self._unsent(rows[i])) for i in state.closed if i in rows and rows[i].closed_at is not None
        ]
        await tx.restore_terms(
            case_id, reopen=reopen, cancel=cancel, holders=state.holders, at=now, by=actor.user_id
        )

    async def _reopen_terms(self, tx: Transaction, case_id: int, now: datetime, actor: Actor) -> list[int]:
        """A reopen: the rows the last close cancelled open again; those it stored missed stay missed."""
        close = _last_close(await tx.events(case_id))
        if close is None or close.undo is None:
            return []
        rows = {t.id: t for t in await tx.terms(case_id, open_only=False)}
        again = [
            rows[i]
            for i in close.undo.closed
            if i in rows and rows[i].closed_at is not None and rows[i].met is None
        ]
        reopen = [(t.id, self._unsent(t)) for t in again]
        await tx.restore_terms(case_id, reopen=reopen, cancel=(), holders=(), at=now, by=actor.user_id)
        return [t.id for t in again]

    async def _retimed(self, tx: Transaction, case_id: int, result: Transition) -> list[Retimed]:
        """The open terms a new T0 moves, each with the next point of its new schedule not yet sent."""
        moved: list[Retimed] = []
        for term in await tx.terms(case_id):
            retime = next(
                (
                    r
                    for r in result.retimes
                    if r.term_id == term.term_id and r.was_started_at == term.started_at
                ),
                None,
            )
            if retime is None:
                continue
            points = self._unsent(replace(term, started_at=retime.started_at, due=retime.due))
            moved.append(Retimed(term.id, retime.started_at, retime.due, tuple(points)))
        return moved

    @staticmethod
    def _notice_to_notification(case: Case, notice: Notice, now: datetime) -> Notification:
        recipient = f"{notice.to_role.value}:{notice.unit or ''}"
        return Notification(
            dedup_key=f"case:{case.id}:v{case.version}:{notice.kind}:{recipient}",
            case_id=case.id,
            kind=notice.kind,
            to_role=notice.to_role,
            unit=notice.unit,
            at=now,
            term_id=notice.term_id,
            # The case version the notice is about: delivery leaves it out where the card was posted for it.
            payload={**notice.payload, "version": case.version},
        )
