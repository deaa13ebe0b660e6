"""Benchmark: Otklik's WorkingCalendar against businesstimedelta on the same random starts.

Run `python bench/calendar_bench.py` (100,000 starts; about 7 minutes, nearly all of it businesstimedelta;
`--n 5000` for a quick look). Each start is a random aware instant between 2020-01-01 and 2027-12-01 in
Asia/Novosibirsk (seeded); both libraries add 9 working hours (os.publish) and 7 working days (os.final,
pos.final) to it. Every call is timed on its own and the median is printed, with the ratio and how often
the two answers agree. Then `add_working`'s fast path against its general path (`add_working_reference`, the
path every call took before issue 16) on the same starts: the medians, and whether every answer is the same.

businesstimedelta is given the same schedule (09:00-18:00 Mon-Fri, lunch 13:00-14:00) and, as a HolidayRule,
every weekday the shipped production calendar marks as a day off. It has no notion of a working day count,
so "7 working days" is emulated the way its model allows: 7 x 8 working hours from the local midnight that
starts the day after the event, which lands on the close of the 7th working day.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from time import perf_counter_ns
from zoneinfo import ZoneInfo

import businesstimedelta as btd
import pytz

from workflow.calendar import DayKind, WorkingCalendar, shipped_calendar

ZONE = "Asia/Novosibirsk"
FIRST, LAST = datetime(2020, 1, 1), datetime(2027, 12, 1)  # results stay inside the shipped years


def random_starts(n: int, seed: int) -> list[datetime]:
    tz = ZoneInfo(ZONE)
    rng = random.Random(seed)
    first, last = FIRST.replace(tzinfo=tz).timestamp(), LAST.replace(tzinfo=tz).timestamp()
    return [datetime.fromtimestamp(round(rng.uniform(first, last), 6), tz) for _ in range(n)]


def timed(fn: Callable[[datetime], datetime], starts: list[datetime]) -> tuple[float, list[datetime]]:
    """Median microseconds of one call, and the results."""
    results: list[datetime] = []
    durations: list[int] = []
    for start in starts:
        t0 = perf_counter_ns()
        result = fn(start)
        durations.append(perf_counter_ns() - t0)
        results.append(result)
    return statistics.median(durations) / 1000, results


def peer_rules(facts: dict[int, dict[date, DayKind]]) -> btd.Rules:
    tz = pytz.timezone(ZONE)
    weekdays = [0, 1, 2, 3, 4]
    days_off = {
        d for year in facts.values() for d, kind in year.items() if kind is DayKind.OFF and d.weekday() < 5
    }
    return btd.Rules(
        [
            btd.WorkDayRule(start_time=time(9), end_time=time(18), working_days=weekdays, tz=tz),
            btd.LunchTimeRule(start_time=time(13), end_time=time(14), working_days=weekdays, tz=tz),
            btd.HolidayRule(days_off, tz=tz),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of random starts (default 100000)")
    parser.add_argument("--seed", type=int, default=746)
    args = parser.parse_args()

    facts = shipped_calendar()
    special = {d for year in facts.values() for d, kind in year.items() if kind is not DayKind.OFF}
    starts = random_starts(args.n, args.seed)

    cal = WorkingCalendar(tz=ZONE)
    for start in starts[:1000]:  # warm up: build the year tables outside the timed calls
        cal.add_working(start, 540)
        cal.add_working_days(start, 7)

    rules = peer_rules(facts)
    nine_hours = btd.BusinessTimeDelta(rules, hours=9)
    seven_days = btd.BusinessTimeDelta(rules, hours=7 * 8)
    peer_tz = pytz.timezone(ZONE)

    def peer_working_days(event: datetime) -> datetime:
        next_midnight = peer_tz.localize(
            datetime.combine(event.astimezone(peer_tz).date() + timedelta(1), time())
        )
        return next_midnight + seven_days

    print(
        f"Otklik calendar benchmark: {args.n} random starts {FIRST:%Y-%m-%d}..{LAST:%Y-%m-%d} in {ZONE}, "
        f"seed {args.seed}; {platform.python_implementation()} {platform.python_version()}"
    )
    print(f"{'operation':24} {'Otklik us':>10} {'businesstimedelta us':>21} {'ratio':>8}  answers that agree")
    ok = True
    operations = [
        ("add 9 working hours", lambda s: cal.add_working(s, 540), lambda s: s + nine_hours),
        ("add 7 working days", lambda s: cal.add_working_days(s, 7), peer_working_days),
    ]
    for name, ours, peer in operations:
        ours_us, ours_results = timed(ours, starts)
        peer_us, peer_results = timed(peer, starts)
        differ = [(s, a) for s, a, b in zip(starts, ours_results, peer_results, strict=True) if a != b]
        unexplained = [s for s, a in differ if not _touches(special, s, a)]
        agree = f"{args.n - len(differ)}/{args.n}"
        note = (
            f"; {len(unexplained)} differ for other reasons"
            if unexplained
            else ", the rest cross a t=2/t=3 day"
        )
        print(f"{name:24} {ours_us:10.2f} {peer_us:21.2f} {peer_us / ours_us:7.0f}x  {agree}{note}")
        ok = ok and ours_us < 10 and peer_us >= 10 * ours_us and not unexplained

    fast_us, fast_results = timed(lambda s: cal.add_working(s, 540), starts)
    general_us, general_results = timed(lambda s: cal.add_working_reference(s, 540), starts)
    same = sum(a == b for a, b in zip(fast_results, general_results, strict=True))
    print(
        f"add_working's fast path against its general path (add_working_reference), +9 working hours: "
        f"{fast_us:.2f} us against {general_us:.2f} us ({general_us / fast_us:.1f}x), {same}/{args.n} the same"
    )
    fast_ok = fast_us < 2.5 and same == args.n
    print(f"requirement (fast path < 2.5 us median, the same answers): {'met' if fast_ok else 'NOT met'}")
    ok = ok and fast_ok

    print(
        "businesstimedelta cannot express: working Saturdays (t=3: its WorkDayRule takes whole weekdays), "
        "shortened days (t=2, also on Saturdays: one window per weekday, no per-date end), a working-day "
        "count (emulated as 8-hour blocks), and years without data (no art. 95/112 fallback)."
    )
    print(f"requirement (< 10 us median, >= 10x faster): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


def _touches(special: set[date], start: datetime, result: datetime) -> bool:
    """Whether a shortened day or a working weekend day lies between the start's and the result's dates."""
    first, last = start.astimezone(result.tzinfo).date(), result.date()
    return any(first + timedelta(days=i) in special for i in range((last - first).days + 1))


if __name__ == "__main__":
    sys.exit(main())
