"""ПОС notification e-mails through the IMAP emulator and the real aioimaplib client, into a real SQLite inbox
and repository, handled by the same handler the workers run (bot/pos_mail.py).

The workers are played by `drain()`: claim a row, handle it, mark it done — what bot/polling.py does with it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.pos_mail import CHANNEL, PosMailReader, mail_handler
from channels.pos.mail import ImapMailbox, MailboxConfig, MailboxError, MailSession
from channels.pos.mail_parse import LabelPatterns
from emulators.imap import ImapEmulator
from storage.inbox import Inbox
from storage.migrate import upgrade
from storage.repository import SqlRepository
from storage.tables import cases, channel_files, messages, outbox
from storage.tables import inbox as inbox_table
from tests.engine.conftest import at
from tests.fakes import FakeClock, RecordingNotifier
from tests.storage.conftest import fresh_engine
from workflow.calendar import WorkingCalendar
from workflow.model import Source
from workflow.rules import DEFAULT_RULES
from workflow.services import Services

USER, PASSWORD = "pos@nsk.example", "пароль-1"
NOW = at(2026, 12, 2, 10, 0)
TABLE = {"Дороги": "local_fast", "Жилищно-коммунальное хозяйство": "federal_fast"}
LIMIT = 1_000_000


def plain_mail(body: str, *, subject: str = "Новое сообщение ПОС", charset: str = "utf-8",
               cte: str | None = None, msgid: str | None = None) -> bytes:  # fmt: skip
    m = EmailMessage()
    m["Subject"] = subject
    m["From"] = "ПОС <noreply@pos.gosuslugi.ru>"
    m["To"] = USER
    m["Date"] = format_datetime(at(2026, 12, 2, 9, 0))
    if msgid:
        m["Message-ID"] = msgid
    m.set_content(body, charset=charset, cte=cte)
    return m.as_bytes()


def notice_text(
    number: str = "1234567", category: str = "Дороги", text: str = "Яма на дороге у дома 5."
) -> str:
    return (
        f"Номер сообщения: {number}\nКатегория: {category}\nДата поступления: 02.12.2026 08:30\n"
        f"Заявитель: Петров Иван Сергеевич\nТелефон: +7 913 000-00-00\nАдрес заявителя: ул. Мира, 1\n"
        f"Место проблемы: ул. Ленина, 5\nТекст сообщения: {text}\nВторая строка текста.\n"
        "Срок ответа: 10.12.2026\n"
    )


@dataclass
class World:
    emu: ImapEmulator
    engine: AsyncEngine
    repo: SqlRepository
    services: Services
    clock: FakeClock
    calendar: WorkingCalendar
    inbox: Inbox

    def mailbox(self, password: str = PASSWORD, folder: str = "INBOX") -> ImapMailbox:
        return ImapMailbox(
            MailboxConfig("127.0.0.1", self.emu.port, False, USER, password, folder, timeout=5)
        )

    def reader(self, **kw: object) -> PosMailReader:
        """A fresh reader over a fresh connection: what a restarted process builds."""
        return PosMailReader(self.mailbox(), Inbox(self.engine, clock=self.clock), max_attachment_bytes=LIMIT)

    async def drain(self, patterns: LabelPatterns | None = None) -> int:
        handle = mail_handler(self.services, self.repo, self.clock, patterns=patterns or LabelPatterns.build(),
                              categories=TABLE, tz=self.calendar.tz, max_attachment_bytes=LIMIT)  # fmt: skip
        n = 0
        while (row := await self.inbox.claim("test")) is not None:
            await handle(row)
            await self.inbox.mark_done(row.id)
            n += 1
        return n

    async def count(self, table: object) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]

    async def outbox(self) -> list[dict[str, object]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(outbox.c.kind, outbox.c.case_id, outbox.c.payload,
                                              outbox.c.to_role))).all()  # fmt: skip
        return [dict(r._mapping) for r in rows]

    async def pos_cases(self) -> list[dict[str, object]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(
                select(cases.c.id, cases.c.category, messages.c.text, messages.c.author, messages.c.external_number,
                       messages.c.received_at, messages.c.source_id)
                .join(messages, messages.c.case_id == cases.c.id).where(messages.c.source == Source.POS.value)
            )).all()  # fmt: skip
        return [dict(r._mapping) for r in rows]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    emu = ImapEmulator(USER, PASSWORD, ("INBOX", "ПОС"))
    await emu.start()
    clock = FakeClock(NOW)
    calendar = WorkingCalendar()
    async with fresh_engine("sqlite", tmp_path) as engine:
        await upgrade(engine)
        repo = SqlRepository(engine, clock=clock)
        services = Services(repo=repo, clock=clock, calendar=calendar, rules=DEFAULT_RULES,
                            notifier=RecordingNotifier())  # fmt: skip
        yield World(emu, engine, repo, services, clock, calendar, Inbox(engine, clock=clock))
    await emu.stop()


async def test_a_notification_with_the_default_labels_becomes_one_pos_case(world: World) -> None:
    world.emu.add_mail(plain_mail(notice_text(), msgid="<a1@pos>"))
    assert await world.reader().poll() == 1
    assert await world.drain() == 1
    [case] = await world.pos_cases()
    assert case["external_number"] == case["source_id"] == "1234567"
    assert case["category"] == "local_fast"  # «Дороги» by the table
    assert "Яма на дороге у дома 5.\nВторая строка текста." in str(case["text"])
    assert "Место проблемы: ул. Ленина, 5" in str(case["text"])
    assert case["author"] == "Петров Иван Сергеевич, тел. +7 913 000-00-00, ул. Мира, 1"
    assert case["received_at"] == at(2026, 12, 2, 8, 30)
    assert world.emu.seen() == [1]
    assert not [r for r in await world.outbox() if str(r["kind"]).startswith("pos_")]  # nothing for a person
    async with world.engine.connect() as conn:  # the raw message kept for audit, byte for byte
        kept = (await conn.execute(select(channel_files.c.data, channel_files.c.mime))).one()
    assert kept.mime == "message/rfc822" and b"1234567" in kept.data


async def test_custom_label_patterns_read_another_layout(world: World) -> None:
    body = ("Обращение гражданина № 7654321\nРубрика: Дороги\nПоступило в систему: 2026-12-02 07:15\n"
            "Суть обращения: Не горит фонарь.\nКонтакт: 8-383-000-00-00\n")  # fmt: skip
    world.emu.add_mail(plain_mail(body))
    await world.reader().poll()
    # The defaults do not know «Обращение гражданина» and «Суть обращения»: not parsed, the curator told.
    await world.drain()
    assert await world.pos_cases() == []
    world.emu.add_mail(plain_mail(body + " "))  # another mail (another hash): read with custom labels
    patterns = LabelPatterns.build({
        "number": [r"Обращение\s+гражданина"], "category": ["Рубрика"], "received": [r"Поступило\s+в\s+систему"],
        "text": [r"Суть\s+обращения"], "phone": ["Контакт"],
    })  # fmt: skip
    await world.reader().poll()
    await world.drain(patterns)
    [case] = await world.pos_cases()
    assert case["external_number"] == "7654321" and case["text"] == "Не горит фонарь."
    assert case["received_at"] == at(2026, 12, 2, 7, 15) and case["author"] == "тел. 8-383-000-00-00"


async def test_registered_once_across_a_restart(world: World) -> None:
    world.emu.add_mail(plain_mail(notice_text(), msgid="<r1@pos>"))
    await world.reader().poll()
    await world.drain()
    # A restart: a new reader, a new connection; the cursor is in the database; nothing new to read.
    assert await world.reader().poll() == 0
    world.emu.add_mail(plain_mail(notice_text("2222222"), msgid="<r2@pos>"))
    assert await world.reader().poll() == 1  # only the new one (UID n:* answers the last one too: filtered)
    await world.drain()
    assert sorted(str(c["external_number"]) for c in await world.pos_cases()) == ["1234567", "2222222"]
    assert world.emu.seen() == [1, 2]


class Killed(BaseException):
    """The process dies here (kill -9): nothing after it runs."""


async def test_a_crash_between_saving_and_flagging_registers_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.emu.add_mail(plain_mail(notice_text(), msgid="<c1@pos>"))

    async def die(self: MailSession, uid: int) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(MailSession, "mark_seen", die)
        with pytest.raises(Killed):
            await world.reader().poll()
    assert world.emu.seen() == []  # saved, not flagged, the cursor not past it
    assert await world.count(inbox_table) == 1
    assert await world.reader().poll() == 1  # read again: the same row (its Message-ID), now flagged
    assert await world.count(inbox_table) == 1
    assert world.emu.seen() == [1]
    await world.drain()
    assert len(await world.pos_cases()) == 1


async def test_a_uidvalidity_change_reads_the_folder_again_without_doubles(world: World) -> None:
    world.emu.add_mail(plain_mail(notice_text(), msgid="<u1@pos>"))
    await world.reader().poll()
    world.emu.rebuild()  # new UIDVALIDITY: UID 1 now may be any mail
    world.emu.add_mail(plain_mail(notice_text("3333333"), msgid="<u2@pos>"))
    await world.reader().poll()
    assert await world.count(inbox_table) == 2  # the old mail is the row already there
    await world.drain()
    assert sorted(str(c["external_number"]) for c in await world.pos_cases()) == ["1234567", "3333333"]
    assert await world.reader().poll() == 0


async def test_an_unparseable_mail_goes_to_the_pos_curator_with_its_raw_text(world: World) -> None:
    world.emu.add_mail(plain_mail("Здравствуйте! Это письмо без номера.\nТекст сообщения: помогите"))
    await world.reader().poll()
    await world.drain()
    assert await world.pos_cases() == []
    [notice] = await world.outbox()
    assert notice["kind"] == "pos_mail_unparsed" and notice["to_role"] == "pos_curator"
    payload = notice["payload"]
    assert isinstance(payload, dict)
    assert "Это письмо без номера" in payload["raw"] and payload["problems"] == [
        "не найден номер сообщения ПОС"
    ]
    assert world.emu.seen() == [1]  # taken (and kept), not dropped
    assert await world.count(channel_files) == 1


async def test_a_known_number_with_another_text_is_not_registered_twice(world: World) -> None:
    world.emu.add_mail(plain_mail(notice_text(), msgid="<d1@pos>"))
    world.emu.add_mail(plain_mail(notice_text(text="Яма снова появилась."), msgid="<d2@pos>"))
    world.emu.add_mail(plain_mail(notice_text(), msgid="<d3@pos>"))  # the same notification again: nothing
    await world.reader().poll()
    await world.drain()
    [case] = await world.pos_cases()
    repeats = [r for r in await world.outbox() if r["kind"] == "pos_mail_repeat"]
    assert len(repeats) == 1 and repeats[0]["case_id"] == case["id"]
    assert "Яма снова появилась." in str(repeats[0]["payload"])
    assert await world.count(channel_files) == 3  # each mail kept for audit


async def test_an_unknown_category_takes_the_strictest_class_and_tells_the_curator(world: World) -> None:
    world.emu.add_mail(plain_mail(notice_text(category="Экология"), msgid="<k1@pos>"))
    await world.reader().poll()
    await world.drain()
    [case] = await world.pos_cases()
    assert case["category"] == "federal_fast"  # 8 days: the fewest
    [notice] = [r for r in await world.outbox() if r["kind"] == "pos_category_unknown"]
    assert notice["case_id"] == case["id"] and notice["to_role"] == "pos_curator"


async def test_html_with_scripts_in_windows_1251_quoted_printable(world: World) -> None:
    html = (
        "<html><head><style>td{color:red}</style><script>var x='Номер сообщения: 999999';</script></head><body>"
        "<table><tr><td><b>Номер сообщения:</b></td><td>5555555</td></tr>"
        "<tr><td>Категория:</td><td>ЖИЛИЩНО-КОММУНАЛЬНОЕ  хозяйство</td></tr>"
        "<tr><td>Дата поступления:</td><td>02.12.2026 09:05</td></tr>"
        "<tr><td>Текст сообщения:</td><td>Нет горячей воды &laquo;третий день&raquo;"
        "<script>alert('x')</script><img src=x onerror=alert(1)></td></tr></table></body></html>"
    )
    m = EmailMessage()
    m["Subject"] = "=?windows-1251?b?0e7u4fnl7ejlIM/O0Q==?="
    m["From"] = "noreply@pos.gosuslugi.ru"
    m.set_content("", subtype="plain")
    m.make_alternative()
    m.add_alternative(html, subtype="html", charset="windows-1251", cte="quoted-printable")
    world.emu.add_mail(m.as_bytes())
    await world.reader().poll()
    await world.drain()
    [case] = await world.pos_cases()
    assert case["external_number"] == "5555555" and case["category"] == "federal_fast"  # folded match
    assert case["text"] == "Нет горячей воды «третий день»"  # no script text, no tags


async def test_koi8_r_base64_plain_text(world: World) -> None:
    world.emu.add_mail(plain_mail(notice_text("4444444"), charset="koi8-r", cte="base64"))
    await world.reader().poll()
    await world.drain()
    [case] = await world.pos_cases()
    assert case["external_number"] == "4444444" and "Яма на дороге" in str(case["text"])


async def test_a_20_mb_attachment_is_not_kept_and_the_case_says_so(world: World) -> None:
    m = EmailMessage()
    m["Subject"] = "ПОС"
    m["Message-ID"] = "<big@pos>"
    m.set_content(notice_text("8888888"))
    m.add_attachment(b"\x00\x01" * 10_000_000, maintype="application", subtype="pdf", filename="скан.pdf")
    m.add_attachment(b"small", maintype="text", subtype="plain", filename="note.txt")
    world.emu.add_mail(m.as_bytes())
    await world.reader().poll()
    async with world.engine.connect() as conn:
        raw = (await conn.execute(select(inbox_table.c.raw))).scalar_one()
    assert len(raw["mail"]) < 100_000 and raw["cuts"][0]["size"] == 20_000_000
    await world.drain()
    [case] = await world.pos_cases()
    async with world.repo.reading() as tx:
        message = await tx.get_message(int(str(case["id"])))
    assert message is not None
    reasons = [a.name for a in message.attachments if a.kind == "unfetched"]
    assert reasons == ["вложение «скан.pdf» (20,0 МБ) не сохранено: больше 1,0 МБ"]
    async with world.engine.connect() as conn:
        kept = (await conn.execute(select(channel_files.c.data))).scalar_one()
    assert b"note.txt" in kept and len(kept) < 100_000


async def test_a_wrong_password_is_one_line_and_nothing_changes(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.emu.add_mail(plain_mail(notice_text()))
    reader = PosMailReader(world.mailbox(password="неверный"), world.inbox, max_attachment_bytes=LIMIT)
    with caplog.at_level(logging.WARNING):
        assert await reader.poll() == 0
    [line] = [r.getMessage() for r in caplog.records if r.name == "bot.pos_mail"]
    assert "не принял вход пользователя pos@nsk.example" in line and "\n" not in line
    assert await world.count(inbox_table) == 0 and world.emu.seen() == []
    with pytest.raises(MailboxError, match="не принял вход"):
        await world.mailbox(password="неверный").check()
    with pytest.raises(MailboxError, match="папки «Архив» нет"):
        await world.mailbox(folder="Архив").check()
    assert "вход выполнен, папка «ПОС» есть" in await world.mailbox(folder="ПОС").check()


async def test_the_unseen_mails_only_at_the_first_read(world: World) -> None:
    world.emu.add_mail(plain_mail(notice_text("1111111")), seen=True)  # read by a person before Otklik
    world.emu.add_mail(plain_mail(notice_text("1212121")))
    assert await world.reader().poll() == 1
    await world.drain()
    assert [c["external_number"] for c in await world.pos_cases()] == ["1212121"]
    async with world.engine.connect() as conn:
        assert (
            await conn.scalar(
                select(func.count()).select_from(inbox_table).where(inbox_table.c.source == CHANNEL)
            )
            == 1
        )


async def test_a_server_refusing_the_fetch_changes_nothing(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.emu.add_mail(plain_mail(notice_text(), msgid="<f1@pos>"))
    world.emu.fail_fetch = True
    with caplog.at_level(logging.WARNING):
        assert await world.reader().poll() == 0
    assert any("почтовый сервер отказал в получении письма" in r.getMessage() for r in caplog.records)
    assert await world.count(inbox_table) == 0 and world.emu.seen() == []
    assert await world.inbox.cursor(CHANNEL) is None
    world.emu.fail_fetch = False
    assert await world.reader().poll() == 1


async def test_a_connection_lost_before_the_flag_reads_the_mail_again_and_flags_it(world: World) -> None:
    world.emu.add_mail(plain_mail(notice_text(), msgid="<l1@pos>"))
    world.emu.add_mail(plain_mail(notice_text("2323232"), msgid="<l2@pos>"))
    world.emu.drop_after_fetch = True
    assert await world.reader().poll() == 0  # saved, then the connection is gone: the poll ends there
    assert await world.count(inbox_table) == 1
    assert world.emu.seen() == [] and await world.inbox.cursor(CHANNEL) is None
    world.emu.drop_after_fetch = False
    assert await world.reader().poll() == 2
    assert world.emu.seen() == [1, 2] and await world.count(inbox_table) == 2
    await world.drain()
    assert len(await world.pos_cases()) == 2


async def test_a_folder_refusing_flags_does_not_hold_later_mails_back(world: World) -> None:
    world.emu.add_mail(plain_mail(notice_text(), msgid="<s1@pos>"))
    world.emu.refuse_store = True
    assert await world.reader().poll() == 1
    assert world.emu.seen() == [] and await world.inbox.cursor(CHANNEL) == "1:1"
    world.emu.add_mail(plain_mail(notice_text("2424242"), msgid="<s2@pos>"))
    assert await world.reader().poll() == 1  # only the new one
    await world.drain()
    assert len(await world.pos_cases()) == 2
