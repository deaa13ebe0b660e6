"""The publisher worker's pacing (bot/publisher.py): no window of one second (plus a margin) holds more call
starts than the network's rate (VK's 20 a second per token, counted in a sliding window), and no fewer are
made, on a fake monotonic clock."""

from __future__ import annotations

import threading
import time

import pytest

from bot.publisher import Pacer, in_flight_for
from channels.vk_window import AnsweredWindow


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def test_a_window_of_calls_goes_at_once_and_the_next_waits_for_the_window() -> None:
    clock = FakeMonotonic()
    pacer = Pacer(20.0, now=clock, margin=0.05)
    assert [pacer.reserve() for _ in range(22)] == pytest.approx([0.0] * 20 + [1.05, 1.05])


def test_no_window_holds_more_than_the_rate() -> None:
    clock = FakeMonotonic()
    pacer = Pacer(20.0, now=clock, margin=0.05)
    starts = []
    for n in range(1000):
        clock.t = 1000.0 + n * 0.003  # asked for far faster than the rate
        starts.append(clock.t + pacer.reserve())
    for first in range(len(starts)):
        # VK's window is one second; the pacer keeps the margin on top of it.
        in_window = [s for s in starts[first:] if s < starts[first] + 1.05 - 1e-9]
        assert len(in_window) <= 20
    # And no slower: the first 20 as they were asked for (within 57 ms), then a window per 20: 51.45 s more.
    assert starts[:20] == pytest.approx([1000.0 + n * 0.003 for n in range(20)])
    assert starts[-1] - starts[19] == pytest.approx(49 * 1.05)


def test_a_stall_is_made_up_only_as_far_as_the_window_allows() -> None:
    clock = FakeMonotonic()
    pacer = Pacer(20.0, now=clock, margin=0.0)
    for n in range(20):  # one a twentieth of a second, at the rate
        clock.t = 1000.0 + n * 0.05
        assert pacer.reserve() == 0.0
    clock.t = 1000.0 + 20 * 0.05 + 0.30  # six slots lost to a slow commit
    # The calls whose window has passed go at once; the next ones keep their second apart from their 20th.
    assert [pacer.reserve() for _ in range(8)] == pytest.approx([0.0] * 7 + [0.05])


def test_an_idle_spell_saves_no_more_than_one_window() -> None:
    clock = FakeMonotonic()
    pacer = Pacer(20.0, now=clock, margin=0.05)
    assert pacer.reserve() == 0.0
    clock.t += 60.0
    assert [pacer.reserve() for _ in range(21)] == pytest.approx([0.0] * 20 + [1.05])


async def test_wait_sleeps_until_its_slot() -> None:
    clock = FakeMonotonic()
    pacer = Pacer(1.0, now=clock, margin=0.05)
    for _ in range(3):
        await pacer.wait(clock.sleep)
    assert clock.slept == pytest.approx([1.05, 1.05])  # the first went at once
    assert clock.t == pytest.approx(1002.1)


def test_below_one_call_a_second_the_calls_are_spaced() -> None:
    clock = FakeMonotonic()
    pacer = Pacer(0.5, now=clock, margin=0.0)
    assert [pacer.reserve() for _ in range(3)] == pytest.approx([0.0, 2.0, 4.0])


def test_one_call_a_second_or_slower_is_one_at_a_time() -> None:
    assert in_flight_for(1.0) == 1 and in_flight_for(0.5) == 1
    assert in_flight_for(20.0) == 20


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan")])
def test_a_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ValueError):
        Pacer(rate)


def test_a_margin_must_not_be_negative() -> None:
    with pytest.raises(ValueError):
        Pacer(20.0, margin=-0.1)


class ThreadClock:
    """A fake monotonic clock for AnsweredWindow, whose sleep moves it on."""

    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def test_vk_window_frees_a_slot_a_second_after_its_answer() -> None:
    clock = ThreadClock()
    window = AnsweredWindow(2, 1.0, now=clock, sleep=clock.sleep)
    starts = []
    for travel in (0.3, 0.1, 0.2):  # each call answered `travel` seconds after it starts
        with window.slot():
            starts.append(clock.t)
            clock.t += travel
    # Two at once; the third waits until a second after the earliest answer (at 0.3 s: the first call's),
    # 0.9 s after the second call was answered.
    assert starts == pytest.approx([0.0, 0.3, 1.3])
    assert clock.slept == pytest.approx([0.9])


def test_vk_window_frees_the_slot_of_a_call_that_failed() -> None:
    clock = ThreadClock()
    window = AnsweredWindow(1, 1.0, now=clock, sleep=clock.sleep)
    with pytest.raises(RuntimeError), window.slot():
        clock.t += 0.5
        raise RuntimeError("VK did not answer")
    with window.slot():
        assert clock.t == pytest.approx(1.5)


def test_vk_window_lets_no_more_than_count_through_at_once() -> None:
    window = AnsweredWindow(3, 0.001)
    inside, peak, lock = 0, 0, threading.Lock()

    def call() -> None:
        nonlocal inside, peak
        with window.slot():
            with lock:
                inside += 1
                peak = max(peak, inside)
            time.sleep(0.01)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=call) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak == 3
