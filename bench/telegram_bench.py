"""Delivery to Telegram under load: N ПОС cases registered at once, each routed to one of five unit chats,
through the real bot wiring (OtklikApp: Services → Delivery → TelegramSender → aiogram) against the Telegram
emulator on 127.0.0.1, with a SQLite file in a temporary folder. Prints figures; not part of the test run.

    python bench/telegram_bench.py --limits on --cases 80       # Telegram's own limits: ~4.5 min
    python bench/telegram_bench.py --limits on --chat-interval 0.05 --group-limit 20/3
                                                                # 1,000 cases, per-chat windows 20× shorter: ~4 min
    python bench/telegram_bench.py --limits off                 # 1,000 cases, latency: ~1.5 min
    python bench/telegram_bench.py                              # both at Telegram's limits: over an hour

The flow is the real ПОС path, since no configuration puts a freshly registered case straight into a unit
chat: every case is registered by the ПОС curator (Services.register, then the card refresh and outbox drain
the /pos handler does) and, as soon as its card is in the curator's chat, routed to one unit
(Services.act(ROUTE) as the «Направить → unit → Готово» buttons do, then the handler's card refresh and drain).
Units are taken round-robin, so each of the five unit chats gets N/5 cards. Every case therefore also costs
three messages in the curator's chat (its card, the «registered» notice, the card edit on routing) and a
«routed» notice under the card in the unit chat: all are counted and enter the minimum. The curator's chat is
private by default (`--curator-chat group` makes it a group), so by Telegram's rules 1,000 cases need at least
50 minutes (3,000 messages at 1 a second), not the 10 that 1,000 cards in five groups at 20 a minute would.
The scheduler runs (outbox drain every 2 s, sweep every 30 s); polling does not (nobody writes to the bot).

Limits on: the emulator answers 429 beyond 30 messages a second in all, `--chat-interval` seconds between two
messages in a private chat (Telegram: 1 s) and `--group-limit` COUNT/SECONDS per group (Telegram: 20/60); the
sender is given the same limits (it also keeps `--chat-interval` in groups). Measured from the first
registration: until every card is in its unit chat, and until the last message of the run arrived (T). The
minimum (M) is the largest of the lower bounds Telegram's windows set for the messages that actually arrived
(sendMessage and editMessageText answered 200, from the emulator's request log, every chat): n messages
through a window of C per W seconds span at least (ceil(n / C) - 1) * W seconds; the per-chat minimum is the
largest of these bounds over single chats (the global window aside), with T against it. Also checked: every
case has exactly one card in its unit chat and none in the others, remembered in storage; the outbox is empty;
429s; every request made, by method and answer.

Limits off: the time from a registration's return to the arrival at the emulator (its request log time) of the
sendMessage that posted the case's card into its unit chat: median, p99 (nearest rank) and max over N cases,
after one warm-up case. Both modes report use cases that failed (the curator would see an error and retry)
and delivery steps that raised (a handler logs them and goes on), apart from lost or doubled cards.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import OtklikApp
from bot.sender import TelegramSender
from bot.settings import (
    DEFAULT_UNITS,
    ChatSettings,
    DatabaseSettings,
    SchedulerSettings,
    Settings,
    StaffMember,
    TelegramSettings,
)
from emulators.telegram import RateLimits, RequestRecord, TelegramEmulator
from emulators.telegram.server import RATE_LIMITED_METHODS
from workflow.lifecycle import Action, ActionPayload
from workflow.model import Actor, InboundMessage, Procedure, Role, Source

UNITS = ("housing", "education", "social", "culture", "economy")
UNIT_CHATS = {unit: -1001000000100 - index for index, unit in enumerate(UNITS)}
CURATOR_ID = 7001
CURATOR_GROUP = -1001000000001
INTAKE_CHAT = -1001000000002
OFFICIAL_IDS = {unit: 7100 + index for index, unit in enumerate(UNITS)}
TEXT = "Во дворе дома {n} по ул. Садовой третью неделю не вывозят мусор с контейнерной площадки."


# --- limits and the minimum they allow -------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    global_count: int = 30
    global_window: float = 1.0
    chat_interval: float = 1.0  # private chats: one message per this many seconds; the sender: every chat
    group_count: int = 20
    group_window: float = 60.0

    def describe(self) -> str:
        return (
            f"{self.global_count}/{self.global_window:g} s in all, 1/{self.chat_interval:g} s per private chat, "
            f"{self.group_count}/{self.group_window:g} s per group"
        )

    def emulator(self) -> RateLimits:
        return RateLimits(
            global_count=self.global_count,
            global_window=self.global_window,
            private_count=1,
            private_window=self.chat_interval,
            group_count=self.group_count,
            group_window=self.group_window,
        )

    def sender(self, app: OtklikApp) -> TelegramSender:
        return TelegramSender(
            app.bot,
            per_second=self.global_count / self.global_window,
            global_window=self.global_window,
            per_chat_interval=self.chat_interval,
            group_per_minute=self.group_count,
            group_window=self.group_window,
        )


TELEGRAM = Limits()


def window_span(n: int, count: int, window: float) -> float:
    """The least time from the first to the last of n messages through a sliding window of count per window."""
    return 0.0 if n <= 0 else (math.ceil(n / count) - 1) * window


def paced_span(n: int, interval: float, count: int, window: float) -> float:
    """The same for the sender's own pacing of a group: one per `interval` and `count` per `window` at once."""
    times: list[float] = []
    for k in range(n):
        t = times[-1] + interval if times else 0.0
        if k >= count:
            t = max(t, times[k - count] + window)
        times.append(t)
    return times[-1] if times else 0.0


@dataclass(frozen=True)
class Bound:
    name: str
    messages: int
    span: float


def minimum(per_chat: Counter[int], limits: Limits) -> list[Bound]:
    """Every window's lower bound, largest first. Telegram's limits alone (the emulator's rules)."""
    bounds = [Bound("all chats", sum(per_chat.values()),
                    window_span(sum(per_chat.values()), limits.global_count, limits.global_window))]  # fmt: skip
    for chat_id, n in per_chat.items():
        if chat_id > 0:
            bounds.append(Bound(_chat_name(chat_id), n, window_span(n, 1, limits.chat_interval)))
        else:
            bounds.append(
                Bound(_chat_name(chat_id), n, window_span(n, limits.group_count, limits.group_window))
            )
    return sorted(bounds, key=lambda b: -b.span)


def sender_minimum(per_chat: Counter[int], limits: Limits) -> float:
    """The bound under the sender's stricter pacing: 1/interval in groups too, on top of the group window."""
    spans = [window_span(sum(per_chat.values()), limits.global_count, limits.global_window)]
    for chat_id, n in per_chat.items():
        if chat_id > 0:
            spans.append(window_span(n, 1, limits.chat_interval))
        else:
            spans.append(paced_span(n, limits.chat_interval, limits.group_count, limits.group_window))
    return max(spans)


def _chat_name(chat_id: int) -> str:
    if chat_id in (CURATOR_ID, CURATOR_GROUP):
        return "ПОС curator's chat" + (" (group)" if chat_id < 0 else " (private)")
    for unit, chat in UNIT_CHATS.items():
        if chat == chat_id:
            return f"unit chat {unit}"
    return f"chat {chat_id}"


def parse_group_limit(text: str) -> tuple[int, float]:
    count, sep, seconds = text.partition("/")
    try:
        result = int(count), float(seconds) if sep else 60.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected COUNT/SECONDS such as 20/60, got {text!r}") from None
    if result[0] < 1 or result[1] <= 0:
        raise argparse.ArgumentTypeError("COUNT and SECONDS must be positive")
    return result


# --- the bot under test ----------------------------------------------------------------------------------------


def bench_settings(
    api_base: str, token: str, db_path: Path, *, rate_limits: bool, curator_chat: int
) -> Settings:
    staff = [StaffMember(telegram_id=CURATOR_ID, name="Куратор ПОС", roles=["pos_curator"])]
    staff += [
        StaffMember(
            telegram_id=uid, name=f"Исполнитель {unit}", roles=["unit_official", "executor"], units=[unit]
        )
        for unit, uid in OFFICIAL_IDS.items()
    ]
    return Settings(
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{db_path}"),
        telegram=TelegramSettings(token=token, api_base=api_base, rate_limits=rate_limits),
        # The whole administration's chats, as configured in production; this flow posts to none but the
        # ПОС curator's and the units'.
        chats=ChatSettings(
            intake=INTAKE_CHAT,
            office_head=7002,
            region_curator=7003,
            head=7004,
            pos_curator=curator_chat,
            units=dict(UNIT_CHATS),
        ),
        units={unit: DEFAULT_UNITS[unit] for unit in UNITS},
        staff=staff,
        scheduler=SchedulerSettings(),
    )


CURATOR = Actor(user_id=CURATOR_ID, roles=frozenset({Role.POS_CURATOR}), name="Куратор ПОС")


@dataclass
class CaseRun:
    number: int
    unit: str
    case_id: int = 0
    registered: float = 0.0  # time.monotonic() when Services.register returned
    routed: float = 0.0  # … when Services.act(ROUTE) returned
    error: str = ""


@dataclass
class Run:
    cases: list[CaseRun]
    started: float
    finished: float  # every case task returned and the outbox is empty
    requests: list[RequestRecord]
    pending_outbox: int
    cards_in_db: dict[int, dict[int, int]] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)  # delivery steps that raised (handlers log them)


async def one_case(
    app: OtklikApp,
    run: CaseRun,
    received: datetime,
    background: set[asyncio.Task[None]],
    failures: Counter[str],
) -> None:
    message = InboundMessage(
        source=Source.POS,
        source_id=f"bench-{run.number:06d}",
        procedure=Procedure.POS,
        text=TEXT.format(n=run.number),
        received_at=received,
        author="Заявитель",
        category="other",
        external_number=f"{4_500_000 + run.number}",
    )
    try:
        outcome = await app.services.register(message, CURATOR)
    except Exception as exc:  # the curator would see the handler fail and try again
        run.error = f"register: {_short(exc)}"
        return
    run.case_id = outcome.case.id
    run.registered = time.monotonic()
    # The curator presses «Направить» once the card is there. Delivery, woken by the commit, refreshes the card
    # and drains by itself too; the explicit steps (from before the wake path) make the wait for the card
    # measurable here, at the cost of some repeated refreshes. Left as it was measured in the figures.
    await _guarded(app.delivery.refresh_cards(run.case_id), "card refresh", failures)
    drain = asyncio.create_task(_guarded(app.delivery.drain(), "drain", failures))
    background.add(drain)
    drain.add_done_callback(background.discard)
    try:
        await app.services.act(run.case_id, Action.ROUTE, CURATOR, payload=ActionPayload(units=(run.unit,)))
    except Exception as exc:
        run.error = f"route: {_short(exc)}"
        return
    run.routed = time.monotonic()
    # As before the wake path: the card refreshed and the outbox drained once more.
    await _guarded(app.delivery.refresh_cards(run.case_id), "card refresh", failures)
    await _guarded(app.delivery.drain(), "drain", failures)


async def _guarded(step: Awaitable[object], name: str, failures: Counter[str]) -> None:
    """A delivery step as the background wake runs it: a failure is logged (here: counted), not raised;
    the change is committed and what was not sent is picked up later (the outbox, the card before a notice)."""
    try:
        await step
    except Exception as exc:
        failures[f"{name}: {_short(exc)}"] += 1


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


async def run_cases(n: int, limits: Limits | None, curator_chat: str, timeout: float) -> Run:
    chat = CURATOR_ID if curator_chat == "private" else CURATOR_GROUP
    with tempfile.TemporaryDirectory(prefix="otklik-tgbench-") as folder:
        emulator_limits: RateLimits | bool = limits.emulator() if limits is not None else False
        async with TelegramEmulator(rate_limits=emulator_limits) as emu:
            emu.add_user(CURATOR_ID, "Куратор", "ПОС")
            for unit, uid in OFFICIAL_IDS.items():
                emu.add_user(uid, "Исполнитель", unit)
            if chat < 0:
                emu.add_chat(chat, "supergroup", title="ПОС — кураторы")
            for unit, unit_chat in UNIT_CHATS.items():
                emu.add_chat(unit_chat, "supergroup", title=DEFAULT_UNITS[unit])
            settings = bench_settings(emu.base_url, emu.token, Path(folder) / "bench.sqlite3",
                                      rate_limits=limits is not None, curator_chat=chat)  # fmt: skip
            app = await OtklikApp.build(settings)
            if limits is not None and limits != TELEGRAM:
                # Scaled windows: the sender keeps the same limits as the emulator.
                app.sender = app.delivery.sender = limits.sender(app)
            try:
                # The scheduler (sweep every 30 s, outbox drain every 2 s) runs, as in `otklik run`.
                await app.start_background()
                received = app.clock.now()
                background: set[asyncio.Task[None]] = set()
                failures: Counter[str] = Counter()
                if limits is None:
                    # One case through the whole path first, so the latencies are not those of a cold process.
                    # (Not with limits on: it would use up windows the run is measured against.)
                    await one_case(app, CaseRun(number=0, unit=UNITS[0]), received, background, Counter())
                    while background:
                        await asyncio.gather(*list(background))
                runs = [CaseRun(number=i + 1, unit=UNITS[i % len(UNITS)]) for i in range(n)]
                first_request = len(emu.requests)
                started = time.monotonic()
                async with asyncio.timeout(timeout):
                    await asyncio.gather(*(one_case(app, r, received, background, failures) for r in runs))
                    while background:
                        await asyncio.gather(*list(background))
                    while True:  # the periodic drain picks up anything a drain left behind
                        async with app.repo.reading() as tx:
                            pending = len(await tx.pending_outbox(10_000))
                        if pending == 0:
                            break
                        await asyncio.sleep(0.2)
                finished = time.monotonic()
                cards: dict[int, dict[int, int]] = {}
                async with app.repo.reading() as tx:
                    for r in runs:
                        if r.case_id:
                            cards[r.case_id] = await tx.cards(r.case_id)
            finally:
                await app.close()
            return Run(runs, started, finished, emu.requests[first_request:], pending, cards, failures)


# --- checks and figures -----------------------------------------------------------------------------------------


def _card_prefix(case_id: int) -> str:
    return f"<b>Сообщение № {case_id}</b>"


def unit_cards(run: Run) -> tuple[dict[int, list[RequestRecord]], list[str]]:
    """The accepted sendMessage of each case's card in the unit chats, and what is wrong (lost, doubled, misplaced)."""
    by_case: dict[int, list[RequestRecord]] = {r.case_id: [] for r in run.cases if r.case_id}
    unit_chat_ids = set(UNIT_CHATS.values())
    prefixes = {_card_prefix(case_id): case_id for case_id in by_case}
    for record in run.requests:
        if record.method.lower() != "sendmessage" or not record.ok or record.chat_id not in unit_chat_ids:
            continue
        head = str(record.params.get("text", "")).split(" · ", 1)[0]
        if head in prefixes:
            by_case[prefixes[head]].append(record)
    problems: list[str] = []
    for r in run.cases:
        if r.error:  # reported apart: the use case itself failed, there was nothing to deliver
            continue
        records = by_case.get(r.case_id, [])
        chats = [record.chat_id for record in records]
        if chats != [UNIT_CHATS[r.unit]]:
            problems.append(
                f"case {r.case_id} ({r.unit}): cards in {chats}, expected one in {UNIT_CHATS[r.unit]}"
            )
        elif run.cards_in_db.get(r.case_id, {}).get(UNIT_CHATS[r.unit]) is None:
            problems.append(f"case {r.case_id}: its unit card is not remembered in storage")
    return by_case, problems


def failure_rows(run: Run) -> list[tuple[str, str]]:
    refused = Counter(r.error for r in run.cases if r.error)
    return [
        ("use cases that failed", _summary(refused)),
        ("delivery steps that raised", _summary(run.failures) + (" (logged by the handler; the outbox and the "
                                                                  "card-before-notice rule make up for them)"
                                                                  if run.failures else "")),
    ]  # fmt: skip


def _summary(counts: Counter[str]) -> str:
    if not counts:
        return "none"
    return f"{sum(counts.values())}: " + "; ".join(f"{n} × {what}" for what, n in counts.most_common(3))


def succeeded(run: Run, problems: Sequence[str]) -> bool:
    return not problems and run.pending_outbox == 0 and not any(r.error for r in run.cases)


def messages(run: Run) -> list[RequestRecord]:
    return [
        r for r in run.requests if r.method.lower() in RATE_LIMITED_METHODS and r.ok and r.chat_id is not None
    ]


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def table(rows: Sequence[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name.ljust(width)}  {value}" for name, value in rows)


def report_limits_on(run: Run, limits: Limits) -> bool:
    by_case, problems = unit_cards(run)
    sent = messages(run)
    per_chat = Counter(r.chat_id for r in sent if r.chat_id is not None)
    per_method = Counter(r.method.lower() for r in sent)
    bounds = minimum(per_chat, limits)
    least = bounds[0].span
    # The largest bound one chat's own window sets (the global window aside): what no scheduler can beat even
    # with an unlimited global budget (issue 16: "the per-chat minimum").
    chat_bound = max((b for b in bounds if b.name != "all chats"), key=lambda b: b.span, default=None)
    paced = sender_minimum(per_chat, limits)
    last_card = max((recs[0].received_at for recs in by_case.values() if recs), default=run.started)
    last_message = max((r.received_at for r in sent), default=run.started)
    unit_chat_ids = set(UNIT_CHATS.values())
    last_in_units = max((r.received_at for r in sent if r.chat_id in unit_chat_ids), default=run.started)
    last_elsewhere = max((r.received_at for r in sent if r.chat_id not in unit_chat_ids), default=run.started)
    units_alone = max((b.span for b in bounds if b.name.startswith("unit chat")), default=0.0)
    total = last_message - run.started
    too_many = sum(1 for r in run.requests if r.status == 429)
    requests = [r for r in run.requests if r.method.lower() != "getupdates"]
    other_failures = Counter(f"{r.method} {r.status}" for r in run.requests if r.status not in (200, 429))
    n = len(run.cases)
    rows = [
        ("cases registered and routed", f"{n} (units round-robin, {n // len(UNITS)}+ per unit chat)"),
        ("limits (emulator and sender)", limits.describe()),
        ("messages that arrived", f"{len(sent)}: " + ", ".join(f"{k} {v}" for k, v in sorted(per_method.items()))),
        ("  per chat", "; ".join(f"{_chat_name(c)} {k}" for c, k in sorted(per_chat.items()))),
        ("every unit card in its chat after", f"{last_card - run.started:.1f} s"),
        ("every message in its chat after (T)", f"{total:.1f} s"),
        ("  last in the unit chats", f"{last_in_units - run.started:.1f} s (their own windows allow {units_alone:.1f} s)"),
        ("  last in the curator's chat", f"{last_elsewhere - run.started:.1f} s"),
        ("minimum by the limits (M)", f"{least:.1f} s — bound by {bounds[0].name} ({bounds[0].messages} messages)"),
        ("  next bounds", "; ".join(f"{b.name} {b.span:.1f} s" for b in bounds[1:4])),
        ("  how", "per window of C per W s (all chats; each chat): n messages span >= (ceil(n/C) - 1) * W; M = the largest"),
        ("T / M", f"{total / least:.2f}" if least > 0 else "n/a (minimum is 0)"),
        ("per-chat minimum (largest one-chat bound)",
         f"{chat_bound.span:.1f} s — {chat_bound.name} ({chat_bound.messages} messages); "
         f"T / it {total / chat_bound.span:.2f}" if chat_bound is not None and chat_bound.span > 0 else "n/a"),
        ("minimum under the sender's own pacing", f"{paced:.1f} s (it also keeps 1/{limits.chat_interval:g} s in groups)"),
        ("429 answers from the emulator", str(too_many) + (" (" + "; ".join(
            f"{_chat_name(c)} {k}" for c, k in sorted(Counter(r.chat_id for r in run.requests if r.status == 429
                                                               and r.chat_id is not None).items())) + ")"
                                                           if too_many else "")),
        ("requests made (every answer)", f"{len(requests)}: " + ", ".join(
            f"{k} {v}" for k, v in sorted(Counter(f"{r.method} {r.status}" for r in requests).items()))),
        ("other failed requests", ", ".join(f"{k}: {v}" for k, v in other_failures.items()) or "none"),
        ("outbox rows left pending", str(run.pending_outbox)),
        *failure_rows(run),
        ("cards lost / doubled / misplaced", str(len(problems))),
        ("run, until every task and the outbox are done", f"{run.finished - run.started:.1f} s"),
    ]  # fmt: skip
    print(table(rows))
    for problem in problems[:10]:
        print(f"  ! {problem}")
    return succeeded(run, problems)


def report_limits_off(run: Run) -> bool:
    by_case, problems = unit_cards(run)
    latencies = [
        by_case[r.case_id][0].received_at - r.registered for r in run.cases if by_case.get(r.case_id)
    ]
    after_route = [by_case[r.case_id][0].received_at - r.routed for r in run.cases if by_case.get(r.case_id)]
    registered = [r.registered for r in run.cases if r.registered]
    sent = messages(run)
    unit_chat_ids = set(UNIT_CHATS.values())
    in_units = [r.received_at - run.started for r in sent if r.chat_id in unit_chat_ids]
    elsewhere = [r.received_at - run.started for r in sent if r.chat_id not in unit_chat_ids]
    span = max(r.received_at for r in sent) - run.started if sent else 0.0
    rows = [
        ("cases registered and routed", f"{len(run.cases)} at once (units round-robin)"),
        ("limits", "off (emulator and sender)"),
        ("messages that arrived", f"{len(sent)} in {span:.1f} s ({len(sent) / span:.0f}/s)" if span else "0"),
        ("  curator's chat (one at a time)", f"{len(elsewhere)}, the last after {max(elsewhere, default=0):.1f} s"),
        ("  unit chats", f"{len(in_units)}, the last after {max(in_units, default=0):.1f} s"),
        ("registrations returned within", f"{max(registered) - run.started:.2f} s" if registered else "n/a"),
        ("registration → unit card  median", _ms(statistics.median(latencies)) if latencies else "n/a"),
        ("                          p99", _ms(percentile(latencies, 99)) if latencies else "n/a"),
        ("                          max", _ms(max(latencies)) if latencies else "n/a"),
        ("routing → unit card       median", _ms(statistics.median(after_route)) if after_route else "n/a"),
        ("                          p99", _ms(percentile(after_route, 99)) if after_route else "n/a"),
        ("last unit card arrived after", f"{max(r[0].received_at for r in by_case.values() if r) - run.started:.2f} s"
         if latencies else "n/a"),
        ("run, until every task and the outbox are done", f"{run.finished - run.started:.2f} s"),
        ("outbox rows left pending", str(run.pending_outbox)),
        *failure_rows(run),
        ("cards lost / doubled / misplaced", str(len(problems))),
    ]  # fmt: skip
    print(table(rows))
    for problem in problems[:10]:
        print(f"  ! {problem}")
    return succeeded(run, problems)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


# --- main -------------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1000, help="cases registered at once (default 1000)")
    parser.add_argument("--limits", choices=("on", "off", "both"), default="both")
    parser.add_argument("--group-limit", type=parse_group_limit, default=(20, 60.0), metavar="COUNT/SECONDS",
                        help="messages per group chat per window, emulator and sender (Telegram: 20/60)")  # fmt: skip
    parser.add_argument("--chat-interval", type=float, default=1.0, metavar="SECONDS",
                        help="seconds between messages in one private chat; the sender keeps it in every chat "
                             "(Telegram: 1)")  # fmt: skip
    parser.add_argument("--curator-chat", choices=("private", "group"), default="private",
                        help="the ПОС curator's chat: a private chat (as in config.example.toml) or a group")  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=0.0, help="give up after this many seconds (0: automatic)"
    )
    args = parser.parse_args(argv)
    if args.cases < 1 or args.chat_interval <= 0:
        parser.error("--cases and --chat-interval must be positive")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # APScheduler's own lines: "skipped: maximum number of running instances reached" (the periodic drain found
    # one still running) and a drain cancelled by app.close(). The jobs' failures are logged by bot.scheduler.
    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)
    print(
        "Flow: the ПОС curator registers each case and routes it to one unit, as on the buttons (no config posts a"
        f" new case straight into a unit chat); the curator's chat is {args.curator_chat}."
    )
    ok = True
    if args.limits in ("on", "both"):
        count, window = args.group_limit
        limits = Limits(chat_interval=args.chat_interval, group_count=count, group_window=window)
        if limits == TELEGRAM:
            print("Limits ON — Telegram's own limits.")
        else:
            print(
                "Limits ON — scaled windows (NOT Telegram's: 30/s in all, 1/s per chat, 20/60 s per group)."
            )
        # 5 messages a case at worst; curator's chat 3 a case; generous slack for the machine.
        per_chat = Counter({CURATOR_ID if args.curator_chat == "private" else CURATOR_GROUP: 3 * args.cases})
        for i in range(args.cases):
            per_chat[UNIT_CHATS[UNITS[i % len(UNITS)]]] += 2
        timeout = args.timeout or 2 * minimum(per_chat, limits)[0].span + 120
        run = asyncio.run(run_cases(args.cases, limits, args.curator_chat, timeout))
        ok = report_limits_on(run, limits) and ok
    if args.limits in ("off", "both"):
        print("Limits OFF — latency from registration to the card's arrival in its unit chat.")
        run = asyncio.run(run_cases(args.cases, None, args.curator_chat, args.timeout or 600))
        ok = report_limits_off(run) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
