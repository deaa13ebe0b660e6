"""VK in and out under load (issue 11): the whole app (OtklikApp.build with [channels.vk]) against the VK
emulator and the Telegram emulator on 127.0.0.1, through the real vk-api and aiogram clients, with a SQLite file
in a temporary folder (`--pg`: a PostgreSQL database of its own). Prints figures; not part of the test run.

    python bench/channels_bench.py                    # everything at 1,000 items: about an hour (limits on)
    python bench/channels_bench.py --part intake --limits off    # 1,000 comments → cards: about a minute
    python bench/channels_bench.py --part publish     # 1,000 answers under VK's 20 requests/s: ~8 min
                                                      # (most of it taking the cases in and approving them)
    python bench/channels_bench.py --quick            # 100 items of each: a smoke run (limits on: ~4 min)

Intake: N comments are written under one post at once (the VK emulator adds them in one go, so one long poll
answer brings them all) while the app listens; each must become its card in the intake chat of the Telegram
emulator. Latency per comment: from just before the burst was written to the emulator's answer to the
sendMessage that posted its card (its request log, the same monotonic clock): median, p99 (nearest rank), max.
Lost: a comment without a card or a case; duplicated: a comment with more than one card or case.
Limits off: neither the Telegram emulator nor the sender limits anything (the VK emulator keeps its 20/s).
Limits on: Telegram's own (30/s in all, 1/s per private chat, 20 a minute per group) in the emulator and the
sender; 1,000 cards in one group then take at least (ceil(1000 / 20) - 1) * 60 s = 49 min: that floor is
printed beside the measure, with the floor of every message that actually arrived in each chat.

Publication: N comments are taken in the same way, then each case goes through the open-sources cycle by
the use cases the buttons call (routed and the routing approved, the unit's information, the operator's draft,
the ЦУР curator's approval), 4 at a time; then «Опубликовать» is pressed on each through the use case the
button calls (request_publication), 4 at a time, and the publisher worker (bot/publisher.py) posts every answer
under its comment with wall.createComment, under the VK emulator's window of 20 requests a second per token.
T runs from the first press until every publication row is marked published in storage. N answers need at
least N / 20 s (the first 20 may go at once: (ceil(N / 20) - 1) s strictly; 50 s for 1,000 is the issue's
figure). Lost: a comment
with no answer under it; duplicated: one with more than one; misplaced: an answer with another comment's text
(all counted in the VK emulator).

The emulators run in the benchmark's process and event loop, as in telegram_bench.py: their work counts
against the app's latency, never in its favour.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.app import OtklikApp
from bot.demo import (
    CHAT_TITLES,
    HOUSING,
    INTAKE_CHAT,
    OFFICE_HEAD,
    OPERATOR,
    PEOPLE,
    REGION_CURATOR,
    Person,
    demo_settings,
)
from bot.settings import ChannelsSettings, VkSettings
from emulators.telegram import RequestRecord, TelegramEmulator
from emulators.telegram.server import RATE_LIMITED_METHODS
from emulators.vk import DEFAULT_RATE_LIMIT, VkEmulator
from storage.engine import SQLITE_BEGIN, create_engine
from storage.tables import cases, messages, publications
from tests.support.pg import LOCAL_URL
from workflow.lifecycle import Action, ActionPayload
from workflow.model import Actor, Role, Source

GID = 201
POST_TEXT = "Благоустройство дворов: пишите, что нужно сделать в 2027 году"
CITIZENS = 50  # distinct authors, round-robin (one users.get names a whole batch)
TEXT = "Двор дома {n} по ул. Садовой: нет освещения у подъезда, просим установить фонарь."
_REPLY = re.compile(r"\?reply=(\d+)")
TELEGRAM_GROUP = (20, 60.0)  # messages per group per window (s)
TELEGRAM_PRIVATE = 1.0  # seconds between two messages in a private chat
TELEGRAM_GLOBAL = (30, 1.0)


# --- figures --------------------------------------------------------------------------------------------------


def window_span(n: int, count: int, window: float) -> float:
    """The least time from the first to the last of n messages through a sliding window of count per window."""
    return 0.0 if n <= 0 else (math.ceil(n / count) - 1) * window


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def table(rows: Sequence[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name.ljust(width)}  {value}" for name, value in rows)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _chat_name(chat_id: int) -> str:
    return CHAT_TITLES.get(chat_id, f"chat {chat_id}")


# --- the app under test ---------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def database(pg_url: str | None, folder: Path) -> AsyncIterator[str]:
    """A SQLite file in `folder`, or a PostgreSQL database of its own on `pg_url`'s server (dropped after)."""
    if pg_url is None:
        yield f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}"
        return
    base, _, _ = pg_url.rpartition("/")
    name = f"otklik_chbench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield f"{base}/{name}"
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@contextlib.asynccontextmanager
async def read_only(app: OtklikApp) -> AsyncIterator[AsyncConnection]:
    """A read that takes no write lock: the engine begins IMMEDIATE by default on SQLite, and the figures are
    polled every 0.1 s: as writes they would queue with the app's own and slow what they measure (and under
    load, fail with «database is locked»)."""
    async with app.engine.connect() as conn:
        if app.engine.dialect.name == "sqlite":
            await conn.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
        try:
            yield conn
        finally:
            await conn.rollback()


@dataclass
class Rig:
    """Both emulators and the app running on them, listening (Telegram updates and the VK long poll)."""

    tg: TelegramEmulator
    vk: VkEmulator
    app: OtklikApp
    post_ids: list[int]


@contextlib.asynccontextmanager
async def rig(*, telegram_limits: bool, pg_url: str | None, posts: int = 1) -> AsyncIterator[Rig]:
    with tempfile.TemporaryDirectory(prefix="otklik-chbench-") as folder:
        async with (
            database(pg_url, Path(folder)) as url,
            TelegramEmulator(rate_limits=telegram_limits) as tg,
            VkEmulator(rate_limit=DEFAULT_RATE_LIMIT, max_wait=25) as vk,
        ):
            for person in PEOPLE:
                first, _, last = person.name.partition(" ")
                tg.add_user(person.user_id, first, last or None)
            for chat_id, title in CHAT_TITLES.items():
                tg.add_chat(chat_id, None if chat_id > 0 else "supergroup", title=title)
            vk.add_group(GID, "Администрация Северного района")
            for n in range(CITIZENS):
                vk.add_user(5000 + n, "Житель", f"№ {n + 1}")
            post_ids = [vk.add_post(GID, f"{POST_TEXT} (часть {k + 1})").id for k in range(posts)]
            settings = demo_settings(tg.base_url, tg.token, Path(folder) / "unused.sqlite3")
            settings.database.url = url
            settings.telegram.rate_limits = telegram_limits
            # Only the units that have a chat here (the others' «no chat» warnings say nothing about VK).
            settings.units = {unit: settings.units[unit] for unit in settings.chats.units}
            settings.channels = ChannelsSettings(
                vk=VkSettings(enabled=True, group_id=GID, token=vk.group_token(GID), service_key=vk.service_key(),
                              api_base=vk.base_url, wait_seconds=25)
            )  # fmt: skip
            app = await OtklikApp.build(settings)
            try:
                await app.start_background()
                await app.start_polling()
                # The start's sweep, then the long poll: a comment written from now on comes by the long poll.
                await vk.wait_for(lambda: vk.long_poll_checks, timeout=30)
                yield Rig(tg, vk, app, post_ids)
            finally:
                await app.stop_polling()
                await app.close()


async def quiet(r: Rig, timeout: float) -> int:
    """Until nothing is in hand (no inbox row, no drain) and the outbox is empty; the rows still pending."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = -1
    while loop.time() < deadline:
        async with r.app.repo.reading() as tx:
            pending = len(await tx.pending_outbox(10_000))
        if pending == 0 and r.app.quiet():
            return 0
        await asyncio.sleep(0.2)
    return pending


# --- intake ---------------------------------------------------------------------------------------------------


@dataclass
class Stages:
    """Per comment, seconds from the burst: saved in the inbox (T0), registered as a case."""

    saved: dict[str, float] = field(default_factory=dict)
    registered: dict[str, float] = field(default_factory=dict)
    cases: Counter[str] = field(default_factory=Counter)  # source_id -> cases registered from it


@dataclass
class Intake:
    n: int
    posts: int
    limits: bool
    comment_ids: list[int]
    started: float  # time.monotonic() just before the burst was written
    requests: list[RequestRecord]
    stages: Stages
    pending_outbox: int
    long_poll_answered: float | None  # the first long poll answer after the burst, seconds from it
    timed_out: bool = False
    cards: dict[int, list[RequestRecord]] = field(default_factory=dict)


class CardWatch:
    """Each comment's accepted card messages in the intake chat (a card names its comment's link), read from
    the Telegram emulator's request log incrementally: the check runs in the app's event loop and must cost
    next to nothing."""

    def __init__(self, tg: TelegramEmulator, comment_ids: Sequence[int], first: int) -> None:
        self.tg = tg
        self.cards: dict[int, list[RequestRecord]] = {cid: [] for cid in comment_ids}
        self.missing = len(self.cards)
        self.next = first
        self.unfinished: list[RequestRecord] = []  # received, not yet answered: looked at again
        self.requests: list[RequestRecord] = []  # every request since `first`

    def update(self) -> bool:
        """Read what arrived since the last call; True once every comment has a card."""
        fresh = self.tg.requests[self.next :]
        self.next += len(fresh)
        self.requests += fresh
        waiting, self.unfinished = [*self.unfinished, *fresh], []
        for record in waiting:
            if record.status is None:
                self.unfinished.append(record)
            else:
                self._take(record)
        return self.missing == 0

    def _take(self, record: RequestRecord) -> None:
        if record.method.lower() != "sendmessage" or not record.ok or record.chat_id != INTAKE_CHAT:
            return
        body = str(record.params.get("text", ""))
        if not body.startswith("<b>Сообщение № "):
            return
        for match in set(_REPLY.findall(body)):
            recs = self.cards.get(int(match))
            if recs is not None:
                recs.append(record)
                if len(recs) == 1:
                    self.missing -= 1

    async def wait(self, timeout: float) -> bool:
        """Until every card is in (True) or the timeout (False). The latencies come from the log's times, so
        how often this looks changes none of them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.update():
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True


async def stages(r: Rig, wall_started: float) -> Stages:
    """From storage: when each comment's row was saved (its T0) and its case registered, and how many cases."""
    query = (
        select(messages.c.source_id, messages.c.received_at, cases.c.created_at)
        .join(cases, cases.c.id == messages.c.case_id)
        .where(messages.c.source == Source.VK.value)
    )
    async with read_only(r.app) as conn:
        rows = (await conn.execute(query)).all()
    found = Stages()
    for source_id, saved, registered in rows:
        key = str(source_id)
        found.cases[key] += 1
        found.saved.setdefault(key, saved.timestamp() - wall_started)
        found.registered.setdefault(key, registered.timestamp() - wall_started)
    return found


def write_burst(r: Rig, n: int) -> list[int]:
    """N comments at once, the posts and the authors round-robin: one long poll answer brings them all."""
    posts = r.post_ids
    return [
        r.vk.add_comment(GID, posts[i % len(posts)], 5000 + i % CITIZENS, TEXT.format(n=i + 1)).id
        for i in range(n)
    ]


async def run_intake(n: int, *, limits: bool, pg_url: str | None, posts: int, timeout: float) -> Intake:
    async with rig(telegram_limits=limits, pg_url=pg_url, posts=posts) as r:
        first_request = len(r.tg.requests)
        wall_started, started = time.time(), time.monotonic()
        ids = write_burst(r, n)
        watch = CardWatch(r.tg, ids, first_request)
        timed_out = not await watch.wait(timeout)
        pending = await quiet(r, 30 if not timed_out else 1)
        watch.update()  # a card doubled after the last one came in
        answered = [
            c.finished_at - started
            for c in r.vk.long_poll_checks
            if c.finished_at is not None and c.finished_at >= started
        ]
        return Intake(n, posts, limits, ids, started, watch.requests, await stages(r, wall_started), pending,
                      min(answered, default=None), timed_out, watch.cards)  # fmt: skip


def _first_line(record: RequestRecord) -> str:
    return re.sub(r"<[^>]+>", "", str(record.params.get("text", ""))).split("\n", 1)[0][:60]


def _spread(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"median {_ms(statistics.median(values))}, p99 {_ms(percentile(values, 99))}, max {_ms(max(values))}"
    )


def report_intake(run: Intake) -> bool:
    keys = {cid: f"-{GID}_{cid}" for cid in run.comment_ids}
    cases_of = run.stages.cases
    lost = [cid for cid in run.comment_ids if not run.cards[cid] or cases_of[keys[cid]] == 0]
    doubled = [cid for cid in run.comment_ids if len(run.cards[cid]) > 1 or cases_of[keys[cid]] > 1]
    card_at = {
        keys[cid]: (recs[0].finished_at or recs[0].received_at) - run.started
        for cid, recs in run.cards.items()
        if recs
    }
    latencies = list(card_at.values())
    saved, registered = run.stages.saved, run.stages.registered
    to_register = [registered[k] - saved[k] for k in card_at if k in saved and k in registered]
    to_card = [card_at[k] - registered[k] for k in card_at if k in registered]
    sent = [
        r for r in run.requests if r.method.lower() in RATE_LIMITED_METHODS and r.ok and r.chat_id is not None
    ]
    per_chat = Counter(r.chat_id for r in sent if r.chat_id is not None)
    per_method = Counter(r.method for r in sent)
    last_card = max(latencies, default=0.0)
    lane = (
        "under one post" if run.posts == 1 else f"{run.posts} posts round-robin"
    )
    rows: list[tuple[str, str]] = [
        ("comments written at once", f"{run.n} ({lane}; {CITIZENS} authors)"),
        ("Telegram limits", "on: 30/s in all, 1/s per private chat, 20/60 s per group (emulator and sender)"
         if run.limits else "off (emulator and sender)"),
        ("comment → card  median", _ms(statistics.median(latencies)) if latencies else "n/a"),
        ("                p99", _ms(percentile(latencies, 99)) if latencies else "n/a"),
        ("                max", _ms(max(latencies)) if latencies else "n/a"),
        ("every card in the intake chat after (T)", f"{last_card:.2f} s" + (" — TIMED OUT" if run.timed_out else "")),
        ("  long poll answered after", _ms(run.long_poll_answered) if run.long_poll_answered is not None else "n/a"),
        ("  burst → saved in the inbox (T0)", _spread(list(saved.values()))),
        ("  saved → case registered", _spread(to_register)),
        ("  registered → card", _spread(to_card)),
    ]  # fmt: skip
    if run.limits:
        count, window = TELEGRAM_GROUP
        floor_cards = window_span(run.n, count, window)
        floor_all = max(
            [window_span(sum(per_chat.values()), *TELEGRAM_GLOBAL)]
            + [
                window_span(k, count, window) if chat < 0 else window_span(k, 1, TELEGRAM_PRIVATE)
                for chat, k in per_chat.items()
            ]
        )
        rows += [
            ("floor for the cards (M)", f"{floor_cards:.0f} s = (ceil({run.n} / {count}) - 1) × {window:g} s, one group"),
            ("floor for every message that arrived", f"{floor_all:.0f} s"),
            ("T / M", f"{last_card / floor_cards:.3f}" if floor_cards else "n/a (a single window)"),
            ("429 answers from the emulator", str(sum(1 for r in run.requests if r.status == 429))),
        ]  # fmt: skip
    rows += [
        ("messages that arrived", f"{len(sent)}: " + ", ".join(f"{k} {v}" for k, v in sorted(per_method.items()))),
        ("  per chat", "; ".join(f"{_chat_name(c)} {k}" for c, k in sorted(per_chat.items()))),
        ("  not in the intake chat", _counted(Counter(_first_line(r) for r in sent if r.chat_id != INTAKE_CHAT))),
        ("other failed Bot API calls", _counted(Counter(f"{r.method} {r.status} {r.description or ''}"[:100]
                                                        for r in run.requests if r.status not in (200, 429, None)))),
        ("outbox rows left pending", str(run.pending_outbox)),
        ("lost / duplicated", f"{len(lost)} / {len(doubled)}"),
    ]  # fmt: skip
    print(table(rows))
    for cid in (lost + doubled)[:10]:
        print(f"  ! comment {cid}: {len(run.cards[cid])} cards, {cases_of[keys[cid]]} cases")
    return not lost and not doubled and run.pending_outbox == 0 and not run.timed_out


# --- publication ----------------------------------------------------------------------------------------------

ANSWER = "Здравствуйте! Фонарь у подъезда дома {n} установят до 15 декабря. Администрация района."
UNIT = "housing"


def actor(person: Person) -> Actor:
    return Actor(user_id=person.user_id, roles=frozenset(Role(r) for r in person.roles),
                 units=frozenset(person.units), name=person.name)  # fmt: skip


async def approve(app: OtklikApp, case_id: int, n: int) -> None:
    """The open-sources cycle as the buttons run it: routed to a unit and approved, the unit's information,
    the operator's draft, the ЦУР curator's approval: the answer is ready to publish."""
    services = app.services
    await services.act(case_id, Action.ROUTE, actor(OPERATOR), payload=ActionPayload(units=(UNIT,)))
    await services.act(case_id, Action.APPROVE_ROUTING, actor(OFFICE_HEAD))
    await services.act(case_id, Action.INFO, actor(HOUSING),
                       payload=ActionPayload(text="Фонарь установим до 15.12.", unit=UNIT))  # fmt: skip
    await services.act(
        case_id, Action.SUBMIT, actor(OPERATOR), payload=ActionPayload(text=ANSWER.format(n=n))
    )
    await services.act(case_id, Action.APPROVE, actor(REGION_CURATOR))


async def in_batches(calls: Sequence[Callable[[], Awaitable[None]]], at_once: int) -> Counter[str]:
    """Run the calls, `at_once` at a time (the staff pressing buttons); the failures, counted by kind."""
    failures: Counter[str] = Counter()
    gate = asyncio.Semaphore(at_once)

    async def one(call: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            try:
                await call()
            except Exception as exc:  # a person would see one line and press again: counted, reported
                failures[f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:120]] += 1

    await asyncio.gather(*(one(call) for call in calls))
    return failures


@dataclass
class Publish:
    n: int
    pressed: float  # seconds from the first press until the last returned
    first_call: float  # the first and last wall.createComment answered, seconds from the first press
    last_call: float
    published_after: float  # every publication marked published in storage, from the first press
    calls: Counter[str]  # the VK API calls made during publication, by method
    errors: Counter[int]  # VK error codes answered during publication
    answers: Counter[int]  # citizen's comment id -> the community's answers under it
    states: Counter[str]  # publication rows by state
    refused: Counter[str]  # presses the use case refused
    prepare_failures: Counter[str]
    comment_ids: list[int]
    misplaced: int  # answers under a comment with another comment's text
    timed_out: bool


async def publication_states(app: OtklikApp) -> Counter[str]:
    async with read_only(app) as conn:
        rows = (
            await conn.execute(select(publications.c.state, func.count()).group_by(publications.c.state))
        ).all()
    return Counter({str(state): int(count) for state, count in rows})


async def run_publish(n: int, *, pg_url: str | None, posts: int, timeout: float) -> Publish:
    async with rig(telegram_limits=False, pg_url=pg_url, posts=posts) as r:
        ids = write_burst(r, n)
        watch = CardWatch(r.tg, ids, len(r.tg.requests))
        if not await watch.wait(600):
            raise RuntimeError("the comments were not all taken in: see the intake figures")
        number: dict[int, int] = {}  # case id -> the comment's number in the burst (its answer's text)
        async with r.app.repo.reading() as tx:
            for i, cid in enumerate(ids):
                case_id = await tx.find_case_by_source(Source.VK.value, f"-{GID}_{cid}")
                if case_id is not None:
                    number[case_id] = i + 1
        case_ids = list(number)
        print(f"  {len(case_ids)} cases taken in; approving their answers through the use cases…", flush=True)
        prepare = await in_batches([lambda c=c: approve(r.app, c, number[c]) for c in case_ids], at_once=4)
        await quiet(r, 300)  # the cards and notices of the approvals out first: not the VK run's cost
        versions: dict[int, int] = {}
        async with r.app.repo.reading() as tx:
            for case_id in case_ids:
                case = await tx.get_case(case_id)
                if case is not None:
                    versions[case_id] = case.version
        first_call = len(r.vk.requests)
        print(f"  {len(versions)} answers approved; «Опубликовать» on each…", flush=True)
        operator = actor(OPERATOR)

        async def press(case_id: int) -> None:
            await r.app.services.request_publication(case_id, operator, versions[case_id])

        started = time.monotonic()
        refused = await in_batches([lambda c=c: press(c) for c in versions], at_once=4)
        pressed = time.monotonic() - started
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        expected = len(versions) - sum(refused.values())
        states: Counter[str] = Counter()
        timed_out = False
        while True:
            states = await publication_states(r.app)
            if states["published"] + states["failed"] + states["undeliverable"] >= expected:
                break
            if loop.time() >= deadline:
                timed_out = True
                break
            await asyncio.sleep(0.1)
        published_after = time.monotonic() - started
        await quiet(r, 30)
        during = r.vk.requests[first_call:]
        creates = [
            c for c in during if c.method.lower() == "wall.createcomment" and c.finished_at is not None
        ]
        answers: Counter[int] = Counter()
        misplaced = 0
        expected_text = {cid: ANSWER.format(n=i + 1) for i, cid in enumerate(ids)}
        for c in r.vk.published(GID):
            if c.reply_to_comment is not None:
                answers[c.reply_to_comment] += 1
                misplaced += c.text != expected_text.get(c.reply_to_comment)
        return Publish(
            n=len(versions), pressed=pressed,
            first_call=min((c.finished_at or 0.0 for c in creates), default=started) - started,
            last_call=max((c.finished_at or 0.0 for c in creates), default=started) - started,
            published_after=published_after, calls=Counter(c.method for c in during),
            errors=Counter(c.error_code for c in during if c.error_code is not None), answers=answers,
            states=await publication_states(r.app), refused=refused, prepare_failures=prepare,
            comment_ids=ids, misplaced=misplaced, timed_out=timed_out,
        )  # fmt: skip


def report_publish(run: Publish) -> bool:
    lost = [cid for cid in run.comment_ids if run.answers[cid] == 0]
    doubled = [cid for cid in run.comment_ids if run.answers[cid] > 1]
    rate = DEFAULT_RATE_LIMIT
    minimum = run.n / rate
    strict = window_span(sum(run.calls.values()), rate, 1.0)
    total = run.published_after
    rows: list[tuple[str, str]] = [
        ("answers approved and published", f"{run.n} (wall.createComment under each comment, guid = the row id)"),
        ("VK limit (emulator)", f"{rate} requests a second per token, sliding window"),
        ("«Опубликовать» pressed on all within", f"{run.pressed:.2f} s (4 at a time)"),
        ("every publication confirmed after (T)", f"{total:.1f} s" + (" — TIMED OUT" if run.timed_out else "")),
        ("  first / last wall.createComment answered", f"{run.first_call:.2f} s / {run.last_call:.2f} s"),
        ("minimum (M)", f"{minimum:.0f} s = {run.n} / {rate} a second"
         f" (strictly {strict:.0f} s for the {sum(run.calls.values())} calls made: the first {rate} at once)"),
        ("T / M", f"{total / minimum:.3f} (goal: ≤ 1.10)"),
        ("VK calls during publication", ", ".join(f"{k} {v}" for k, v in sorted(run.calls.items())) or "none"),
        ("VK errors answered", ", ".join(f"{code}: {k}" for code, k in sorted(run.errors.items())) or "none"),
        ("publication rows", ", ".join(f"{k} {v}" for k, v in sorted(run.states.items()))),
        ("presses refused", _counted(run.refused)),
        ("preparation steps that failed", _counted(run.prepare_failures)),
        ("lost / duplicated (answers under each comment)", f"{len(lost)} / {len(doubled)}"),
        ("answers under the wrong comment", str(run.misplaced)),
    ]  # fmt: skip
    print(table(rows))
    for cid in (lost + doubled)[:10]:
        print(f"  ! comment {cid}: {run.answers[cid]} answers under it")
    clean = not run.refused and not run.prepare_failures and set(run.states) == {"published"}
    return not lost and not doubled and not run.misplaced and clean and not run.timed_out


def _counted(counts: Counter[str]) -> str:
    if not counts:
        return "none"
    return f"{sum(counts.values())}: " + "; ".join(f"{k} × {what}" for what, k in counts.most_common(3))


# --- main -----------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--items", type=int, default=1000, help="comments, and answers published (default 1000)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 100 items")
    parser.add_argument("--part", choices=("intake", "publish", "all"), default="all")
    parser.add_argument("--limits", choices=("on", "off", "both"), default="both",
                        help="the Telegram emulator's and the sender's limits during intake")  # fmt: skip
    parser.add_argument("--posts", type=int, default=1,
                        help="posts the burst is spread over (default 1; each comment is its own inbox lane)")  # fmt: skip
    parser.add_argument(
        "--pg", action="store_true", help="PostgreSQL (a database of its own) instead of SQLite"
    )
    parser.add_argument("--pg-url", default=os.environ.get("OTKLIK_TEST_PG_URL") or LOCAL_URL,
                        help="the PostgreSQL server, with any existing database")  # fmt: skip
    args = parser.parse_args(argv)
    n = 100 if args.quick else args.items
    if n < 1 or args.posts < 1:
        parser.error("--items and --posts must be positive")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)
    pg_url = args.pg_url if args.pg else None
    print(f"Database: {'PostgreSQL' if pg_url else 'SQLite file'}; {n} items.")
    ok = True
    if args.part in ("intake", "all"):
        for limits in (False, True):
            if args.limits != "both" and limits != (args.limits == "on"):
                continue
            floor = window_span(n, *TELEGRAM_GROUP)
            print(
                f"Intake, Telegram limits {'ON' if limits else 'OFF'}: {n} VK comments → cards in the intake chat"
            )
            timeout = 2 * floor + 300 if limits else 600
            ok = (
                report_intake(
                    asyncio.run(
                        run_intake(n, limits=limits, pg_url=pg_url, posts=args.posts, timeout=timeout)
                    )
                )
                and ok
            )
    if args.part in ("publish", "all"):
        print(f"Publication: {n} approved answers under VK's {DEFAULT_RATE_LIMIT} requests/s")
        timeout = 3 * n / DEFAULT_RATE_LIMIT + 300
        ok = (
            report_publish(asyncio.run(run_publish(n, pg_url=pg_url, posts=args.posts, timeout=timeout)))
            and ok
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
