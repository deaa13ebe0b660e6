"""How long is left (or how late it is), as a person reads it: working days and hours for long terms.

`remaining_text(now, due, calendar)` is the one formatter of a term's remaining working time, for cards,
reminders and lists. Up to one working day it says hours and minutes («осталось 1 ч 20 мин рабочего времени»);
beyond that whole working days of the production calendar and the hours left over («осталось 6 раб. дн. 3 ч»):
a 20-day ПОС term no longer reads «осталось 118 ч 55 мин рабочего времени».

A working day here is a day of the calendar, not 8 hours: a shortened pre-holiday day counts as one day. The
days counted are the whole working days between `now` and `due`; what is left of today and of the due day is
added as hours (and becomes one more day when it is a whole working day's worth).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Protocol

from views import texts


class DurationCalendar(Protocol):
    @property
    def tz(self) -> tzinfo: ...

    def working_time_between(self, a: datetime, b: datetime) -> timedelta: ...

    def windows(self, d: date) -> tuple[tuple[time, time], ...]: ...


def duration(span: timedelta) -> str:
    """«1 ч 20 мин», «2 ч», «15 мин» (whole minutes, never negative)."""
    minutes = max(0, int(span.total_seconds() // 60))
    h, m = divmod(minutes, 60)
    if h and m:
        return texts.DURATION_HM.format(h=h, m=m)
    if h:
        return texts.DURATION_H.format(h=h)
    return texts.DURATION_M.format(m=m)


def _day_length(d: date, calendar: DurationCalendar) -> timedelta:
    total = timedelta(0)
    for start, end in calendar.windows(d):
        total += datetime.combine(d, end) - datetime.combine(d, start)
    return total


def working_days(a: datetime, b: datetime, calendar: DurationCalendar) -> tuple[int, timedelta]:
    """(whole working days, working time left over) from `a` to `b` (a <= b).

    The whole days are the working days strictly between a's and b's local dates, plus a's or b's own day when
    the stretch covers all of its working time. The rest is the working time of the partial days; when it adds
    up to at least the longer of those days, it counts as one more day.
    """
    tz = calendar.tz
    first, last = a.astimezone(tz).date(), b.astimezone(tz).date()
    total = calendar.working_time_between(a, b)
    if first == last:
        return (1, timedelta(0)) if total >= _day_length(first, calendar) > timedelta(0) else (0, total)
    days = 0
    between = timedelta(0)
    d = first + timedelta(days=1)
    while d < last:
        length = _day_length(d, calendar)
        if length > timedelta(0):
            days += 1
            between += length
        d += timedelta(days=1)
    rest = total - between
    partial_lengths: list[timedelta] = []
    for d in (first, last):
        length = _day_length(d, calendar)
        if length <= timedelta(0):
            continue
        start = datetime.combine(d, time(0), tzinfo=tz)
        end = start + timedelta(days=1)
        part = calendar.working_time_between(max(a, start), min(b, end))
        if part >= length:
            days += 1
            rest -= part
        elif part > timedelta(0):
            partial_lengths.append(length)
    if partial_lengths and rest >= max(partial_lengths):
        days += 1
        rest -= max(partial_lengths)
    return days, max(rest, timedelta(0))


def span_text(a: datetime, b: datetime, calendar: DurationCalendar) -> str:
    """The working time from a to b: «1 ч 20 мин» up to a working day, «6 раб. дн. 3 ч» beyond."""
    days, rest = working_days(a, b, calendar)
    if days == 0:
        return duration(rest)
    if rest >= timedelta(hours=1):
        return texts.DURATION_DAYS_H.format(d=days, h=int(rest.total_seconds() // 3600))
    if rest >= timedelta(minutes=1):
        return texts.DURATION_DAYS_M.format(d=days, m=int(rest.total_seconds() // 60))
    return texts.DURATION_DAYS.format(d=days)


def remaining_text(now: datetime, due: datetime, calendar: DurationCalendar) -> str:
    """«осталось 1 ч 20 мин рабочего времени», «осталось 6 раб. дн. 3 ч», «просрочено на 2 раб. дн. 1 ч»,
    «срок истёк» (under a minute late). Working time both ways."""
    if due > now:
        left = calendar.working_time_between(now, due)
        if left <= timedelta(0):
            # No working time in between (evening, weekend): the term falls when the next working day starts.
            return texts.CARD_DUE_AT_START
        days, _rest = working_days(now, due, calendar)
        if days == 0:
            return texts.CARD_LEFT.format(left=duration(left))
        return texts.CARD_LEFT_DAYS.format(left=span_text(now, due, calendar))
    late = calendar.working_time_between(due, now)
    if late < timedelta(minutes=1):
        if now - due < timedelta(minutes=1):
            return texts.CARD_DUE_NOW
        return texts.CARD_OVERDUE.format(late=duration(now - due))
    return texts.CARD_OVERDUE.format(late=span_text(due, now, calendar))
