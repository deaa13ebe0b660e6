"""The sweeper's use case: reminders and misses of every term that fell due, recorded once and queued.

Reminder points are pure functions of the term and the calendar (`reminder_points`), computed when a term opens,
is re-timed or reopened (workflow/services/cases.py) and stored with it; the database keeps each open term's
next attention instant, so a sweep reads only what is due, and takes the due points as stored: no calendar work
(a term opened before points were stored has them computed on its first sweep).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from workflow.calendar import WorkingCalendar
from workflow.model import Term, TermStart
from workflow.ports import Notification, SentRecord, Transaction
from workflow.rules import Rules
from workflow.services.base import UseCaseBase

MISSED = "missed"


def reminder_points(
    term: Term | TermStart, fractions: Sequence[float], calendar: WorkingCalendar, *, silent: bool = False
) -> list[tuple[str, datetime]]:
    """(key, instant) for each reminder and the miss, in time order: the parts of a term that passed.

    Reminders fall when a fraction of the term's working time has passed; a term with no working time in it
    (an immediate one) has only its miss point. A `silent` (return-only) term has none: nobody is reminded or
    alerted about a return that did not happen (RULES.md §6).
    """
    if silent:
        return []
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


def attention_points(
    term: Term | TermStart, rules: Rules, calendar: WorkingCalendar
) -> list[tuple[str, datetime]]:
    """`reminder_points` as the rules have it: none for a return-only term."""
    silent = rules.return_only(term.term_id)
    return reminder_points(term, rules.reminder_fractions, calendar, silent=silent)


def next_attention(
    points: Sequence[tuple[str, datetime]], sent: frozenset[str] | set[str]
) -> datetime | None:
    return next((at for key, at in points if key not in sent), None)


def term_notifications(term: Term, key: str, now: datetime, rules: Rules) -> list[Notification]:
    """A reminder to whoever holds the term now, or the miss alerts of RULES.md §5 with the holder first.

    The term's owner as stored is its holder (RULES.md §6, e.g. os.route once the routing waits for the office
    head); the payload names the holder, the unit and the person where known.
    """
    if key == MISSED:
        recipients = rules.miss_recipients(term.term_id, term.owner)
        kind = "missed"
    else:
        recipients = (term.owner,)
        kind = "reminder"
    payload: dict[str, object] = {
        "due": term.due.isoformat(),
        "point": key,
        "term_unit": term.unit,
        "holder": term.owner.value,
    }
    if term.person:
        payload["person"] = term.person
    return [
        Notification(
            dedup_key=f"term:{term.id}:{key}:{role.value}",
            case_id=term.case_id,
            kind=kind,
            to_role=role,
            unit=term.unit if role == term.owner else None,
            at=now,
            term_id=term.term_id,
            # A reminder's one notification owns the payload (a sweep queues a thousand); a miss's share none.
            payload=payload if len(recipients) == 1 else dict(payload),
        )
        for role in recipients
    ]


class SweepUseCases(UseCaseBase):
    # --- the sweeper's work ----------------------------------------------------------------------------

    async def sweep(self) -> list[Notification]:
        """Send what fell due: reminders to the owner, and on a miss the alerts of RULES.md §5.

        Each reminder point is recorded with a conditional write before its notifications are queued in the same
        transaction, so an overlapping sweep or a restart never sends one twice, and a crash loses none: the
        point stays due until a sweep commits it. A reminder whose later point has also passed is recorded as
        skipped: after downtime the person hears the newest news, not a burst of stale reminders.
        """
        now = self.clock.now()

        # One closure (Repository.write): on SQLite the writer's thread runs it, between registrations.
        async def body(tx: Transaction) -> list[Notification]:
            queued: list[Notification] = []
            records: list[SentRecord] = []
            to_send: list[tuple[Term, str]] = []
            for due in await tx.due_terms(now):
                term = due.term
                if due.known:
                    # The stored points (computed when the term opened or moved) split at now: no calendar.
                    passed = due.passed
                    records.append(SentRecord(term.id, term.sent, passed, due.next_at))
                else:
                    # No point stored (a term opened before they were): computed once now, and stored.
                    points = attention_points(term, self.rules, self.calendar)
                    passed = tuple(key for key, at in points if at <= now and key not in term.sent)
                    done = term.sent.union(passed)
                    rest = tuple(point for point in points if point[0] not in done)
                    records.append(SentRecord(term.id, term.sent, passed, next_attention(points, done), rest))
                if passed:
                    to_send.append((term, passed[-1]))
            # One conditional write for the whole sweep is the lock: a term whose write another sweep won
            # (it recorded something for the term since we read it) is left to that sweep.
            won = await tx.record_sent_many(records, swept=now) if records else set()
            for term, key in to_send:
                if term.id in won:
                    queued.extend(term_notifications(term, key, now, self.rules))
            # One insert for the whole sweep; the same transaction as the conditional write, so they still
            # commit together or not at all.
            if queued:
                await tx.enqueue(queued)
            return queued

        queued = await self.repo.write(body)
        if queued:
            await self._wake(sorted({n.case_id for n in queued if n.case_id is not None}), queued)
        return queued
