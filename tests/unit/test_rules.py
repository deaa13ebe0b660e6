"""Rules: every term of RULES.md §2–§3 against hand-checked due instants, config merging and refusal.

Calendar facts used below (production calendar XML in workflow/data/calendar/, Novosibirsk UTC+7, windows
09:00–13:00 and 14:00–18:00, a shortened day ends at 17:00):
2026 — off: 01.01–09.01, 23.02, 08.03 (Sun), 09.03 (transfer), 01.05, 09.05, 11.05, 12.06, 04.11,
       31.12 (transfer); short: 30.04, 08.05, 11.06, 03.11.
2027 — off: 01.01–08.01, 22.02 (transfer), 23.02, ... ; 20.02 (Sat) is a working shortened Saturday.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from workflow.calendar import WorkingCalendar
from workflow.model import Procedure, Role
from workflow.rules import DEFAULT_RULES, Anchor, Rules, RulesError, TermKind, due

NSK = ZoneInfo("Asia/Novosibirsk")


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=NSK)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


# (term, anchor instant, category, expected due) — the arithmetic in the comment of each row.
DUE_CASES: list[Any] = [
    # os.return, 30 wm: Mon 02.03 17:45–18:00 = 15 min; Tue 03.03 09:00 + 15 min.
    pytest.param("os.return", at(2026, 3, 2, 17, 45), None, at(2026, 3, 3, 9, 15), id="os.return-overnight"),
    # os.route, 60 wm: 12:30–13:00 = 30 min, lunch, 14:00 + 30 min.
    pytest.param("os.route", at(2026, 3, 2, 12, 30), None, at(2026, 3, 2, 14, 30), id="os.route-over-lunch"),
    # os.route, 60 wm: 17:00–18:00 lands exactly on the window's end: 18:00, not 09:00 next day.
    pytest.param("os.route", at(2026, 3, 2, 17, 0), None, at(2026, 3, 2, 18, 0), id="os.route-ends-at-18"),
    # The same instant given in UTC (05:30Z = 12:30+07): the result is the same instant.
    pytest.param(
        "os.route",
        datetime(2026, 3, 2, 5, 30, tzinfo=UTC),
        None,
        at(2026, 3, 2, 14, 30),
        id="os.route-utc-in",
    ),
    # os.unit_info, 120 wm from routing: Thu 30.04 is short (ends 17:00): 15:30–17:00 = 90 min; 01.05 off,
    # 02–03.05 weekend; Mon 04.05 09:00 + 30 min.
    pytest.param(
        "os.unit_info", at(2026, 4, 30, 15, 30), None, at(2026, 5, 4, 9, 30), id="os.unit_info-short"
    ),
    # os.publish, 540 wm: Wed 30.12.2026 16–18 = 2 h; 31.12.2026 off (transfer); 01–08.01.2027 holidays,
    # 09–10.01 weekend; Mon 11.01.2027 09–13 = 4 h (6), 14–17 = 3 h (9) -> 17:00.
    pytest.param("os.publish", at(2026, 12, 30, 16), None, at(2027, 1, 11, 17), id="os.publish-new-year"),
    # os.publish from Sat 07.03 10:00: counts from the next window; 08.03 Sun, 09.03 off (transfer);
    # Tue 10.03 09–13 + 14–18 = 8 h; Wed 11.03 09:00 + 1 h.
    pytest.param("os.publish", at(2026, 3, 7, 10), None, at(2026, 3, 11, 10), id="os.publish-from-weekend"),
    # os.draft = os.publish − 120 wm: publish 11.01.2027 17:00; 17:00 − 2 h within 14–17 -> 15:00.
    pytest.param("os.draft", at(2026, 12, 30, 16), None, at(2027, 1, 11, 15), id="os.draft-new-year"),
    # os.draft: T0 Mon 02.03 09:00 -> publish 9 h = Mon 18:00 (8 h) + Tue 09–10 -> Tue 03.03 10:00;
    # back 2 h: Tue 09–10 (1 h) + Mon 17–18 (1 h) -> Mon 02.03 17:00.
    pytest.param("os.draft", at(2026, 3, 2, 9), None, at(2026, 3, 2, 17), id="os.draft-back-over-night"),
    # os.approve, 30 wm from the draft: 13:20 is lunch, count from 14:00 -> 14:30.
    pytest.param(
        "os.approve", at(2026, 3, 2, 13, 20), None, at(2026, 3, 2, 14, 30), id="os.approve-at-lunch"
    ),
    # os.rework, 60 wm: Tue 03.11 short day: 16:30–17:00 = 30 min; 04.11 holiday; Thu 05.11 09:00 + 30 min.
    pytest.param("os.rework", at(2026, 11, 3, 16, 30), None, at(2026, 11, 5, 9, 30), id="os.rework-holiday"),
    # os.final, 7 working days after Tue 29.12.2026: 30.12 (1); 31.12–10.01 off; 11.01 (2), 12 (3), 13 (4),
    # 14 (5), 15 (6), Mon 18.01.2027 (7) -> end of that day, 18:00.
    pytest.param("os.final", at(2026, 12, 29, 11), None, at(2027, 1, 18, 18), id="os.final-new-year"),
    # os.final_publish, 60 wm from the approval of the final draft: Fri 17:30–18:00 (30 min), weekend,
    # Mon 09:00 + 30 min.
    pytest.param(
        "os.final_publish",
        at(2026, 12, 4, 17, 30),
        None,
        at(2026, 12, 7, 9, 30),
        id="os.final_publish-weekend",
    ),
    # pos.route, 60 wm: Thu 11.06 short: 16:30–17:00 = 30 min; 12.06 holiday, 13–14 weekend; Mon 15.06 09:30.
    pytest.param("pos.route", at(2026, 6, 11, 16, 30), None, at(2026, 6, 15, 9, 30), id="pos.route-june"),
    # pos.return, 30 wm from assignment: Fri 06.03 17:50–18:00 = 10 min; 07–08 weekend, 09.03 off;
    # Tue 10.03 09:00 + 20 min.
    pytest.param("pos.return", at(2026, 3, 6, 17, 50), None, at(2026, 3, 10, 9, 20), id="pos.return-march"),
    # pos.answer, 8 days from Mon 02.03: 8th calendar day after = Tue 10.03, working -> 18:00.
    pytest.param("pos.answer", at(2026, 3, 2, 10), "federal_fast", at(2026, 3, 10, 18), id="pos.answer-8"),
    # pos.answer, 14 days: Mon 16.03 -> 18:00.
    pytest.param("pos.answer", at(2026, 3, 2, 10), "local_fast", at(2026, 3, 16, 18), id="pos.answer-14"),
    # pos.answer, 20 days: Sun 22.03 is not working -> next working day Mon 23.03, 18:00 (Civil Code
    # art. 193).
    pytest.param("pos.answer", at(2026, 3, 2, 10), "other", at(2026, 3, 23, 18), id="pos.answer-20-sunday"),
    # pos.answer, 8 days from Thu 24.12.2026 = Fri 01.01.2027, holiday; next working day Mon 11.01.2027.
    pytest.param(
        "pos.answer", at(2026, 12, 24, 15), "federal_fast", at(2027, 1, 11, 18), id="pos.answer-8-ny"
    ),
    # pos.answer, 14 days from Sat 06.02.2027 = Sat 20.02.2027, a working shortened Saturday -> 17:00.
    pytest.param(
        "pos.answer", at(2027, 2, 6, 12), "local_fast", at(2027, 2, 20, 17), id="pos.answer-work-sat"
    ),
    # pos.draft = pos.answer − 2 days: answer Mon 23.03 -> 21.03 Sat, not working -> Fri 20.03 18:00.
    pytest.param("pos.draft", at(2026, 3, 2, 10), "other", at(2026, 3, 20, 18), id="pos.draft-20"),
    # pos.draft: answer Tue 10.03 -> 08.03 Sun (holiday) -> last working day before: Fri 06.03 18:00.
    pytest.param("pos.draft", at(2026, 3, 2, 10), "federal_fast", at(2026, 3, 6, 18), id="pos.draft-8"),
    # pos.draft: answer Mon 16.03 -> Sat 14.03 -> Fri 13.03 18:00.
    pytest.param("pos.draft", at(2026, 3, 2, 10), "local_fast", at(2026, 3, 13, 18), id="pos.draft-14"),
    # pos.approve, 1 working day after Fri 20.02: 21–22 weekend, Mon 23.02 holiday -> Tue 24.02 18:00.
    pytest.param("pos.approve", at(2026, 2, 20, 15), None, at(2026, 2, 24, 18), id="pos.approve-feb23"),
    # pos.rework, 1 working day after Thu 07.05: Fri 08.05 is short -> 17:00.
    pytest.param("pos.rework", at(2026, 5, 7, 10), None, at(2026, 5, 8, 17), id="pos.rework-short-day"),
    # pos.final, 7 working days after Mon 02.11: 03.11 (1, short), 04.11 off, 05 (2), 06 (3), 09 (4),
    # 10 (5), 11 (6), Thu 12.11 (7) -> 18:00.
    pytest.param("pos.final", at(2026, 11, 2, 12), None, at(2026, 11, 12, 18), id="pos.final-november"),
    # pos.coexec = half of 8 = 4 days from Mon 02.03 -> Fri 06.03 18:00.
    pytest.param("pos.coexec", at(2026, 3, 2, 10), "federal_fast", at(2026, 3, 6, 18), id="pos.coexec-4"),
    # half of 14 = 7 days -> Mon 09.03, off (transfer) -> Tue 10.03 18:00.
    pytest.param("pos.coexec", at(2026, 3, 2, 10), "local_fast", at(2026, 3, 10, 18), id="pos.coexec-7"),
    # half of 20 = 10 days -> Thu 12.03 18:00.
    pytest.param("pos.coexec", at(2026, 3, 2, 10), "other", at(2026, 3, 12, 18), id="pos.coexec-10"),
]


@pytest.mark.parametrize(("term_id", "anchor", "category", "expected"), DUE_CASES)
def test_due(
    cal: WorkingCalendar, term_id: str, anchor: datetime, category: str | None, expected: datetime
) -> None:
    result = DEFAULT_RULES.due(term_id, anchor, cal, category=category)
    assert result == expected
    assert result.utcoffset() == expected.utcoffset()  # returned in the calendar's zone


def test_every_term_has_a_due_case() -> None:
    covered = {case.values[0] for case in DUE_CASES}
    assert covered == set(DEFAULT_RULES.terms)


def test_module_level_due_uses_the_defaults(cal: WorkingCalendar) -> None:
    assert due("os.publish", at(2026, 12, 30, 16), cal) == at(2027, 1, 11, 17)


# id, procedure, clause, anchor, kind, amount, owner, per-unit — RULES.md §2 and §3.
DEFAULTS = [
    ("os.return", Procedure.OPEN_SOURCES, "п.6", "t0", TermKind.WORKING_MINUTES, 30, Role.OPERATOR, False),
    ("os.route", Procedure.OPEN_SOURCES, "п.6", "t0", TermKind.WORKING_MINUTES, 60, Role.OPERATOR, False),
    (
        "os.unit_info",
        Procedure.OPEN_SOURCES,
        "п.12.3",
        "routed",
        TermKind.WORKING_MINUTES,
        120,
        Role.UNIT_OFFICIAL,
        True,
    ),
    (
        "os.draft",
        Procedure.OPEN_SOURCES,
        "п.7",
        "os.publish",
        TermKind.BEFORE_WORKING_MINUTES,
        120,
        Role.OPERATOR,
        False,
    ),
    (
        "os.approve",
        Procedure.OPEN_SOURCES,
        "п.8",
        "draft_submitted",
        TermKind.WORKING_MINUTES,
        30,
        Role.REGION_CURATOR,
        False,
    ),
    (
        "os.rework",
        Procedure.OPEN_SOURCES,
        "п.9",
        "returned_for_rework",
        TermKind.WORKING_MINUTES,
        60,
        Role.OPERATOR,
        False,
    ),
    ("os.publish", Procedure.OPEN_SOURCES, "п.10", "t0", TermKind.WORKING_MINUTES, 540, Role.OPERATOR, False),
    ("os.final", Procedure.OPEN_SOURCES, "п.11", "interim", TermKind.WORKING_DAYS, 7, Role.OPERATOR, False),
    (
        "os.final_publish",
        Procedure.OPEN_SOURCES,
        "п.11",
        "approved",
        TermKind.WORKING_MINUTES,
        60,
        Role.OPERATOR,
        False,
    ),
    ("pos.route", Procedure.POS, "п.8", "t0", TermKind.WORKING_MINUTES, 60, Role.POS_CURATOR, False),
    ("pos.return", Procedure.POS, "п.9.1", "assigned", TermKind.WORKING_MINUTES, 30, Role.EXECUTOR, True),
    ("pos.answer", Procedure.POS, "п.10", "t0", TermKind.CATEGORY_DAYS, None, Role.POS_CURATOR, False),
    ("pos.draft", Procedure.POS, "п.9.2", "pos.answer", TermKind.BEFORE_DAYS, 2, Role.EXECUTOR, False),
    (
        "pos.approve",
        Procedure.POS,
        "п.11",
        "draft_submitted",
        TermKind.WORKING_DAYS,
        1,
        Role.POS_CURATOR,
        False,
    ),
    (
        "pos.rework",
        Procedure.POS,
        "п.12",
        "returned_for_rework",
        TermKind.WORKING_DAYS,
        1,
        Role.EXECUTOR,
        False,
    ),
    ("pos.final", Procedure.POS, "п.13", "interim", TermKind.WORKING_DAYS, 7, Role.EXECUTOR, False),
    ("pos.coexec", Procedure.POS, "п.14.2", "t0", TermKind.CATEGORY_FRACTION, 50, Role.EXECUTOR, True),
]


@pytest.mark.parametrize(
    ("term_id", "procedure", "clause", "anchor", "kind", "amount", "owner", "per_unit"), DEFAULTS
)
def test_default_term_table(
    term_id: str,
    procedure: Procedure,
    clause: str,
    anchor: str,
    kind: TermKind,
    amount: int | None,
    owner: Role,
    per_unit: bool,
) -> None:
    rule = DEFAULT_RULES.term(term_id)
    assert (rule.procedure, rule.clause, rule.anchor, rule.kind, rule.amount, rule.owner, rule.per_unit) == (
        procedure,
        clause,
        anchor,
        kind,
        amount,
        owner,
        per_unit,
    )
    assert rule.title  # a Russian title for the card
    assert rule.event in Anchor


def test_categories_and_reminders_defaults() -> None:
    assert {c.id: c.days for c in DEFAULT_RULES.categories.values()} == {
        "federal_fast": 8,
        "local_fast": 14,
        "other": 20,
    }
    assert all(c.title for c in DEFAULT_RULES.categories.values())
    assert DEFAULT_RULES.reminder_fractions == (0.5, 0.8)


@pytest.mark.parametrize(
    ("term_id", "expected"),
    [
        ("os.route", (Role.OPERATOR, Role.REGION_CURATOR, Role.OFFICE_HEAD)),
        ("os.approve", (Role.REGION_CURATOR, Role.OFFICE_HEAD)),  # the owner is the curator: told once
        ("os.unit_info", (Role.UNIT_OFFICIAL, Role.REGION_CURATOR, Role.OFFICE_HEAD)),
        ("os.publish", (Role.OPERATOR, Role.REGION_CURATOR, Role.OFFICE_HEAD, Role.HEAD)),
        ("pos.return", (Role.EXECUTOR, Role.POS_CURATOR, Role.OFFICE_HEAD)),
        ("pos.answer", (Role.POS_CURATOR, Role.OFFICE_HEAD, Role.HEAD)),
        ("pos.coexec", (Role.EXECUTOR, Role.POS_CURATOR, Role.OFFICE_HEAD)),
    ],
)
def test_miss_recipients(term_id: str, expected: tuple[Role, ...]) -> None:
    assert DEFAULT_RULES.miss_recipients(term_id) == expected


def test_miss_recipients_start_with_the_holder() -> None:
    """os.route waiting for approval is the office head's (RULES.md §6): he is told first, the operator not."""
    assert DEFAULT_RULES.miss_recipients("os.route", Role.OFFICE_HEAD) == (
        Role.OFFICE_HEAD,
        Role.REGION_CURATOR,
    )


@pytest.mark.parametrize(
    ("term_id", "return_only"),
    [(r.id, r.id in ("os.return", "pos.return")) for r in DEFAULT_RULES.terms.values()],
)
def test_only_the_return_terms_are_return_only(term_id: str, return_only: bool) -> None:
    assert DEFAULT_RULES.return_only(term_id) is return_only
    assert DEFAULT_RULES.term(term_id).return_only is return_only


def test_return_only_is_configurable_and_checked() -> None:
    rules = Rules.from_mapping({"terms": {"os.return": {"return_only": False}}})
    assert not rules.return_only("os.return")
    assert not DEFAULT_RULES.return_only("no.such.term")
    with pytest.raises(RulesError, match=r"rules\.terms\.\"os\.return\"\.return_only: must be true or false"):
        Rules.from_mapping({"terms": {"os.return": {"return_only": "yes"}}})


def test_os_final_publish_is_configurable_like_every_term(cal: WorkingCalendar) -> None:
    rules = Rules.from_mapping({"terms": {"os.final_publish": {"amount": 120}}})
    assert rules.due("os.final_publish", at(2026, 12, 4, 10), cal) == at(2026, 12, 4, 12)


def test_a_limit_caps_a_term_and_the_terms_counted_back_from_it(cal: WorkingCalendar) -> None:
    """The ПОС due date from ПОС caps pos.answer when stricter; pos.draft (answer − 2 days) follows it."""
    limit = at(2026, 3, 12, 18)  # Thu 12.03, earlier than the 20-day Mon 23.03
    limits = {"pos.answer": limit}
    assert DEFAULT_RULES.due("pos.answer", at(2026, 3, 2, 10), cal, category="other", limits=limits) == limit
    # 12.03 − 2 days = Tue 10.03 18:00.
    assert DEFAULT_RULES.due("pos.draft", at(2026, 3, 2, 10), cal, category="other", limits=limits) == at(
        2026, 3, 10, 18
    )
    later = {"pos.answer": at(2026, 4, 1, 18)}  # a later ПОС date: the Порядок's stricter term stays
    assert DEFAULT_RULES.due("pos.answer", at(2026, 3, 2, 10), cal, category="other", limits=later) == at(
        2026, 3, 23, 18
    )


# --- due() refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term_id", "category", "anchor", "message"),
    [
        ("os.nope", None, at(2026, 3, 2, 10), "unknown term 'os.nope'"),
        ("pos.answer", None, at(2026, 3, 2, 10), "pos.answer: a category is required"),
        ("pos.answer", "vip", at(2026, 3, 2, 10), "pos.answer: unknown category 'vip'"),
        ("pos.coexec", None, at(2026, 3, 2, 10), "pos.coexec: a category is required"),
        ("pos.draft", "vip", at(2026, 3, 2, 10), "pos.answer: unknown category 'vip'"),
        ("os.route", None, datetime(2026, 3, 2, 10), "os.route: the anchor instant must be timezone-aware"),
    ],
)
def test_due_refusals(
    cal: WorkingCalendar, term_id: str, category: str | None, anchor: datetime, message: str
) -> None:
    with pytest.raises(RulesError) as caught:
        DEFAULT_RULES.due(term_id, anchor, cal, category=category)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


# --- config -----------------------------------------------------------------------------------------------


def test_empty_config_is_the_defaults() -> None:
    rules = Rules.from_mapping({})
    assert dict(rules.terms) == dict(DEFAULT_RULES.terms)
    assert dict(rules.categories) == dict(DEFAULT_RULES.categories)


@pytest.mark.parametrize(
    ("config", "term_id", "anchor", "category", "expected"),
    [
        # 8 working hours from Mon 09:00: 09–13 + 14–18 -> 18:00 the same day.
        (
            {"terms": {"os.publish": {"amount": 480}}},
            "os.publish",
            at(2026, 3, 2, 9),
            None,
            at(2026, 3, 2, 18),
        ),
        # os.draft follows its reference: 18:00 − 2 working hours = 16:00.
        ({"terms": {"os.publish": {"amount": 480}}}, "os.draft", at(2026, 3, 2, 9), None, at(2026, 3, 2, 16)),
        # 4 hours before publication instead of 2: Tue 03.03 10:00 − 4 h = 09–10 + Mon 15–18 -> Mon 15:00.
        ({"terms": {"os.draft": {"amount": 240}}}, "os.draft", at(2026, 3, 2, 9), None, at(2026, 3, 2, 15)),
        # "24 hours" as a calendar-day term: the day after Mon 02.03 -> Tue 03.03 18:00.
        (
            {"terms": {"os.publish": {"kind": "calendar_days", "amount": 1}}},
            "os.publish",
            at(2026, 3, 2, 9),
            None,
            at(2026, 3, 3, 18),
        ),
        # os.draft as its own term counted from T0: 300 wm from Mon 09:00 -> 09–13 (4 h) + 14–15 -> 15:00.
        (
            {"terms": {"os.draft": {"kind": "working_minutes", "amount": 300}}},
            "os.draft",
            at(2026, 3, 2, 9),
            None,
            at(2026, 3, 2, 15),
        ),
        # 8 working days after an interim answer (another municipality's figure): Mon 02.03 -> 03,04,05,06,
        # (09.03 off) 10,11,12,13 -> Fri 13.03 18:00.
        ({"terms": {"os.final": {"amount": 8}}}, "os.final", at(2026, 3, 2, 12), None, at(2026, 3, 13, 18)),
        # federal_fast = 10 days: Mon 02.03 -> Thu 12.03.
        (
            {"pos_categories": {"federal_fast": 10}},
            "pos.answer",
            at(2026, 3, 2, 10),
            "federal_fast",
            at(2026, 3, 12, 18),
        ),
        # and its half, 5 days -> Sat 07.03; 08.03 Sun, 09.03 off -> Tue 10.03.
        (
            {"pos_categories": {"federal_fast": 10}},
            "pos.coexec",
            at(2026, 3, 2, 10),
            "federal_fast",
            at(2026, 3, 10, 18),
        ),
        # an added class: 3 days -> Thu 05.03.
        (
            {"pos_categories": {"urgent": {"days": 3, "title": "Срочные"}}},
            "pos.answer",
            at(2026, 3, 2, 10),
            "urgent",
            at(2026, 3, 5, 18),
        ),
        # half of 3 days rounds down to 1 day -> Tue 03.03.
        (
            {"pos_categories": {"urgent": {"days": 3, "title": "Срочные"}}},
            "pos.coexec",
            at(2026, 3, 2, 10),
            "urgent",
            at(2026, 3, 3, 18),
        ),
        # a third of the term instead of half: 20 * 33 // 100 = 6 days -> Sun 08.03 -> Tue 10.03.
        (
            {"terms": {"pos.coexec": {"amount": 33}}},
            "pos.coexec",
            at(2026, 3, 2, 10),
            "other",
            at(2026, 3, 10, 18),
        ),
        # immediate: the anchor itself, at any hour.
        (
            {"terms": {"os.return": {"kind": "immediate"}}},
            "os.return",
            at(2026, 3, 7, 23, 5),
            None,
            at(2026, 3, 7, 23, 5),
        ),
    ],
)
def test_config_overrides(
    cal: WorkingCalendar,
    config: dict[str, Any],
    term_id: str,
    anchor: datetime,
    category: str | None,
    expected: datetime,
) -> None:
    assert Rules.from_mapping(config).due(term_id, anchor, cal, category=category) == expected


def test_config_other_settings() -> None:
    rules = Rules.from_mapping(
        {
            "terms": {"os.publish": {"owner": "office_head", "title": "Ответ", "escalate": []}},
            "pos_categories": {"other": {"title": "Все прочие"}},
            "reminders": {"fractions": [0.8, 0.25, 0.5, 0.5]},
            "alerts": {"missed": ["office_head", "head"]},
            "curators": {"pos": "coordinator"},
        },
        units={"roads": "Дороги"},
    )
    publish = rules.term("os.publish")
    assert (publish.owner, publish.title, publish.escalate) == (Role.OFFICE_HEAD, "Ответ", ())
    assert rules.categories["other"].days == 20 and rules.categories["other"].title == "Все прочие"
    assert rules.reminder_fractions == (0.25, 0.5, 0.8)
    assert rules.miss_recipients("pos.route") == (
        Role.POS_CURATOR,
        Role.COORDINATOR,
        Role.OFFICE_HEAD,
        Role.HEAD,
    )
    assert rules.miss_recipients("os.publish") == (Role.OFFICE_HEAD, Role.REGION_CURATOR, Role.HEAD)
    assert dict(rules.units) == {"roads": "Дороги"}
    assert Rules.from_mapping({"reminders": {"fractions": []}}).reminder_fractions == ()


T = "rules.terms"
INVALID: list[Any] = [
    (
        {"terms": {"os.publish": {"amount": -5}}},
        f'{T}."os.publish".amount: must be a positive integer, got -5',
    ),
    ({"terms": {"os.publish": {"amount": 0}}}, f'{T}."os.publish".amount: must be a positive integer, got 0'),
    (
        {"terms": {"os.publish": {"amount": 1.5}}},
        f'{T}."os.publish".amount: must be a positive integer, got 1.5',
    ),
    (
        {"terms": {"os.publish": {"amount": "9"}}},
        f"{T}.\"os.publish\".amount: must be a positive integer, got '9'",
    ),
    (
        {"terms": {"os.publish": {"amount": True}}},
        f'{T}."os.publish".amount: must be a positive integer, got True',
    ),
    ({"terms": {"os.nope": {"amount": 5}}}, f'{T}."os.nope": unknown term (known: os.return, '),
    ({"terms": {"os.publish": {"amout": 5}}}, f'{T}."os.publish".amout: unknown key (known: '),
    ({"terms": {"os.publish": {"kind": "hours"}}}, f"{T}.\"os.publish\".kind: unknown kind 'hours' (known: "),
    ({"terms": {"os.publish": {"owner": "janitor"}}}, f"{T}.\"os.publish\".owner: unknown role 'janitor'"),
    ({"terms": {"os.publish": {"owner": "system"}}}, f"{T}.\"os.publish\".owner: unknown role 'system'"),
    ({"terms": {"os.publish": {"escalate": "head"}}}, f'{T}."os.publish".escalate: must be a list of roles'),
    (
        {"terms": {"os.draft": {"anchor": "os.nope"}}},
        f"{T}.\"os.draft\".anchor: points at a missing term 'os.nope'",
    ),
    (
        {"terms": {"os.draft": {"anchor": "pos.answer"}}},
        f"{T}.\"os.draft\".anchor: 'pos.answer' belongs to another procedure",
    ),
    (
        {"terms": {"os.draft": {"anchor": "os.unit_info"}}},
        f"{T}.\"os.draft\".anchor: cannot count back from the per-unit term 'os.unit_info'",
    ),
    (
        {"terms": {"os.draft": {"anchor": "os.approve"}}},
        f"{T}.\"os.draft\".anchor: 'os.approve' counts from 'draft_submitted', but 'os.draft' opens at 't0'",
    ),
    (
        {"terms": {"os.publish": {"kind": "before_working_minutes", "amount": 60, "anchor": "os.draft"}}},
        f'{T}."os.publish".anchor: a cycle of before terms: os.publish -> os.draft -> os.publish',
    ),
    (
        {"terms": {"os.publish": {"kind": "before_days", "amount": 1}}},
        f'{T}."os.publish".anchor: a before_days term needs the id of the term it counts back from',
    ),
    (
        {"terms": {"os.route": {"anchor": "routed"}}},
        f"{T}.\"os.route\".anchor: the lifecycle opens this term at 't0'; only a before kind may name",
    ),
    (
        {"terms": {"os.final": {"kind": "working_minutes"}}},
        f'{T}."os.final".amount: required when the kind changes to working_minutes',
    ),
    (
        {"terms": {"pos.answer": {"amount": 5}}},
        f'{T}."pos.answer".amount: a category_days term takes no amount',
    ),
    (
        {"terms": {"pos.coexec": {"amount": 150}}},
        f'{T}."pos.coexec".amount: a category_fraction amount is a percent from 1 to 100, got 150',
    ),
    (
        {"terms": {"os.publish": {"title": ""}}},
        f"{T}.\"os.publish\".title: must be a non-empty string, got ''",
    ),
    ({"terms": {"os.publish": 480}}, f'{T}."os.publish": must be a table, got 480'),
    ({"terms": []}, "rules.terms: must be a table, got []"),
    (
        {"pos_categories": {"vip": 3}},
        "rules.pos_categories.vip: unknown category (known: federal_fast, local_fast, ",
    ),
    ({"pos_categories": {"other": 0}}, "rules.pos_categories.other: must be a positive integer, got 0"),
    (
        {"pos_categories": {"vip": {"days": 3}}},
        "rules.pos_categories.vip: a new category needs both days and title",
    ),
    (
        {"pos_categories": {"other": {"days": -1}}},
        "rules.pos_categories.other.days: must be a positive integer",
    ),
    (
        {"reminders": {"fractions": [0.5, 1.0]}},
        "rules.reminders.fractions: every fraction must be a number strictly between 0 and 1, got 1.0",
    ),
    (
        {"reminders": {"fractions": [0]}},
        "rules.reminders.fractions: every fraction must be a number strictly between 0 and 1, got 0",
    ),
    (
        {"reminders": {"fractions": [-0.1]}},
        "rules.reminders.fractions: every fraction must be a number strictly",
    ),
    (
        {"reminders": {"fractions": [True]}},
        "rules.reminders.fractions: every fraction must be a number strictly",
    ),
    (
        {"reminders": {"fractions": "0.5"}},
        "rules.reminders.fractions: must be a list of numbers between 0 and 1",
    ),
    ({"reminders": {"at": [0.5]}}, "rules.reminders.at: unknown key (known: fractions)"),
    ({"alerts": {"missed": ["boss"]}}, "rules.alerts.missed: unknown role 'boss'"),
    ({"curators": {"vk": "operator"}}, "rules.curators.vk: unknown procedure (known: open_sources, pos)"),
    ({"curators": {"pos": "nobody"}}, "rules.curators.pos: unknown role 'nobody'"),
    (
        {"term": {}},
        "rules.term: unknown key (known: alerts, curators, pos_categories, reminders, terms, undo)",
    ),
]


@pytest.mark.parametrize(("config", "message"), INVALID)
def test_invalid_config(config: dict[str, Any], message: str) -> None:
    with pytest.raises(RulesError) as caught:
        Rules.from_mapping(config)
    text = str(caught.value)
    assert text.startswith(message), text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("units", "message"),
    [
        ({}, "units: at least one unit is needed"),
        ({"Roads": "Дороги"}, 'units."Roads": a unit id is lower-case latin letters, digits and _'),
        ({"roads": " "}, "units.roads: must be a non-empty string"),
    ],
)
def test_invalid_units(units: dict[str, str], message: str) -> None:
    with pytest.raises(RulesError, match="^" + message.replace(".", r"\.").replace('"', '"')):
        Rules.from_mapping({}, units=units)


def test_from_a_toml_rules_table(cal: WorkingCalendar) -> None:
    import tomllib

    doc = tomllib.loads(
        """
        [rules.terms."os.publish"]
        amount = 480
        owner = "operator"
        [rules.terms."os.final"]
        amount = 8
        [rules.pos_categories]
        federal_fast = 8
        regional = { days = 10, title = "Региональная категория" }
        [rules.reminders]
        fractions = [0.5, 0.8]
        [rules.alerts]
        missed = ["office_head"]
        [rules.curators]
        open_sources = "region_curator"
        """
    )
    rules = Rules.from_mapping(doc["rules"])
    assert rules.term("os.publish").amount == 480 and rules.term("os.final").amount == 8
    assert rules.categories["regional"].days == 10
    # 10 days from Mon 02.03 -> Thu 12.03 18:00.
    assert rules.due("pos.answer", at(2026, 3, 2, 10), cal, category="regional") == at(2026, 3, 12, 18)
