"""Cards refreshed at once still reach a chat in the order the cases were registered in (bot/turnstile.py):
the first case's reads are held up until the second case's are done, and its card still comes first."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot import delivery as delivery_module
from bot.turnstile import Turnstile
from tests.handlers.conftest import INTAKE, OPERATOR, Harness
from workflow.model import InboundMessage, Procedure, Source


async def test_a_later_case_whose_reads_end_first_waits_for_the_earlier_card(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator = h.dp.workflow_data["directory"].actor(OPERATOR)
    later_read = asyncio.Event()
    first_id: list[int] = []
    real_read_card = delivery_module.read_card

    async def read_card(tx: Any, case_id: int) -> Any:
        if first_id and case_id == first_id[0] and not later_read.is_set():
            # Held until the later case's reads are done (bounded: with one refresh at a time they never start).
            await asyncio.wait_for(later_read.wait(), timeout=5)
        view = await real_read_card(tx, case_id)
        if first_id and case_id != first_id[0]:
            later_read.set()
        return view

    monkeypatch.setattr(delivery_module, "read_card", read_card)

    def message(n: int) -> InboundMessage:
        return InboundMessage(Source.VK, f"wall-1_{n}", Procedure.OPEN_SOURCES, f"Обращение {n}", h.clock.now())

    first = (await h.services.register(message(1), operator)).case.id
    first_id.append(first)
    second = (await h.services.register(message(2), operator)).case.id
    await h.delivery.settle()
    assert later_read.is_set(), "the second case's reads should have run while the first case's were held"
    async with h.repo.reading() as tx:
        first_card, second_card = (await tx.cards(first))[INTAKE], (await tx.cards(second))[INTAKE]
    assert first_card < second_card, "the later case's card came before the earlier one's"


async def test_turnstile_lets_tickets_through_in_order_whatever_order_they_arrive_in() -> None:
    gate = Turnstile()
    tickets = [gate.take() for _ in range(4)]
    passed: list[int] = []

    async def stage(ticket: int) -> None:
        await gate.wait(ticket)
        passed.append(ticket)
        gate.done(ticket)

    tasks = [asyncio.create_task(stage(t)) for t in reversed(tickets)]
    await asyncio.gather(*tasks)
    assert passed == tickets
    assert gate.pending == 0


async def test_turnstile_skips_a_ticket_done_without_passing_and_a_cancelled_wait() -> None:
    gate = Turnstile()
    first, second, third = gate.take(), gate.take(), gate.take()
    waiting = asyncio.create_task(gate.wait(second))
    await asyncio.sleep(0)
    waiting.cancel()  # a refresh cancelled while it waits: its ticket is still marked done
    with pytest.raises(asyncio.CancelledError):
        await waiting
    gate.done(second)
    third_waits = asyncio.create_task(gate.wait(third))
    await asyncio.sleep(0)
    assert not third_waits.done(), "the first ticket is not done yet"
    gate.done(first)  # done without ever waiting (its refresh found nothing to post)
    await asyncio.wait_for(third_waits, timeout=1)
    gate.done(third)
    gate.done(third)  # twice: harmless
    assert gate.pending == 0
