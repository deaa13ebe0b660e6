"""The office head's daily digest, and each person's morning digest: which is due at an instant, what it says.
Pure.

Having stopped getting every card (issue 10, item 7), the office head still hears the state of things once a
working day at a configured local time. Which digest is due is a function of `now` and the production calendar
alone: on a working day from the digest time on, that day's digest (a restart at 09:03 still owes it; its
dedup key makes it once); on a day off, none. What a digest calls new starts at the previous working day's
digest time, so the first working day after a weekend or holidays covers all the days since.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from workflow.calendar import WorkingCalendar
from workflow.model import Actor, Role, Term
from workflow.ports import Notification, TermPage

DIGEST = "digest"  # the notification kind
DEFAULT_TIME = time(9, 0)
# How far back to look for the previous working day: longer than any run of days off (the New Year holidays).
_LOOKBACK_DAYS = 31
# Terms each list of a digest carries at most; the view names the rest as «и ещё N».
LIST_LIMIT = 30


@dataclass(frozen=True, slots=True)
class DigestDue:
    """The digest of local working day `day`, due from `at`; it covers what happened from `since`."""

    day: date
    at: datetime
    since: datetime

    @property
    def dedup_key(self) -> str:
        return f"digest:{Role.OFFICE_HEAD.value}:{self.day.isoformat()}"


def _at(day: date, at: time, calendar: WorkingCalendar) -> datetime:
    return datetime.combine(day, at, tzinfo=calendar.tz)


def previous_working_day(day: date, calendar: WorkingCalendar) -> date | None:
    """The last working day before `day`, within a month back (None: none found, a broken calendar)."""
    for back in range(1, _LOOKBACK_DAYS + 1):
        candidate = day - timedelta(days=back)
        if calendar.is_working(candidate):
            return candidate
    return None


def digest_due(now: datetime, calendar: WorkingCalendar, at: time = DEFAULT_TIME) -> DigestDue | None:
    """The digest due at `now`: today's from the digest time until the day ends, on a working day; else None."""
    day = now.astimezone(calendar.tz).date()
    if not calendar.is_working(day):
        return None
    instant = _at(day, at, calendar)
    if now < instant:
        return None
    previous = previous_working_day(day, calendar)
    since = _at(previous, at, calendar) if previous is not None else instant - timedelta(days=1)
    return DigestDue(day=day, at=instant, since=since)


@dataclass(frozen=True, slots=True)
class DigestContent:
    """What the digest says, read at one instant: counts by SQL, lists bounded (with their totals)."""

    new_by_procedure: Mapping[str, int]
    open_by_status: Mapping[str, int]
    due_today: TermPage
    overdue: TermPage
    approvals: TermPage

    @property
    def worth_sending(self) -> bool:
        """Something to say: a new case since the last digest or an open one (the lists are about open cases)."""
        return any(self.new_by_procedure.values()) or any(self.open_by_status.values())


def _term_item(term: Term) -> dict[str, object]:
    item: dict[str, object] = {
        "case": term.case_id,
        "term": term.term_id,
        "due": term.due.isoformat(),
        "owner": term.owner.value,
    }
    if term.unit:
        item["unit"] = term.unit
    if term.person:
        item["person"] = term.person
    return item


def _page(page: TermPage) -> dict[str, object]:
    return {"items": [_term_item(t) for t in page.terms], "total": page.total}


def digest_notification(due: DigestDue, content: DigestContent, now: datetime) -> Notification:
    """The digest as an outbox row: everything the view needs is in the payload, read when it was decided."""
    return Notification(
        dedup_key=due.dedup_key,
        case_id=None,
        kind=DIGEST,
        to_role=Role.OFFICE_HEAD,
        at=now,
        payload={
            "day": due.day.isoformat(),
            "since": due.since.isoformat(),
            "read_at": now.isoformat(),
            "new": dict(sorted(content.new_by_procedure.items())),
            "open": dict(sorted(content.open_by_status.items())),
            "due_today": _page(content.due_today),
            "overdue": _page(content.overdue),
            "approvals": _page(content.approvals),
        },
    )


# --- the morning digest (issue 14): each person's own terms of the day ------------------------------------------

MORNING = "morning"  # the notification kind
DEFAULT_MORNING_TIME = time(8, 30)
# Open terms read per person (the earliest due first): what is overdue and due today is at the head of the list.
MORNING_READ = 200


def morning_notification(
    actor: Actor, day: date, owed: Sequence[Term], now: datetime, calendar: WorkingCalendar
) -> Notification | None:
    """What `actor` owes today and what is overdue, as an outbox row to his own chat; None when neither."""
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=calendar.tz)
    overdue = [t for t in owed if t.due < now]
    today = [t for t in owed if now <= t.due < end_of_day]
    if not overdue and not today:
        return None
    role = next((r for r in Role if r in actor.roles and r is not Role.SYSTEM), Role.OPERATOR)
    return Notification(
        dedup_key=f"{MORNING}:{actor.user_id}:{day.isoformat()}",
        case_id=None,
        kind=MORNING,
        to_role=role,
        at=now,
        payload={
            "user_id": actor.user_id,
            "day": day.isoformat(),
            "read_at": now.isoformat(),
            "due_today": _page(TermPage(tuple(today[:LIST_LIMIT]), len(today))),
            "overdue": _page(TermPage(tuple(overdue[:LIST_LIMIT]), len(overdue))),
        },
    )
