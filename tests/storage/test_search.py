"""The read methods behind /case, /find, /my and /overdue (issue 10): on a real SQLite file, on PostgreSQL, and on
the in-memory fake, with the same assertions (the fake is what the use-case tests trust)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.migrate import upgrade
from storage.repository import SqlRepository
from tests.fakes import FakeRepository
from tests.storage.conftest import SettableClock, fresh_engine
from workflow.model import MAX_ID, Assignment, Case, Event, InboundMessage, Procedure, Role, Source, TermStart
from workflow.ports import OwedBy, OwedStep, Repository
from workflow.search import fold, link_key

T0 = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
FINAL = frozenset({"answered", "returned", "excluded", "closed"})
POST = "https://vk.com/wall-123_4567?reply=8910"


@pytest.fixture(params=["sqlite", "pg", "fake"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: SettableClock
) -> AsyncIterator[Repository]:
    if request.param == "fake":
        yield FakeRepository()
        return
    async with fresh_engine(request.param, tmp_path) as engine:
        await upgrade(engine)
        yield SqlRepository(engine, clock=clock)


async def add(
    store: Repository,
    n: int,
    text: str = "Когда починят дорогу?",
    *,
    procedure: Procedure = Procedure.OPEN_SOURCES,
    status: str = "new",
    units: tuple[str, ...] = (),
    proposed: tuple[str, ...] = (),
    **message: str,
) -> Case:
    case = Case(
        id=0, procedure=procedure, status=status, version=1, t0=T0,
        assignments=tuple(Assignment(u) for u in units), proposed_units=proposed,
    )  # fmt: skip
    source = Source.POS if procedure is Procedure.POS else Source.VK
    inbound = InboundMessage(source, f"m{n}", procedure, text, T0, **message)  # type: ignore[arg-type]
    async with store.transaction() as tx:
        return await tx.add_case(case, inbound)


async def change(store: Repository, case: Case, at: datetime, **fields: object) -> Case:
    """A step at `at`: the case saved (SQL stamps updated_at by the clock) with its event (the fake's instant)."""
    new = replace(case, version=case.version + 1, **fields)  # type: ignore[arg-type]
    async with store.transaction() as tx:
        await tx.save_case(new, case.version)
        await tx.append_events(case.id, [Event("step", 1, Role.OFFICE_HEAD, at)])
    return new


async def test_a_pos_number_finds_its_case_only(store: Repository) -> None:
    await add(store, 1, "Обычное сообщение")
    pos = await add(
        store, 2, "Нет воды", procedure=Procedure.POS, external_number="4512345", units=("housing",)
    )
    async with store.reading() as tx:
        (found,) = await tx.cases_by_external_number("4512345", 10)
        assert await tx.cases_by_external_number("451234", 10) == []
        assert await tx.cases_by_external_number("1", 10) == []
    assert (found.case_id, found.procedure, found.status) == (pos.id, "pos", "new")
    assert (found.text, found.external_number, found.units) == ("Нет воды", "4512345", frozenset({"housing"}))


async def test_a_link_finds_the_message_and_the_published_answer_newest_first(
    store: Repository, clock: SettableClock
) -> None:
    asked = await add(store, 1, "Вопрос", link="https://m.vk.com/wall-123_4567?reply=8910")
    answered = await add(store, 2, "Другой", link="https://vk.com/wall-1_2")
    await add(store, 3, "Третий", link="https://vk.com/wall-123_4567")  # the post, not the comment
    await change(store, answered, clock.now(), published_link=f"{POST}#top")
    async with store.reading() as tx:
        found = await tx.cases_by_link(link_key(POST), 10)
        assert await tx.cases_by_link(link_key("https://ok.ru/group/1"), 10) == []
    assert [f.case_id for f in found] == [answered.id, asked.id]


async def test_found_cases_reads_those_that_exist(store: Repository) -> None:
    one = await add(store, 1, "x" * 5000)
    async with store.reading() as tx:
        (found,) = await tx.found_cases([one.id, one.id + 1, MAX_ID])  # 2^63-1 reaches PostgreSQL as BIGINT
        assert await tx.found_cases([]) == []
    assert found.text == "x" * 200  # a line's worth, not the whole text


async def test_find_matches_folded_text_author_and_number_literally(store: Repository) -> None:
    yolka = await add(store, 1, "Яма на улице Ёлочной, 50% дороги", author="Пётр Сидоров")
    under = await add(store, 2, "Скидка 500 руб. на_всё a/b")
    pos = await add(store, 3, "Нет воды", procedure=Procedure.POS, external_number="4512345")

    async def ids(query: str) -> list[int]:
        async with store.reading() as tx:
            found = await tx.find_cases(fold(query), final=FINAL, closed_since=T0, units=None, limit=10)
        return [f.case_id for f in found]

    assert await ids("ЁЛОЧНОЙ") == [yolka.id]  # Cyrillic case and ё folded on both dialects
    assert await ids("пётр") == [yolka.id]  # the author
    assert await ids("50%") == [yolka.id]  # % is a character, not a wildcard
    assert await ids("0%") == [yolka.id]
    assert await ids("на_") == [under.id]  # _ too
    assert await ids("a/b") == [under.id]  # and the escape character itself
    assert await ids("a//b") == []
    assert await ids("4512345") == [pos.id]
    assert await ids("улице  ёлочной") == [yolka.id]  # blanks collapsed like the stored text
    assert await ids("а") != []  # one letter is the caller's to refuse
    assert await ids("дорог") == [yolka.id]
    assert await ids("не бывает") == []


async def test_find_takes_open_cases_and_recently_ended_ones_newest_first(
    store: Repository, clock: SettableClock
) -> None:
    long_ago = await add(store, 1, "яма раз")
    recent = await add(store, 2, "яма два")
    still_open = await add(store, 3, "яма три")
    await change(store, long_ago, clock.now(), status="closed")
    clock.advance(timedelta(days=80))
    await change(store, recent, clock.now(), status="answered")
    await change(store, still_open, clock.now(), status="in_units")
    clock.advance(timedelta(days=20))  # long_ago ended 100 days back, recent 20
    since = clock.now() - timedelta(days=90)
    async with store.reading() as tx:
        found = await tx.find_cases("яма", final=FINAL, closed_since=since, units=None, limit=10)
        first = await tx.find_cases("яма", final=FINAL, closed_since=T0, units=None, limit=2)
    assert [f.case_id for f in found] == [still_open.id, recent.id]
    assert [f.case_id for f in first] == [still_open.id, recent.id]


async def test_find_for_unit_people_filters_by_assignment_and_proposal(store: Repository) -> None:
    housing = await add(store, 1, "свет нет", units=("housing",))
    proposed = await add(store, 2, "свет моргает", status="routing_proposed", proposed=("education", "roads"))
    both = await add(store, 3, "свет везде", units=("housing", "education"))
    nobody = await add(store, 4, "свет опять")

    async def ids(units: frozenset[str] | None) -> list[int]:
        async with store.reading() as tx:
            found = await tx.find_cases("свет", final=FINAL, closed_since=T0, units=units, limit=10)
        return [f.case_id for f in found]

    assert await ids(None) == [nobody.id, both.id, proposed.id, housing.id]
    assert await ids(frozenset({"housing"})) == [both.id, housing.id]
    assert await ids(frozenset({"education"})) == [both.id, proposed.id]
    assert await ids(frozenset({"roads", "parks"})) == [proposed.id]
    assert await ids(frozenset({"parks"})) == []
    async with store.reading() as tx:
        (found,) = await tx.found_cases([proposed.id])
    assert found.units == frozenset({"education", "roads"})


async def test_overdue_of_units_and_the_coordinators_posting_terms(store: Repository) -> None:
    housing = await add(store, 1, units=("housing",))
    education = await add(store, 2, status="routing_proposed", proposed=("education",))
    approved = await add(store, 3, procedure=Procedure.POS, status="approved", external_number="77777")
    on_approval = await add(store, 4, procedure=Procedure.POS, status="on_approval", external_number="88888")
    late = T0 + timedelta(hours=1)
    async with store.transaction() as tx:
        for case in (housing, education):
            await tx.open_terms(case.id, [(TermStart("os.publish", late, Role.OPERATOR, T0), ())])
        for case in (approved, on_approval):
            await tx.open_terms(case.id, [(TermStart("pos.answer", late, Role.POS_CURATOR, T0), ())])
    now = late + timedelta(minutes=1)
    async with store.reading() as tx:
        mine = await tx.overdue_terms_of_units(now, 10, frozenset({"housing"}))
        theirs = await tx.overdue_terms_of_units(now, 10, frozenset({"education"}))
        silent = await tx.overdue_terms_of_units(
            now, 10, frozenset({"housing"}), silent=frozenset({"os.publish"})
        )
        early = await tx.overdue_terms_of_units(T0, 10, frozenset({"housing"}))
        step = OwedStep("pos", "approved", frozenset({"pos.answer"}))
        coordinator = OwedBy(roles=frozenset({Role.COORDINATOR}), unit_roles=frozenset(), units=frozenset())
        posting = await tx.owed_terms(replace(coordinator, steps=(step,)), 10)
        nothing = await tx.owed_terms(coordinator, 10)
    assert ([t.case_id for t in mine.terms], mine.total) == ([housing.id], 1)
    assert [t.case_id for t in theirs.terms] == [education.id]
    assert silent.terms == () and early.terms == ()
    assert [(t.case_id, t.term_id) for t in posting.terms] == [(approved.id, "pos.answer")]
    assert nothing.terms == ()
