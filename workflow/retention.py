"""How long a citizen's personal data are kept, and which cases are due for erasure at `now` (issue 14 item 5).

Pure: instants in, case ids out. A case's personal data (the author's name and ids, phone and address, the
message text, attachments, what staff wrote about it) are kept while it is handled and for a period after its
handling ended (the instant of its last event in a final status), the period set per kind of case in
`[retention]`. A case reopened after that is no longer ended: it is not erased while it is open again.

The periods count in calendar months in the district's local time; a day the month lacks is its last day
(31 March + 1 month = 30 April), as people count «через месяц».
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from workflow.lifecycle import Status
from workflow.model import Procedure
from workflow.search import fold

# The events that record what was done with a case's personal data (the history shows them, views/texts.py).
PD_ERASED = "pd_erased"
PD_EXPORTED = "pd_exported"
# Why they were erased: the retention period ran out, or the citizen asked (`otklik pd erase`).
BY_RETENTION = "retention"
BY_REQUEST = "request"

# What an erased message's text becomes: the card then says why it is empty.
ERASED_TEXT = "[персональные данные удалены]"


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Months after a case ended until its personal data are erased; `enabled` False: never by schedule."""

    open_sources_months: int = 12
    pos_months: int = 60
    excluded_months: int = 3
    enabled: bool = True

    def months(self, procedure: Procedure, status: str) -> int:
        if status == Status.EXCLUDED:
            return self.excluded_months
        return self.pos_months if procedure is Procedure.POS else self.open_sources_months


@dataclass(frozen=True, slots=True)
class EndedCase:
    """A case not yet erased, as storage lists it: its status and the instant of its last event."""

    case_id: int
    procedure: Procedure
    status: str
    last_event_at: datetime


def add_months(instant: datetime, months: int, tz: tzinfo) -> datetime:
    """`instant` plus calendar months on the local wall clock of `tz` (clamped to the month's last day)."""
    local = instant.astimezone(tz)
    index = local.year * 12 + (local.month - 1) + months
    year, month = divmod(index, 12)
    day = min(local.day, _calendar.monthrange(year, month + 1)[1])
    return local.replace(year=year, month=month + 1, day=day)


def erase_at(case: EndedCase, policy: RetentionPolicy, tz: tzinfo) -> datetime | None:
    """When the case's personal data fall due for erasure; None while it is not in a final status."""
    try:
        status = Status(case.status)
    except ValueError:
        return None
    if not status.final:
        return None
    return add_months(case.last_event_at, policy.months(case.procedure, case.status), tz)


def due_for_erasure(
    cases: Iterable[EndedCase], now: datetime, policy: RetentionPolicy, tz: tzinfo
) -> list[int]:
    """The ids of the cases whose personal data are due for erasure at `now` (due exactly at `now` included)."""
    if not policy.enabled:
        return []
    due = []
    for case in cases:
        at = erase_at(case, policy, tz)
        if at is not None and at <= now:
            due.append(case.case_id)
    return due


@dataclass(frozen=True, slots=True)
class CandidateBounds:
    """Per kind of case, an instant no case of that kind ended after can be due at `now`: storage lists only
    cases ended before their kind's bound, so an hourly run reads about what is due, not every ended case."""

    open_sources: datetime
    pos: datetime
    excluded: datetime


def candidate_bounds(now: datetime, policy: RetentionPolicy, tz: tzinfo) -> CandidateBounds:
    """Each kind's period back from `now`, plus the most a clamped month end moves a due instant (31 January
    plus a month is 28 February: three days) and a day to spare; `due_for_erasure` has the last word."""

    def bound(months: int) -> datetime:
        return add_months(now, -months, tz) + timedelta(days=4)

    return CandidateBounds(
        open_sources=bound(policy.open_sources_months),
        pos=bound(policy.pos_months),
        excluded=bound(policy.excluded_months),
    )


def author_matches(query: str, author: str, author_id: int | None) -> bool:
    """Whether a message is the citizen's whom `otklik pd export/erase --author` names.

    A number is the network's id of the author (the VK user id the card shows); anything else is the author's
    name as the message gives it, compared folded and whole (a ПОС author «Иванова А.П., тел. …» is named by
    «Иванова А.П.»). A part of a name never matches: an erasure must not reach another citizen.
    """
    value = query.strip()
    if not value:
        return False
    if value.lstrip("-").isdigit():
        return author_id is not None and int(value) == author_id
    name = fold(author.split(",", 1)[0])
    return bool(name) and name == fold(value)
