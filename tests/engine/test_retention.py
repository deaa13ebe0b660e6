"""Retention of personal data (issue 14): the due instants as a table, and erasure on the virtual clock over
SQLite and PostgreSQL — exactly when due, the report figures (terms, events' kinds and instants, units) unchanged."""

from __future__ import annotations

from dataclasses import astuple
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.channel_files import KEPT_PREFIX
from bot.retention_job import RETENTION_ACTOR, erase_due
from storage.personal_data import KEPT_REF, PersonalData
from storage.repository import ChannelFile, SqlRepository
from storage.tables import access_log, case_signatures, channel_files, signature_terms
from tests.engine.conftest import NSK, Database, actor, at, make_services
from tests.engine.flows import DRAFT, Do, os_approved, os_msg, pos_msg, register, run
from tests.fakes import FakeClock
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import Action, Status
from workflow.model import Attachment, Procedure, Role
from workflow.retention import (
    ERASED_TEXT,
    PD_ERASED,
    CandidateBounds,
    EndedCase,
    RetentionPolicy,
    add_months,
    author_matches,
    candidate_bounds,
    due_for_erasure,
    erase_at,
)

OS, POS = Procedure.OPEN_SOURCES, Procedure.POS
POLICY = RetentionPolicy(open_sources_months=12, pos_months=60, excluded_months=3)
OFFICE_HEAD = actor(Role.OFFICE_HEAD)


# --- the rule as a table --------------------------------------------------------------------------------------

ERASE_AT = [
    # procedure, status, last event (local), policy, erased at (local) or None
    (OS, "answered", at(2026, 12, 1, 15), POLICY, at(2027, 12, 1, 15)),
    (OS, "returned", at(2026, 12, 1, 15), POLICY, at(2027, 12, 1, 15)),
    (OS, "closed", at(2026, 12, 1, 15), POLICY, at(2027, 12, 1, 15)),
    (POS, "answered", at(2026, 11, 5, 16), POLICY, at(2031, 11, 5, 16)),
    (OS, "excluded", at(2026, 12, 1, 10, 30), POLICY, at(2027, 3, 1, 10, 30)),
    (POS, "excluded", at(2026, 11, 2, 17, 40), POLICY, at(2027, 2, 2, 17, 40)),
    # a month end the target month lacks: its last day (and 29 February in a leap year)
    (OS, "answered", at(2027, 1, 31, 12), RetentionPolicy(1, 1, 1), at(2027, 2, 28, 12)),
    (OS, "answered", at(2028, 1, 31, 12), RetentionPolicy(1, 1, 1), at(2028, 2, 29, 12)),
    (OS, "answered", at(2027, 3, 31, 23, 59), RetentionPolicy(1, 1, 1), at(2027, 4, 30, 23, 59)),
    # the local wall clock, not UTC: 31.12 02:00 in Novosibirsk is still 30.12 in UTC
    (OS, "answered", at(2026, 12, 31, 2), RetentionPolicy(2, 2, 2), at(2027, 2, 28, 2)),
    # not ended: never due
    (OS, "in_units", at(2026, 12, 1, 15), POLICY, None),
    (POS, "interim", at(2026, 11, 5, 16), POLICY, None),
    (OS, "approved", at(2026, 12, 1, 15), POLICY, None),
    (OS, "no_such_status", at(2026, 12, 1, 15), POLICY, None),
]


@pytest.mark.parametrize(("procedure", "status", "last", "policy", "expected"), ERASE_AT)
def test_erase_at(
    procedure: Procedure, status: str, last: datetime, policy: RetentionPolicy, expected: datetime | None
) -> None:
    case = EndedCase(1, procedure, status, last)
    assert erase_at(case, policy, NSK) == expected
    if (
        expected is not None
    ):  # due at the instant itself, not a second before; storage lists it as a candidate
        second = timedelta(seconds=1)
        assert due_for_erasure([case], expected, policy, NSK) == [1]
        assert due_for_erasure([case], expected - second, policy, NSK) == []
        assert case.last_event_at < bound_of(case, candidate_bounds(expected, policy, NSK))
        assert due_for_erasure([case], expected, RetentionPolicy(enabled=False), NSK) == []


def bound_of(case: EndedCase, bounds: CandidateBounds) -> datetime:
    """The bound storage compares the case's last event with (storage.personal_data.ended_cases)."""
    if case.status == "excluded":
        return bounds.excluded
    return bounds.pos if case.procedure is POS else bounds.open_sources


def test_storage_candidates_never_miss_a_due_case() -> None:
    """Every day of two years, each kind, periods of 1–13 months: the kind's bound lets every due case through,
    and keeps out what is more than a few days from due."""
    for months in (1, 2, 3, 12, 13):
        policy = RetentionPolicy(months, months + 1, months + 2)
        for procedure, status in ((OS, "answered"), (POS, "closed"), (OS, "excluded"), (POS, "excluded")):
            day = at(2027, 1, 1, 12)
            while day < at(2029, 1, 1, 0):
                case = EndedCase(1, procedure, status, day)
                due = erase_at(case, policy, NSK)
                assert due is not None
                bound = bound_of(case, candidate_bounds(due, policy, NSK))
                assert day < bound <= day + timedelta(days=8)
                day += timedelta(days=1)


def test_add_months_goes_backwards_too() -> None:
    assert add_months(at(2027, 3, 31, 9), -1, NSK) == at(2027, 2, 28, 9)
    assert add_months(at(2027, 1, 15, 9), -13, NSK) == at(2025, 12, 15, 9)


AUTHORS = [
    ("555", "Пётр Смирнов", 555, True),
    ("555", "Пётр Смирнов", 5550, False),
    ("555", "Пётр Смирнов", None, False),
    ("пётр  смирнов", "Пётр Смирнов", 555, True),
    ("Петр Смирнов", "Пётр Смирнов", None, True),
    ("Иванова А.П.", "Иванова А.П., тел. 8 913 000-00-00, адрес: ул. Садовая, 12", None, True),
    ("Иванова", "Иванова А.П., тел. 8 913 000-00-00", None, False),  # a part of a name is nobody
    ("Смирнов", "Пётр Смирнов", None, False),
    ("", "Пётр Смирнов", 555, False),
    ("  ", "", None, False),
]


@pytest.mark.parametrize(("query", "author", "author_id", "expected"), AUTHORS)
def test_author_matches(query: str, author: str, author_id: int | None, expected: bool) -> None:
    assert author_matches(query, author, author_id) is expected


def test_the_kept_file_reference_is_the_one_channel_files_writes() -> None:
    assert KEPT_REF == KEPT_PREFIX


# --- erasure over the databases, on the virtual clock -----------------------------------------------------------

ITEM = "vk:-1_100"
PHOTO = b"\x89PNG photo of the pothole"


async def _figures(repo: SqlRepository, case_id: int) -> dict[str, Any]:
    """What the reports count: the case's shape, its terms, its events' kinds, actors and instants."""
    async with repo.reading() as tx:
        case = await tx.get_case(case_id)
        assert case is not None
        return {
            "case": (case.procedure, case.status, case.t0, case.category, case.units, case.version),
            "terms": [astuple(t) for t in await tx.terms(case_id, open_only=False)],
            "events": [(e.action, e.actor_id, e.actor_role, e.at) for e in await tx.events(case_id)],
        }


async def _files(repo: SqlRepository) -> int:
    async with repo.reading() as tx:
        return int(
            (await tx.connection.execute(select(func.count()).select_from(channel_files))).scalar_one()
        )


async def _signatures(repo: SqlRepository) -> dict[int, tuple[str, str | None, str | None]]:
    """Clustering's copy of each open-source message (issue 13): stems, address, author key."""
    async with repo.reading() as tx:
        rows = (await tx.connection.execute(select(case_signatures))).all()
    return {r.case_id: (r.stems, r.address, r.author) for r in rows}


async def _signature_terms(repo: SqlRepository) -> dict[int, set[str]]:
    """The stem and address index of the signatures (issue 16): each case's terms."""
    async with repo.reading() as tx:
        rows = (await tx.connection.execute(select(signature_terms))).all()
    found: dict[int, set[str]] = {}
    for r in rows:
        found.setdefault(r.case_id, set()).add(r.term)
    return found


@pytest.mark.parametrize("db", ["sqlite", "pg"], indirect=True)
async def test_erased_exactly_when_due_with_the_figures_unchanged(
    db: Database, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    repo = await db.open()
    assert isinstance(repo, SqlRepository)
    services = make_services(repo, clock, calendar)
    pd = PersonalData(repo)
    photo = Attachment("photo", f"{KEPT_PREFIX}{ITEM}#0", "яма.jpg")
    message = os_msg(author="Пётр Смирнов", author_id=555, link="https://vk.com/wall-1_100?reply=7",
                     attachments=(photo,))  # fmt: skip
    async with repo.transaction() as tx:
        await tx.save_channel_files([ChannelFile(ITEM, 0, "photo", "яма.jpg", "image/jpeg", len(PHOTO), "x" * 64,
                                                 PHOTO, None, clock.now())])  # fmt: skip
    answered = await register(services, clock, message)
    await run(services, clock, answered, [*os_approved(), Do(at(2026, 12, 1, 15), Action.PUBLISH, Role.OPERATOR,
              {"link": "https://vk.com/wall-1_100?reply=9", "confirm": True})])  # fmt: skip
    still_open = await register(services, clock, os_msg("wall-1_200", at(2026, 12, 2, 9), author_id=555))
    excluded = await register(services, clock, pos_msg("pos-2026-000200", at(2026, 12, 2, 10)))
    await run(services, clock, excluded, [Do(at(2026, 12, 2, 10, 5), Action.EXCLUDE, Role.POS_CURATOR,
                                             {"reason": "Угрозы (п.17)"})])  # fmt: skip
    assert (await services.case(answered)).status == Status.ANSWERED
    before = {i: await _figures(repo, i) for i in (answered, still_open, excluded)}
    policy, tz = POLICY, calendar.tz

    # The excluded ПОС message is due three months after its exclusion, to the second.
    clock.set(at(2027, 3, 2, 10, 5) - timedelta(seconds=1))
    assert await erase_due(pd, clock, policy, tz) == []
    clock.set(at(2027, 3, 2, 10, 5))
    assert await erase_due(pd, clock, policy, tz) == [excluded]
    assert await erase_due(pd, clock, policy, tz) == []  # once

    # The answered one twelve months after its last event (the publication at 15:00), the open one never.
    clock.set(at(2027, 12, 1, 15) - timedelta(seconds=1))
    assert await erase_due(pd, clock, policy, tz) == []
    assert await _files(repo) == 1
    clock.set(at(2027, 12, 1, 15))
    assert await erase_due(pd, clock, policy, tz) == [answered]
    clock.set(at(2040, 1, 1, 12))
    assert await erase_due(pd, clock, policy, tz) == []

    async with repo.reading() as tx:
        gone = await tx.get_message(answered)
        kept = await tx.get_message(still_open)
        history = await tx.events(answered)
        draft = await tx.latest_draft(answered)
    assert gone is not None and kept is not None
    assert (gone.text, gone.author, gone.author_id, gone.link, gone.attachments) == (
        ERASED_TEXT,
        "",
        None,
        "",
        (),
    )
    assert (gone.source_id, gone.source) == (
        message.source_id,
        message.source,
    )  # a re-delivery is still known
    assert kept.author_id == 555 and kept.text == message.text
    assert await _files(repo) == 0
    signatures = await _signatures(repo)
    assert signatures[answered] == signatures[excluded] == ("", None, None)
    assert signatures[still_open][2] == "vk:555"  # the case in work keeps its signature
    indexed = await _signature_terms(repo)
    assert answered not in indexed and excluded not in indexed  # nor is an erased text's index left
    assert indexed[still_open] == set(signatures[still_open][0].split()) | (
        {"@" + signatures[still_open][1]} if signatures[still_open][1] else set()
    )
    assert draft == "" and DRAFT not in {e.text for e in history}
    assert all(e.text == "" for e in history)
    erasure = history[-1]
    assert (erasure.action, erasure.actor_role, erasure.at, erasure.data) == (
        PD_ERASED, Role.SYSTEM, at(2027, 12, 1, 15), {"reason": "retention"})  # fmt: skip

    after = {i: await _figures(repo, i) for i in (answered, still_open, excluded)}
    for case_id in (answered, excluded):  # the same, plus the one erasure event at the end
        assert after[case_id]["case"] == before[case_id]["case"]
        assert after[case_id]["terms"] == before[case_id]["terms"]
        assert after[case_id]["events"][:-1] == before[case_id]["events"]
    assert after[still_open] == before[still_open]
    assert [f.case_id for f in (await services.find("Ленина", OFFICE_HEAD)).found] == [still_open]
    # A case in work is never erased, even if asked for by id (one reopened after it was listed).
    assert await pd.erase([still_open], at=clock.now(), actor=RETENTION_ACTOR, reason="retention") == []
    assert await _figures(repo, still_open) == before[still_open]
    await db.close(repo)


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_views_are_logged(db: Database, clock: FakeClock, calendar: WorkingCalendar) -> None:
    repo = await db.open()
    assert isinstance(repo, SqlRepository)
    services = make_services(repo, clock, calendar)
    case_id = await register(services, clock, os_msg())
    await services.record_views([case_id, case_id], OFFICE_HEAD, chat_id=-1002, what="card")
    async with repo.reading() as tx:
        rows = (await tx.connection.execute(select(access_log))).all()
    assert [(r.case_id, r.user_id, r.roles, r.chat_id, r.what, r.at) for r in rows] == [
        (case_id, OFFICE_HEAD.user_id, "office_head", -1002, "card", clock.now())
    ]
    await db.close(repo)
