"""Hostile input (issue 8): forged ids at and beyond every integer limit, Unicode digits, far-off years, garbled
and forged button data, handlers that fail. Each refusal is one Russian line and changes nothing; every press is
answered. Where storage is touched, on SQLite and on PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram.fsm.storage.memory import MemoryStorage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text as sql

import handlers.common
from emulators.telegram import visible_text
from storage.engine import create_engine
from tests.handlers.conftest import (
    EDUCATION_CHAT,
    HOUSING_CHAT,
    HOUSING_MAN,
    INTAKE,
    OFFICE,
    OFFICE_HEAD,
    OPERATOR,
    POS_CHAT,
    POS_CURATOR,
    REGION,
    STRANGER,
    Harness,
    button,
    harness_on,
    labels,
)
from tests.storage.conftest import pg_schema_engine
from views import texts
from views.callbacks import CaseCb, OrderCb, ResponsibleCb, RouteCb
from views.keyboards import offered
from workflow.calendar import CalendarDataWarning
from workflow.lifecycle import Action
from workflow.model import MAX_ID, Actor, Role
from workflow.ports import StorageUnavailable
from workflow.services import NOT_FOUND

LIMITS = [0, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 10**30]
OPERATOR_ACTOR = Actor(user_id=OPERATOR, roles=frozenset({Role.OPERATOR}))
UNICODE_DIGITS = ["²", "١٢", "１", "߁", "৩", "1²"]  # superscript, Arabic-Indic, fullwidth, NKo, Bengali


@pytest.fixture(params=["sqlite", "pg"])
async def hh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    """The handler harness on a real SQLite file and on PostgreSQL (a schema of its own)."""
    if request.param == "pg":
        async with pg_schema_engine() as engine, harness_on(engine) as harness:
            yield harness
        return
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'otklik.sqlite3'}")
    try:
        async with harness_on(engine) as harness:
            yield harness
    finally:
        await engine.dispose()


async def register_os(h: Harness, text: str = "Яма на дороге у школы") -> int:
    return await h.intake(text, "curator")


async def snapshot(h: Harness) -> tuple[Any, ...]:
    """Everything a refused input must leave as it was: cases (status, version, units), events, outbox."""
    async with h.repo.transaction() as tx:
        cases = await tx.cases(open_only=False)
        events = [len(await tx.events(c.id)) for c in cases]
    async with h.repo.engine.connect() as conn:  # a plain read: claiming would lease the rows
        outbox = (await conn.execute(sql("SELECT count(*) FROM outbox"))).scalar()
    return (
        tuple((c.id, c.status, c.version, c.units, c.proposed_units) for c in cases),
        tuple(events),
        outbox,
    )


# --- ids from outside ---------------------------------------------------------------------------------------


async def test_case_command_at_every_integer_limit_answers_one_line(hh: Harness) -> None:
    h = hh
    case_id = await register_os(h)
    before = await snapshot(h)
    for value in LIMITS:
        sent = len(h.emu.sent(INTAKE))
        await h.send(INTAKE, OPERATOR, f"/case {value}")
        answers = h.texts(INTAKE)[sent:]
        expected = texts.CASE_USAGE if value < 0 else texts.CASE_NOT_FOUND
        assert answers == [expected], (value, answers)  # 2^31 and 2^63-1 reach SQL (BIGINT on PG): none
    for raw in UNICODE_DIGITS:
        sent = len(h.emu.sent(INTAKE))
        await h.send(INTAKE, OPERATOR, f"/case {raw}")
        assert h.texts(INTAKE)[sent:] == [texts.CASE_USAGE], raw
    assert await snapshot(h) == before
    # The real one still shows.
    sent = len(h.emu.sent(INTAKE))
    await h.send(INTAKE, OPERATOR, f"/case {case_id}")
    assert f"Сообщение № {case_id}" in h.texts(INTAKE)[sent]


async def test_ids_past_2_31_reach_postgres_as_bigint_and_find_nothing(hh: Harness) -> None:
    h = hh
    for value in (2**31, 2**40, MAX_ID):
        with pytest.raises(Exception) as refused:
            await h.services.case(value)
        assert getattr(refused.value, "message", None) == NOT_FOUND
    # Beyond 64 bits the use case refuses before SQL (the driver would overflow).
    for value in (0, -1, 2**63, 10**30):
        with pytest.raises(Exception) as refused:
            await h.services.act(value, Action.SIGNIFICANT, OPERATOR_ACTOR)
        assert getattr(refused.value, "message", None) == NOT_FOUND


@pytest.mark.parametrize("field", ["case_id", "version"])
async def test_button_ids_at_every_limit_are_refused_before_sql(hh: Harness, field: str) -> None:
    h = hh
    case_id = await register_os(h)
    card = await h.card(INTAKE, case_id)
    before = await snapshot(h)
    for value in LIMITS + UNICODE_DIGITS:
        ids: dict[str, object] = {"case_id": case_id, "version": 1, field: value}
        for data in (
            f"c1:significant:{ids['case_id']}:{ids['version']}",
            f"r2:{ids['case_id']}:{ids['version']}:1:0:1",
            f"o1:{ids['case_id']}:{ids['version']}:0:0",
            f"p1:{ids['case_id']}:{ids['version']}:3:0",
        ):
            answer = await h.press(INTAKE, OPERATOR, card.message_id, data)
            if value in (2**31 - 1, 2**31, 2**63 - 1):
                # In range: a press on a card that does not exist, or an old version of this one.
                assert answer is not None and answer != texts.FAILED, (data, answer)
            else:
                assert answer == texts.UNKNOWN_BUTTON, (data, answer)
    assert await snapshot(h) == before


async def test_non_canonical_numbers_in_buttons_are_not_ours(h: Harness) -> None:
    case_id = await register_os(h)
    card = await h.card(INTAKE, case_id)
    before = await snapshot(h)
    for forged in (" 1", "+1", "1_0", "01", "1.0", "0x1", "1e3"):
        for data in (f"c1:significant:{case_id}:{forged}", f"c1:significant:{forged}:1"):
            assert await h.press(INTAKE, OPERATOR, card.message_id, data) == texts.UNKNOWN_BUTTON, data
    for flag in ("yes", "true", "on", "2"):
        data = f"r2:{case_id}:1:1:0:{flag}"
        assert await h.press(INTAKE, OPERATOR, card.message_id, data) == texts.UNKNOWN_BUTTON, data
    for page in ("01", "+1", "-1", "²", "100"):
        data = f"r2:{case_id}:1:1:{page}:0"
        assert await h.press(INTAKE, OPERATOR, card.message_id, data) == texts.UNKNOWN_BUTTON, data
    assert await snapshot(h) == before


async def test_a_page_the_unit_toggles_do_not_have_is_refused_and_changes_nothing(h: Harness) -> None:
    """Six units fit one page on Telegram: a toggle, a page turn or «Готово» naming page 1 is not ours."""
    case_id = await register_os(h)
    card = await h.card(INTAKE, case_id)
    assert await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_ROUTE)) == texts.CHOOSE_UNITS
    card = await h.card(INTAKE, case_id)
    shown = labels(card)
    assert texts.BTN_PAGE_MORE not in shown and texts.BTN_DONE in shown
    before = await snapshot(h)
    for done in (False, True):
        forged = RouteCb(case_id=case_id, version=1, mask=1, page=1, done=done).pack()
        assert await h.press(INTAKE, OPERATOR, card.message_id, forged) == texts.UNKNOWN_PAGE, done
    assert labels(await h.card(INTAKE, case_id)) == shown
    assert await snapshot(h) == before


_FIELD = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(
        ["", "0", "1", "2", "²", "١", "１", "٣٢", "route", "approve", "close", "publish", "1.2.3"]
    ),
    st.text(max_size=12),
)
_DATA = st.one_of(
    st.text(max_size=80),
    st.tuples(st.sampled_from(["c1", "r1", "o1", "p1", "pc1", "c", "x"]), st.lists(_FIELD, max_size=6)).map(
        lambda t: ":".join([t[0], *t[1]])
    ),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_DATA)
async def test_any_callback_data_is_answered_and_changes_nothing(h: Harness, data: str) -> None:
    async with h.repo.transaction() as tx:
        cases = await tx.cases(open_only=False)
    if not cases:
        await register_os(h)
    case = await h.services.case(1)
    card = await h.card(INTAKE, 1)
    before = await snapshot(h)
    for chat, user in ((INTAKE, OPERATOR), (OFFICE, OFFICE_HEAD), (HOUSING_CHAT, HOUSING_MAN)):
        if _a_real_button(data, case, chat, h):
            continue  # hypothesis found a button the card does offer: pressing it may well change the case
        answer = await h.press(chat, user, card.message_id, data)
        assert answer is not None and answer != texts.FAILED, (chat, data)
    assert await snapshot(h) == before


def _a_real_button(data: str, case: Any, chat: int, h: Harness) -> bool:
    roles, units = {
        INTAKE: ({Role.OPERATOR}, set()),
        OFFICE: ({Role.OFFICE_HEAD}, set()),
        HOUSING_CHAT: ({Role.UNIT_OFFICIAL, Role.EXECUTOR}, {"housing"}),
    }[chat]
    for factory in (CaseCb, RouteCb, OrderCb, ResponsibleCb):
        try:
            cb = factory.unpack(data)
        except (TypeError, ValueError):
            continue
        if (
            cb.pack() == data
            and cb.case_id == case.id
            and offered(cb, case, roles, units, list(h.rules.units))
        ):
            return True
    return False


# --- forged buttons: only what the card offers that person ----------------------------------------------------


async def routed_to_office(h: Harness, *units: str) -> int:
    """An open-sources case whose routing (to `units`) the operator proposed: the office head's card is up."""
    case_id = await register_os(h)
    card = await h.card(INTAKE, case_id)
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_ROUTE))
    for unit in units:
        await h.press(INTAKE, OPERATOR, card.message_id, button(card, h.rules.units[unit]))
    assert (
        await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_DONE))
        == "Направление предложено"
    )
    return case_id


async def test_forged_verbs_not_on_the_card_change_nothing(hh: Harness) -> None:
    h = hh
    case_id = await routed_to_office(h, "housing", "education")
    case = await h.services.case(case_id)
    v = case.version
    office = await h.card(OFFICE, case_id)
    intake = await h.card(INTAKE, case_id)
    before = await snapshot(h)
    order = list(h.rules.units)
    other = next(i for i, u in enumerate(order) if u not in case.proposed_units)
    forged = [
        # The office head's close is on his card, but only asks for the reason: nothing changes yet.
        (OFFICE, OFFICE_HEAD, office, f"c1:close:{case_id}:{v}", {texts.PROMPT_SENT}),
        # A reopen is no button of any card (a closed card has none): a command only.
        (OFFICE, OFFICE_HEAD, office, f"c1:reopen:{case_id}:{v}", {texts.UNKNOWN_BUTTON}),
        # The operator's route in a private chat, where no card has buttons (the domain would accept it).
        (OPERATOR, OPERATOR, intake, RouteCb(case_id=case_id, version=v, mask=1, page=0, done=True).pack(),
         {texts.NOT_OFFERED}),
        (OPERATOR, OPERATOR, intake, f"c1:significant:{case_id}:{v}", {texts.NOT_OFFERED}),
        # A ПОС responsible choice on an open-sources case.
        (INTAKE, OPERATOR, intake, ResponsibleCb(case_id=case_id, version=v, mask=3, responsible=0).pack(),
         {texts.NOT_OFFERED}),
        # The order of officials naming a unit that was not proposed, or «Готово» before all are placed.
        (OFFICE, OFFICE_HEAD, office, OrderCb(case_id=case_id, version=v, seq=f"{other}", done=False).pack(),
         {texts.NOT_OFFERED}),
        (OFFICE, OFFICE_HEAD, office,
         OrderCb(case_id=case_id, version=v, seq=str(order.index(case.proposed_units[0])), done=True).pack(),
         {texts.NOT_OFFERED}),
        # «Без ссылки» / the confirmed publication on a case nobody approved.
        (INTAKE, OPERATOR, intake, f"c1:nl_publish:{case_id}:{v}", None),
        (INTAKE, OPERATOR, intake, f"c1:publish_ok:{case_id}:{v}", None),
        (REGION, 13, intake, f"c1:approve:{case_id}:{v}", None),
    ]  # fmt: skip
    for chat, user, card, data, expected in forged:
        answer = await h.press(chat, user, card.message_id, data)
        assert answer is not None and answer not in (texts.FAILED, texts.DONE), (data, answer)
        assert not answer.startswith("Направление") and answer not in texts.DONE_BY_ACTION.values(), data
        if expected is not None:
            assert answer in expected, (data, answer)
    assert await snapshot(h) == before
    # What the card does offer still works: the office head's own approval.
    office = await h.card(OFFICE, case_id)
    assert texts.BTN_SET_ORDER in labels(office)
    done = await h.press(OFFICE, OFFICE_HEAD, office.message_id, button(office, texts.BTN_APPROVE_ROUTING))
    assert done == "Направление согласовано"
    # An executor's approve, in his unit's chat: not on that card; the domain's reason is the answer.
    case = await h.services.case(case_id)
    housing = await h.card(HOUSING_CHAT, case_id)
    before = await snapshot(h)
    for verb in ("approve", "approve_routing", "rework", "publish_ok", "nl_publish", "significant", "change"):
        data = f"c1:{verb}:{case_id}:{case.version}"
        answer = await h.press(HOUSING_CHAT, HOUSING_MAN, housing.message_id, data)
        assert answer is not None and answer not in texts.DONE_BY_ACTION.values(), (data, answer)
        assert answer != texts.FAILED
    assert await snapshot(h) == before


async def test_the_card_keyboard_and_the_check_are_one_list(h: Harness) -> None:
    """Every button a card shows passes `offered`; another chat's buttons do not pass in this one."""
    chats = {
        INTAKE: ({Role.OPERATOR}, set()),
        OFFICE: ({Role.OFFICE_HEAD}, set()),
        HOUSING_CHAT: ({Role.UNIT_OFFICIAL, Role.EXECUTOR}, {"housing"}),
        EDUCATION_CHAT: ({Role.UNIT_OFFICIAL, Role.EXECUTOR}, {"education"}),
    }
    case_id = await routed_to_office(h, "housing", "education")

    async def check() -> None:
        case = await h.services.case(case_id)
        async with h.repo.transaction() as tx:
            have = set(await tx.cards(case_id))
        shown: dict[int, set[str]] = {}
        for chat in have & set(chats):
            card = await h.card(chat, case_id)
            shown[chat] = {str(b["callback_data"]) for row in card.buttons for b in row}
        assert any(shown.values())
        for chat, datas in shown.items():
            roles, units = chats[chat]
            mine = {d for d in datas if offered(CaseCb.unpack(d), case, roles, units, list(h.rules.units))}
            assert mine == datas, chat
            others = set().union(*shown.values()) - datas
            assert not any(offered(CaseCb.unpack(d), case, roles, units, list(h.rules.units)) for d in others)

    await check()
    office = await h.card(OFFICE, case_id)
    await h.press(OFFICE, OFFICE_HEAD, office.message_id, button(office, texts.BTN_APPROVE_ROUTING))
    await check()


# --- the guard ------------------------------------------------------------------------------------------------


async def test_a_handler_that_raises_answers_the_press_and_logs_one_line(
    h: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    case_id = await register_os(h)
    card = await h.card(INTAKE, case_id)
    before = await snapshot(h)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom\nwith a second line")

    monkeypatch.setattr(h.services, "act", broken)
    caplog.set_level(logging.INFO, logger="handlers")
    answer = await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_SIGNIFICANT))
    assert answer == texts.FAILED == "Не удалось выполнить, попробуйте ещё раз"
    errors = [r for r in caplog.records if r.name == "handlers.errors"]
    assert len(errors) == 1 and errors[0].levelno == logging.ERROR
    line = errors[0].getMessage()
    assert "\n" not in line and f"case {case_id}" in line and "RuntimeError: boom with a second line" in line
    assert errors[0].exc_info is None  # the traceback goes to DEBUG only
    assert await snapshot(h) == before

    # A message whose handler fails gets a short reply, also with the case number in the log.
    monkeypatch.setattr(h.delivery, "show_card", broken)
    caplog.clear()
    sent = len(h.emu.sent(INTAKE))
    await h.send(INTAKE, OPERATOR, f"/case {case_id}")
    assert h.texts(INTAKE)[sent:] == [texts.FAILED]
    [error] = [r for r in caplog.records if r.name == "handlers.errors"]
    assert f"message failed (case {case_id})" in error.getMessage()


async def test_storage_unavailable_passes_the_guard(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The inbox keeps an update whose storage was down and handles it again: the guard must not eat it."""
    case_id = await register_os(h)
    card = await h.card(INTAKE, case_id)

    async def down(*args: object, **kwargs: object) -> None:
        raise StorageUnavailable("database is locked")

    monkeypatch.setattr(h.services, "act", down)
    query_id = h.emu.push_callback(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_SIGNIFICANT))
    with pytest.raises(StorageUnavailable):
        await h._feed(h.emu.pending_updates[-1])
    assert query_id not in h.emu.callback_answers  # not answered «не удалось»: it will be handled again


# --- years ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "when",
    ["01.12.9026 10:00", "01.01.0001", "0001-01-01T00:00", "9999-12-31T23:59", "01.01.1990", "2101-01-01"],
)
async def test_term_outside_the_calendar_years_answers_one_line(h: Harness, when: str) -> None:
    sent = len(h.emu.sent(INTAKE))
    await h.send(INTAKE, OPERATOR, f"/term os.route {when}")
    first, last = h.calendar.supported_years
    assert (first, last) == (1991, 2100)  # the `holidays` package's years for Russia around the shipped data
    assert h.texts(INTAKE)[sent:] == [texts.TERM_BAD_YEAR.format(first=first, last=last)]


async def test_term_at_the_calendar_edges_and_unicode_digits(h: Harness) -> None:
    sent = len(h.emu.sent(INTAKE))
    # The last supported year is answered (its holidays from the fallback, said once as a warning) without
    # «осталось», which would count working time across 74 years.
    with pytest.warns(CalendarDataWarning):
        await h.send(INTAKE, OPERATOR, "/term os.route 31.12.2100 17:00")
    await h.send(INTAKE, OPERATOR, "/term os.route ０１.１２.２０２６")
    answers = h.texts(INTAKE)[sent:]
    assert len(answers) == 2
    assert "31.12.2100" in answers[0] and "осталось" not in answers[0]
    assert answers[1] == texts.TERM_BAD_TIME.format(value="０１.１２.２０２６")


def notice(date: str, number: str = "87654321") -> str:
    return f"Сообщение № {number}\nКатегория: Прочие категории\nДата поступления: {date}\nТекст: Нет света"


@pytest.mark.parametrize(
    "date", ["01.12.9026 10:00", "01.12.0001 10:00", "31.12.1999 23:59", "04.03.2026 10:01"]
)
async def test_pos_notice_dated_far_off_is_refused_in_one_line(hh: Harness, date: str) -> None:
    h = hh  # now: Monday 02.03.2026 10:00; a day past it is the limit
    sent = len(h.emu.sent(POS_CHAT))
    await h.send(POS_CHAT, POS_CURATOR, notice(date))
    [answer] = h.texts(POS_CHAT)[sent:]
    assert answer.startswith("Дата сообщения не может быть"), answer
    async with h.repo.transaction() as tx:
        assert await tx.cases(open_only=False) == []


async def test_pos_notice_dated_tomorrow_is_registered(h: Harness) -> None:
    await h.send(POS_CHAT, POS_CURATOR, notice("03.03.2026 09:00"))
    assert any(t.startswith("Зарегистрировано: сообщение № 1") for t in h.texts(POS_CHAT))


async def test_pos_dialogue_refuses_a_date_before_2000(h: Harness) -> None:
    await h.send(POS_CHAT, POS_CURATOR, "/pos")
    await h.send(POS_CHAT, POS_CURATOR, "１２３４５６７８")  # fullwidth digits are not a ПОС number
    assert h.texts(POS_CHAT)[-1] == texts.POS_BAD_NUMBER
    await h.send(POS_CHAT, POS_CURATOR, "12345678")
    ask = h.emu.sent(POS_CHAT)[-1]
    await h.press(POS_CHAT, POS_CURATOR, ask.message_id, button(ask, h.rules.categories["local_fast"].title))
    await h.send(POS_CHAT, POS_CURATOR, "01.01.0001 10:00")
    assert h.texts(POS_CHAT)[-1].startswith("Дата сообщения не может быть раньше 01.01.2000")
    await h.send(POS_CHAT, POS_CURATOR, "01.12.9026 10:00")
    assert h.texts(POS_CHAT)[-1] == texts.POS_FUTURE_RECEIVED
    await h.send(POS_CHAT, POS_CURATOR, "02.03.2026 09:00")
    assert h.texts(POS_CHAT)[-1] == texts.POS_ASK_DUE


# --- interrupted dialogues, lost confirmations, strangers -------------------------------------------------------


def restart(h: Harness) -> None:
    """What a restart does to the dialogues: aiogram's memory storage starts empty."""
    h.dp.fsm.storage = MemoryStorage()


async def test_a_reply_to_a_dialogue_prompt_after_a_restart_says_start_again(h: Harness) -> None:
    await h.send(POS_CHAT, POS_CURATOR, "/pos")
    prompt = h.emu.sent(POS_CHAT)[-1]
    assert prompt.reply_markup and prompt.reply_markup.get("force_reply")
    restart(h)
    await h.send(POS_CHAT, POS_CURATOR, "12345678", reply_to=prompt.message_id)
    assert (
        h.texts(POS_CHAT)[-1] == texts.POS_INTERRUPTED == "Диалог прерван перезапуском, начните заново: /pos"
    )
    # The category keyboard of a dialogue the bot forgot.
    await h.send(POS_CHAT, POS_CURATOR, "/pos")
    await h.send(POS_CHAT, POS_CURATOR, "12345678")
    ask = h.emu.sent(POS_CHAT)[-1]
    restart(h)
    title = h.rules.categories["local_fast"].title
    assert await h.press(POS_CHAT, POS_CURATOR, ask.message_id, button(ask, title)) == texts.POS_INTERRUPTED
    async with h.repo.transaction() as tx:
        assert await tx.cases(open_only=False) == []


async def test_cancel_inside_the_dialogue_cancels(h: Harness) -> None:
    await h.send(POS_CHAT, POS_CURATOR, "/pos")
    await h.send(POS_CHAT, POS_CURATOR, "/cancel")
    assert h.texts(POS_CHAT)[-1] == texts.POS_CANCEL
    await h.send(POS_CHAT, POS_CURATOR, "12345678")  # no dialogue now: nothing happens, nothing is asked
    assert h.texts(POS_CHAT)[-1] == texts.POS_CANCEL
    await h.send(POS_CHAT, POS_CURATOR, "/cancel")
    assert h.texts(POS_CHAT)[-1] == texts.NOTHING_TO_CANCEL
    # At the last step too: a command is not the citizen's text.
    await h.send(POS_CHAT, POS_CURATOR, "/pos")
    await h.send(POS_CHAT, POS_CURATOR, "12345678")
    ask = h.emu.sent(POS_CHAT)[-1]
    await h.press(POS_CHAT, POS_CURATOR, ask.message_id, button(ask, h.rules.categories["local_fast"].title))
    await h.send(POS_CHAT, POS_CURATOR, "сейчас")
    await h.send(POS_CHAT, POS_CURATOR, "/foo")
    assert h.texts(POS_CHAT)[-1] == texts.POS_COMMAND_IN_DIALOGUE
    await h.send(POS_CHAT, POS_CURATOR, "/cancel")
    assert h.texts(POS_CHAT)[-1] == texts.POS_CANCEL
    async with h.repo.transaction() as tx:
        assert await tx.cases(open_only=False) == []


@pytest.mark.parametrize("kind", ["server_error", "disconnect", "bad_gateway_html"])
async def test_the_registered_confirmation_survives_failed_sends(
    h: Harness, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setattr(handlers.common, "CONFIRM_BACKOFF", (0.0,) * 5)
    # The next three sendMessage calls fail, whoever makes them (the confirmation or delivery's card).
    h.emu.fail_next(3, kind, status=502, methods=["sendMessage"])  # type: ignore[arg-type]
    await h.send(POS_CHAT, POS_CURATOR, notice("02.03.2026 09:00"))
    confirmations = [t for t in h.texts(POS_CHAT) if t == texts.REGISTERED.format(case_id=1)]
    assert confirmations == [texts.REGISTERED.format(case_id=1)]
    async with h.repo.transaction() as tx:
        assert len(await tx.cases(open_only=False)) == 1


async def test_strangers_in_work_groups_get_silence(h: Harness) -> None:
    case_id = await register_os(h)
    card = await h.card(INTAKE, case_id)
    before = {chat: h.texts(chat) for chat in (INTAKE, POS_CHAT, HOUSING_CHAT)}
    for chat in before:
        for text in ("привет", f"/case {case_id}", "/start", "/pos", notice("02.03.2026 09:00")):
            await h.send(chat, STRANGER, text)
    await h.send(INTAKE, STRANGER, "ответ", reply_to=card.message_id)
    assert {chat: h.texts(chat) for chat in before} == before
    # A press is answered privately (a toast), and in a private chat he is told who to ask.
    assert await h.press(INTAKE, STRANGER, card.message_id, f"c1:route:{case_id}:1") == texts.NOT_REGISTERED
    await h.send(STRANGER, STRANGER, "/start")
    assert h.texts(STRANGER) == [f"{texts.NOT_REGISTERED}\nВаш id: {STRANGER}.\n{texts.ID_STRANGER}"]
    assert visible_text(await h.card(INTAKE, case_id)) == visible_text(card)
