"""ПОС notification e-mails in the whole app (`OtklikApp.build` with [channels.pos_mail] on): the IMAP emulator's
mails, read by the app's own poll job, become ПОС cases whose cards reach the ПОС curator's chat; the mail
that cannot be parsed and the unknown category reach that chat as notices. Time is the FakeClock; the poll is
called as the scheduler would call it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage

import pytest

from bot.settings import PosMailSettings, PosSettings, Settings
from emulators.imap import ImapEmulator
from emulators.staff import visible_text
from tests.e2e.conftest import POS_CHAT, World

USER, PASSWORD = "pos@nsk.example", "s3cret"


def mail(body: str, msgid: str) -> bytes:
    m = EmailMessage()
    m["Subject"] = "Новое сообщение ПОС"
    m["From"] = "noreply@pos.gosuslugi.ru"
    m["Message-ID"] = msgid
    m.set_content(body)
    return m.as_bytes()


def notice(number: str, category: str) -> str:
    return (f"Номер сообщения: {number}\nКатегория: {category}\nДата поступления: 01.12.2026 09:10\n"
            f"Заявитель: Петров И. С.\nТекст сообщения: Не вывозят мусор на ул. Мира, 12.\n")  # fmt: skip


@pytest.fixture
async def imap() -> AsyncIterator[ImapEmulator]:
    emu = ImapEmulator(USER, PASSWORD)
    await emu.start()
    yield emu
    await emu.stop()


async def test_mails_become_cases_and_notices_in_the_pos_curators_chat(
    world: World, imap: ImapEmulator
) -> None:
    def configure(settings: Settings) -> None:
        settings.channels.pos_mail = PosMailSettings(
            enabled=True, host="127.0.0.1", port=imap.port, tls=False, user=USER, password=PASSWORD
        )
        settings.pos = PosSettings(categories={"Благоустройство": "local_fast"})

    imap.add_mail(mail(notice("4512345", "Благоустройство"), "<m1@pos>"))
    imap.add_mail(mail("Уважаемый пользователь! Сообщение без номера.", "<m2@pos>"))
    imap.add_mail(mail(notice("4512346", "Экология"), "<m3@pos>"))
    app = await world.start(configure=configure)
    assert app.pos_mail is not None
    assert await app.pos_mail.poll() == 3
    await world.settle()
    texts = [visible_text(m) for m in world.emu.sent(POS_CHAT)]
    cards = [t for t in texts if t.startswith("Сообщение № ")]
    assert len(cards) == 2
    assert "№ ПОС 4512345" in cards[0] and "категория района и ЦУР НСО" in cards[0]
    assert "№ ПОС 4512346" in cards[1] and "категория федерального уровня" in cards[1]
    [unparsed] = [t for t in texts if "Письмо ПОС: не удалось разобрать" in t]
    assert "Сообщение без номера." in unparsed and "не найден номер сообщения ПОС" in unparsed
    [unknown] = [t for t in texts if "Неизвестная категория ПОС: «Экология»" in t]
    assert "Ускоренное решение (категория федерального уровня)" in unknown
    assert imap.seen() == [1, 2, 3]
    # Restarted: nothing is read or registered again.
    await world.stop()
    app = await world.start(configure=configure)
    assert app.pos_mail is not None
    assert await app.pos_mail.poll() == 0
    await world.settle()
    assert len([m for m in world.emu.sent(POS_CHAT) if visible_text(m).startswith("Сообщение № ")]) == 2
