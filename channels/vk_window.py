"""VK's request window kept from our side, counted from each call's answer (CHANNELS.md: 20 requests a second
per community token, error 6 past it).

VK counts a request when it arrives, at some moment between our sending it and its answer; how long it travels
we cannot know. A slot used again one window after the last call in it was *answered* can never meet that call in
VK's window, however unevenly the requests travel: the only pacing that never earns error 6. It costs a round
trip per window (the first `count` calls go at once), which the publisher's other calls overlap.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class AnsweredWindow:
    """At most `count` calls at once, and a slot free again `seconds` after its call was answered (or failed).
    Thread safe: the calls are made in threads (vk-api is synchronous)."""

    def __init__(
        self,
        count: int,
        seconds: float = 1.0,
        *,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if count < 1 or not seconds > 0:
            raise ValueError(f"a window needs a positive count and length, not {count!r}, {seconds!r}")
        self.count = count
        self.seconds = seconds
        self._now = now
        self._sleep = sleep
        self._free = [-math.inf] * count  # a heap: when each slot not in use may be used again
        self._changed = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot for one call: waits for a free one, then for its time; freed when the call returns."""
        with self._changed:
            while not self._free:
                self._changed.wait()
            at = heapq.heappop(self._free)
        try:
            delay = at - self._now()
            if delay > 0:
                self._sleep(delay)
            yield
        finally:
            with self._changed:
                heapq.heappush(self._free, self._now() + self.seconds)
                self._changed.notify()
