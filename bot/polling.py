"""Updates in through the inbox: saved before they are confirmed, handled by a fixed pool of workers.

Polling asks `getUpdates`, writes the whole batch to the inbox in one transaction and only then asks again with
the next offset, which is what confirms the batch to Telegram; a webhook answers 200 only after the write.
A fixed number of workers take rows from the inbox (one chat's updates one at a time, in order; different
chats in parallel), feed them to the dispatcher and mark them done. When the database is down, polling stops
confirming and retries with back-off; workers keep their row and retry it; the office head is told once when
an outage lasts over a minute and once when it is over. A stop cancels the long poll at once, lets the
handlers in flight finish for a short grace, then cancels them: their rows stay unfinished and are handled
again at the next start (handling is idempotent).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramNetworkError
from aiogram.types import Update

from bot.shutdown import cancel_and_wait
from storage.inbox import Inbox, InboxRow, Incoming
from workflow.ports import Clock, StorageUnavailable

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)

SOURCE = "telegram"
FIRST_DELAY = 0.5  # seconds: the first retry after a failure; doubled each time up to MAX_DELAY
MAX_DELAY = 30.0
TELL_AFTER = 60.0  # seconds of outage before the office head is told
MAX_ATTEMPTS = 3  # handlings that raised (storage outages aside) before an update is given up as poison
POLL_TIMEOUT = 25  # seconds a getUpdates waits for updates
_TOO_OLD = "query is too old"  # Telegram's refusal of a second answer to one press

OUTAGE_BEGAN = "⚠️ База данных недоступна с {since}: новые сообщения ждут в Telegram, ничего не потеряно."
OUTAGE_OVER = (
    "✅ База данных снова доступна (перерыв {minutes} мин), сообщений обработано после перерыва: {count}."
)


@dataclass
class Pacing:
    """How waiting is done: real by default; tests pass a fake sleep and monotonic source (time is data)."""

    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    monotonic: Callable[[], float] = time.monotonic


@dataclass
class Backoff:
    """0.5 s, 1 s, 2 s … up to 30 s between retries; back to 0.5 s after a success."""

    pacing: Pacing
    delay: float = FIRST_DELAY

    async def wait(self) -> None:
        delay, self.delay = self.delay, min(self.delay * 2, MAX_DELAY)
        await self.pacing.sleep(delay)

    def reset(self) -> None:
        self.delay = FIRST_DELAY


Tell = Callable[[str], Awaitable[None]]


@dataclass
class OutageWatch:
    """When storage went down and whether the office head was told; one notice each way per outage.

    The notices go straight through the sender: the outbox is in the database that is down.
    """

    pacing: Pacing
    clock: Clock
    tell: Tell
    began: float | None = None
    began_at: datetime | None = None
    told: bool = False
    handled_since: int = 0
    _over: bool = False  # back up, the "over" notice waits until the backlog is handled
    _over_minutes: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def down(self) -> bool:
        return self.began is not None

    def failed(self, error: BaseException) -> None:
        now = self.pacing.monotonic()
        if self.began is None:
            self.began, self.began_at = now, self.clock.now()
            if not self._over:  # a blip while the backlog of the last outage drains: still one "over" notice
                self.handled_since = 0
            log.warning("база данных недоступна: %s; обновления ждут в Telegram, повтор с паузой", error)
        if not self.told and now - self.began > TELL_AFTER:
            self.told = True
            since = self.began_at.strftime("%H:%M") if self.began_at is not None else "?"
            self._send(OUTAGE_BEGAN.format(since=since))

    def succeeded(self) -> None:
        if self.began is None:
            return
        minutes = round((self.pacing.monotonic() - self.began) / 60)
        log.warning("база данных снова доступна (перерыв %d мин)", minutes)
        if self.told:
            self._over, self._over_minutes = True, minutes
        self.began, self.began_at, self.told = None, None, False

    def handled(self) -> None:
        self.handled_since += 1

    def drained(self) -> None:
        """The pool found nothing more to do: the "over" notice goes now, with how many it handled."""
        if self._over and not self.down:
            self._over = False
            self._send(OUTAGE_OVER.format(minutes=self._over_minutes, count=self.handled_since))

    def _send(self, text: str) -> None:
        task = asyncio.create_task(self._tell(text))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tell(self, text: str) -> None:
        try:
            await self.tell(text)
        except Exception as exc:  # Telegram down too: the log has it; nothing else to keep
            log.error("не удалось сообщить руководителю аппарата о базе данных: %s", exc)

    async def settle(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def lane_of(raw: Mapping[str, Any]) -> str | None:
    """The chat an update belongs to: one chat's updates are handled in order."""
    for kind, body in raw.items():
        if kind == "update_id" or not isinstance(body, Mapping):
            continue
        if kind == "callback_query":
            message = body.get("message")
            if isinstance(message, Mapping) and isinstance(message.get("chat"), Mapping):
                return str(message["chat"].get("id"))
        chat = body.get("chat")
        if isinstance(chat, Mapping) and "id" in chat:
            return str(chat["id"])
        user = body.get("from")
        if isinstance(user, Mapping) and "id" in user:
            return f"user:{user['id']}"
    return None


def incoming(raw: dict[str, Any], source: str = SOURCE) -> Incoming:
    return Incoming(source, str(raw["update_id"]), lane_of(raw), raw)


def _raw(update: Update) -> dict[str, Any]:
    # As Telegram sent it: aliases ("from"), only the fields it had.
    dumped: dict[str, Any] = update.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return dumped


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:500]


RowHandler = Callable[[InboxRow], Awaitable[None]]


class WorkerPool:
    """`size` workers handling inbox rows; at most `size` handlers run at once.

    Rows are handled by their source: Telegram updates through the dispatcher, each network's events through the
    handler given for it in `handlers` (bot/channel_reader.py); a row of a source with no handler fails.
    """

    def __init__(
        self,
        *,
        inbox: Inbox,
        dispatcher: Dispatcher,
        bot: Bot,
        size: int,
        pacing: Pacing,
        watch: OutageWatch,
        handlers: Mapping[str, RowHandler] | None = None,
    ) -> None:
        self.inbox = inbox
        self.handlers: dict[str, RowHandler] = {SOURCE: self._feed_update, **(handlers or {})}
        self.dispatcher = dispatcher
        self.bot = bot
        self.size = size
        self.pacing = pacing
        self.watch = watch
        self.owner = f"worker-{uuid.uuid4()}"
        self.busy_lanes: set[str] = set()
        self.holding: dict[int, InboxRow] = {}  # row id -> row, by the workers that hold them
        # Claimed together with another worker's row and not yet taken by a worker (in `holding` already).
        self._claimed: deque[InboxRow] = deque()
        self.handling = 0  # handlers running now (a test checks it never exceeds `size`)
        self.peak = 0
        self._claim_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._generation = 0  # bumped by every wake: a claim that found nothing before it proves nothing
        self._empty_at = -1  # the generation at which a claim last found nothing to take
        self._stopping = False
        self._workers: list[asyncio.Task[None]] = []

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Release what a dead run held, then start the workers."""
        backoff = Backoff(self.pacing)
        while True:
            try:
                released = await self.inbox.release_claims()
                break
            except StorageUnavailable as exc:
                self.watch.failed(exc)
                await backoff.wait()
        self.watch.succeeded()
        if released:
            log.info("входящие: %d необработанных обновлений прошлого запуска обрабатываются снова", released)
        self._stopping = False
        # Rows a stopped run had claimed for its workers were released above with the rest.
        for row in self._claimed:
            self.holding.pop(row.id, None)
            if row.lane is not None:
                self.busy_lanes.discard(row.lane)
        self._claimed.clear()
        self._workers = [
            asyncio.create_task(self._run(n), name=f"inbox-worker-{n}") for n in range(self.size)
        ]
        self.wake()

    def wake(self) -> None:
        """New rows are in the inbox (or a lane is free again)."""
        self._generation += 1
        self._wake.set()

    def quiet(self) -> bool:
        """No row in hand and nothing claimable since the last wake (tests wait for this)."""
        return not self.holding and self._empty_at == self._generation

    def tasks(self) -> list[asyncio.Task[None]]:
        return [t for t in self._workers if not t.done()]

    async def stop(self, grace: float) -> None:
        """Take nothing new; let handlers in flight finish for `grace` seconds, then cancel them (their rows
        stay unfinished: the next start handles them again)."""
        self._stopping = True
        self._wake.set()
        running = self.tasks()
        if running:
            _done, late = await asyncio.wait(running, timeout=grace)
            if late:
                log.warning(
                    "остановка: %d обработчиков прерваны, их обновления будут обработаны при запуске",
                    len(late),
                )
                await cancel_and_wait(late)
        self._workers = []

    def crash(self) -> list[asyncio.Task[None]]:
        """Tests: the tasks to cancel to die like a killed process (no grace, no bookkeeping)."""
        self._stopping = True
        return self.tasks()

    # --- the workers -------------------------------------------------------------------------------------

    async def _claim(self) -> InboxRow | None:
        """The next row for a worker: one claimed with an earlier one, or up to a row per free worker claimed
        in one transaction (a burst costs a claim per `size` rows, not one per row)."""
        async with self._claim_lock:
            if self._claimed:
                return self._claimed.popleft()
            generation = self._generation
            free = self.size - len(self.holding)
            rows = await self.inbox.claim_many(self.owner, self.busy_lanes, limit=max(free, 1))
            if not rows:
                self._empty_at = generation
                return None
            for row in rows:
                self.holding[row.id] = row
                if row.lane is not None:
                    self.busy_lanes.add(row.lane)
            self._claimed.extend(rows[1:])
            if self._claimed:
                self._wake.set()  # the idle workers take the others
            return rows[0]

    async def _run(self, number: int) -> None:
        backoff = Backoff(self.pacing)
        while not self._stopping:
            try:
                row = await self._claim()
            except StorageUnavailable as exc:
                self.watch.failed(exc)
                await backoff.wait()
                continue
            if row is None:
                if self.quiet():  # nothing saved since the claim looked: the backlog is worked through
                    self.watch.drained()
                self._wake.clear()
                if self._empty_at == self._generation and not self._stopping:
                    await self._wake.wait()
                continue
            try:
                if self._stopping:
                    continue  # claimed as the stop came: left for the next start, which releases the claim
                await self._work(row, backoff)
            finally:
                self.holding.pop(row.id, None)
                if row.lane is not None:
                    self.busy_lanes.discard(row.lane)
                self.wake()  # the lane is free: its next row may go

    async def _work(self, row: InboxRow, backoff: Backoff) -> None:
        """Handle the row until it is done or given up; storage outages are waited out, holding the row."""
        while True:
            try:
                await self._handle(row)
            except StorageUnavailable as exc:
                # Not the update's fault: the row stays ours (lane order kept) and is handled again after the
                # pause; the try is not counted. A stop cancels the pause; the claim is released at start.
                self.watch.failed(exc)
                await backoff.wait()
                continue
            except TelegramBadRequest as exc:
                if _TOO_OLD not in str(exc):
                    await self._settle(self._failed(row, exc), backoff)
                    return
                # A press handled again: Telegram refuses a second answer to it. Nothing is left to do.
                log.info("обновление %s: нажатие уже отвечено, повтор не нужен", row.key)
            except Exception as exc:
                await self._settle(self._failed(row, exc), backoff)
                return
            self.watch.succeeded()
            backoff.reset()
            self.watch.handled()
            await self._settle(lambda: self.inbox.mark_done(row.id), backoff)
            return

    def _failed(self, row: InboxRow, exc: Exception) -> Callable[[], Awaitable[None]]:
        if row.attempts >= MAX_ATTEMPTS:
            log.error(
                "обновление %s не обработано после %d попыток, отложено: %s",
                row.key,
                row.attempts,
                _short(exc),
            )
            return lambda: self.inbox.mark_failed(row.id, _short(exc))
        # One line per poison update (above), not per try.
        log.debug("обновление %s: ошибка обработчика (попытка %d): %s", row.key, row.attempts, _short(exc))
        return lambda: self.inbox.release(row.id, error=_short(exc))

    async def _settle(self, write: Callable[[], Awaitable[None]], backoff: Backoff) -> None:
        """A bookkeeping write, retried through an outage (a stop cancels it: the row is handled again)."""
        while True:
            try:
                await write()
            except StorageUnavailable as exc:
                self.watch.failed(exc)
                await backoff.wait()
                continue
            self.watch.succeeded()
            backoff.reset()
            return

    async def _handle(self, row: InboxRow) -> None:
        handler = self.handlers.get(row.source)
        if handler is None:
            raise LookupError(f"no handler for inbox source {row.source!r}")
        self.handling += 1
        self.peak = max(self.peak, self.handling)
        try:
            await handler(row)
        finally:
            self.handling -= 1

    async def _feed_update(self, row: InboxRow) -> None:
        await feed_row(self.dispatcher, self.bot, row)


async def feed_row(dispatcher: Dispatcher, bot: Bot, row: InboxRow) -> None:
    """An inbox row of updates through a dispatcher: the staff bot's, or the citizens' MAX bot's (bot/app.py)."""
    update = Update.model_validate(row.raw, context={"bot": bot})
    # When the inbox saved it: a citizen's message counts its terms from there (handlers.channel_intake).
    await dispatcher.feed_update(bot, update, inbox_received_at=row.received_at)


def dispatch_handler(dispatcher: Dispatcher, bot: Bot) -> RowHandler:
    async def handle(row: InboxRow) -> None:
        await feed_row(dispatcher, bot, row)

    return handle


class Poller:
    """Long polling whose offset confirms only what the inbox holds. `source`: the inbox rows' source (a second
    bot, the citizens' MAX bot, keeps its own: its update ids are its own numbering)."""

    def __init__(self, *, bot: Bot, dispatcher: Dispatcher, inbox: Inbox, pool: WorkerPool, pacing: Pacing,
                 watch: OutageWatch, timeout: int = POLL_TIMEOUT, source: str = SOURCE) -> None:  # fmt: skip
        self.source = source
        self.bot = bot
        self.dispatcher = dispatcher
        self.inbox = inbox
        self.pool = pool
        self.pacing = pacing
        self.watch = watch
        self.timeout = timeout
        self.offset: int | None = None

    async def run(self) -> None:
        allowed = self.dispatcher.resolve_used_update_types()
        network, storage = Backoff(self.pacing), Backoff(self.pacing)
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=self.offset, timeout=self.timeout, allowed_updates=allowed
                )
            except (TelegramNetworkError, TelegramAPIError) as exc:
                log.warning("getUpdates: %s; повтор с паузой", _short(exc))
                await network.wait()
                continue
            except StorageUnavailable as exc:
                # A transport that writes while it polls (MAX keeps each message's mid: bot/max_session.py) met
                # the database down. Nothing of the batch is confirmed, so the same updates come again: an
                # outage like a failed save, not the end of polling.
                self.watch.failed(exc)
                await storage.wait()
                continue
            network.reset()
            storage.reset()
            if not updates:
                continue
            await self.save([_raw(u) for u in updates])
            # Only now does the next getUpdates confirm them.
            self.offset = updates[-1].update_id + 1

    async def save(self, raws: list[dict[str, Any]]) -> None:
        """Write the batch, waiting out an outage (not confirming meanwhile); then wake the workers."""
        batch = [incoming(raw, self.source) for raw in raws]
        backoff = Backoff(self.pacing)
        while True:
            try:
                await self.inbox.save_batch(batch)
                break
            except StorageUnavailable as exc:
                self.watch.failed(exc)
                await backoff.wait()
        self.watch.succeeded()
        self.pool.wake()


def webhook_handler(
    inbox: Inbox, pool: WorkerPool, secret: str
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Telegram's POST: the secret checked, the update written to the inbox, and only then 200 (503 when the
    database is down, so Telegram delivers it again later)."""
    from aiohttp import web  # aiohttp's server side only where a webhook is served (issue 16)

    async def handle(request: web.Request) -> web.StreamResponse:
        # Constant time: the secret is all that tells Telegram from anyone else posting here.
        if not hmac.compare_digest(request.headers.get("X-Telegram-Bot-Api-Secret-Token", ""), secret):
            return web.Response(status=401, text="Unauthorized")
        try:
            raw = await request.json()
            item = incoming(raw)
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text="Bad Request")
        try:
            await inbox.save_batch([item])
        except StorageUnavailable as exc:
            pool.watch.failed(exc)
            return web.Response(status=503, text="Storage unavailable")
        pool.watch.succeeded()
        pool.wake()
        return web.Response(status=200)

    return handle
