"""When a notification may ring: within the working day it does; outside it (evenings, nights, weekends and the
holidays of the production calendar) it arrives silently (Telegram's `disable_notification`), except the
immediate reports to the head of the district, which ring at any hour: a socially significant message (open
sources п.17, «подлежит незамедлительному докладу Главе района») and a missed term escalated to him.

Pure: an instant, a recipient and the calendar in, a yes or no out. The working day is the span from its first
working window's start to its last one's end (the lunch break inside it rings: people are at work).
"""

from __future__ import annotations

from datetime import datetime

from workflow.calendar import WorkingCalendar
from workflow.model import Role
from workflow.services.clusters import SPIKE

# (notification kind, recipient role) that ring whenever they come; the head's report of a spike of similar
# messages too (п.17: «повышенная социальная активность», an immediate report as well).
LOUD_ALWAYS: frozenset[tuple[str, Role]] = frozenset(
    {("significant", Role.HEAD), ("missed", Role.HEAD), (SPIKE, Role.HEAD)}
)


def in_working_day(at: datetime, calendar: WorkingCalendar) -> bool:
    """Whether `at` falls within its local day's working hours (a working day of the calendar, lunch included)."""
    local = at.astimezone(calendar.tz)
    windows = calendar.windows(local.date())
    if not windows:
        return False
    return windows[0][0] <= local.time().replace(tzinfo=None) < windows[-1][1]


def silent(kind: str, to_role: Role, at: datetime, calendar: WorkingCalendar) -> bool:
    """Whether a notification of `kind` to `to_role` sent at `at` goes without sound."""
    if (kind, to_role) in LOUD_ALWAYS:
        return False
    return not in_working_day(at, calendar)
