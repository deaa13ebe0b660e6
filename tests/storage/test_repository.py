from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from storage.repository import SqlRepository
from storage.tables import cases as cases_table
from storage.types import NaiveDatetimeError, NulCharacterError
from tests.fakes import FakeRepository
from tests.storage.conftest import SettableClock
from tests.storage.strategies import non_default, strategy_for
from workflow.model import (
    Actor,
    Assignment,
    Attachment,
    Case,
    Event,
    InboundMessage,
    Procedure,
    Role,
    Source,
    TermHandover,
    TermStart,
    TermStop,
)
from workflow.ports import Notification, Retimed, SentRecord, StaleVersion

T0 = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)  # 09:00 in Novosibirsk
NSK = timezone(timedelta(hours=7))


def message(source_id: str = "wall-1_2", **changes: object) -> InboundMessage:
    base = InboundMessage(
        source=Source.VK,
        source_id=source_id,
        procedure=Procedure.OPEN_SOURCES,
        text="Когда починят дорогу на ул. Ленина?",
        received_at=T0,
        author="Иван Петров",
        link="https://vk.com/wall-1_2",
        attachments=(
            Attachment("photo", "photo-1_456", "яма.jpg"),
            Attachment("link", "https://example.org"),
        ),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def new_case(**changes: object) -> Case:
    base = Case(id=0, procedure=Procedure.OPEN_SOURCES, status="new", version=1, t0=T0)
    return replace(base, **changes)  # type: ignore[arg-type]


async def add(repo: SqlRepository, source_id: str = "wall-1_2", **changes: object) -> Case:
    async with repo.transaction() as tx:
        return await tx.add_case(new_case(**changes), message(source_id))


def start(term_id: str = "os.route", due: datetime = T0 + timedelta(hours=1), **kw: object) -> TermStart:
    return TermStart(term_id=term_id, due=due, owner=Role.OPERATOR, started_at=T0, **kw)  # type: ignore[arg-type]


def note(key: str, **kw: object) -> Notification:
    base = Notification(dedup_key=key, case_id=None, kind="info", to_role=Role.OPERATOR, at=T0)
    return replace(base, **kw)  # type: ignore[arg-type]


# --- cases and messages ------------------------------------------------------------------------------------


async def test_case_and_message_round_trip(repo: SqlRepository) -> None:
    full = new_case(
        status="routed",
        category="federal",
        assignments=(
            Assignment("social", responsible=True, accepted=True),
            Assignment("housing", info_given=True),
        ),
        proposed_units=("social", "housing"),
        interim=True,
        draft_version=3,
        rework_reason="Уточните сроки",
        published_link="https://vk.com/wall-1_2?reply=9",
    )
    first = await add(repo, "other")
    async with repo.transaction() as tx:
        stored = await tx.add_case(replace(full, id=999, repeat_of=first.id), message())
    assert stored.id != 999 and stored.id > first.id
    async with repo.transaction() as tx:
        assert await tx.get_case(stored.id) == replace(full, id=stored.id, repeat_of=first.id)
        assert await tx.get_message(stored.id) == message()
        assert await tx.get_case(12345) is None
        assert await tx.get_message(12345) is None


async def test_every_case_and_message_field_round_trips(repo: SqlRepository) -> None:
    """Built from the model's type hints: a field added to Case or InboundMessage is covered here too."""
    first = await add(repo, "first")
    case = replace(non_default(Case), repeat_of=first.id)
    msg = non_default(InboundMessage)
    async with repo.transaction() as tx:
        stored = await tx.add_case(case, msg)
    async with repo.transaction() as tx:
        assert await tx.get_case(stored.id) == replace(case, id=stored.id)
        assert await tx.get_message(stored.id) == msg
        changed = replace(case, id=stored.id, version=case.version + 1, status="другой", interim=False)
        await tx.save_case(changed, case.version)
        assert await tx.get_case(stored.id) == changed


_db_cases = strategy_for(
    Case,
    {
        "version": st.integers(0, 2**31 - 1),
        "repeat_of": st.none(),
        # Unit is the assignment's key within a case.
        "assignments": st.lists(strategy_for(Assignment), max_size=4, unique_by=lambda a: a.unit).map(tuple),
    },
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_db_cases, msg=strategy_for(InboundMessage))
async def test_generated_cases_round_trip(repo: SqlRepository, case: Case, msg: InboundMessage) -> None:
    async with repo.transaction() as tx:
        if await tx.find_case_by_source(msg.source.value, msg.source_id) is not None:
            return  # hypothesis repeated a source id across examples
        stored = await tx.add_case(case, msg)
    async with repo.reading() as tx:
        assert await tx.get_case(stored.id) == replace(case, id=stored.id)
        assert await tx.get_message(stored.id) == msg


async def test_find_case_by_source_and_its_uniqueness(repo: SqlRepository) -> None:
    case = await add(repo, "wall-1_2")
    async with repo.transaction() as tx:
        assert await tx.find_case_by_source("vk", "wall-1_2") == case.id
        assert await tx.find_case_by_source("ok", "wall-1_2") is None
        assert await tx.find_case_by_source("vk", "wall-1_3") is None
    with pytest.raises(IntegrityError):
        await add(repo, "wall-1_2")
    async with repo.transaction() as tx:
        assert [c.id for c in await tx.cases(open_only=False)] == [case.id]  # the failed insert left nothing


async def test_save_case_with_optimistic_version(repo: SqlRepository) -> None:
    case = await add(repo)
    routed = replace(case, status="routed", version=2, assignments=(Assignment("culture"),))
    async with repo.transaction() as tx:
        await tx.save_case(routed, expected_version=1)
    with pytest.raises(StaleVersion):
        async with repo.transaction() as tx:
            await tx.save_case(replace(case, status="returned", version=2), expected_version=1)
    async with repo.transaction() as tx:
        assert await tx.get_case(case.id) == routed
    with pytest.raises(StaleVersion):
        async with repo.transaction() as tx:
            await tx.save_case(replace(case, id=404, version=2), expected_version=1)
    with pytest.raises(ValueError, match="must exceed"):
        async with repo.transaction() as tx:
            await tx.save_case(routed, expected_version=2)  # same version written back: refused


async def test_two_presses_of_one_card_only_one_wins(repo: SqlRepository) -> None:
    """Both writers expect version 1 (the card they pressed): exactly one commits, the other is stale."""
    case = await add(repo)

    async def press(status: str) -> str:
        try:
            async with repo.transaction() as tx:
                await asyncio.sleep(0.02)
                await tx.save_case(replace(case, status=status, version=2), expected_version=1)
                await asyncio.sleep(0.05)  # hold the row (PostgreSQL) / the write lock (SQLite) a while
            return status
        except StaleVersion:
            return "stale"

    results = await asyncio.gather(press("a"), press("b"))
    assert sorted(results)[1] == "stale"
    async with repo.transaction() as tx:
        stored = await tx.get_case(case.id)
    assert stored is not None and stored.version == 2 and stored.status == sorted(results)[0]


async def test_assignments_keep_their_order_and_are_replaced_on_save(repo: SqlRepository) -> None:
    units = (Assignment("settlements"), Assignment("economy", responsible=True), Assignment("culture"))
    case = await add(repo, assignments=units)
    async with repo.transaction() as tx:
        assert (await tx.get_case(case.id)).assignments == units  # type: ignore[union-attr]
        await tx.save_case(replace(case, version=2, assignments=units[1:]), 1)
        assert (await tx.get_case(case.id)).assignments == units[1:]  # type: ignore[union-attr]


async def test_cases_lists_open_ones_by_open_terms(repo: SqlRepository) -> None:
    a = await add(repo, "a", assignments=(Assignment("housing"),))
    b = await add(repo, "b")
    c = await add(repo, "c")
    async with repo.transaction() as tx:
        await tx.open_term(a.id, start(), T0)
        await tx.open_term(b.id, start(), T0)
        await tx.close_terms(b.id, [TermStop("os.route")], T0, by=1)
        assert await tx.cases() == [a]
        assert await tx.cases(open_only=False) == [a, b, c]
        assert await tx.cases(open_only=False, limit=2) == [a, b]


async def test_state_json_tolerates_model_changes(repo: SqlRepository) -> None:
    """A stored field the model no longer has is ignored; a field the row lacks takes its default."""
    async with repo.transaction() as tx:
        conn = tx._conn
        row_id = (
            await conn.execute(
                insert(cases_table)
                .values(
                    procedure="pos",
                    status="new",
                    version=1,
                    t0=T0,
                    state={"interim": True, "removed_field": 1},
                    created_at=T0,
                    updated_at=T0,
                )
                .returning(cases_table.c.id)
            )
        ).scalar_one()
        case = await tx.get_case(row_id)
    assert case == Case(id=row_id, procedure=Procedure.POS, status="new", version=1, t0=T0, interim=True)


# --- instants and text ------------------------------------------------------------------------------------


async def test_instants_come_back_aware_utc_and_equal(repo: SqlRepository) -> None:
    local = datetime(2025, 3, 3, 17, 59, 59, 123456, tzinfo=NSK)
    case = await add(repo, t0=local)
    async with repo.transaction() as tx:
        stored = await tx.get_case(case.id)
        await tx.open_term(case.id, TermStart("os.publish", local, Role.OPERATOR, local), local)
        (term,) = await tx.terms(case.id)
    assert stored is not None
    for value in (stored.t0, term.due, term.started_at):
        assert value == local
        assert value.utcoffset() == timedelta(0)
        assert value.tzinfo is not None
    assert stored.t0.hour == 10  # 17:59 +07:00 is 10:59 UTC


async def test_naive_datetime_is_refused(repo: SqlRepository) -> None:
    naive = datetime(2025, 3, 3, 9, 0)
    with pytest.raises(NaiveDatetimeError, match="naive datetime"):
        async with repo.transaction() as tx:
            await tx.add_case(new_case(t0=naive), message())
    with pytest.raises(NaiveDatetimeError):
        async with repo.transaction() as tx:
            await tx.terms_needing_attention(naive)
    with pytest.raises(NaiveDatetimeError):
        async with repo.transaction() as tx:
            await tx.add_case(new_case(), message(received_at=naive))
    async with repo.transaction() as tx:
        assert await tx.cases(open_only=False) == []


async def test_long_text_with_html_and_control_characters_round_trips(repo: SqlRepository) -> None:
    controls = "".join(chr(c) for c in [*range(1, 32), *range(127, 160)])  # every C0/C1 control but NUL
    unit = (
        '<b>Жалоба</b> <a href="https://vk.com/?a=1&amp;b=2">ссылка</a> <script>alert("x")</script> '
        "&lt;&gt;&amp; ' \" \\ %s %% _ 😀👍🏽 \u200b\u202e\ufeff \U0010fffd\r\n\t"
    )
    text = ((unit + controls) * 1000)[:100_000]
    assert len(text) == 100_000
    async with repo.transaction() as tx:
        case = await tx.add_case(new_case(rework_reason=text), message(text=text, author=text[:300]))
        await tx.add_draft(case.id, 1, text, author_id=7, at=T0)
        await tx.append_event(case.id, Event("draft", 7, Role.OPERATOR, T0, text=text, data={"t": text}))
        await tx.kv_set("cursor", text)
    async with repo.transaction() as tx:
        stored_message = await tx.get_message(case.id)
        stored_case = await tx.get_case(case.id)
        assert stored_message is not None and stored_message.text == text
        assert stored_message.author == text[:300]
        assert stored_case is not None and stored_case.rework_reason == text
        assert await tx.latest_draft(case.id) == text
        (event,) = await tx.events(case.id)
        assert event.text == text and event.data == {"t": text}
        assert await tx.kv_get("cursor") == text


async def test_nul_character_is_refused_on_every_dialect(repo: SqlRepository) -> None:
    with pytest.raises(NulCharacterError, match="U\\+0000"):
        async with repo.transaction() as tx:
            await tx.add_case(new_case(), message(text="a\x00b"))


# --- events and drafts ---------------------------------------------------------------------------------


async def test_events_come_back_in_append_order(repo: SqlRepository) -> None:
    case = await add(repo)
    other = await add(repo, "other")
    written = [
        Event(
            f"action{i}", actor_id=5_000_000_000 + i, actor_role=Role.OPERATOR, at=T0 - timedelta(minutes=i)
        )
        for i in range(12)
    ]
    written[3] = replace(
        written[3], text="текст", data={"units": ["housing"], "n": 2, "nested": {"ok": True}}
    )
    async with repo.transaction() as tx:
        for i, event in enumerate(written):
            await tx.append_event(case.id, event)
            if i % 3 == 0:
                await tx.append_event(other.id, replace(event, action="noise"))
    async with repo.transaction() as tx:
        assert await tx.events(case.id) == written  # append order, not time order
        assert len(await tx.events(other.id)) == 4


async def test_event_data_is_stored_as_json(repo: SqlRepository) -> None:
    case = await add(repo)
    data: dict[str, object] = {"role": Role.HEAD, "units": ("a", "b"), "at": datetime(2025, 1, 1, tzinfo=NSK)}
    async with repo.transaction() as tx:
        await tx.append_event(case.id, Event("x", 1, Role.SYSTEM, T0, data=data))
        (event,) = await tx.events(case.id)
    assert event.data == {"role": "head", "units": ["a", "b"], "at": "2024-12-31T17:00:00+00:00"}


async def test_latest_draft(repo: SqlRepository) -> None:
    case = await add(repo)
    async with repo.transaction() as tx:
        assert await tx.latest_draft(case.id) is None
        await tx.add_draft(case.id, 1, "первый", 7, T0)
        await tx.add_draft(case.id, 2, "второй", 7, T0 + timedelta(minutes=5))
        await tx.add_draft(case.id, 2, "второй, исправленный", 8, T0 + timedelta(minutes=6))
        assert await tx.latest_draft(case.id) == "второй, исправленный"


# --- terms ------------------------------------------------------------------------------------------------


async def test_terms_open_close_and_history(repo: SqlRepository) -> None:
    case = await add(repo)
    due = T0 + timedelta(hours=2)
    async with repo.transaction() as tx:
        route = await tx.open_term(case.id, start("os.route", due), T0 + timedelta(hours=1))
        info_h = await tx.open_term(case.id, start("os.unit_info", due, unit="housing"), due)
        info_s = await tx.open_term(case.id, start("os.unit_info", due, unit="social"), due)
        assert [t.id for t in await tx.terms(case.id)] == [route, info_h, info_s]

    async with repo.transaction() as tx:
        closed = await tx.close_terms(case.id, [TermStop("os.unit_info", unit="social")], due, by=42)
        assert [(t.id, t.met, t.closed_at, t.unit) for t in closed] == [(info_s, True, due, "social")]
        late = due + timedelta(seconds=1)
        closed = await tx.close_terms(case.id, [TermStop("os.route"), TermStop("os.unit_info")], late, by=43)
        assert [(t.id, t.met) for t in closed] == [(route, False), (info_h, False)]
        assert await tx.close_terms(case.id, [TermStop("os.route")], late, by=43) == []  # already closed
        assert await tx.close_terms(case.id, [], late, by=43) == []
        assert await tx.terms(case.id) == []
        history = await tx.terms(case.id, open_only=False)
    assert [(t.term_id, t.unit, t.met, t.closed_at) for t in history] == [
        ("os.route", None, False, due + timedelta(seconds=1)),
        ("os.unit_info", "housing", False, due + timedelta(seconds=1)),
        ("os.unit_info", "social", True, due),
    ]
    assert all(t.owner is Role.OPERATOR and t.started_at == T0 and t.due == due for t in history)


async def test_cancelled_terms_are_neither_met_nor_missed_unless_already_past_due(
    repo: SqlRepository,
) -> None:
    case = await add(repo)
    due = T0 + timedelta(hours=2)
    async with repo.transaction() as tx:
        draft = await tx.open_term(case.id, start("os.draft", due), due)
        info_h = await tx.open_term(case.id, start("os.unit_info", due, unit="housing"), due)
        info_s = await tx.open_term(case.id, start("os.unit_info", due, unit="social"), due)
        info_e = await tx.open_term(case.id, start("os.unit_info", due, unit="economy"), due)
        ret = await tx.open_term(case.id, start("os.return", due), None)
        later = await tx.open_term(case.id, start("os.publish", due + timedelta(hours=2)), due)
        closed = await tx.close_terms(
            case.id,
            [
                TermStop("os.draft"),
                TermStop("os.unit_info", unit="social", cancelled=True, keep_miss=False),
                TermStop("os.unit_info", unit="economy", cancelled=True),
                TermStop("os.unit_info", unit="housing", cancelled=True),
                TermStop("os.unit_info", unit="housing"),  # done wins over the cancel above
                TermStop("os.return", cancelled=True, keep_miss=False),  # a return-only lapse is no miss
                TermStop("os.publish", cancelled=True),  # not yet due: moot
            ],
            due + timedelta(hours=1),
            by=5,
        )
    assert [(t.id, t.met) for t in closed] == [
        (draft, False),
        (info_h, False),
        (info_s, None),
        (info_e, False),  # past due when cancelled: a miss is history
        (ret, None),
        (later, None),
    ]
    assert all(t.closed_at == due + timedelta(hours=1) for t in closed)


async def test_a_forced_outcome_overrides_the_time_and_handovers_move_open_terms(repo: SqlRepository) -> None:
    case = await add(repo)
    due = T0 + timedelta(minutes=30)
    async with repo.transaction() as tx:
        ret = await tx.open_term(case.id, start("os.return", due), None)
        route = await tx.open_term(case.id, start("os.route", due + timedelta(minutes=30)), due)
        await tx.hand_over_terms(case.id, [TermHandover("os.route", Role.OFFICE_HEAD, person="Иванова")])
        await tx.hand_over_terms(case.id, [TermHandover("os.return", Role.HEAD, unit="housing")])  # no match
        [moved, kept] = sorted(await tx.terms(case.id), key=lambda t: t.term_id, reverse=True)
        closed = await tx.close_terms(
            case.id, [TermStop("os.return", met=True)], due + timedelta(hours=1), by=5
        )
    assert (moved.id, moved.owner, moved.unit, moved.person) == (route, Role.OFFICE_HEAD, None, "Иванова")
    assert (kept.id, kept.owner) == (ret, Role.OPERATOR)
    assert [(t.id, t.met) for t in closed] == [(ret, True)]


async def test_terms_needing_attention(repo: SqlRepository) -> None:
    case = await add(repo)
    async with repo.transaction() as tx:
        assert await tx.earliest_attention() is None
        late = await tx.open_term(case.id, start("a"), T0 + timedelta(minutes=30))
        early = await tx.open_term(case.id, start("b"), T0 + timedelta(minutes=10))
        future = await tx.open_term(case.id, start("c"), T0 + timedelta(hours=5))
        closed = await tx.open_term(case.id, start("d"), T0)
        await tx.close_terms(case.id, [TermStop("d")], T0, by=1)
        assert await tx.earliest_attention() == T0 + timedelta(minutes=10)

    async with repo.transaction() as tx:
        now = T0 + timedelta(minutes=30)
        assert [t.id for t in await tx.terms_needing_attention(now)] == [early, late]  # by attention time
        assert [t.id for t in await tx.terms_needing_attention(now, limit=1)] == [early]
        assert await tx.terms_needing_attention(T0 + timedelta(minutes=9)) == []
        assert await tx.terms_needing_attention(now.astimezone(NSK)) == await tx.terms_needing_attention(now)
        assert closed not in [t.id for t in await tx.terms_needing_attention(T0 + timedelta(days=1))]
        assert future in [t.id for t in await tx.terms_needing_attention(T0 + timedelta(days=1))]


async def test_record_sent_is_once_only(repo: SqlRepository) -> None:
    case = await add(repo)
    async with repo.transaction() as tx:
        term = await tx.open_term(case.id, start(), T0 + timedelta(minutes=30))
    later = T0 + timedelta(minutes=48)
    async with repo.transaction() as tx:
        assert await tx.record_sent(term, "r50", later) is True
        assert await tx.record_sent(term, "r50", later) is False
        assert await tx.record_sent(term, "r5", later) is True  # a prefix of a sent key is another key
        assert await tx.record_sent(term, "r50:skipped", later) is True
        (stored,) = await tx.terms(case.id)
        assert stored.sent == frozenset({"r50", "r5", "r50:skipped"})
        assert await tx.terms_needing_attention(T0 + timedelta(minutes=47)) == []
        assert [t.id for t in await tx.terms_needing_attention(later)] == [term]
        assert await tx.record_sent(term, "missed", None) is True
        assert await tx.terms_needing_attention(T0 + timedelta(days=9)) == []  # nothing left to send
        (stored,) = await tx.terms(case.id)
        assert stored.closed_at is None  # still open, just quiet


async def test_record_sent_keys_are_matched_literally(repo: SqlRepository) -> None:
    case = await add(repo)
    async with repo.transaction() as tx:
        term = await tx.open_term(case.id, start(), T0)
        assert await tx.record_sent(term, "a_c", None) is True
        assert await tx.record_sent(term, "abc", None) is True  # "_" is not a LIKE wildcard here
        assert await tx.record_sent(term, "x%", None) is True
        assert await tx.record_sent(term, "x%y", None) is True
        assert await tx.record_sent(term, "x%", None) is False
        with pytest.raises(ValueError, match="comma"):
            await tx.record_sent(term, "a,b", None)


async def test_record_sent_without_key_moves_the_attention_point(repo: SqlRepository) -> None:
    case = await add(repo)
    async with repo.transaction() as tx:
        term = await tx.open_term(case.id, start(), T0)
        assert await tx.record_sent(term, "", T0 + timedelta(hours=1)) is True
        assert await tx.terms_needing_attention(T0 + timedelta(minutes=59)) == []
        assert (await tx.terms(case.id))[0].sent == frozenset()


async def test_record_sent_on_a_closed_term_is_refused(repo: SqlRepository) -> None:
    case = await add(repo)
    async with repo.transaction() as tx:
        term = await tx.open_term(case.id, start(), T0)
        await tx.close_terms(case.id, [TermStop("os.route")], T0, by=1)
        assert await tx.record_sent(term, "missed", None) is False


async def test_overlapping_sweeps_record_a_key_once(repo: SqlRepository) -> None:
    case = await add(repo)
    async with repo.transaction() as tx:
        term = await tx.open_term(case.id, start(), T0)

    async def sweep() -> bool:
        async with repo.transaction() as tx:
            await asyncio.sleep(0.02)
            won = await tx.record_sent(term, "missed", None)
            await asyncio.sleep(0.05)  # keep the transaction open while the others try
            return won

    assert sorted(await asyncio.gather(*(sweep() for _ in range(4)))) == [False, False, False, True]
    async with repo.transaction() as tx:
        assert (await tx.terms(case.id))[0].sent == frozenset({"missed"})


async def test_open_terms_and_append_events_write_in_order(repo: SqlRepository) -> None:
    case = await add(repo)
    due = T0 + timedelta(hours=2)
    async with repo.transaction() as tx:
        assert await tx.open_terms(case.id, []) == []
        ids = await tx.open_terms(
            case.id,
            [
                (start("os.route", due), [("r50", T0 + timedelta(minutes=30)), ("missed", due)]),
                (start("os.unit_info", due, unit="x"), [("missed", due)]),
            ],
        )
        single = await tx.open_term(case.id, start("os.draft", due), due)
        await tx.append_events(case.id, [])
        await tx.append_events(case.id, [Event("a", 1, Role.OPERATOR, T0), Event("b", 2, Role.HEAD, T0)])
    assert len(ids) == 2 and ids[0] < ids[1] < single
    async with repo.transaction() as tx:
        stored = await tx.terms(case.id)
        assert [(t.id, t.term_id, t.unit, t.due, t.sent) for t in stored] == [
            (ids[0], "os.route", None, due, frozenset()),
            (ids[1], "os.unit_info", "x", due, frozenset()),
            (single, "os.draft", None, due, frozenset()),
        ]
        assert [t.id for t in await tx.terms_needing_attention(T0 + timedelta(minutes=30))] == [ids[0]]
        assert [e.action for e in await tx.events(case.id)] == ["a", "b"]


async def test_record_sent_many_is_a_conditional_write_per_term(repo: SqlRepository) -> None:
    case = await add(repo)
    later = T0 + timedelta(minutes=48)
    async with repo.transaction() as tx:
        a, b, c, d = await tx.open_terms(case.id, [(start(term_id), [("missed", T0)]) for term_id in "abcd"])
        await tx.close_terms(case.id, [TermStop("d")], T0, by=1)
        assert await tx.record_sent_many([]) == set()
        won = await tx.record_sent_many(
            [
                SentRecord(a, frozenset(), ("r50", "r80"), later),
                SentRecord(b, frozenset(), (), later.astimezone(NSK)),  # only moves the attention point
                SentRecord(c, frozenset({"r50"}), ("r80",), later),  # read a state that is not stored
                SentRecord(d, frozenset(), ("missed",), None),  # closed meanwhile
            ]
        )
        assert won == {a, b}
        stored = {t.id: t for t in await tx.terms(case.id, open_only=False)}
        assert [stored[i].sent for i in (a, b, c, d)] == [frozenset({"r50", "r80"}), *[frozenset()] * 3]
        assert await tx.terms_needing_attention(later - timedelta(seconds=1)) == [stored[c]]
        assert [t.id for t in await tx.terms_needing_attention(later)] == [c, a, b]  # by attention time
        # A second write from the same reading loses: the term moved on since.
        assert await tx.record_sent_many([SentRecord(a, frozenset(), ("r50",), None)]) == set()
        assert await tx.record_sent_many([SentRecord(a, stored[a].sent, ("missed",), None)]) == {a}
        assert [t.id for t in await tx.terms_needing_attention(T0 + timedelta(days=9))] == [c, b]
        # Keys recorded one by one count the same as keys recorded together.
        assert await tx.record_sent(c, "x%_", later) is True
        assert await tx.record_sent_many([SentRecord(c, frozenset({"x%_"}), ("r50",), None)]) == {c}
        assert (await tx.terms(case.id))[-1].sent == frozenset({"x%_", "r50"})
        with pytest.raises(ValueError, match="comma"):
            await tx.record_sent_many([SentRecord(b, frozenset(), ("a,b",), None)])
        with pytest.raises(NaiveDatetimeError):
            await tx.record_sent_many([SentRecord(b, frozenset(), (), datetime(2025, 3, 3, 9, 0))])


async def test_due_terms_come_with_their_stored_points_split_at_now(repo: SqlRepository) -> None:
    """Points stored when terms open are what the sweep reads; its conditional write drops the ones it sent,
    re-timing and reopening replace them, closing drops them; a term with none stored comes back unknown."""
    case = await add(repo)
    due = T0 + timedelta(hours=2)
    r50, r80 = T0 + timedelta(hours=1), T0 + timedelta(minutes=96)
    async with repo.transaction() as tx:
        a, b, silent = await tx.open_terms(
            case.id,
            [
                (start("os.route", due), [("r50", r50), ("r80", r80), ("missed", due)]),
                (start("os.draft", due), [("missed", due)]),
                (start("os.return", due), []),
            ],
        )
        old = await tx.open_term(case.id, start("os.publish", due), r50)  # opened before 0020: no points
        assert await tx.due_terms(T0) == []
        found = await tx.due_terms(r80)
        assert [(d.term.id, d.passed, d.next_at, d.known) for d in found] == [
            (a, ("r50", "r80"), due, True),
            (old, (), None, False),
        ]
        assert found[0].term == (await tx.terms(case.id))[0]
        won = await tx.record_sent_many(
            [
                SentRecord(a, frozenset(), ("r50", "r80"), due),
                SentRecord(old, frozenset(), ("r50",), due, points=(("missed", due),)),
            ],
            swept=r80,
        )
        assert won == {a, old}
        assert await tx.due_terms(r80) == []
        found = await tx.due_terms(due)
        assert [(d.term.id, d.passed, d.next_at, d.known) for d in found] == [
            (a, ("missed",), None, True),
            (b, ("missed",), None, True),
            (old, ("missed",), None, True),
        ]
        assert found[0].term.sent == frozenset({"r50", "r80"})
        # Re-timed: the new points replace the stored ones; closed: none left; reopened: stored again.
        later = due + timedelta(hours=5)
        await tx.retime_terms(
            case.id, [Retimed(b, T0, later, (("r50", due + timedelta(hours=1)), ("missed", later)))]
        )
        assert [(d.term.id, d.passed) for d in await tx.due_terms(due)] == [
            (a, ("missed",)),
            (old, ("missed",)),
        ]
        assert [(d.term.id, d.passed, d.next_at) for d in await tx.due_terms(later) if d.term.id == b] == [
            (b, ("r50", "missed"), None)
        ]
        await tx.close_terms(case.id, [TermStop("os.route"), TermStop("os.return")], due, by=1)
        assert [d.term.id for d in await tx.due_terms(later)] == [old, b]  # by attention time
        await tx.restore_terms(
            case.id, reopen=[(a, [("missed", later)]), (silent, [])], cancel=[old], holders=(), at=due, by=1
        )
        found = await tx.due_terms(later)
        assert [(d.term.id, d.passed, d.known) for d in found] == [
            (b, ("r50", "missed"), True),
            (a, ("missed",), True),
        ]
        assert silent in {t.id for t in await tx.terms(case.id)}  # open again, with nothing to remind


async def test_overlapping_sweeps_record_many_once(repo: SqlRepository) -> None:
    case = await add(repo)
    async with repo.transaction() as tx:
        ids = await tx.open_terms(case.id, [(start(str(n)), [("missed", T0)]) for n in range(5)])

    async def sweep() -> set[int]:
        async with repo.transaction() as tx:
            due = await tx.terms_needing_attention(T0)
            await asyncio.sleep(0.02)
            won = await tx.record_sent_many([SentRecord(t.id, t.sent, ("missed",), None) for t in due])
            await asyncio.sleep(0.05)  # keep the transaction open while the others try
            return won

    results = await asyncio.gather(*(sweep() for _ in range(4)))
    assert sorted(i for won in results for i in won) == ids  # each term won by exactly one sweep
    async with repo.transaction() as tx:
        assert {t.sent for t in await tx.terms(case.id)} == {frozenset({"missed"})}


# --- outbox -----------------------------------------------------------------------------------------------


async def test_enqueue_skips_known_dedup_keys(repo: SqlRepository) -> None:
    case = await add(repo)
    first = note("a", case_id=case.id, term_id="os.route", unit="housing", payload={"due": "x", "n": [1, 2]})
    async with repo.transaction() as tx:
        assert await tx.enqueue([]) == 0
        assert await tx.enqueue([first, note("b"), replace(first, kind="other")]) == 2  # dup in one batch
    async with repo.transaction() as tx:
        assert await tx.enqueue([note("b"), note("c"), replace(first, kind="again")]) == 1
        items = await tx.pending_outbox()
    assert [i.notification.dedup_key for i in items] == ["a", "b", "c"]
    assert items[0].notification == first  # the first one with a key is the one kept
    assert items[0].attempts == 0 and items[0].delivered_at is None


async def test_outbox_pending_failed_delivered(repo: SqlRepository) -> None:
    async with repo.transaction() as tx:
        await tx.enqueue([note(k) for k in "abcde"])
        a, b, *_ = await tx.pending_outbox()
        assert [i.notification.dedup_key for i in await tx.pending_outbox(limit=2)] == ["a", "b"]
        await tx.mark_failed(a.id, "TelegramRetryAfter: retry in 3s")
        await tx.mark_failed(a.id, "network\x00down")
        await tx.mark_delivered(b.id, T0)
        await tx.mark_delivered(b.id, T0 + timedelta(hours=1))  # the first delivery instant stays
    async with repo.transaction() as tx:
        pending = await tx.pending_outbox()
        assert [i.notification.dedup_key for i in pending] == ["a", "c", "d", "e"]
        assert pending[0].attempts == 2


async def test_per_recipient_deliveries(repo: SqlRepository) -> None:
    async with repo.transaction() as tx:
        await tx.enqueue([note("a"), note("b")])
        a, b = await tx.pending_outbox()
        assert await tx.deliveries(a.id) == set()
        assert await tx.record_delivery(a.id, -1001234567890, 55, T0) is True
        assert await tx.record_delivery(a.id, 5_000_000_001, None, T0) is True
        assert await tx.record_delivery(a.id, -1001234567890, 56, T0) is False  # already delivered there
        assert await tx.record_delivery(b.id, -1001234567890, 57, T0) is True
    async with repo.transaction() as tx:
        assert await tx.deliveries(a.id) == {-1001234567890, 5_000_000_001}
        assert await tx.deliveries(b.id) == {-1001234567890}


LEASE = timedelta(minutes=5)


async def test_concurrent_claims_take_disjoint_rows(repo: SqlRepository) -> None:
    async with repo.transaction() as tx:
        await tx.enqueue([note(f"n{i}") for i in range(10)])
        ids = [i.id for i in await tx.pending_outbox()]

    async def claim(owner: str) -> list[int]:
        async with repo.transaction() as tx:
            taken = [i.id for i in await tx.claim_outbox(T0, owner, LEASE, 4)]
            await asyncio.sleep(0.05)  # the claim is still uncommitted while the others claim
        return taken

    claims = await asyncio.gather(*(claim(f"drain-{n}") for n in range(4)))
    assert all(c == sorted(c) for c in claims)  # by id
    taken = [i for c in claims for i in c]
    assert sorted(taken) == ids  # every row once: none twice, none left out (4 + 4 + 2 + 0)
    assert sorted(len(c) for c in claims) == [0, 2, 4, 4]


async def test_claim_takes_oldest_free_rows_and_keeps_them_for_the_lease(repo: SqlRepository) -> None:
    async with repo.transaction() as tx:
        await tx.enqueue([note(k) for k in "abc"])
        first = await tx.claim_outbox(T0, "a", LEASE, 2)
        assert [i.notification.dedup_key for i in first] == ["a", "b"]
        assert first[0].notification == note("a")
        assert [i.notification.dedup_key for i in await tx.claim_outbox(T0, "b", LEASE, 5)] == ["c"]
        assert await tx.claim_outbox(T0, "b", LEASE, 0) == []
    async with repo.transaction() as tx:
        assert await tx.claim_outbox(T0 + LEASE - timedelta(microseconds=1), "c", LEASE, 5) == []
        await tx.mark_failed(first[0].id, "network down")  # a failure keeps the claim
        assert await tx.claim_outbox(T0 + timedelta(minutes=1), "c", LEASE, 5) == []
        # Claimed or not, they are pending.
        assert [i.notification.dedup_key for i in await tx.pending_outbox()] == ["a", "b", "c"]


async def test_expired_claim_is_reclaimable_and_release_is_the_owners(repo: SqlRepository) -> None:
    async with repo.transaction() as tx:
        await tx.enqueue([note(k) for k in "ab"])
        a, b = await tx.claim_outbox(T0, "first", LEASE, 10)
    later = T0 + LEASE  # the lease has run out
    async with repo.transaction() as tx:
        again = await tx.claim_outbox(later, "second", LEASE, 1)
        assert [i.id for i in again] == [a.id]
        await tx.release_outbox(a.id, "first")  # too late: the row is the second's now
        assert await tx.claim_outbox(later, "third", LEASE, 1) == [b]
        assert await tx.claim_outbox(later, "third", LEASE, 10) == []
        await tx.release_outbox(a.id, "second")  # a failed send: free at once
        assert [i.id for i in await tx.claim_outbox(later, "third", LEASE, 10)] == [a.id]


async def test_delivered_rows_never_come_back(repo: SqlRepository) -> None:
    async with repo.transaction() as tx:
        await tx.enqueue([note(k) for k in "abc"])
        a, b, c = await tx.claim_outbox(T0, "d1", LEASE, 10)
        await tx.mark_delivered(a.id, T0)
        await tx.mark_delivered(b.id, T0)
        await tx.release_outbox(b.id, "d1")  # a release after delivery changes nothing
    async with repo.transaction() as tx:
        assert await tx.claim_outbox(T0 + timedelta(days=30), "d2", LEASE, 10) == [c]
        await tx.mark_delivered(c.id, T0 + timedelta(days=30))
    async with repo.transaction() as tx:
        assert await tx.claim_outbox(T0 + timedelta(days=60), "d3", LEASE, 10) == []
        assert await tx.pending_outbox() == []


@pytest.mark.parametrize(
    "check",
    [
        test_concurrent_claims_take_disjoint_rows,
        test_claim_takes_oldest_free_rows_and_keeps_them_for_the_lease,
        test_expired_claim_is_reclaimable_and_release_is_the_owners,
        test_delivered_rows_never_come_back,
    ],
)
async def test_fake_outbox_claims_keep_the_same_promises(check: Callable[[Any], Awaitable[None]]) -> None:
    """tests/fakes.py's in-memory outbox claims as storage does (the use-case tests run against both)."""
    await check(FakeRepository())


# --- cards, staff, kv ---------------------------------------------------------------------------------------


async def test_cards_one_per_chat(repo: SqlRepository) -> None:
    case = await add(repo)
    other = await add(repo, "other")
    async with repo.transaction() as tx:
        assert await tx.cards(case.id) == {}
        await tx.set_card(case.id, -1001, 10)
        await tx.set_card(case.id, 777, 11)
        await tx.set_card(case.id, -1001, 12)  # the card moved: replace, not add
        await tx.set_card(other.id, -1001, 13)
    async with repo.transaction() as tx:
        assert await tx.cards(case.id) == {-1001: 12, 777: 11}
        assert await tx.case_for_card(-1001, 12) == case.id
        assert await tx.case_for_card(-1001, 13) == other.id
        assert await tx.case_for_card(-1001, 10) is None


async def test_bot_messages_name_their_case_after_cards(repo: SqlRepository, clock: SettableClock) -> None:
    case = await add(repo)
    other = await add(repo, "other")
    async with repo.transaction() as tx:
        await tx.set_card(case.id, -1001, 10)
        # A notice in two pieces and a photo; the same ids again (a re-handled update) are one record each.
        await tx.remember_messages(case.id, -1001, [11, 12, 13], "reminder", clock.now())
        await tx.remember_messages(case.id, -1001, [11, 12, 13], "reminder", clock.now())
        await tx.remember_messages(other.id, -1002, [11, 0], "missed", clock.now())  # 0: no message id known
        await tx.remember_messages(other.id, -1002, [], "missed", clock.now())
    async with repo.reading() as tx:
        assert await tx.case_for_message(-1001, 10) == case.id  # the card
        assert [await tx.case_for_message(-1001, m) for m in (11, 12, 13)] == [case.id] * 3
        assert await tx.case_for_message(-1002, 11) == other.id  # message ids are per chat
        assert await tx.case_for_message(-1002, 0) is None
        assert await tx.case_for_message(-1001, 14) is None
        assert await tx.case_for_message(-1001, 2**63 - 1) is None


async def test_staff(repo: SqlRepository, clock: SettableClock) -> None:
    anna = Actor(5_000_000_001, frozenset({Role.OPERATOR, Role.POS_CURATOR}), name="Анна")
    boris = Actor(
        42, frozenset({Role.EXECUTOR, Role.UNIT_OFFICIAL}), frozenset({"housing", "social"}), "Борис"
    )
    async with repo.transaction() as tx:
        await tx.upsert_staff(anna)
        await tx.upsert_staff(boris)
        assert await tx.get_staff(anna.user_id) == anna
        assert await tx.staff() == [boris, anna]
        assert await tx.staff(role=Role.OPERATOR) == [anna]
        assert await tx.staff(role=Role.EXECUTOR, unit="social") == [boris]
        assert await tx.staff(role=Role.EXECUTOR, unit="culture") == []
        moved = replace(boris, units=frozenset({"culture"}), name="Борис Б.")
        clock.advance(timedelta(days=1))
        await tx.upsert_staff(moved)
        assert await tx.get_staff(42) == moved
        assert await tx.remove_staff(42) is True
        assert await tx.remove_staff(42) is False
        assert await tx.get_staff(42) is None


async def test_kv(repo: SqlRepository) -> None:
    async with repo.transaction() as tx:
        assert await tx.kv_get("vk:cursor") is None
        await tx.kv_set("vk:cursor", "100")
        await tx.kv_set("vk:cursor", "101")
        await tx.kv_set("ok:cursor", "")
    async with repo.transaction() as tx:
        assert await tx.kv_get("vk:cursor") == "101"
        assert await tx.kv_get("ok:cursor") == ""


# --- transactions -------------------------------------------------------------------------------------------


class Boom(Exception):
    pass


async def test_a_transaction_that_raises_leaves_nothing(repo: SqlRepository) -> None:
    kept = await add(repo, "kept")
    with pytest.raises(Boom):
        async with repo.transaction() as tx:
            case = await tx.add_case(new_case(), message("lost"))
            await tx.save_case(replace(kept, status="changed", version=2), 1)
            await tx.append_event(case.id, Event("registered", 1, Role.OPERATOR, T0))
            await tx.add_draft(case.id, 1, "черновик", 1, T0)
            await tx.open_term(case.id, start(), T0)
            await tx.enqueue([note("lost")])
            await tx.set_card(case.id, 1, 2)
            await tx.kv_set("cursor", "lost")
            await tx.upsert_staff(Actor(9, frozenset({Role.HEAD})))
            raise Boom
    async with repo.transaction() as tx:
        assert await tx.find_case_by_source("vk", "lost") is None
        assert await tx.cases(open_only=False) == [kept]
        assert await tx.pending_outbox() == []
        assert await tx.terms_needing_attention(T0 + timedelta(days=1)) == []
        assert await tx.kv_get("cursor") is None
        assert await tx.staff() == []
        rows = (await tx._conn.execute(select(cases_table.c.id))).all()
        assert [r.id for r in rows] == [kept.id]


async def test_read_only_transaction(repo: SqlRepository) -> None:
    case = await add(repo)
    async with repo.transaction() as writer, repo.reading() as reader:
        # A reader does not queue behind an open writer (SQLite WAL + BEGIN DEFERRED).
        await writer.save_case(replace(case, version=2), 1)
        stored = await reader.get_case(case.id)
        assert stored is not None and stored.version == 1  # sees the last commit only


async def test_foreign_keys_are_enforced(repo: SqlRepository) -> None:
    with pytest.raises(IntegrityError):
        async with repo.transaction() as tx:
            await tx.open_term(404, start(), T0)


# --- card posting and repair (issue 8) ----------------------------------------------------------------------


async def test_a_card_being_posted_until_its_message_is_recorded(repo: SqlRepository) -> None:
    case = await add(repo)
    async with repo.transaction() as tx:
        await tx.begin_card_post(case.id, -1001, T0)
        await tx.begin_card_post(case.id, 777, T0)
        await tx.begin_card_post(case.id, 777, T0 + timedelta(seconds=1))  # again: one record per chat
    async with repo.transaction() as tx:
        assert await tx.card_posts(case.id) == {-1001, 777}
        assert await tx.cards(case.id) == {}  # nothing recorded as posted: no message to reply to or edit
        # Telegram answered: the message recorded and the "being posted" record gone, in one transaction.
        await tx.set_card(case.id, -1001, 10, shown_version=3)
        await tx.end_card_post(case.id, 777)  # refused: nothing to reconcile
    async with repo.transaction() as tx:
        assert await tx.card_posts(case.id) == set()
        assert await tx.cards(case.id) == {-1001: 10}
        assert await tx.card_versions([case.id]) == {case.id: {-1001: 3}}


async def test_a_post_whose_record_fails_stays_being_posted(repo: SqlRepository) -> None:
    """The record of the answer and the end of "being posted" are one transaction: both or neither."""
    case = await add(repo)
    async with repo.transaction() as tx:
        await tx.begin_card_post(case.id, -1001, T0)  # committed before the call
    with pytest.raises(Boom):
        async with repo.transaction() as tx:
            await tx.set_card(case.id, -1001, 10, shown_version=1)
            raise Boom  # the process dies before the commit
    async with repo.transaction() as tx:
        assert await tx.unfinished_card_posts(None, 10) == [(case.id, -1001)]
        assert await tx.cards(case.id) == {}


async def test_unfinished_card_posts_page_by_case_and_chat(repo: SqlRepository) -> None:
    first = await add(repo, "a")
    second = await add(repo, "b")
    async with repo.transaction() as tx:
        for case_id, chat_id in [(second.id, -5), (first.id, 7), (first.id, -1002), (second.id, -6)]:
            await tx.begin_card_post(case_id, chat_id, T0)
    async with repo.transaction() as tx:
        page = await tx.unfinished_card_posts(None, 3)
        assert page == [(first.id, -1002), (first.id, 7), (second.id, -6)]
        assert await tx.unfinished_card_posts(page[-1], 3) == [(second.id, -5)]
        assert await tx.unfinished_card_posts((second.id, -5), 3) == []


async def test_card_shown_moves_forward_on_the_recorded_message_only(repo: SqlRepository) -> None:
    case = await add(repo)
    async with repo.transaction() as tx:
        await tx.set_card(case.id, -1001, 10)  # a card from before 0008: version unknown
        await tx.card_shown(case.id, -1001, 10, 4)
        await tx.card_shown(case.id, -1001, 10, 2)  # an older refresh answered late: never backwards
        await tx.card_shown(case.id, -1001, 9, 7)  # a message no longer the card: ignored
        await tx.card_shown(case.id, 777, 9, 7)  # no card in that chat: nothing to update
    async with repo.transaction() as tx:
        assert await tx.card_versions([case.id, case.id + 1]) == {case.id: {-1001: 4}, case.id + 1: {}}
        assert await tx.card_versions([]) == {}


async def test_open_cases_page_by_id(repo: SqlRepository) -> None:
    made = [await add(repo, f"m{i}") for i in range(5)]
    async with repo.transaction() as tx:
        for case in made:
            if case is not made[2]:
                await tx.open_term(case.id, start(), T0)
        await tx.open_term(made[2].id, start(), T0)
        await tx.close_terms(made[2].id, [TermStop(term_id="os.route")], T0, 1)  # closed: not open
    async with repo.transaction() as tx:
        page = await tx.open_cases_after(0, 2)
        assert [c.id for c in page] == [made[0].id, made[1].id]
        page = await tx.open_cases_after(page[-1].id, 2)
        assert [c.id for c in page] == [made[3].id, made[4].id]
        assert page[0] == await tx.get_case(made[3].id)
        assert await tx.open_cases_after(made[4].id, 2) == []


async def test_claims_of_a_dead_process_are_released_at_start(repo: SqlRepository) -> None:
    async with repo.transaction() as tx:
        await tx.enqueue([note("a"), note("b"), note("c"), note("d")])
        dead = await tx.claim_outbox(T0, "dead", LEASE, 2)
        mine = await tx.claim_outbox(T0, "me", LEASE, 1)
        await tx.mark_delivered(dead[0].id, T0)
    async with repo.transaction() as tx:
        assert await tx.release_foreign_claims("me") == 1  # the dead one's undelivered row; not mine
        # At the same instant, well inside the dead process's lease: its row is free again, mine is not.
        taken = await tx.claim_outbox(T0, "me-again", LEASE, 5)
        assert [i.notification.dedup_key for i in taken] == ["b", "d"]
        assert mine[0].notification.dedup_key == "c"
