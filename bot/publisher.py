"""The publisher worker: approved answers queued by «Опубликовать» go to their networks (issue 11).

Woken after the commit that queued one (`PublisherRegistry.on_queued`) and by its own tick (a back-off that
ran out, a row a wake missed), it claims pending rows and hands each to the use case that calls the network's
Publisher and records the outcome (workflow/services/publishing.py). At start it takes over what a dead run
was sending: with the network's idempotency key (VK guid / random_id = the row id) posting it again posts it
once. One process runs per database (the poller lock), so claims need no lease.

Several rows are in flight at once, each network's calls paced by its Publisher's `rate_per_second` (a VK
token's 20 a second; Telegram's one a second, so one at a time) in the network's own terms, a sliding window
(`Pacer`); the next batch is claimed while the current one is paced out. One row at a time, a round trip and
the outcome's transaction each, never reached VK's rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable

from bot.shutdown import cancel_and_wait
from workflow.model import Network
from workflow.ports import Clock, Publication, StorageUnavailable
from workflow.services import Services

log = logging.getLogger(__name__)

TICK_SECONDS = 30.0  # the worker looks for due rows at least this often
BATCH = 10  # rows claimed at a time
OUTAGE_PAUSE_SECONDS = 5.0  # the database is down: wait before the next claim


WINDOW_MARGIN_SECONDS = 0.0  # headroom on the network's one-second window (see Pacer)


class Pacer:
    """At most `rate` call starts in any window of one second (plus a margin): VK counts a token's requests in a
    sliding one-second window (error 6 past 20), so this is its own rule, kept from our side. The first `rate`
    calls go at once and a stall (a claim, a slow commit) is made up as far as the window allows, so a long run
    takes (ceil(n / rate) - 1) windows and no more. What this spaces is the rows' starts; when a request reaches
    the network depends on its travel, so a publisher that must never be over the network's window keeps it
    where the call is answered as well (VK: channels/vk_window.py). Reservations are taken in order; the event
    loop is single threaded, so no lock is needed."""

    def __init__(
        self,
        rate_per_second: float,
        now: Callable[[], float] = time.monotonic,
        *,
        margin: float = WINDOW_MARGIN_SECONDS,
    ) -> None:
        if not rate_per_second > 0:
            raise ValueError(f"rate_per_second must be positive, not {rate_per_second!r}")
        if not margin >= 0:
            raise ValueError(f"margin must not be negative, not {margin!r}")
        # Below one call a second: one call per 1 / rate seconds (a window holding a single start).
        self.count = max(1, math.floor(rate_per_second))
        self.window = self.count / rate_per_second + margin
        self._now = now
        self._starts: deque[float] = deque(maxlen=self.count)  # the last `count` starts reserved, in order

    def reserve(self) -> float:
        """Take the next slot: seconds until the call may start (0.0: now)."""
        now = self._now()
        start = now
        if len(self._starts) == self.count:
            start = max(now, self._starts[0] + self.window)
        self._starts.append(start)
        return start - now

    async def wait(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        delay = self.reserve()
        if delay > 0:
            await sleep(delay)


def in_flight_for(rate_per_second: float) -> int:
    """Calls to one network at once: a second's worth at its rate, one below a call a second."""
    return max(1, math.ceil(rate_per_second))


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
        self._lanes: dict[Network, tuple[asyncio.Semaphore, Pacer]] = {}
        self._in_flight: set[asyncio.Task[None]] = set()
        self._fatal: BaseException | None = None  # what killed a row in flight, for the worker to die of
        self._outage = False  # a row in flight found the database down

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
        return self._busy or self._woken.is_set() or bool(self._in_flight)

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        tasks = [*self._in_flight, *([task] if task is not None else [])]
        await cancel_and_wait(tasks)

    async def run_once(self) -> int:
        """Claim the due rows and post them (paced, several at once); how many were claimed."""
        claimed = await self._claim_and_start()
        await self._drain()
        return claimed

    async def _claim_and_start(self) -> int:
        """Claim the due rows and start each as its network's pace allows; the calls go on in the background.
        The next batch is claimed while this one is paced out, so the claim's transaction never holds up a
        start (at VK's pace a claim between batches would cost a slot each time)."""
        total = 0
        claimed = await self.services.claim_publications(self.owner, self.batch)
        while claimed:
            total += len(claimed)
            ahead = asyncio.create_task(
                self.services.claim_publications(self.owner, self.batch), name="publisher-claim"
            )
            try:
                for publication in claimed:
                    await self._start(publication)
            except BaseException:
                # Going down: what `ahead` claimed stays claimed by this run, as the rows of this batch not
                # started yet do; the next start takes them over (with the idempotency key, posted once).
                ahead.cancel()
                with contextlib.suppress(BaseException):
                    await ahead
                raise
            claimed = await ahead
        return total

    async def _start(self, publication: Publication) -> None:
        slots, pacer = self._lane(publication.network)
        await slots.acquire()
        try:
            self._raise_fatal()
            await pacer.wait()
        except BaseException:
            slots.release()
            raise
        task = asyncio.create_task(self._post(publication, slots), name=f"publication-{publication.id}")
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _lane(self, network: Network) -> tuple[asyncio.Semaphore, Pacer]:
        lane = self._lanes.get(network)
        if lane is None:
            publisher = self.services.publishers.get(network)
            rate = publisher.rate_per_second if publisher is not None else 1.0  # the use case fails the row
            lane = self._lanes[network] = (asyncio.Semaphore(in_flight_for(rate)), Pacer(rate))
        return lane

    async def _post(self, publication: Publication, slots: asyncio.Semaphore) -> None:
        try:
            done = await self.services.publish_claimed(publication)
        except StorageUnavailable:
            self._outage = True  # the row stays claimed by this run; the next start takes it over
            return
        except Exception:
            log.exception("публикация № %d (дело № %d) не записана", publication.id, publication.case_id)
            with contextlib.suppress(Exception):
                await self.services.release_publication(publication)
            return
        finally:
            slots.release()
        log.info(
            "публикация № %d (дело № %d, %s): %s%s",
            done.id, done.case_id, done.network.value, done.state,
            f" — {done.link or done.error}" if done.link or done.error else "",
        )  # fmt: skip

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if task.cancelled():
            return
        exc = task.exception()  # retrieved here: an error of ours was logged in _post already
        if exc is not None and self._fatal is None:
            self._fatal = exc  # a BaseException (the process is going down): the worker dies with it
            self._woken.set()

    def _raise_fatal(self) -> None:
        if self._fatal is not None:
            raise self._fatal

    async def _drain(self) -> None:
        """Wait for every row in flight to be recorded."""
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))
        self._raise_fatal()
        if self._outage:
            self._outage = False
            raise StorageUnavailable("публикация не записана: база данных недоступна")

    async def _run(self) -> None:
        while True:
            self._woken.clear()
            self._busy = True
            pause = self.tick_seconds
            try:
                self._raise_fatal()
                if await self._claim_and_start():
                    continue  # more may be due; those started run on meanwhile
                await self._drain()
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
