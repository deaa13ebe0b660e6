"""The publisher worker: approved answers queued by «Опубликовать» go to their networks (issue 11).

Woken after the commit that queued one (`PublisherRegistry.on_queued`) and by its own tick (a back-off that
ran out, a row a wake missed), it claims pending rows and hands each to the use case that calls the network's
Publisher and records the outcome (workflow/services/publishing.py). At start it takes over what a dead run
was sending: with the network's idempotency key (VK guid / random_id = the row id) posting it again posts it
once. One process runs per database (the poller lock), so claims need no lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

from workflow.ports import Clock, StorageUnavailable
from workflow.services import Services

log = logging.getLogger(__name__)

TICK_SECONDS = 30.0  # the worker looks for due rows at least this often
BATCH = 10  # rows claimed at a time
OUTAGE_PAUSE_SECONDS = 5.0  # the database is down: wait before the next claim


def owner_name() -> str:
    """Unique per process start: a dead run's claims are told from this run's."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class PublicationWorker:
    def __init__(
        self,
        services: Services,
        clock: Clock,
        *,
        owner: str | None = None,
        tick_seconds: float = TICK_SECONDS,
        batch: int = BATCH,
    ) -> None:
        self.services = services
        self.clock = clock
        self.owner = owner or owner_name()
        self.tick_seconds = tick_seconds
        self.batch = batch
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._busy = False

    async def start(self) -> None:
        """Take over a dead run's claims, then run in the background."""
        taken = await self.services.take_over_publications(self.owner)
        if taken:
            log.info("публикация: %d ответ(ов) прерванного запуска снова в очереди", taken)
        self._task = asyncio.create_task(self._run(), name="publisher")

    def wake(self) -> None:
        self._woken.set()

    def busy(self) -> bool:
        """Claiming or posting right now, or woken and about to (tests wait for this to end)."""
        return self._busy or self._woken.is_set()

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def run_once(self) -> int:
        """Claim the due rows and post each; how many were claimed."""
        claimed = await self.services.claim_publications(self.owner, self.batch)
        for publication in claimed:
            try:
                done = await self.services.publish_claimed(publication)
            except StorageUnavailable:
                raise  # the row stays claimed by this run; the next start takes it over
            except Exception:
                log.exception("публикация № %d (дело № %d) не записана", publication.id, publication.case_id)
                with contextlib.suppress(Exception):
                    await self.services.release_publication(publication)
                continue
            log.info(
                "публикация № %d (дело № %d, %s): %s%s",
                done.id, done.case_id, done.network.value, done.state,
                f" — {done.link or done.error}" if done.link or done.error else "",
            )  # fmt: skip
        return len(claimed)

    async def _run(self) -> None:
        while True:
            self._woken.clear()
            self._busy = True
            pause = self.tick_seconds
            try:
                if await self.run_once():
                    continue  # more may be due
                pause = await self._until_next()
            except StorageUnavailable:
                log.warning("публикация: база данных недоступна; повтор через %.0f с", OUTAGE_PAUSE_SECONDS)
                pause = OUTAGE_PAUSE_SECONDS
            except Exception:
                log.exception("публикация: сбой обработчика очереди")
                pause = OUTAGE_PAUSE_SECONDS
            finally:
                self._busy = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), pause)

    async def _until_next(self) -> float:
        """Seconds to the earliest back-off end, at most a tick."""
        at = await self.services.next_publication_at()
        if at is None:
            return self.tick_seconds
        return max(0.0, min(self.tick_seconds, (at - self.clock.now()).total_seconds()))
