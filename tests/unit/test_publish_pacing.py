"""The publisher worker's pacing (bot/publisher.py): each network's calls start 1 / rate seconds apart, so no
second holds more than its rate (VK's 20 a second per token), on a fake monotonic clock."""

from __future__ import annotations

import pytest

from bot.publisher import Pacer, in_flight_for


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def test_calls_at_once_are_spaced_by_the_rate() -> None:
    clock = FakeMonotonic()
    pacer = Pacer(20.0, now=clock)
    assert [pacer.reserve() for _ in range(4)] == pytest.approx([0.0, 0.05, 0.10, 0.15])


def test_no_second_holds_more_than_the_rate() -> None:
    clock = FakeMonotonic()
    pacer = Pacer(20.0, now=clock)
    starts = []
    for n in range(1000):
        clock.t = 1000.0 + n * 0.003  # asked for far faster than the rate
        starts.append(clock.t + pacer.reserve())
    for first in range(len(starts)):
        in_window = [s for s in starts[first:] if s < starts[first] + 1.0 - 1e-9]
        assert len(in_window) <= 20
    assert starts[-1] - starts[0] == pytest.approx(999 * 0.05)  # and no slower: 1,000 calls in 49.95 s


def test_an_idle_spell_saves_no_burst() -> None:
    clock = FakeMonotonic()
    pacer = Pacer(20.0, now=clock)
    assert pacer.reserve() == 0.0
    clock.t += 60.0
    assert pacer.reserve() == 0.0
    assert pacer.reserve() == pytest.approx(0.05)


async def test_wait_sleeps_until_its_slot() -> None:
    clock = FakeMonotonic()
    pacer = Pacer(1.0, now=clock)
    for _ in range(3):
        await pacer.wait(clock.sleep)
    assert clock.slept == pytest.approx([1.0, 1.0])  # the first went at once
    assert clock.t == pytest.approx(1002.0)


def test_one_call_a_second_or_slower_is_one_at_a_time() -> None:
    assert in_flight_for(1.0) == 1 and in_flight_for(0.5) == 1
    assert in_flight_for(20.0) == 20


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan")])
def test_a_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ValueError):
        Pacer(rate)
