"""Every term of RULES.md §2 and §3, driven through the use cases: it opens with the due instant and owner
checked by hand below, and stops — met or missed — when its step is done.

Calendar facts used (shipped production calendar, Asia/Novosibirsk, windows 09–13 and 14–18):
- November 2026: 03.11 (Tue) is a short day, 09–13 and 14–17; 04.11 (Wed) is a holiday; 21–22.11 weekend.
- December 2026: 05–06, 12–13 weekends; 31.12 (Thu) is a day off (moved from 04.01).
- January 2027: 01–08 holidays, 09–10 weekend; 11.01 (Mon) is the first working day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pytest

from tests.engine.conftest import all_terms, at, open_terms
from tests.engine.flows import DRAFT, POS_DRAFT, A, Do, R, os_msg, pos_msg, press, register, run
from tests.fakes import FakeClock
from workflow.model import InboundMessage, Role
from workflow.ports import Repository
from workflow.services import Services


@dataclass(frozen=True)
class Row:
    id: str
    message: InboundMessage
    steps: tuple[Do, ...]  # after registration; registration or the last step opens the term
    anchor: datetime  # the instant the term counts from (Term.started_at)
    due: datetime  # checked by hand: see `why`
    owner: Role
    unit: str | None
    done: Do  # the step that completes the term
    why: str
    outcome: bool | None = None  # a return-only term ends met when made moot, whenever (RULES.md §6)

    @property
    def term(self) -> str:
        return self.id.split("/")[0]

    @property
    def met(self) -> bool:
        return self.outcome if self.outcome is not None else self.done.when <= self.due


def _route(y: int, mo: int, d: int, h: int, mi: int, units: tuple[str, ...] = ("housing",)) -> Do:
    return Do(at(y, mo, d, h, mi), A.ROUTE, R.OPERATOR, {"units": units})


def _approve_routing(y: int, mo: int, d: int, h: int, mi: int) -> Do:
    return Do(at(y, mo, d, h, mi), A.APPROVE_ROUTING, R.OFFICE_HEAD)


def _submit(when: datetime) -> Do:
    return Do(when, A.SUBMIT, R.OPERATOR, {"text": DRAFT})


def _pos_route(when: datetime, units: tuple[str, ...] = ("housing",), responsible: str = "housing") -> Do:
    return Do(when, A.ROUTE, R.POS_CURATOR, {"units": units, "responsible": responsible})


def _pos_submit(when: datetime) -> Do:
    return Do(when, A.SUBMIT, R.EXECUTOR, {"text": POS_DRAFT}, ("housing",))


OS_T0 = at(2026, 12, 1, 9, 40)  # Tuesday
POS_T0 = at(2026, 11, 2, 17, 30)  # Monday
HOUSING = ("housing",)

ROWS = [
    # --- open sources (§2) ---
    Row("os.return", os_msg(t0=at(2026, 12, 4, 17, 50)), (),
        at(2026, 12, 4, 17, 50), at(2026, 12, 7, 9, 20), R.OPERATOR, None,
        Do(at(2026, 12, 7, 9, 10), A.RETURN, R.OPERATOR),
        "Fri 17:50 + 30 wm: 10 min to 18:00, weekend, Mon 09:00 + 20 min = 09:20"),
    Row("os.return/late-return", os_msg(t0=at(2026, 12, 4, 17, 50)), (),
        at(2026, 12, 4, 17, 50), at(2026, 12, 7, 9, 20), R.OPERATOR, None,
        Do(at(2026, 12, 7, 9, 30), A.RETURN, R.OPERATOR),
        "returned Mon 09:30, after the due 09:20: a late return is a miss"),
    Row("os.return/routed-late", os_msg(), (_route(2026, 12, 1, 10, 25),),
        OS_T0, at(2026, 12, 1, 10, 10), R.OPERATOR, None,
        _approve_routing(2026, 12, 1, 10, 35),
        "09:40 + 30 wm = 10:10; routed 10:35: not returning is acceptance, the term ends met", outcome=True),
    Row("os.route", os_msg(t0=at(2026, 12, 1, 12, 30)), (_route(2026, 12, 1, 12, 45),),
        at(2026, 12, 1, 12, 30), at(2026, 12, 1, 14, 30), R.OFFICE_HEAD, None,
        _approve_routing(2026, 12, 1, 14, 45),
        "12:30 + 60 wm: 30 min to lunch, 14:00 + 30 min = 14:30; held by the office head once proposed; "
        "approved 14:45 — missed"),
    Row("os.unit_info", os_msg(), (_route(2026, 12, 1, 16, 0, ("housing", "social")), _approve_routing(2026, 12, 1, 16, 30)),
        at(2026, 12, 1, 16, 30), at(2026, 12, 2, 9, 30), R.UNIT_OFFICIAL, "housing",
        Do(at(2026, 12, 2, 9, 45), A.INFO, R.UNIT_OFFICIAL, {"text": "Ремонт 3 декабря"}, HOUSING),
        "routed 16:30 + 120 wm: 90 min to 18:00, Wed 09:00 + 30 min = 09:30; information 09:45 — missed"),
    Row("os.draft", os_msg(), (_route(2026, 12, 1, 10, 5), _approve_routing(2026, 12, 1, 10, 20)),
        OS_T0, at(2026, 12, 1, 17, 40), R.OPERATOR, None,
        _submit(at(2026, 12, 1, 17, 30)),
        "os.publish = Tue 09:40 + 540 wm = Wed 10:40 (3h20 + 4h Tue, 1h40 Wed); minus 120 wm = Tue 17:40"),
    Row("os.approve", os_msg(), (_route(2026, 12, 1, 10, 5), _approve_routing(2026, 12, 1, 10, 20),
                                 _submit(at(2026, 12, 1, 17, 45))),
        at(2026, 12, 1, 17, 45), at(2026, 12, 2, 9, 15), R.REGION_CURATOR, None,
        Do(at(2026, 12, 2, 9, 10), A.APPROVE, R.REGION_CURATOR),
        "draft sent Tue 17:45 + 30 wm: 15 min to 18:00, Wed 09:00 + 15 min = 09:15"),
    Row("os.rework", os_msg(), (_route(2026, 12, 1, 10, 5), _approve_routing(2026, 12, 1, 10, 20),
                                _submit(at(2026, 12, 1, 12, 0)),
                                Do(at(2026, 12, 1, 12, 30), A.REWORK, R.REGION_CURATOR, {"reason": "Укажите подрядчика"})),
        at(2026, 12, 1, 12, 30), at(2026, 12, 1, 14, 30), R.OPERATOR, None,
        _submit(at(2026, 12, 1, 14, 40)),
        "returned 12:30 + 60 wm: 30 min to lunch, 14:00 + 30 min = 14:30; resubmitted 14:40 — missed"),
    Row("os.publish", os_msg(t0=at(2026, 12, 30, 16, 0)),
        (_route(2026, 12, 30, 16, 10), _approve_routing(2026, 12, 30, 16, 20), _submit(at(2026, 12, 30, 16, 40)),
         Do(at(2026, 12, 30, 17, 0), A.APPROVE, R.REGION_CURATOR)),
        at(2026, 12, 30, 16, 0), at(2027, 1, 11, 17, 0), R.OPERATOR, None,
        Do(at(2027, 1, 11, 17, 30), A.PUBLISH, R.OPERATOR,
           {"link": "https://vk.com/wall-1_100?reply=5", "confirm": True}),
        "Wed 30.12 16:00 + 540 wm: 2 h on 30.12; 31.12 off, 01–08.01 holidays, 09–10.01 weekend; "
        "Mon 11.01 09:00 + 7 h (4 h, lunch, 3 h) = 17:00; published 17:30 — missed"),
    Row("os.final", os_msg(t0=at(2026, 12, 28, 9, 10)),
        (_route(2026, 12, 28, 9, 20), _approve_routing(2026, 12, 28, 9, 30), _submit(at(2026, 12, 28, 11, 0)),
         Do(at(2026, 12, 28, 11, 20), A.APPROVE, R.REGION_CURATOR),
         Do(at(2026, 12, 28, 11, 40), A.INTERIM, R.OPERATOR, {"link": "https://vk.com/wall-1_100?reply=6"})),
        at(2026, 12, 28, 11, 40), at(2027, 1, 15, 18, 0), R.OPERATOR, None,
        _submit(at(2027, 1, 15, 17, 59)),
        "interim Mon 28.12 + 7 working days: 29.12, 30.12, (31.12–10.01 off), 11, 12, 13, 14, 15.01 -> 15.01 18:00"),
    Row("os.final_publish", os_msg(t0=at(2026, 12, 28, 9, 10)),
        (_route(2026, 12, 28, 9, 20), _approve_routing(2026, 12, 28, 9, 30), _submit(at(2026, 12, 28, 11, 0)),
         Do(at(2026, 12, 28, 11, 20), A.APPROVE, R.REGION_CURATOR),
         Do(at(2026, 12, 28, 11, 40), A.INTERIM, R.OPERATOR, {"link": "https://vk.com/wall-1_100?reply=6"}),
         _submit(at(2027, 1, 15, 17, 0)), Do(at(2027, 1, 15, 17, 20), A.APPROVE, R.REGION_CURATOR)),
        at(2027, 1, 15, 17, 20), at(2027, 1, 18, 9, 20), R.OPERATOR, None,
        Do(at(2027, 1, 18, 9, 40), A.PUBLISH, R.OPERATOR,
           {"link": "https://vk.com/wall-1_100?reply=7", "confirm": True}),
        "the final draft approved Fri 15.01 17:20 + 60 wm: 40 min to 18:00, Mon 09:00 + 20 min = 09:20; "
        "published 09:40 — missed"),
    # --- ПОС (§3); T0 Mon 02.11 17:30, category "other" (20 days) unless the id says otherwise ---
    Row("pos.route", pos_msg(), (),
        POS_T0, at(2026, 11, 3, 9, 30), R.POS_CURATOR, None,
        _pos_route(at(2026, 11, 3, 9, 20)),
        "Mon 17:30 + 60 wm: 30 min to 18:00, Tue 03.11 (short day) 09:00 + 30 min = 09:30"),
    Row("pos.return", pos_msg(), (_pos_route(at(2026, 11, 3, 16, 50)),),
        at(2026, 11, 3, 16, 50), at(2026, 11, 5, 9, 20), R.EXECUTOR, "housing",
        Do(at(2026, 11, 5, 9, 25), A.ACCEPT, R.EXECUTOR, {}, HOUSING),
        "assigned Tue 03.11 16:50 + 30 wm: the short day ends 17:00 (10 min), 04.11 holiday, "
        "Thu 05.11 09:00 + 20 min = 09:20; accepted 09:25: not returning is acceptance — met", outcome=True),
    Row("pos.return/late-decline", pos_msg(), (_pos_route(at(2026, 11, 3, 16, 50)),),
        at(2026, 11, 3, 16, 50), at(2026, 11, 5, 9, 20), R.EXECUTOR, "housing",
        Do(at(2026, 11, 5, 9, 25), A.DECLINE, R.EXECUTOR, {}, HOUSING),
        "due Thu 05.11 09:20 as above; returned as not its competence 09:25 — a late return, missed"),
    Row("pos.return/draft", pos_msg(), (_pos_route(at(2026, 11, 3, 16, 50)),),
        at(2026, 11, 3, 16, 50), at(2026, 11, 5, 9, 20), R.EXECUTOR, "housing",
        _pos_submit(at(2026, 11, 6, 10, 0)),
        "due Thu 05.11 09:20; never accepted, the draft came Fri — the return term ends met", outcome=True),
    Row("pos.answer", pos_msg(),
        (_pos_route(at(2026, 11, 3, 9, 20)), _pos_submit(at(2026, 11, 19, 10, 0)),
         Do(at(2026, 11, 19, 15, 0), A.APPROVE, R.POS_CURATOR)),
        POS_T0, at(2026, 11, 23, 18, 0), R.POS_CURATOR, None,
        Do(at(2026, 11, 23, 17, 0), A.PUBLISH, R.POS_CURATOR),
        "02.11 + 20 calendar days = Sun 22.11, not working -> Mon 23.11, end of working hours 18:00"),
    Row("pos.answer/federal_fast", pos_msg(category="federal_fast"),
        (_pos_route(at(2026, 11, 3, 9, 20)), _pos_submit(at(2026, 11, 6, 10, 0)),
         Do(at(2026, 11, 6, 15, 0), A.APPROVE, R.POS_CURATOR)),
        POS_T0, at(2026, 11, 10, 18, 0), R.POS_CURATOR, None,
        Do(at(2026, 11, 11, 9, 0), A.INTERIM, R.COORDINATOR),
        "02.11 + 8 calendar days = Tue 10.11 18:00; interim answer 11.11 — missed"),
    Row("pos.answer/local_fast", pos_msg(category="local_fast"),
        (_pos_route(at(2026, 11, 3, 9, 20)), _pos_submit(at(2026, 11, 12, 10, 0)),
         Do(at(2026, 11, 12, 15, 0), A.APPROVE, R.POS_CURATOR)),
        POS_T0, at(2026, 11, 16, 18, 0), R.POS_CURATOR, None,
        Do(at(2026, 11, 16, 18, 0), A.PUBLISH, R.COORDINATOR),
        "02.11 + 14 calendar days = Mon 16.11 18:00; posted exactly at 18:00 — met"),
    Row("pos.draft", pos_msg(), (_pos_route(at(2026, 11, 3, 9, 20)),),
        POS_T0, at(2026, 11, 20, 18, 0), R.EXECUTOR, "housing",
        _pos_submit(at(2026, 11, 20, 18, 5)),
        "pos.answer Mon 23.11 - 2 calendar days = Sat 21.11, not working -> the last working day before, "
        "Fri 20.11 18:00; draft 18:05 — missed (opened at registration, passed to the responsible unit at "
        "routing)"),
    Row("pos.approve", pos_msg(), (_pos_route(at(2026, 11, 3, 9, 20)), _pos_submit(at(2026, 11, 13, 15, 0))),
        at(2026, 11, 13, 15, 0), at(2026, 11, 16, 18, 0), R.POS_CURATOR, None,
        Do(at(2026, 11, 16, 10, 0), A.APPROVE, R.POS_CURATOR),
        "draft received Fri 13.11 + 1 working day = Mon 16.11 18:00"),
    Row("pos.rework", pos_msg(),
        (_pos_route(at(2026, 11, 3, 9, 20)), _pos_submit(at(2026, 11, 3, 11, 0)),
         Do(at(2026, 11, 3, 16, 0), A.REWORK, R.POS_CURATOR, {"reason": "Начните с обращения к автору"})),
        at(2026, 11, 3, 16, 0), at(2026, 11, 5, 18, 0), R.EXECUTOR, "housing",
        _pos_submit(at(2026, 11, 5, 17, 0)),
        "returned Tue 03.11 + 1 working day: 04.11 is a holiday -> Thu 05.11 18:00"),
    Row("pos.final", pos_msg(),
        (_pos_route(at(2026, 11, 3, 9, 20)), _pos_submit(at(2026, 11, 5, 11, 0)),
         Do(at(2026, 11, 5, 14, 0), A.APPROVE, R.POS_CURATOR), Do(at(2026, 11, 5, 16, 0), A.INTERIM, R.POS_CURATOR),
         _pos_submit(at(2026, 11, 16, 10, 0)), Do(at(2026, 11, 16, 15, 0), A.APPROVE, R.POS_CURATOR)),
        at(2026, 11, 5, 16, 0), at(2026, 11, 16, 18, 0), R.POS_CURATOR, None,
        Do(at(2026, 11, 17, 10, 0), A.PUBLISH, R.POS_CURATOR),
        "interim Thu 05.11 + 7 working days: 06, 09, 10, 11, 12, 13, 16.11 -> Mon 16.11 18:00; the final draft "
        "approved 16.11 passes the term to the curator, who posts the final answer 17.11 — missed"),
    Row("pos.coexec", pos_msg(), (_pos_route(at(2026, 11, 3, 9, 20), ("housing", "social")),),
        POS_T0, at(2026, 11, 12, 18, 0), R.EXECUTOR, "social",
        Do(at(2026, 11, 12, 17, 0), A.INFO, R.EXECUTOR, {"text": "Контейнеры заменены"}, ("social",)),
        "T0 02.11 + half of 20 = 10 calendar days = Thu 12.11 18:00 (counted from T0, opened at routing)"),
    Row("pos.coexec/federal_fast", pos_msg(category="federal_fast"),
        (_pos_route(at(2026, 11, 3, 9, 20), ("housing", "social")),),
        POS_T0, at(2026, 11, 6, 18, 0), R.EXECUTOR, "social",
        Do(at(2026, 11, 9, 9, 0), A.INFO, R.EXECUTOR, {"text": "Контейнеры заменены"}, ("social",)),
        "T0 02.11 + half of 8 = 4 calendar days = Fri 06.11 18:00; information Mon 09.11 — missed"),
    Row("pos.coexec/local_fast", pos_msg(category="local_fast"),
        (_pos_route(at(2026, 11, 3, 9, 20), ("housing", "social")),),
        POS_T0, at(2026, 11, 9, 18, 0), R.EXECUTOR, "social",
        Do(at(2026, 11, 9, 12, 0), A.INFO, R.EXECUTOR, {"text": "Контейнеры заменены"}, ("social",)),
        "T0 02.11 + half of 14 = 7 calendar days = Mon 09.11 18:00"),
]  # fmt: skip

SPEC_TERMS = {
    "os.return", "os.route", "os.unit_info", "os.draft", "os.approve", "os.rework", "os.publish", "os.final",
    "os.final_publish",
    "pos.route", "pos.return", "pos.answer", "pos.draft", "pos.approve", "pos.rework", "pos.final", "pos.coexec",
}  # fmt: skip


def test_one_row_per_term_of_the_spec() -> None:
    assert {row.term for row in ROWS} == SPEC_TERMS
    assert {row.met for row in ROWS} == {True, False}  # both outcomes are recorded somewhere


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
async def test_term_opens_with_its_due_and_owner_and_stops_when_done(
    services: Services, repo: Repository, clock: FakeClock, row: Row
) -> None:
    case_id = await register(services, clock, row.message)
    await run(services, clock, case_id, row.steps)
    matching = [t for t in await open_terms(repo, case_id) if t.term_id == row.term and t.unit == row.unit]
    assert len(matching) == 1, f"{row.term} ({row.unit}) is not open once: {matching}"
    term = matching[0]
    assert term.due == row.due, f"{row.why}: got {term.due.astimezone(row.due.tzinfo)}"
    assert term.due.utcoffset() is not None
    assert (term.owner, term.unit, term.started_at) == (row.owner, row.unit, row.anchor)
    assert term.closed_at is None and term.met is None

    await press(services, clock, case_id, row.done)

    closed = next(t for t in await all_terms(repo, case_id) if t.id == term.id)
    assert closed.closed_at == row.done.when
    assert closed.met is row.met, row.why
    assert closed.due == row.due  # history keeps when it fell due, when it was done …
    assert all(t.id != term.id for t in await open_terms(repo, case_id))


async def test_a_term_done_stops_only_its_own_unit(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    """os.unit_info runs per unit: one unit's information leaves the other unit's term running."""
    case_id = await register(services, clock, os_msg())
    await run(
        services,
        clock,
        case_id,
        [_route(2026, 12, 1, 10, 5, ("housing", "social")), _approve_routing(2026, 12, 1, 10, 20)],
    )
    per_unit = {t.unit: t for t in await open_terms(repo, case_id) if t.term_id == "os.unit_info"}
    assert set(per_unit) == {"housing", "social"}
    assert {t.due for t in per_unit.values()} == {at(2026, 12, 1, 12, 20)}
    await press(
        services, clock, case_id, Do(at(2026, 12, 1, 11), A.INFO, R.UNIT_OFFICIAL, {"text": "Есть"}, HOUSING)
    )
    still = [t for t in await open_terms(repo, case_id) if t.term_id == "os.unit_info"]
    assert [t.unit for t in still] == ["social"]
