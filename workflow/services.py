"""Use cases over ports: the only async module of the domain.

Each use case reads the clock once, runs the pure transition, and writes the case, its events, its terms and its
notifications in one transaction. After the commit it wakes the Notifier; delivery reads the outbox, so a crash
between commit and delivery loses nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from workflow.lifecycle import (
    Action,
    ActionPayload,
    Notice,
    Transition,
    clean_text,
    open_case,
    transition,
)
from workflow.model import Actor, Case, DomainError, InboundMessage, Term, TermStart
from workflow.ports import (
    Clock,
    Notification,
    Notifier,
    Repository,
    SentRecord,
    StaleVersion,
    Transaction,
)
from workflow.rules import Rules

if TYPE_CHECKING:
    from workflow.calendar import WorkingCalendar

MISSED = "missed"
STALE_CARD = "Карточка устарела: по сообщению уже выполнено другое действие. Откройте актуальную карточку."
NOT_FOUND = "Сообщение не найдено."


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a use case did: the case as committed and the notifications it queued."""

    case: Case
    notifications: tuple[Notification, ...] = ()
    created: bool = True


def reminder_points(
    term: Term | TermStart, fractions: Sequence[float], calendar: WorkingCalendar
) -> list[tuple[str, datetime]]:
    """(key, instant) for each reminder and the miss, in time order: the parts of a term that passed.

    Reminders fall when a fraction of the term's working time has passed; a term with no working time in it
    (an immediate one) has only its miss point.
    """
    due = term.due
    total = calendar.working_time_between(term.started_at, due)
    points: list[tuple[str, datetime]] = []
    if total > timedelta(0):
        for fraction in sorted(fractions):
            at = calendar.add_working(term.started_at, total.total_seconds() * fraction / 60)
            if at < due:
                points.append((f"r{round(fraction * 100)}", at))
    points.append((MISSED, due))
    return points


def next_attention(
    points: Sequence[tuple[str, datetime]], sent: frozenset[str] | set[str]
) -> datetime | None:
    return next((at for key, at in points if key not in sent), None)


@dataclass
class Services:
    repo: Repository
    clock: Clock
    calendar: WorkingCalendar
    rules: Rules
    notifier: Notifier | None = None

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
        )
        try:
            return await self._register(message, actor, repeat_of)
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

    async def _register(self, message: InboundMessage, actor: Actor, repeat_of: int | None) -> Outcome:
        now = self.clock.now()
        async with self.repo.transaction() as tx:
            existing = await tx.find_case_by_source(message.source.value, message.source_id)
            if existing is not None:
                case = await tx.get_case(existing)
                assert case is not None
                return Outcome(case=case, created=False)
            if repeat_of is not None and await tx.get_case(repeat_of) is None:
                raise DomainError(f"Предыдущее сообщение № {repeat_of} не найдено.", code="invalid")
            opened = open_case(
                message, 0, now, actor=actor, rules=self.rules, calendar=self.calendar, repeat_of=repeat_of
            )
            case = await tx.add_case(opened.case, message)
            notifications = await self._write(tx, case, opened, now, actor)
        await self._wake(notifications)
        return Outcome(case=case, notifications=notifications)

    # --- every other action ----------------------------------------------------------------------------

    async def act(
        self,
        case_id: int,
        action: Action,
        actor: Actor,
        *,
        expected_version: int | None = None,
        payload: ActionPayload | None = None,
    ) -> Outcome:
        """Apply one action to a case. `expected_version` comes from the card the person pressed."""
        now = self.clock.now()
        async with self.repo.transaction() as tx:
            case = await tx.get_case(case_id)
            if case is None:
                raise DomainError(NOT_FOUND, code="not_found")
            # The lifecycle speaks first, so a second press answers «Уже согласовано», not «устарела».
            result = transition(
                case, action, actor, now, rules=self.rules, calendar=self.calendar, payload=payload
            )
            if expected_version is not None and expected_version != case.version:
                raise DomainError(STALE_CARD, code="stale")
            try:
                await tx.save_case(result.case, case.version)
            except StaleVersion:
                raise DomainError(STALE_CARD, code="stale") from None
            notifications = await self._write(tx, result.case, result, now, actor)
        await self._wake(notifications)
        return Outcome(case=result.case, notifications=notifications)

    # --- the sweeper's work ----------------------------------------------------------------------------

    async def sweep(self) -> list[Notification]:
        """Send what fell due: reminders to the owner, and on a miss the alerts of RULES.md §5.

        Each reminder point is recorded with a conditional write before its notifications are queued in the same
        transaction, so an overlapping sweep or a restart never sends one twice, and a crash loses none: the
        point stays due until a sweep commits it. A reminder whose later point has also passed is recorded as
        skipped: after downtime the person hears the newest news, not a burst of stale reminders.
        """
        now = self.clock.now()
        queued: list[Notification] = []
        async with self.repo.transaction() as tx:
            records: list[SentRecord] = []
            to_send: list[tuple[Term, str]] = []
            for term in await tx.terms_needing_attention(now):
                points = reminder_points(term, self.rules.reminder_fractions, self.calendar)
                passed = tuple(key for key, at in points if at <= now and key not in term.sent)
                # No passed point: the stored attention point is stale (e.g. fractions changed in config).
                after = next_attention(points, term.sent.union(passed))
                records.append(SentRecord(term.id, term.sent, passed, after))
                if passed:
                    to_send.append((term, passed[-1]))
            # One conditional write for the whole sweep is the lock: a term whose write another sweep won
            # (it recorded something for the term since we read it) is left to that sweep.
            won = await tx.record_sent_many(records) if records else set()
            for term, key in to_send:
                if term.id in won:
                    queued.extend(self._term_notifications(term, key, now))
            # One insert for the whole sweep; the same transaction as the conditional write, so they still
            # commit together or not at all.
            if queued:
                await tx.enqueue(queued)
        await self._wake(queued)
        return queued

    def _term_notifications(self, term: Term, key: str, now: datetime) -> list[Notification]:
        if key == MISSED:
            recipients = self.rules.miss_recipients(term.term_id)
            kind = "missed"
        else:
            recipients = (term.owner,)
            kind = "reminder"
        return [
            Notification(
                dedup_key=f"term:{term.id}:{key}:{role.value}",
                case_id=term.case_id,
                kind=kind,
                to_role=role,
                unit=term.unit if role == term.owner else None,
                at=now,
                term_id=term.term_id,
                payload={"due": term.due.isoformat(), "point": key, "term_unit": term.unit},
            )
            for role in recipients
        ]

    # --- shared writing ----------------------------------------------------------------------------------

    async def _write(
        self, tx: Transaction, case: Case, result: Transition, now: datetime, actor: Actor
    ) -> tuple[Notification, ...]:
        if result.events:
            await tx.append_events(case.id, result.events)
        if result.draft_text is not None:
            await tx.add_draft(case.id, case.draft_version, result.draft_text, actor.user_id, now)
        if result.stops:
            await tx.close_terms(case.id, result.stops, now, actor.user_id)
        if result.starts:
            fractions = self.rules.reminder_fractions
            starts = [(s, reminder_points(s, fractions, self.calendar)[0][1]) for s in result.starts]
            await tx.open_terms(case.id, starts)
        notifications = tuple(self._notice_to_notification(case, notice, now) for notice in result.notices)
        if notifications:
            await tx.enqueue(notifications)
        return notifications

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
            payload=dict(notice.payload),
        )

    async def _wake(self, notifications: Sequence[Notification]) -> None:
        if notifications and self.notifier is not None:
            await self.notifier.notify(notifications)

    # --- reads for cards and commands -----------------------------------------------------------------------

    async def case(self, case_id: int) -> Case:
        async with self.repo.transaction() as tx:
            case = await tx.get_case(case_id)
        if case is None:
            raise DomainError(NOT_FOUND, code="not_found")
        return case
