"""A stop that ends on time.

A container manager sends SIGTERM and, 10 s later by default, SIGKILL. Everything Otklik owes is durable before
it is confirmed (the inbox, the outbox, the publications), so a stop may cut work short; it must not hang. Two
things could make it hang: a task whose clean-up waits on the database (a cancelled SQLite write rolls back only
after its busy wait, up to the busy timeout), and the interpreter's own end, which waits for every task and every
non-daemon thread (aiosqlite's).

So each step of a stop is bounded (`cancel_and_wait`), each step's time is measured (`StopSteps`, named in the log
when the stop was slow), and a watchdog (`HardStop`) ends the process once the stop has taken its whole budget,
as a kill would: what was in flight is handled again at the next start, as after a kill.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Collection, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

# What a cancelled task gets to unwind (a rollback, a closed socket) before the stop goes on without it.
CANCEL_WAIT_SECONDS = 1.0
# A stop longer than this is named in the log, step by step.
SLOW_STOP_SECONDS = 3.0
# Beyond the handlers' grace, what the rest of a stop may take before the watchdog ends the process; grace + this
# stays under the 10 s a container manager gives by default (docker stop, systemd's is 90 s).
STOP_MARGIN_SECONDS = 3.0


async def cancel_and_wait(tasks: Collection[asyncio.Future[Any]], seconds: float = CANCEL_WAIT_SECONDS) -> int:
    """Cancel the tasks and wait at most `seconds` for them to end; how many are still running then.

    A task still running is left to the event loop's end (or the watchdog): waiting longer would make the stop
    as slow as the slowest clean-up."""
    running = [task for task in tasks if not task.done()]
    for task in running:
        task.cancel()
    if not running:
        return 0
    _done, pending = await asyncio.wait(running, timeout=seconds)
    return len(pending)


class StopSteps:
    """How long each step of a stop took; the slow ones go to the log."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self.steps: list[tuple[str, float]] = []
        self.current: str | None = None  # the step under way: the one a watchdog names when the stop hangs

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        began = self._clock()
        self.current = name
        try:
            yield
        finally:
            self.current = None
            self.steps.append((name, self._clock() - began))

    def total(self) -> float:
        return self._clock() - self._started

    def summary(self, *, top: int = 3) -> str:
        """The slowest steps, slowest first: «обработчики 5.0 с, доставка 1.0 с»."""
        slowest = sorted(self.steps, key=lambda step: step[1], reverse=True)[:top]
        done = ", ".join(f"{name} {seconds:.1f} с" for name, seconds in slowest if seconds >= 0.05) or "—"
        return done if self.current is None else f"{done}; не завершено: {self.current}"

    def report(self) -> None:
        total = self.total()
        if total >= SLOW_STOP_SECONDS:
            log.warning("остановка заняла %.1f с (дольше всего: %s)", total, self.summary())
        else:
            log.debug("остановка заняла %.1f с (%s)", total, self.summary())


class HardStop:
    """The watchdog: armed when a stop is asked for, it ends the process if the stop has not ended in time.

    A thread, not a task: the event loop may be the thing that is stuck (a task that will not end, or the
    interpreter waiting for a database thread)."""

    def __init__(
        self,
        seconds: float,
        steps: Callable[[], StopSteps | None] = lambda: None,
        exit_process: Callable[[int], object] = os._exit,
    ) -> None:
        self.seconds = seconds
        self._steps = steps
        self._exit = exit_process
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        if self._timer is not None:
            return  # a second signal does not restart the count
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    @property
    def armed(self) -> bool:
        return self._timer is not None

    def _fire(self) -> None:
        steps = self._steps()
        done = steps.summary() if steps is not None else "—"
        log.warning(
            "остановка не уложилась в %.0f с (дольше всего: %s): выход без ожидания; "
            "незавершённое обработается при следующем запуске",
            self.seconds, done,
        )  # fmt: skip
        for handler in logging.getLogger().handlers:  # the line above must reach the log before the end
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        self._exit(0)


async def wait_at_most(step: Coroutine[object, object, object], seconds: float, what: str) -> bool:
    """Run a step of the stop for at most `seconds`; False when it was cut off (and cancelled).

    A step that fails is one line in the log (`what`: the reason) and the stop goes on: at the end of a stop
    nothing durable is left to change."""
    task = asyncio.ensure_future(step)
    _done, pending = await asyncio.wait([task], timeout=seconds)
    if pending:
        task.cancel()
        return False
    error = None if task.cancelled() else task.exception()
    if error is not None:
        log.warning("остановка: %s: %s", what, (str(error).splitlines() or [type(error).__name__])[0])
    return True
