"""The pieces that keep a stop on time (bot/shutdown.py): bounded cancellation, the step log, the watchdog."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from bot.scheduler import build_scheduler
from bot.shutdown import HardStop, StopSteps, cancel_and_wait, wait_at_most


async def _stubborn(release: asyncio.Event) -> None:
    """A task whose clean-up waits on something slow, as a cancelled SQLite write waits out its busy timeout."""
    try:
        await asyncio.Event().wait()
    finally:
        await release.wait()


async def test_cancel_and_wait_returns_within_its_bound_and_counts_the_stubborn() -> None:
    release = asyncio.Event()
    stubborn = asyncio.create_task(_stubborn(release))
    quick = asyncio.create_task(asyncio.Event().wait())
    await asyncio.sleep(0)
    began = time.monotonic()
    left = await cancel_and_wait([stubborn, quick], seconds=0.2)
    assert left == 1
    assert time.monotonic() - began < 2.0
    assert quick.cancelled()
    assert not stubborn.done()
    release.set()
    await asyncio.gather(stubborn, return_exceptions=True)


async def test_cancel_and_wait_of_nothing_or_done_tasks_is_immediate() -> None:
    done = asyncio.create_task(asyncio.sleep(0))
    await done
    assert await cancel_and_wait([]) == 0
    assert await cancel_and_wait([done]) == 0


async def test_wait_at_most_cuts_a_hanging_step_and_logs_a_failed_one(caplog: pytest.LogCaptureFixture) -> None:
    assert await wait_at_most(asyncio.Event().wait(), 0.1, "шаг") is False

    async def broken() -> None:
        raise OSError("database is gone\nsecond line")

    with caplog.at_level(logging.WARNING, logger="bot.shutdown"):
        assert await wait_at_most(broken(), 1.0, "соединения с базой") is True
    assert [r.getMessage() for r in caplog.records] == ["остановка: соединения с базой: database is gone"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_stop_steps_name_the_slowest_and_a_slow_stop_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    steps = StopSteps(clock)
    for name, seconds in (("опрос Telegram", 0.01), ("обработчики", 5.0), ("доставка", 1.2), ("база", 0.3)):
        with steps.step(name):
            clock.now += seconds
    assert steps.summary() == "обработчики 5.0 с, доставка 1.2 с, база 0.3 с"
    with caplog.at_level(logging.DEBUG, logger="bot.shutdown"):
        steps.report()
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "остановка заняла 6.5 с (дольше всего: обработчики 5.0 с, доставка 1.2 с, база 0.3 с)")
    ]


def test_a_quick_stop_is_not_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    steps = StopSteps(clock)
    with steps.step("опрос Telegram"):
        clock.now += 0.2
    with caplog.at_level(logging.DEBUG, logger="bot.shutdown"):
        steps.report()
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


def test_the_watchdog_ends_the_process_once_armed_and_says_what_was_slow(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    steps = StopSteps(clock)
    with steps.step("обработчики"):
        clock.now += 5.0
    exited = threading.Event()
    codes: list[int] = []

    def exit_process(code: int) -> None:
        codes.append(code)
        exited.set()

    watchdog = HardStop(0.05, lambda: steps, exit_process)
    with caplog.at_level(logging.WARNING, logger="bot.shutdown"):
        watchdog.arm()
        watchdog.arm()  # a second signal does not start a second count
        assert exited.wait(10), "the watchdog did not fire"
    assert codes == [0]
    assert caplog.records[-1].getMessage().startswith("остановка не уложилась в 0 с (дольше всего: обработчики 5.0 с)")


def test_a_disarmed_watchdog_does_not_fire() -> None:
    fired = threading.Event()
    watchdog = HardStop(0.05, exit_process=lambda code: fired.set())
    watchdog.arm()
    watchdog.disarm()
    assert not fired.wait(0.3)


async def test_a_job_cut_off_by_the_stop_is_not_logged_as_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    started = asyncio.Event()
    ended: list[str] = []

    async def sweep() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            ended.append("sweep")

    scheduler = build_scheduler(sweep=sweep, sweep_seconds=0.05)
    with caplog.at_level(logging.DEBUG):
        scheduler.start()
        await asyncio.wait_for(started.wait(), 10)
        scheduler.shutdown(wait=False)
        for _ in range(100):
            if ended:
                break
            await asyncio.sleep(0.01)
    assert ended == ["sweep"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
