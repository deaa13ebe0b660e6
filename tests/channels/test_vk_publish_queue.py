"""The publication queue on real SQLite and PostgreSQL: one claim per row however many claim at once, a dead
run's claim posted again where the network has an idempotency key and handed to the operator where it has
none, the case moved on meanwhile, and the worker's back-off. The network is a recording Publisher here; VK
itself is tests/channels/test_vk_publish.py's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.publisher import PublicationWorker
from storage.migrate import upgrade
from storage.repository import SqlRepository
from tests.engine.conftest import at
from tests.fakes import FakeClock, RecordingNotifier
from tests.storage.conftest import fresh_engine
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import Action, ActionPayload, Status
from workflow.model import Actor, ChannelItem, DomainError, ItemKind, Network, Role
from workflow.ports import Answer, PublisherRegistry, PublishLater
from workflow.rules import DEFAULT_RULES
from workflow.services import Services
from workflow.services.publishing import AMBIGUOUS, CASE_MOVED_ON

NOW = at(2026, 12, 2, 9, 12)
OPERATOR = Actor(11, frozenset({Role.OPERATOR}), name="Мария Иванова")
OFFICE_HEAD = Actor(12, frozenset({Role.OFFICE_HEAD}))
HOUSING = Actor(13, frozenset({Role.UNIT_OFFICIAL}), frozenset({"housing"}))
CURATOR = Actor(14, frozenset({Role.REGION_CURATOR}))


@dataclass
class Recording:
    """A network that takes every answer (or fails the first `fail` times) and records what it was given."""

    network: Network = Network.VK
    idempotent: bool = True
    rate_per_second: float = 20.0
    fail: int = 0
    posted: list[Answer] = field(default_factory=list)

    def refusal(self, answer: Answer) -> str | None:
        return None

    async def publish(self, answer: Answer) -> str:
        if self.fail:
            self.fail -= 1
            raise PublishLater("сеть недоступна")
        self.posted.append(answer)
        return f"https://vk.com/wall-201_1?reply={100 + len(self.posted)}"


@pytest.fixture(params=["sqlite", "pg"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with fresh_engine(request.param, tmp_path) as engine:
        await upgrade(engine)
        yield engine


def services_on(engine: AsyncEngine, clock: FakeClock, publisher: Recording) -> Services:
    registry = PublisherRegistry()
    registry.register(publisher)
    return Services(repo=SqlRepository(engine, clock=clock), clock=clock, calendar=WorkingCalendar(),
                    rules=DEFAULT_RULES, notifier=RecordingNotifier(), publishers=registry)  # fmt: skip


async def approved_case(s: Services, n: int = 1) -> tuple[int, int]:
    """A VK comment's case, approved; its id and version."""
    item = ChannelItem(network=Network.VK, key=f"-201_{n}", kind=ItemKind.NEW, seen_at=NOW, text="Яма у дома",
                       link=f"https://vk.com/wall-201_1?reply={n}", author_id=42)  # fmt: skip
    outcome = await s.take_in(item)
    assert outcome is not None
    case = outcome.case.id
    await s.act(case, Action.ROUTE, OPERATOR, payload=ActionPayload(units=("housing",)))
    await s.act(case, Action.APPROVE_ROUTING, OFFICE_HEAD, payload=ActionPayload(units=("housing",)))
    await s.act(case, Action.INFO, HOUSING, payload=ActionPayload(text="Ремонт 10.12", unit="housing"))
    await s.act(case, Action.SUBMIT, OPERATOR, payload=ActionPayload(text="Заделаем до 10.12"))
    done = await s.act(case, Action.APPROVE, CURATOR)
    return case, done.case.version


async def test_one_row_is_claimed_once_however_many_claim_at_once(engine: AsyncEngine) -> None:
    clock, net = FakeClock(NOW), Recording()
    s = services_on(engine, clock, net)
    cases = [await approved_case(s, n) for n in range(1, 6)]
    for case, version in cases:
        await s.request_publication(case, OPERATOR, version)
    claims = await asyncio.gather(*(s.claim_publications(f"run-{i}", 2) for i in range(6)))
    ids = [p.id for batch in claims for p in batch]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 5
    for batch in claims:
        for publication in batch:
            assert (await s.publish_claimed(publication)).state == "published"
    assert len(net.posted) == 5
    assert {a.idempotency_key for a in net.posted} == set(ids)


async def test_a_dead_runs_claim_is_posted_again_with_its_key_or_handed_to_the_operator(
    engine: AsyncEngine,
) -> None:
    clock = FakeClock(NOW)
    keyed, unkeyed = Recording(), Recording(network=Network.VK, idempotent=False)
    s = services_on(engine, clock, keyed)
    case, version = await approved_case(s)
    queued = await s.request_publication(case, OPERATOR, version)
    [claimed] = await s.claim_publications("dead-run", 10)
    assert claimed.id == queued.id and claimed.state == "sending"
    # With an idempotency key: queued again, posted with the same key.
    assert await s.take_over_publications("new-run") == 1
    [again] = await s.claim_publications("new-run", 10)
    assert (await s.publish_claimed(again)).state == "published"
    assert [a.idempotency_key for a in keyed.posted] == [queued.id]
    assert (await s.case(case)).status == Status.ANSWERED.value

    # Without one (a network like Telegram): nobody knows whether it went; the operator is asked.
    t = services_on(engine, clock, unkeyed)
    other, version = await approved_case(t, 2)
    await t.request_publication(other, OPERATOR, version)
    await t.claim_publications("dead-run", 10)
    assert await t.take_over_publications("new-run") == 1
    async with t.repo.reading() as tx:
        row = await tx.latest_publication(other)
    assert row is not None and row.state == "unclear" and row.error == AMBIGUOUS.format(network="ВКонтакте")
    assert unkeyed.posted == [] and await t.claim_publications("new-run", 10) == []


async def test_a_second_press_and_a_stale_card_queue_nothing(engine: AsyncEngine) -> None:
    s = services_on(engine, FakeClock(NOW), Recording())
    case, version = await approved_case(s)
    await s.request_publication(case, OPERATOR, version)
    for who, ver in ((OPERATOR, version), (OPERATOR, version + 1), (CURATOR, version + 1)):
        with pytest.raises(DomainError):
            await s.request_publication(case, who, ver)
    with pytest.raises(DomainError):
        await s.request_publication(2**63, OPERATOR, version)
    assert len(await s.claim_publications("run", 10)) == 1


async def test_a_case_marked_published_by_hand_meanwhile_is_not_posted(engine: AsyncEngine) -> None:
    net = Recording()
    s = services_on(engine, FakeClock(NOW), net)
    case, version = await approved_case(s)
    await s.request_publication(case, OPERATOR, version)
    # The old card's «Опубликовано вручную» is stale; a fresh press of it (the queue being stuck) still wins.
    with pytest.raises(DomainError):
        await s.act(case, Action.PUBLISH, OPERATOR, expected_version=version)
    await s.act(case, Action.PUBLISH, OPERATOR, expected_version=version + 1)
    [claimed] = await s.claim_publications("run", 10)
    done = await s.publish_claimed(claimed)
    assert done.state == "failed" and done.error == CASE_MOVED_ON and net.posted == []


async def test_the_worker_backs_off_and_posts_when_its_time_comes(engine: AsyncEngine) -> None:
    clock, net = FakeClock(NOW), Recording(fail=1)
    s = services_on(engine, clock, net)
    case, version = await approved_case(s)
    worker = PublicationWorker(s, clock, owner="run", tick_seconds=3600)
    await s.request_publication(case, OPERATOR, version)
    assert await worker.run_once() == 1  # failed once: back to pending, 30 s on
    assert net.posted == [] and await worker.run_once() == 0
    assert await s.next_publication_at() == clock.now() + (await _back_off(s, case))
    clock.advance(await _back_off(s, case))
    assert await worker.run_once() == 1 and len(net.posted) == 1
    assert (await s.case(case)).status == Status.ANSWERED.value


async def _back_off(s: Services, case: int) -> timedelta:
    async with s.repo.reading() as tx:
        row = await tx.latest_publication(case)
    assert row is not None and row.next_at is not None
    return row.next_at - NOW


@dataclass
class Gated(Recording):
    """A network whose calls wait until the test opens the gate, counting those under way at once."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    under_way: int = 0
    most_at_once: int = 0

    async def publish(self, answer: Answer) -> str:
        self.under_way += 1
        self.most_at_once = max(self.most_at_once, self.under_way)
        try:
            await self.gate.wait()
            return await super().publish(answer)
        finally:
            self.under_way -= 1


@pytest.mark.parametrize(("rate", "at_once"), [(1000.0, 5), (1.0, 1)])
async def test_the_worker_keeps_as_many_in_flight_as_the_rate_allows(
    engine: AsyncEngine, rate: float, at_once: int
) -> None:
    clock, net = FakeClock(NOW), Gated(rate_per_second=rate)
    s = services_on(engine, clock, net)
    cases = [await approved_case(s, n) for n in range(1, 6)]
    for case, version in cases:
        await s.request_publication(case, OPERATOR, version)
    worker = PublicationWorker(s, clock, owner="run", tick_seconds=3600)
    run = asyncio.create_task(worker.run_once())
    for _ in range(1000):  # the five start at once (1,000 a second: 5 ms apart); a second a call: only one
        await asyncio.sleep(0.005)
        if net.under_way == at_once:
            break
    assert net.under_way == at_once and worker.busy()
    if at_once == 1:
        await asyncio.sleep(0.05)
        assert net.under_way == 1  # the second waits for the first to be recorded
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        await worker.stop()
        return
    net.gate.set()
    assert await run == 5 and len(net.posted) == 5 and net.most_at_once == 5
    for case, _ in cases:
        assert (await s.case(case)).status == Status.ANSWERED.value
    assert not worker.busy()
