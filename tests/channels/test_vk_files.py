"""A VK comment's photo and document are fetched from their signed URLs when the item is taken in and kept in
`channel_files` (real SQLite and PostgreSQL, the VK emulator's expiring URLs, the real reader and workers); a
file that cannot be fetched is kept as its reason and never keeps the case out."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

import tests.e2e.conftest as e2e
from bot.channel_files import FileFetcher
from bot.channel_reader import row_handler
from bot.demo import INTAKE_CHAT
from bot.settings import ChannelsSettings, Settings, VkSettings
from channels.vk import VkLongPoll
from emulators.telegram import TelegramEmulator
from emulators.telegram.records import ChatMessage, visible_text
from emulators.vk import VkEmulator
from storage.repository import ChannelFile, SqlRepository
from tests.channels.test_vk_intake import CITIZEN, GID, Rig, engine
from tests.e2e.conftest import World, clock, emu, world
from workflow.calendar import WorkingCalendar
from workflow.rules import DEFAULT_RULES
from workflow.services import Services

__all__ = ["clock", "emu", "engine", "world"]  # the intake tests' engine, the e2e fixtures

PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40  # a JPEG's first bytes, then 10 KB
PDF = b"%PDF-1.7\n" + b"x" * 5000


@pytest.fixture
async def vk() -> AsyncIterator[VkEmulator]:
    async with VkEmulator(max_wait=1, rate_limit=None) as emulator:
        emulator.add_user(CITIZEN, "Иван", "Петров")
        emulator.add_group(GID, "Администрация Северного района")
        yield emulator


@pytest.fixture
async def rig(vk: VkEmulator, engine: AsyncEngine) -> AsyncIterator[Rig]:
    rig = Rig(vk, engine)
    yield rig
    for run in rig.runs:
        await run.stop()


def fetcher(rig: Rig, *, max_bytes: int = 20_000_000) -> FileFetcher:
    return FileFetcher(SqlRepository(rig.engine, clock=rig.clock), rig.clock, max_bytes=max_bytes, timeout=5)


async def kept(rig: Rig, key: str) -> list[ChannelFile]:
    async with SqlRepository(rig.engine, clock=rig.clock).transaction() as tx:
        return await tx.channel_files(key)


async def start(rig: Rig, files: FileFetcher) -> None:
    run = rig.run(sweep=False)
    source = run.reader.source
    assert isinstance(source, VkLongPoll)
    services = Services(repo=SqlRepository(rig.engine, clock=rig.clock), clock=rig.clock,
                        calendar=WorkingCalendar(), rules=DEFAULT_RULES, notifier=rig.notifier)  # fmt: skip
    run.pool.handlers["vk"] = row_handler(source, services, rig.clock, files)
    await run.start()
    await rig.listening()


async def test_a_photo_and_a_document_are_kept_once_with_their_bytes(rig: Rig) -> None:
    await start(rig, fetcher(rig))
    post = rig.emu.add_post(GID, "Благоустройство двора")
    attachments = [rig.emu.photo_attachment(CITIZEN, PHOTO), rig.emu.doc_attachment(CITIZEN, PDF, "акт.pdf")]
    comment = rig.emu.add_comment(GID, post.id, CITIZEN, "Вот фото ямы и акт", attachments=attachments)
    rig.emu.redeliver(GID, rig.emu.last_event_id(GID), times=2)
    await rig.handled(1)
    key = f"vk:-{GID}_{comment.id}"
    files = await kept(rig, key)
    assert [(f.position, f.kind, f.name, f.mime, f.data, f.error) for f in files] == [
        (0, "photo", "photo1.jpg", "image/jpeg", PHOTO, None),
        (1, "document", "акт.pdf", "application/octet-stream", PDF, None),
    ]
    assert [f.size for f in files] == [len(PHOTO), len(PDF)]
    assert files[0].sha256 == hashlib.sha256(PHOTO).hexdigest()
    assert files[0].fetched_at == rig.clock.now()
    assert len(await rig.cases()) == 1
    # Taken in again (a retried row): nothing fetched again, the same rows.
    item = rig.runs[0].reader.source.item(
        {"type": "wall_reply_new", "object": comment.to_json(), "group_id": GID}, rig.clock.now()
    )
    assert item is not None
    assert await fetcher(rig).keep(item) == files


async def test_an_expired_url_and_a_file_too_big_are_kept_as_reasons_and_the_case_goes_on(rig: Rig) -> None:
    await start(rig, fetcher(rig, max_bytes=8_000))
    post = rig.emu.add_post(GID, "Благоустройство двора")
    expired = rig.emu.photo_attachment(CITIZEN, PHOTO[:100], expires_in=0)
    big = rig.emu.photo_attachment(CITIZEN, PHOTO)  # 10 KB over an 8 KB cap
    small = rig.emu.doc_attachment(CITIZEN, PDF, "акт.pdf")
    comment = rig.emu.add_comment(GID, post.id, CITIZEN, "Три вложения", attachments=[expired, big, small])
    await rig.handled(1)
    files = await kept(rig, f"vk:-{GID}_{comment.id}")
    assert [(f.data is None, f.error) for f in files] == [
        (True, "ВКонтакте ответил 404 (ссылка устарела?)"),
        (True, "файл больше 0,008 МБ"),
        (False, None),
    ]
    assert await rig.cases() == [(f"-{GID}_{comment.id}", "Три вложения")]


# --- the whole app: the files go to the intake chat with the card -------------------------------------------


async def test_otklik_run_sends_the_kept_photo_and_document_with_the_intake_card(
    world: World, vk: VkEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = e2e.settings_for
    token, service = vk.group_token(GID), vk.service_key()

    def settings_for(telegram: TelegramEmulator, db_path: Path, *, rate_limits: bool = False) -> Settings:
        settings = plain(telegram, db_path, rate_limits=rate_limits)
        settings.channels = ChannelsSettings(
            vk=VkSettings(enabled=True, group_id=GID, token=token, service_key=service, api_base=vk.base_url,
                          wait_seconds=1)
        )  # fmt: skip
        return settings

    monkeypatch.setattr(e2e, "settings_for", settings_for)
    await world.start()
    await world.wait(lambda: vk.calls("groups.getLongPollServer"), "the long poll")
    post = vk.add_post(GID, "Благоустройство двора")
    attachments = [
        vk.photo_attachment(CITIZEN, PHOTO),
        vk.doc_attachment(CITIZEN, PDF, "акт.pdf"),
        vk.photo_attachment(CITIZEN, PHOTO[:50], expires_in=0),
    ]
    vk.add_comment(GID, post.id, CITIZEN, "Яма во дворе, фото и акт", attachments=attachments)

    def sent() -> list[ChatMessage]:
        return world.emu.sent(INTAKE_CHAT)

    await world.wait(lambda: any(m.document for m in sent()), "the document after the card")
    await world.settle()
    card = next(m for m in sent() if visible_text(m).startswith("Сообщение №"))
    text = visible_text(card)
    assert "Вложений: 3" in text
    assert "Вложение не удалось получить: ВКонтакте ответил 404 (ссылка устарела?)" in text
    photos = [m for m in sent() if m.photo]
    documents = [m for m in sent() if m.document]
    assert len(photos) == 1 and len(documents) == 1
    assert world.emu.uploads["photo1.jpg"].content == PHOTO
    assert world.emu.uploads["акт.pdf"].content == PDF
    await world.stop()
