"""Access to citizens' personal data by role, through the Dispatcher (issue 14 item 5).

A unit's people see only the cases routed to their unit; the head, the office head and the curators see all.
What is shown in a group is shown to all its members: in a unit's chat only what that unit may see, whoever
asks. Every view (a card, a /find or choice line) is in `access_log` with who, in which chat and when; a refusal
(«не найдено») writes nothing.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from emulators.telegram import visible_text
from storage.tables import access_log
from tests.handlers.conftest import (
    CURATOR,
    EDUCATION_CHAT,
    EDUCATION_MAN,
    HOUSING_CHAT,
    HOUSING_MAN,
    OFFICE,
    OFFICE_HEAD,
    OPERATOR,
    POS_CURATOR,
    Harness,
    button,
)
from tests.handlers.test_flows import register_os, route_to
from views import texts
from workflow.model import Actor, Role

HEAD = 41  # added to the harness's staff below: the head of the district, in his private chat


async def routed(h: Harness, text: str, unit: str) -> int:
    case_id = await register_os(h, text)
    await route_to(h, case_id, h.rules.units[unit])
    office = await h.card(OFFICE, case_id)
    assert await h.press(OFFICE, OFFICE_HEAD, office.message_id, button(office, texts.BTN_APPROVE_ROUTING))
    return case_id


@pytest.fixture
async def cases(h: Harness) -> dict[str, int]:
    directory = h.dp.workflow_data["directory"]
    directory.staff[HEAD] = Actor(HEAD, frozenset({Role.HEAD}), name="Глава района")
    h.emu.add_user(HEAD, "Глава")
    return {
        "housing": await routed(h, "Нет света на ул. Мира, дом 3, Анна Петрова", "housing"),
        "education": await routed(h, "В школе на ул. Мира холодно", "education"),
        "new": await register_os(h, "Яма на ул. Мира у остановки"),
    }


async def shows(h: Harness, chat_id: int, user_id: int, case_id: int) -> bool:
    """/case N: True when the card came, False when «не найдено» (anything else fails)."""
    before = len(h.emu.sent(chat_id))
    await h.send(chat_id, user_id, f"/case {case_id}")
    answers = [visible_text(m) for m in h.emu.sent(chat_id)[before:]]
    if answers == [texts.CASE_NOT_FOUND]:
        return False
    assert answers and answers[0].startswith(f"Сообщение № {case_id} ·"), answers
    return True


async def found(h: Harness, chat_id: int, user_id: int, query: str) -> set[int]:
    before = len(h.emu.sent(chat_id))
    await h.send(chat_id, user_id, f"/find {query}")
    [answer] = [visible_text(m) for m in h.emu.sent(chat_id)[before:]]
    if answer == texts.FIND_NOTHING:
        return set()
    return {int(line.rsplit("/case ", 1)[1]) for line in answer.splitlines()[1:] if "/case " in line}


async def views(h: Harness) -> list[tuple[int, int, int | None, str]]:
    async with h.repo.reading() as tx:
        rows = (await tx.connection.execute(select(access_log).order_by(access_log.c.id))).all()
    return [(r.case_id, r.user_id, r.chat_id, r.what) for r in rows]


# (chat, who) -> which of the cases /case shows. A private chat's id is the person's own id.
SEES = [
    (HOUSING_MAN, HOUSING_MAN, {"housing"}),
    (EDUCATION_MAN, EDUCATION_MAN, {"education"}),
    (OFFICE_HEAD, OFFICE_HEAD, {"housing", "education", "new"}),
    (CURATOR, CURATOR, {"housing", "education", "new"}),
    (POS_CURATOR, POS_CURATOR, {"housing", "education", "new"}),
    (OPERATOR, OPERATOR, {"housing", "education", "new"}),
    (HEAD, HEAD, {"housing", "education", "new"}),
    (OFFICE, OFFICE_HEAD, {"housing", "education", "new"}),  # the office head's own group
    # A unit's chat: that unit's cases alone, whoever asks there (the office head too).
    (HOUSING_CHAT, HOUSING_MAN, {"housing"}),
    (HOUSING_CHAT, OFFICE_HEAD, {"housing"}),
    (EDUCATION_CHAT, OFFICE_HEAD, {"education"}),
    # A unit official in another unit's chat sees neither his cases there nor that unit's.
    (EDUCATION_CHAT, HOUSING_MAN, set()),
]


IDS = [
    "housing-private",
    "education-private",
    "office-head-private",
    "curator-private",
    "pos-curator-private",
    "operator-private",
    "head-private",
    "office-head-office-chat",
    "housing-in-housing-chat",
    "office-head-in-housing-chat",
    "office-head-in-education-chat",
    "housing-in-education-chat",
]


@pytest.mark.parametrize(("chat", "who", "expected"), SEES, ids=IDS)
async def test_case_by_role_and_chat(
    h: Harness, cases: dict[str, int], chat: int, who: int, expected: set[str]
) -> None:
    before = await views(h)
    shown = {name for name, case_id in cases.items() if await shows(h, chat, who, case_id)}
    assert shown == expected
    logged = (await views(h))[len(before) :]
    assert logged == [
        (cases[name], who, chat, "card") for name in ("housing", "education", "new") if name in shown
    ]


async def test_find_by_role_and_chat_and_logged(h: Harness, cases: dict[str, int]) -> None:
    everything = set(cases.values())
    assert await found(h, OFFICE_HEAD, OFFICE_HEAD, "ул. Мира") == everything
    assert await found(h, HEAD, HEAD, "ул. Мира") == everything
    assert await found(h, HOUSING_MAN, HOUSING_MAN, "ул. Мира") == {cases["housing"]}
    assert await found(h, HOUSING_CHAT, OFFICE_HEAD, "ул. Мира") == {cases["housing"]}
    assert await found(h, EDUCATION_CHAT, HOUSING_MAN, "ул. Мира") == set()
    assert await found(h, EDUCATION_MAN, EDUCATION_MAN, "Анна Петрова") == set()  # the text is not a way in
    logged = await views(h)
    assert sorted(logged) == sorted(
        [(c, OFFICE_HEAD, OFFICE_HEAD, "find") for c in everything]
        + [(c, HEAD, HEAD, "find") for c in everything]
        + [
            (cases["housing"], HOUSING_MAN, HOUSING_MAN, "find"),
            (cases["housing"], OFFICE_HEAD, HOUSING_CHAT, "find"),
        ]
    )


async def test_the_which_case_question_is_logged_as_a_view(h: Harness, cases: dict[str, int]) -> None:
    """A unit's plain message asks which case it is about with buttons showing the messages' beginnings."""
    await h.send(HOUSING_CHAT, HOUSING_MAN, "Свет дадут к 15:00")
    assert visible_text(h.emu.sent(HOUSING_CHAT)[-1]) == texts.WHICH_CASE
    assert await views(h) == [(cases["housing"], HOUSING_MAN, HOUSING_CHAT, "choice")]
