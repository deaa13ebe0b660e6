"""A card is edited only when it does not show its case's version yet (issue 16 item 5, step 1).

Measured before this rule: a refresh with nothing changed sent one editMessageText per card, each answered
"message is not modified", and each took a place in its chat's flood window (the bench's refreshes after
register and route made 106 such requests for 200 cases). The emulator's request log counts them here.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import delete, update

from emulators.telegram import RequestRecord
from storage.engine import create_engine
from storage.tables import cards
from tests.e2e.conftest import HOUSING, HOUSING_CHAT, INTAKE_CHAT, OFFICE_CHAT, World

CHATS = (INTAKE_CHAT, OFFICE_CHAT, HOUSING_CHAT)


def sent_since(w: World, mark: int) -> list[RequestRecord]:
    """The bot's calls after `mark` in the request log, apart from its polling."""
    return [r for r in w.emu.calls()[mark:] if r.method.lower() not in ("getupdates", "answercallbackquery")]


def edits(records: list[RequestRecord]) -> Counter[tuple[int, int]]:
    return Counter(
        (int(r.params["chat_id"]), int(r.params["message_id"]))
        for r in records
        if r.method.lower() == "editmessagetext"
    )


async def routed_case(w: World) -> int:
    await w.start()
    case = await w.register_os("Сообщение: яма во дворе")
    await w.route_os(case, "housing")
    await w.settle()
    assert all(w.cards(chat_id, case) for chat_id in CHATS)
    return case


async def set_shown(w: World, case_id: int, chat_id: int, version: int | None) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{w.db_path}")
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(cards).where(cards.c.case_id == case_id, cards.c.chat_id == chat_id)
                .values(shown_version=version)
            )  # fmt: skip
    finally:
        await engine.dispose()


async def test_a_refresh_with_nothing_changed_sends_nothing(world: World) -> None:
    w = world
    case = await routed_case(w)
    mark = len(w.emu.calls())
    await w.app.delivery.refresh_cards(case)
    await w.app.delivery.wake([case, case + 100])  # + a case that does not exist
    await w.settle()
    assert sent_since(w, mark) == []


async def test_one_change_edits_each_card_once(world: World) -> None:
    w = world
    case = await routed_case(w)
    mark = len(w.emu.calls())
    assert await w.reply_to_card(HOUSING_CHAT, HOUSING, case, "Ремонт 3 декабря") == "Информация направлена"
    await w.app.delivery.refresh_cards(case)  # once more after the wake's own refresh: nothing more
    await w.settle()
    sent = sent_since(w, mark)
    shown = {(chat_id, w.card(chat_id, case).message_id) for chat_id in CHATS}
    assert edits(sent) == Counter(dict.fromkeys(shown, 1))
    assert [r for r in sent if not r.ok] == []  # no "message is not modified"


async def test_a_card_behind_its_version_or_of_unknown_version_is_edited_alone(world: World) -> None:
    w = world
    case = await routed_case(w)
    async with w.app.repo.reading() as tx:
        [version] = {v for v in (await tx.card_versions([case]))[case].values()}
    assert version is not None
    await set_shown(w, case, OFFICE_CHAT, version - 1)
    await set_shown(w, case, HOUSING_CHAT, None)
    mark = len(w.emu.calls())
    await w.app.delivery.wake([case])
    await w.settle()
    expected = {(c, w.card(c, case).message_id) for c in (OFFICE_CHAT, HOUSING_CHAT)}
    assert edits(sent_since(w, mark)) == Counter(dict.fromkeys(expected, 1))
    async with w.app.repo.reading() as tx:
        assert (await tx.card_versions([case]))[case] == dict.fromkeys(CHATS, version)


async def test_a_restart_posts_a_missing_card_and_edits_no_current_one(world: World) -> None:
    w = world
    case = await routed_case(w)
    await w.stop()
    engine = create_engine(f"sqlite+aiosqlite:///{w.db_path}")
    try:
        async with engine.begin() as conn:  # as if the housing card had never been recorded
            await conn.execute(delete(cards).where(cards.c.case_id == case, cards.c.chat_id == HOUSING_CHAT))
    finally:
        await engine.dispose()
    mark = len(w.emu.calls())
    await w.start(background=True)
    await w.wait(lambda: len(w.cards(HOUSING_CHAT, case)) == 2, "the housing card posted again by the repair")
    await w.settle()
    sent = sent_since(w, mark)
    assert edits(sent) == Counter()
    posts = [r for r in sent if r.method.lower() == "sendmessage"]
    assert [int(r.params["chat_id"]) for r in posts] == [HOUSING_CHAT]


async def test_a_term_notice_redraws_the_cards_time_left(world: World) -> None:
    w = world
    case = await routed_case(w)
    mark = len(w.emu.calls())
    notices = await w.at(w.local(15, 0))  # a reminder: the version stays, the time left on the card does not
    assert any(n.case_id == case for n in notices)
    shown = {(chat_id, w.card(chat_id, case).message_id) for chat_id in CHATS}
    assert edits(sent_since(w, mark)) == Counter(dict.fromkeys(shown, 1))
