"""Files on MAX (issue 15): photos, documents and albums carried as MAX uploads (POST /uploads, the bytes to the URL
it names, one message with the tokens) through a real aiogram Bot + MaxSession against the MAX emulator; the
attachment.not.ready retry; a file too large; a file a staff member sends kept, downloaded and sent on again."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import openpyxl
import pytest
from aiogram.client.default import DefaultBotProperties
from aiogram.exceptions import TelegramEntityTooLarge, TelegramServerError
from aiogram.types import BufferedInputFile, InputMediaDocument, InputMediaPhoto
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.max_session import MaxBot, MaxSession
from bot.report_files import RenderedReport, render_report, report_media
from bot.sender import Media, Outgoing, TelegramSender
from emulators.max import MaxEmulator
from handlers.replies import attachments_of
from storage.engine import create_engine
from storage.max_messages import MaxMessageMap
from storage.migrate import upgrade
from tests.unit.test_reports import CASES, EVENTS, NOW, RETURN_ONLY, TERMS, WEEK
from views.report_text import ReportNames
from workflow.reports import compute_report

GROUP = -7001
ANNA = 501


@pytest.fixture
async def emu() -> AsyncIterator[MaxEmulator]:
    emulator = MaxEmulator()  # the first send naming a new upload is answered attachment.not.ready
    await emulator.start()
    emulator.add_user(ANNA, "Анна", "Петрова")
    emulator.add_chat(GROUP, title="Приёмная", members=(ANNA,))
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'max.sqlite3'}"
    await upgrade(url)
    eng = create_engine(url)
    try:
        yield eng
    finally:
        await eng.dispose()


class Pauses:
    """The session's pauses between sends, recorded instead of slept."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def make_bot(emu: MaxEmulator, engine: AsyncEngine, pauses: Pauses, tries: int = 5) -> MaxBot:
    session = MaxSession(emu.token, MaxMessageMap(engine), api_url=emu.base_url, not_ready_tries=tries,
                         sleep=pauses)  # fmt: skip
    return MaxBot(session, default=DefaultBotProperties(parse_mode="HTML"))


def make_sender(bot: MaxBot) -> TelegramSender:
    return TelegramSender(bot, per_chat_interval=0.0, group_per_minute=1_000_000, text_limit=4000)


@pytest.fixture
def pauses() -> Pauses:
    return Pauses()


@pytest.fixture
async def bot(emu: MaxEmulator, engine: AsyncEngine, pauses: Pauses) -> AsyncIterator[MaxBot]:
    made = make_bot(emu, engine, pauses)
    try:
        yield made
    finally:
        await made.session.close()


def _rendered() -> RenderedReport:
    return render_report(
        compute_report(WEEK, NOW, TERMS, CASES, EVENTS, return_only=RETURN_ONLY), ReportNames()
    )


async def test_a_reports_chart_and_workbook_reach_a_max_chat_as_files_with_the_caption(
    emu: MaxEmulator, engine: AsyncEngine, bot: MaxBot, pauses: Pauses
) -> None:
    rendered = _rendered()
    chart = await bot.send_photo(GROUP, BufferedInputFile(rendered.png, f"{rendered.stem}.png"),
                                 caption="<b>Отчёт</b> за неделю")  # fmt: skip
    book = await bot.send_document(GROUP, BufferedInputFile(rendered.xlsx, f"{rendered.stem}.xlsx"),
                                   caption="Таблица")  # fmt: skip

    shown_chart, shown_book = emu.sent(GROUP)
    assert shown_chart.plain_text == "Отчёт за неделю" and shown_book.plain_text == "Таблица"
    [png] = shown_chart.files
    assert (png.type, png.name, png.data) == ("image", "otchet-2026-11-30-2026-12-06.png", rendered.png)
    [xlsx] = shown_book.files
    assert (xlsx.type, xlsx.name) == ("file", "otchet-2026-11-30-2026-12-06.xlsx")
    assert (
        xlsx.data == rendered.xlsx
        and "Подразделения" in openpyxl.load_workbook(io.BytesIO(xlsx.data)).sheetnames
    )
    # aiogram sees a photo and a document; their ids were written down before it got them
    assert chart.photo and chart.caption == "Отчёт за неделю" and book.document is not None
    assert book.document.file_name == "otchet-2026-11-30-2026-12-06.xlsx"
    mids = MaxMessageMap(engine)
    assert await mids.mid_of(GROUP, chart.message_id) == shown_chart.mid
    assert await mids.mid_of(GROUP, book.message_id) == shown_book.mid
    # each upload's first send met attachment.not.ready and went again after a pause
    assert emu.uploads.not_ready_answers == 2 and pauses.seconds == [0.5, 0.5]
    assert [r.code for r in emu.calls("POST /messages")] == ["attachment.not.ready", None] * 2


async def test_the_weekly_report_goes_out_through_the_sender_as_a_summary_and_its_two_files(
    emu: MaxEmulator, bot: MaxBot
) -> None:
    rendered = _rendered()
    result = await make_sender(bot).send(
        Outgoing(key="weekly", chat_id=GROUP, text=rendered.summary_html, media=report_media(rendered))
    )
    summary, chart, book = emu.sent(GROUP)
    assert result.media_refused == () and len(result.message_ids) == 3
    assert "Период: 30.11.2026 — 06.12.2026" in summary.plain_text
    assert [f.name for f in chart.files + book.files] == [f"{rendered.stem}.png", f"{rendered.stem}.xlsx"]
    assert chart.files[0].data == rendered.png and book.files[0].data == rendered.xlsx
    assert chart.reply_to_mid == summary.mid and book.reply_to_mid == summary.mid  # files answer the text


async def test_an_album_is_one_message_with_every_file_and_the_captions(
    emu: MaxEmulator, bot: MaxBot
) -> None:
    sent = await bot.send_media_group(GROUP, [
        InputMediaPhoto(media=BufferedInputFile(b"\x89PNG one", "1.png"), caption="Двор до уборки"),
        InputMediaPhoto(media=BufferedInputFile(b"\x89PNG two", "2.png"), caption="<i>и после</i>"),
    ])  # fmt: skip
    [message] = emu.sent(GROUP)
    assert [m.message_id for m in sent] == [message.message_id]
    assert [(f.type, f.data) for f in message.files] == [("image", b"\x89PNG one"), ("image", b"\x89PNG two")]
    assert message.plain_text == "Двор до уборки\nи после"


async def test_not_ready_is_sent_again_a_few_times_then_a_clear_error_and_nothing_sent(
    emu: MaxEmulator, engine: AsyncEngine, pauses: Pauses
) -> None:
    emu.uploads.not_ready_sends = 2
    bot = make_bot(emu, engine, pauses, tries=3)
    try:
        await bot.send_document(GROUP, BufferedInputFile(b"act", "акт.pdf"))
        assert pauses.seconds == [0.5, 1.0]  # doubled each time
        assert [f.name for f in emu.sent(GROUP)[0].files] == ["акт.pdf"]

        emu.uploads.not_ready_sends = 3  # longer than the session tries
        with pytest.raises(TelegramServerError, match="ещё обрабатываются после 3 попыток"):
            await bot.send_document(GROUP, BufferedInputFile(b"late", "поздно.pdf"))
        assert len(emu.sent(GROUP)) == 1
    finally:
        await bot.session.close()


async def test_an_oversize_file_is_a_clear_error_and_changes_nothing(emu: MaxEmulator, bot: MaxBot) -> None:
    emu.uploads.limit = 1_000
    small, big = BufferedInputFile(b"x" * 10, "опись.pdf"), BufferedInputFile(b"y" * 1_001, "скан.pdf")
    with pytest.raises(TelegramEntityTooLarge, match=re.escape("«скан.pdf» (1001 байт) слишком большой")):
        await bot.send_media_group(GROUP, [InputMediaDocument(media=small), InputMediaDocument(media=big)])
    assert emu.sent(GROUP) == [] and emu.calls("POST /messages") == []  # the first upload sent nothing either

    # through the sender: the text goes, the file is named as refused, the item is done
    result = await make_sender(bot).send(
        Outgoing(
            key="big",
            chat_id=GROUP,
            text="Ответ гражданину",
            parse_mode=None,
            media=(Media("document", "", "скан.pdf", data=b"y" * 1_001),),
        )
    )
    assert [m.plain_text for m in emu.sent(GROUP)] == ["Ответ гражданину"]
    [refused] = result.media_refused
    assert refused.startswith("скан.pdf: ") and "слишком большой" in refused


async def test_a_staff_members_photo_and_document_are_kept_downloaded_and_sent_on(
    emu: MaxEmulator, bot: MaxBot
) -> None:
    card = await bot.send_message(GROUP, "Карточка № 7")
    photo = b"\xff\xd8 a yard cleared of snow"
    emu.push_file(GROUP, ANNA, "двор.jpg", photo, kind="image", caption="Убрали",
                  reply_to_message_id=card.message_id)  # fmt: skip
    emu.push_file(GROUP, ANNA, "Акт № 3.pdf", b"%PDF act", reply_to_message_id=card.message_id)
    first, second = await bot.get_updates(timeout=1)
    assert first.message is not None and second.message is not None
    assert first.message.caption == "Убрали" and first.message.reply_to_message is not None
    assert (
        first.message.reply_to_message.message_id == card.message_id
    )  # a reply to the card, as the handlers need

    [kept_photo] = attachments_of(first.message)  # what handlers/replies.py keeps with the staff reply
    [kept_act] = attachments_of(second.message)
    assert (kept_photo.kind, kept_act.kind, kept_act.name) == ("photo", "document", "Акт № 3.pdf")
    assert (await bot.download(kept_photo.ref)).read() == photo  # type: ignore[union-attr]
    assert (await bot.download(kept_act.ref)).read() == b"%PDF act"  # type: ignore[union-attr]

    # sent on later by the kept file id (e.g. to the intake chat): fetched and uploaded again, name and all
    result = await make_sender(bot).send(Outgoing(
        key="on", chat_id=ANNA, text="Ответ по обращению", parse_mode=None,
        media=(Media("photo", kept_photo.ref), Media("document", kept_act.ref, kept_act.name)),
    ))  # fmt: skip
    assert result.media_refused == ()
    _text, photo_again, act_again = emu.sent(ANNA)
    assert [(f.type, f.data) for f in photo_again.files] == [("image", photo)]
    assert [(f.type, f.name, f.data) for f in act_again.files] == [("file", "Акт № 3.pdf", b"%PDF act")]


async def test_a_video_takes_its_token_from_the_upload_url_answer(emu: MaxEmulator, bot: MaxBot) -> None:
    await bot.send_video(GROUP, BufferedInputFile(b"\x00\x00\x00\x18ftypmp42", "обход.mp4"), caption="Обход")
    [message] = emu.sent(GROUP)
    assert [(f.type, f.name) for f in message.files] == [
        ("video", "обход.mp4")
    ] and message.plain_text == "Обход"


async def test_the_emulator_refuses_an_unknown_token_a_second_file_by_one_url_and_a_wrong_field(
    emu: MaxEmulator,
) -> None:
    auth = {"Authorization": emu.token}
    async with aiohttp.ClientSession() as http:
        body = {"text": "x", "attachments": [{"type": "file", "payload": {"token": "tok.999.forged"}}]}
        async with http.post(
            f"{emu.base_url}/messages", params={"chat_id": GROUP}, json=body, headers=auth
        ) as r:
            assert r.status == 400 and "unknown token" in (await r.json())["message"]
        async with http.post(f"{emu.base_url}/uploads", params={"type": "file"}, headers=auth) as r:
            url = (await r.json())["url"]
        for expected in (200, 400):  # one file per upload URL, as on the platform
            form = aiohttp.FormData()
            form.add_field("data", b"first", filename="a.txt")
            async with http.post(url, data=form) as r:
                assert r.status == expected
        async with http.post(f"{emu.base_url}/uploads", params={"type": "sticker"}, headers=auth) as r:
            assert r.status == 400
        # each storage takes its own field and content type, as on the platform
        for kind, field, content_type in (
            ("image", "data", "application/pdf"),
            ("video", "data", "video/mp4"),
        ):
            async with http.post(f"{emu.base_url}/uploads", params={"type": kind}, headers=auth) as r:
                url = (await r.json())["url"]
            form = aiohttp.FormData()
            form.add_field(field, b"bytes", filename="x", content_type=content_type)
            async with http.post(url, data=form) as r:
                assert r.status == 415, (kind, field, content_type)
    assert emu.sent(GROUP) == []
