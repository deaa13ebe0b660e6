"""Personal data kept off a foreign messenger, end to end (issue 15 item 4): with `[privacy] mask_personal_data`
a message handed over by ЦУР with the author's name, phone, e-mail and address is registered, routed, answered
by the unit, looked up with /case and /find, and no request the bot made to Telegram (cards, their edits,
notices, toasts, buttons) carries the name, the phone, the e-mail or the address; the database keeps the full
record and `otklik pd export` exports it in full. Without the setting the same day shows them (the control)."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.cli import main
from bot.settings import Settings
from tests.e2e.conftest import HOUSING, HOUSING_CHAT, OFFICE_CHAT, OFFICE_HEAD, World
from views.privacy import FOREIGN_MESSENGERS
from workflow.services.queries import read_card

AUTHOR = "Пётр Смирнов"
CITIZEN = (
    f"Автор: {AUTHOR}\n"
    "Меня зовут Пётр Смирнов, в доме на ул. Октябрьская, 14, кв. 7 третий день нет горячей воды. "
    "Звоните +7 (913) 555-12-34 или пишите petr.smirnov@mail.ru."
)
INFO = "Смирнову П. позвонили: авария на теплотрассе, воду дадут к вечеру."
SECRETS = ("Пётр", "Смирнов", "555-12-34", "(913)", "petr.smirnov", "Октябрьская, 14", "кв. 7")


def readable(value: object) -> str:
    """A request field as a person reads it: JSON (a keyboard, an album) decoded, so no «\\u041f» hides a name."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def sent_texts(world: World) -> list[str]:
    """Everything the bot asked the messenger to show: texts, captions, toasts and button labels, of every call."""
    return [readable(value) for call in world.emu.calls_of() for value in call.shown]


def leaked(world: World) -> set[str]:
    return {s for text in sent_texts(world) for s in SECRETS if s.lower() in text.lower()}


@pytest.mark.parametrize("masked", [True, False])
async def test_a_masked_deployment_shows_no_authors_identity(
    world: World, masked: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    def configure(settings: Settings) -> None:
        settings.privacy.mask_personal_data = masked

    await world.start(configure=configure)
    w = world
    # The setting is for a foreign messenger (Telegram); MAX, a Russian one, shows the identity with or without it.
    hidden = masked and w.messenger in FOREIGN_MESSENGERS
    case = await w.register_os(CITIZEN)
    await w.at(w.local(9, 35))
    await w.route_os(case, "housing")
    # A unit's plain message (no reply): the bot asks which case it is about, with the messages' beginnings.
    plain = await w.write(HOUSING_CHAT, HOUSING, "Бригада выехала")
    [question] = await w.wait(lambda: w.bot_replies_to(HOUSING_CHAT, plain.message_id), "which case")
    label = question.buttons[0][0]["text"]
    assert label.startswith(f"№ {case}") and ("Пётр" not in label) is hidden, label
    await w.reply_to_card(HOUSING_CHAT, HOUSING, case, INFO)
    await w.write(OFFICE_CHAT, OFFICE_HEAD, f"/case {case}")
    await w.write(OFFICE_CHAT, OFFICE_HEAD, "/find горячей воды")
    await w.settle()

    card = w.cards(OFFICE_CHAT, case)[0]  # the working card (/case posted a copy below it)
    assert "третий день нет горячей воды" in card.plain_text  # the message itself is there to be answered
    office = [m.plain_text or "" for m in w.emu.sent(OFFICE_CHAT)]
    assert any(t.startswith("Найдено") and f"№ {case}" in t for t in office), office  # /find answered
    assert any(t.startswith(f"История сообщения № {case}") for t in office), office  # /case answered
    if hidden:
        assert leaked(w) == set(), [t for t in sent_texts(w) if any(s in t for s in SECRETS)]
        assert "Автор: П***" in card.plain_text
    else:
        assert leaked(w) == set(SECRETS)

    # The database keeps the full record, and the export gives it in full.
    async with w.app.repo.reading() as tx:
        view = await read_card(tx, case)
    assert view is not None and view.message is not None
    assert view.message.author == AUTHOR and view.message.text == CITIZEN
    assert any(e.text == INFO for e in view.events)
    await w.stop()
    code = await asyncio.to_thread(main, ["pd", "export", "--author", AUTHOR, "--db", str(w.db_path)])
    out = capsys.readouterr().out
    assert code == 0
    exported = json.loads(out)
    dump = json.dumps(exported, ensure_ascii=False)
    assert all(
        s in dump for s in (AUTHOR, "+7 (913) 555-12-34", "petr.smirnov@mail.ru", "ул. Октябрьская, 14")
    )
