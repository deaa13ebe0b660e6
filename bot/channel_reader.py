"""A network's events in through the inbox (issue 11): read, saved with the cursor, handled by the workers.

The reader asks the network's feed (VK Bots Long Poll) for the next batch after the saved cursor, writes the
batch's items and the new cursor to the inbox in one transaction and only then asks again; a process killed
before the write reads the same batch again (the inbox keys make it one set of rows), one killed after it goes
on from the cursor. A reconciliation sweep (on start, after the feed reports lost events, every N minutes)
saves what it finds the same way, under the same keys. The workers hand each saved row to `handle` — the
channel intake use case, with T0 = when the row was saved.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.channel_files import FileFetcher, with_kept
from bot.channel_health import CHECK_SECONDS as HEALTH_CHECK_SECONDS
from bot.channel_health import ChannelHealth
from bot.polling import Backoff, OutageWatch, Pacing, WorkerPool
from bot.shutdown import cancel_and_wait
from storage.inbox import Cursor, Inbox, InboxRow, Incoming
from workflow.model import ChannelItem
from workflow.ports import ChannelBatch, ChannelSource, Clock, StorageUnavailable
from workflow.services.channels import ChannelUseCases

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)

Sweep = Callable[[], Awaitable[Sequence[dict[str, object]]]]
KeyOf = Callable[[ChannelItem], str]


@dataclass
class ChannelReader:
    """Reads one network into the inbox until cancelled."""

    source: ChannelSource
    inbox: Inbox
    pool: WorkerPool
    clock: Clock
    pacing: Pacing
    watch: OutageWatch
    key_of: KeyOf
    sweep: Sweep | None = None  # the reconciliation sweep (None: the network has no history to read)
    reconcile_seconds: float = 15 * 60
    health: ChannelHealth | None = None  # tells the office head when the network is not read for a while
    # False: the network posts its events to us (VK Callback API, `callback_handler`); only the sweeps run here.
    listen: bool = True
    _last_sweep: float | None = None

    @property
    def channel(self) -> str:
        return self.source.channel

    def incoming(self, raw: dict[str, object]) -> Incoming | None:
        """A raw event as an inbox row; None for what is no citizen's item (the parser logged why)."""
        item = self.source.item(raw, self.clock.now())
        if item is None:
            return None
        # One lane per item, not per thread: an item's own events (new, edit, delete, restore) stay in order,
        # different items (a burst under one post) are handled side by side — registering is idempotent per
        # (source, source id), so nothing orders them against each other.
        return Incoming(self.channel, self.key_of(item), f"{self.channel}:{item.key}", dict(raw))

    async def save(self, events: Sequence[dict[str, object]], cursor: str | None) -> int:
        """Save the events (and the cursor) in one transaction, waiting out a storage outage; how many new."""
        rows = [row for row in (self.incoming(raw) for raw in events) if row is not None]
        mark = Cursor(self.channel, cursor) if cursor is not None else None
        backoff = Backoff(self.pacing)
        while True:
            try:
                new = await self.inbox.save_batch(rows, cursor=mark)
            except StorageUnavailable as exc:
                self.watch.failed(exc)
                await backoff.wait()
                continue
            self.watch.succeeded()
            if new:
                self.pool.wake()
            return new

    async def reconcile(self) -> int:
        """One sweep: what it finds is saved like the feed's (an item already there is the row already there)."""
        if self.sweep is None:
            return 0
        self._last_sweep = self.pacing.monotonic()
        try:
            events = await self.sweep()
        except Exception as exc:  # the sweep logs its own failures; a bug in it must not stop the feed
            log.warning("%s: сверка не удалась: %s", self.channel, type(exc).__name__)
            return 0
        new = await self.save(events, None)
        if not self.listen and self.health is not None:
            await self.health.read()  # pushed events may just be few: a sweep that got through is a read
        if new:
            log.info("%s: сверка нашла %d новых событий", self.channel, new)
        return new

    def _sweep_due(self) -> bool:
        if self.sweep is None or self._last_sweep is None:
            return self.sweep is not None
        return self.pacing.monotonic() - self._last_sweep >= self.reconcile_seconds

    async def cursor(self) -> str | None:
        backoff = Backoff(self.pacing)
        while True:
            try:
                return await self.inbox.cursor(self.channel)
            except StorageUnavailable as exc:
                self.watch.failed(exc)
                await backoff.wait()

    async def run(self) -> None:
        """Reconcile (a restart may have missed events), then read batch after batch until cancelled (with the
        health watcher alongside)."""
        watcher = asyncio.create_task(self.watch_health(), name=f"health-{self.channel}")
        try:
            if self.listen:
                await self._read()
            else:
                await self._sweep_only()
        finally:
            await stop(watcher)

    async def watch_health(self) -> None:
        if self.health is None:
            return
        while True:
            await self.health.check()
            await self.pacing.sleep(HEALTH_CHECK_SECONDS)

    async def _sweep_only(self) -> None:
        while True:
            await self.reconcile()
            await self.pacing.sleep(self.reconcile_seconds)

    async def _read(self) -> None:
        cursor = await self.cursor()
        await self.reconcile()
        backoff = Backoff(self.pacing)
        while True:
            try:
                batch = await self.source.next_batch(cursor)
            except (
                Exception
            ) as exc:  # the source guards the network's answers; a bug of ours must not end intake
                log.error("%s: чтение не удалось: %s; повтор", self.channel, type(exc).__name__, exc_info=exc)
                batch = ChannelBatch((), cursor, failed=True)
            if batch.events or batch.cursor != cursor:
                await self.save(batch.events, batch.cursor)
                cursor = batch.cursor
            if not batch.failed and self.health is not None:
                await self.health.read()
            if batch.failed:
                await backoff.wait()
            else:
                backoff.reset()
            if batch.gap or self._sweep_due():
                await self.reconcile()


def callback_handler(
    reader: ChannelReader, *, group_id: int, secret: str, confirmation: str
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """VK's Callback API POST: `confirmation` answered with the confirmation string; any other event, its
    `secret` checked, saved to the inbox under the long poll's keys (a repeat by `event_id` or
    `X-Retry-Counter` is the row already there) and only then answered «ok»; 503 while the database is down,
    so VK delivers it again."""
    from aiohttp import web  # aiohttp's server side only where a webhook is served (issue 16)

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            raw = await request.json()  # aiohttp refuses a body over its client_max_size (1 MiB) with 413
        except (ValueError, UnicodeDecodeError):
            log.warning("%s: Callback API: тело запроса не JSON; отклонено", reader.channel)
            return web.Response(status=400, text="bad request")
        if not isinstance(raw, dict):
            log.warning("%s: Callback API: тело запроса не объект; отклонено", reader.channel)
            return web.Response(status=400, text="bad request")
        # Constant time: the secret is all that tells VK from anyone else posting here.
        given = raw.pop("secret", "")
        if not hmac.compare_digest(str(given).encode(), secret.encode()):
            log.warning("%s: Callback API: неверный секретный ключ (с адреса %s); отклонено",
                        reader.channel, request.remote)  # fmt: skip
            return web.Response(status=403, text="forbidden")
        if raw.get("group_id") != group_id:
            log.warning("%s: Callback API: событие другого сообщества %.20r; отклонено", reader.channel,
                        raw.get("group_id"))  # fmt: skip
            return web.Response(status=403, text="forbidden")
        if raw.get("type") == "confirmation":
            return web.Response(text=confirmation)
        refused = await save_pushed(reader, raw)
        return refused if refused is not None else web.Response(text="ok")

    return handle


async def save_pushed(reader: ChannelReader, raw: dict[str, object]) -> web.Response | None:
    """A network's pushed event (VK Callback API, OK webhook) into the inbox before the network hears «ok»:
    503 while the database is down (the network delivers it again), None when saved or not a citizen's item
    (the parser logged why), and the channel counted as read."""
    from aiohttp import web

    row = reader.incoming(raw)
    if row is not None:
        try:
            await reader.inbox.save_batch([row])
        except StorageUnavailable as exc:
            reader.watch.failed(exc)
            return web.Response(status=503, text="storage unavailable")
        reader.watch.succeeded()
        reader.pool.wake()
    if reader.health is not None:
        await reader.health.read()
    return None


def row_handler(
    source: ChannelSource, services: ChannelUseCases, clock: Clock, files: FileFetcher | None = None
) -> Callable[[InboxRow], Awaitable[None]]:
    """The workers' handler of this channel's rows: the saved event as an item, T0 when it was saved; its
    files fetched and kept first (bot/channel_files.py says why here), a failed fetch never blocking it."""

    async def handle(row: InboxRow) -> None:
        item = source.item(row.raw, row.received_at or clock.now(), report=False)
        if item is None:
            return
        if files is not None:
            try:
                item = with_kept(item, await files.keep(item))
            except StorageUnavailable:
                raise  # the worker keeps the row and retries it
            except Exception as exc:  # a bug in fetching must not keep a citizen's item out
                log.error("%s: вложения %s не сохранены: %s", source.channel, item.key, exc, exc_info=exc)
        await services.take_in(item)

    return handle


async def stop(task: asyncio.Task[None] | None) -> None:
    """Stop a reader: what it got but did not save, the network gives again from the saved cursor."""
    await cancel_and_wait([task] if task is not None else [])
