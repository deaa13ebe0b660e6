"""A turnstile: tasks take tickets in some order and pass one stage of their work in that order.

Delivery refreshes several cases' cards at once (their reads and records overlap) but lets them post in the
order their refreshes began, which is the order the cases were registered in: operators read the intake chat in
that order (tests/e2e/test_rate_limits.py checks it).
"""

from __future__ import annotations

import asyncio


class Turnstile:
    """Tickets 0, 1, 2, ...: `wait(t)` returns once every ticket below t is `done` (or was never waited for and
    is done too). A ticket must always be marked done, whatever happens to its task, or the ones after it wait."""

    def __init__(self) -> None:
        self._issued = 0
        self._next = 0  # the lowest ticket not yet done: every ticket below it is
        self._done: set[int] = set()  # done tickets above `_next`
        self._waiting: dict[int, asyncio.Future[None]] = {}

    def take(self) -> int:
        ticket = self._issued
        self._issued += 1
        return ticket

    async def wait(self, ticket: int) -> None:
        """Until every earlier ticket is done. Cancelling the wait leaves the ticket to be marked done."""
        if ticket <= self._next:
            return
        waiter = self._waiting.get(ticket)
        if waiter is None:
            waiter = self._waiting[ticket] = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiting.pop(ticket, None)

    def done(self, ticket: int) -> None:
        """The ticket's stage is over (or will never come): the next ones may pass. Marking it twice is harmless."""
        if ticket < self._next or ticket >= self._issued:
            return
        self._done.add(ticket)
        while self._next in self._done:
            self._done.remove(self._next)
            self._next += 1
        for waiting, waiter in self._waiting.items():  # a few at most: the tasks in the stage's queue
            if waiting <= self._next and not waiter.done():
                waiter.set_result(None)

    @property
    def pending(self) -> int:
        """Tickets taken and not yet done."""
        return self._issued - self._next - len(self._done)
