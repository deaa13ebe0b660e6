"""Hostile text through polling: HTML tags and entities, a script tag, Markdown marks and 10,000 characters in
a citizen's message, a unit's information, a draft and a rework reason.

Each appears in every card exactly as written (what the emulator's HTML parser shows the user), trimmed with
«…» only where it cannot fit; no card or card version exceeds the messenger's limit (Telegram's 4096 UTF-16 units,
MAX's 4,000 characters); no handler fails.
"""

from __future__ import annotations

import logging

import pytest

from emulators.staff import StaffMessage, StaffVersion, visible_text
from tests.e2e.conftest import (
    HOUSING,
    HOUSING_CHAT,
    INTAKE_CHAT,
    OFFICE_CHAT,
    OPERATOR,
    REGION_CHAT,
    REGION_CURATOR,
    World,
)

HOSTILE = (
    '<b>Срочно</b> & <script>alert("x")</script> *x* _y_ `код` [ссылка](http://e.x) &amp; &lt;i&gt; '
    '<a href="http://evil">тут</a> <i>не закрыт \\ "кавычки" 🚧 &#33; &nbsp;'
)
FILLER = "Яма <у> дома & *5* 🚗 "  # tags, an entity-like ampersand, Markdown and a character outside the BMP
LONG = HOSTILE + "\n" + (FILLER * 600)[: 10_000 - len(HOSTILE) - 1]
INFO = "<u>Ремонт</u> & <pre>3 декабря</pre> *жирно* </b>"
DRAFT = "Здравствуйте! <b>Ремонт</b> 3 декабря & вывоз — " + "<тег> & *звезда* " * 300
REASON = "Нет <адреса> & *срока*; </i> <script>"


def versions(msg: StaffMessage) -> list[StaffMessage | StaffVersion]:
    return [*msg.edits, msg]


def check_fits(world: World, case_id: int) -> None:
    for chat_id in (INTAKE_CHAT, OFFICE_CHAT, HOUSING_CHAT, REGION_CHAT):
        for card in world.cards(chat_id, case_id):
            for version in versions(card):
                length, limit = world.emu.text_length(visible_text(version)), world.emu.text_limit
                assert length <= limit, f"chat {chat_id}: a card over {limit}"


def body(card: StaffMessage) -> str:
    """The citizen's text on the card: between the header and the status line."""
    text = visible_text(card)
    return text.split("\n\n", 1)[1].split("\n\nСтатус:", 1)[0]


async def test_hostile_text_is_shown_exactly_and_every_card_fits(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    w = world
    await w.start()

    short = await w.register_os(HOSTILE)
    assert body(w.card(INTAKE_CHAT, short)) == HOSTILE
    assert not w.cards(OFFICE_CHAT, short)  # NOTIFY: the office head gets a card once a routing waits for him
    assert not [e for e in w.card(INTAKE_CHAT, short).formatting if e != "bold"]  # only the card's own

    case = await w.register_os(LONG)
    async with w.app.repo.transaction() as tx:
        stored = await tx.get_message(case)
    assert stored is not None and stored.text == LONG  # kept whole; only the card is cut

    def check_long(chat_id: int) -> None:
        shown = body(w.card(chat_id, case))
        assert shown.endswith("…") and LONG.startswith(shown[:-1]) and len(shown) > 2_000
        assert shown.startswith(HOSTILE + "\n")

    check_long(INTAKE_CHAT)
    check_fits(w, case)

    # Through the cycle, with hostile text at every step, the cards keep the citizen's text exactly.
    await w.route_os(case, "housing")
    for chat_id in (INTAKE_CHAT, OFFICE_CHAT, HOUSING_CHAT):  # the office head's card came with the routing
        check_long(chat_id)
    assert await w.reply_to_card(HOUSING_CHAT, HOUSING, case, INFO) == "Информация направлена"
    [info_note] = [n for n in w.notes(INTAKE_CHAT, case) if n.label == "Поступила информация для ответа"]
    assert f"Текст: {INFO}" in visible_text(w.emu.message(INTAKE_CHAT, info_note.message_id))
    assert await w.reply_to_card(INTAKE_CHAT, OPERATOR, case, DRAFT) == "Проект направлен на согласование"
    region = w.card(REGION_CHAT, case)
    draft_shown = visible_text(region).split("Проект ответа (версия 1):\n", 1)[1].split("\n\nИстория:", 1)[0]
    assert draft_shown.endswith("…") and DRAFT.startswith(draft_shown[:-1])
    assert body(region).startswith(HOSTILE) and body(region).endswith("…")
    check_fits(w, case)

    await w.press(REGION_CHAT, REGION_CURATOR, "На доработку", case)
    assert (
        await w.reply(REGION_CHAT, REGION_CURATOR, w.prompt(REGION_CHAT), REASON) == "Возвращено на доработку"
    )
    for chat_id in (INTAKE_CHAT, OFFICE_CHAT, HOUSING_CHAT, REGION_CHAT):
        card = w.card(chat_id, case)
        assert f"Причина доработки: {REASON}" in visible_text(card)
        assert body(card).startswith(HOSTILE)
    [rework_note] = [
        n for n in w.notes(INTAKE_CHAT, case) if n.label == "Проект ответа возвращён на доработку"
    ]
    assert f"Причина: {REASON}" in visible_text(w.emu.message(INTAKE_CHAT, rework_note.message_id))
    check_fits(w, case)

    # Nothing failed on the way: no handler error, no refused request, nothing left in the outbox.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    refused = [r for r in w.emu.calls_of() if r.status not in (200, None)]
    assert refused == [], [(r.method, r.status) for r in refused]
    assert await w.pending_outbox() == 0
