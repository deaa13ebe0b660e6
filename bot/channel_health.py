"""A citizens' network that is not being read: the office head is told once per outage, and once when it is over.

The reader reports each successful read (a long-poll answer, an accepted Callback API event, a sweep that
reached the network); a watcher asks `check()` now and then. When no read succeeded for `minutes` (by the
app's clock, so tests move a fake one), a `channel_down` notice goes into the outbox with a key naming the
channel and the last good read: a second check, another process or a restart adds nothing. The first good read
after it queues `channel_restored` under the same outage's key. Which outage was told is kept in the key/value
store in the same transaction, so a restart during an outage still says «восстановлено» once reading resumes.
Nothing goes straight to Telegram: unlike a database outage, the outbox is there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from views.cards import CHANNEL_DOWN, CHANNEL_RESTORED
from workflow.model import Role
from workflow.ports import Clock, Notification, Notifier, StorageUnavailable

log = logging.getLogger(__name__)

# How often the watcher looks (seconds of the app's pacing).
CHECK_SECONDS = 30.0


class HealthTransaction(Protocol):
    async def kv_get(self, key: str) -> str | None: ...

    async def kv_set(self, key: str, value: str) -> None: ...

    async def enqueue(self, notifications: Sequence[Notification]) -> int: ...


class HealthRepository(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[HealthTransaction]: ...


@dataclass
class ChannelHealth:
    channel: str
    repo: HealthRepository
    clock: Clock
    minutes: int = 10
    notifier: Notifier | None = None
    last_read: datetime | None = None  # the last good read (the start counts as one)
    _told: str | None = None  # the outage told: the ISO time of the last good read before it
    _loaded: bool = False

    @property
    def state_key(self) -> str:
        return f"channel-health:{self.channel}:told"

    async def _load(self) -> None:
        if self._loaded:
            return
        async with self.repo.transaction() as tx:
            self._told = await tx.kv_get(self.state_key) or None
        self._loaded = True

    async def read(self) -> None:
        """A good read now; after a told outage, «восстановлено» is queued (retried on the next read if the
        database is down meanwhile)."""
        self.last_read = self.clock.now()
        try:
            await self._load()
            if self._told is None:
                return
            since = self._told
            notice = Notification(
                dedup_key=f"channel-restored:{self.channel}:{since}", case_id=None, kind=CHANNEL_RESTORED,
                to_role=Role.OFFICE_HEAD, at=self.last_read,
                payload={"channel": self.channel, "since": since, "until": self.last_read.isoformat()},
            )  # fmt: skip
            await self._queue(notice, told=None)
            log.warning("%s: чтение восстановлено (перерыв с %s)", self.channel, since)
        except StorageUnavailable as exc:
            log.warning("%s: уведомление о восстановлении не записано: %s; повтор", self.channel, exc)

    async def check(self) -> Notification | None:
        """Queue the outage notice when no read succeeded for `minutes`; the notice queued now, or None."""
        now = self.clock.now()
        if self.last_read is None:
            self.last_read = now  # the watch starts: the first read has `minutes` to succeed
        try:
            await self._load()
            if self._told is not None or now - self.last_read < timedelta(minutes=self.minutes):
                return None
            since = self.last_read.isoformat()
            notice = Notification(
                dedup_key=f"channel-down:{self.channel}:{since}", case_id=None, kind=CHANNEL_DOWN,
                to_role=Role.OFFICE_HEAD, at=now, payload={"channel": self.channel, "since": since},
            )  # fmt: skip
            await self._queue(notice, told=since)
        except StorageUnavailable as exc:
            log.warning("%s: уведомление о перерыве чтения не записано: %s; повтор", self.channel, exc)
            return None
        log.error("%s: не читается с %s: руководителю аппарата отправлено уведомление", self.channel, since)
        return notice

    async def _queue(self, notice: Notification, *, told: str | None) -> None:
        async with self.repo.transaction() as tx:
            await tx.enqueue([notice])
            await tx.kv_set(self.state_key, told or "")
        self._told = told
        if self.notifier is not None:
            await self.notifier.wake([], [notice])
