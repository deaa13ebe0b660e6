"""Cases written by `otklik pos import` (another process, no Telegram) reach the ПОС chat through the bot's
periodic outbox drain: the card first, then the unknown-category notice; a second drain sends nothing more."""

from __future__ import annotations

from pathlib import Path

from bot.pos_import import import_file
from bot.settings import load_settings
from emulators.telegram import visible_text
from storage.engine import create_engine
from tests.fakes import FakeClock
from tests.handlers.conftest import MONDAY_10, POS_CHAT, harness_on


async def test_imported_cases_reach_the_pos_chat_through_the_drain(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'otklik.sqlite3'}"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n[chats]\npos_curator = {POS_CHAT}\n'
        '[pos]\ncategories = { "Дороги" = "local_fast" }\n',
        encoding="utf-8",
    )
    export = tmp_path / "pos.csv"
    export.write_text(
        "Номер;Категория;Дата поступления;Текст\n"
        "1000001;Дороги;02.03.2026 09:00;Яма на дороге\n"
        "1000002;Образование;02.03.2026 09:30;Нет мест в детском саду\n",
        encoding="utf-8",
    )
    done = await import_file(load_settings(config), export, mapping_path=None, clock=FakeClock(MONDAY_10))
    assert len(done.report.registered) == 2

    engine = create_engine(url)  # the running bot: its own engine on the same file, as another process has
    try:
        async with harness_on(engine) as h:
            await h.delivery.drain()  # what the scheduler's «outbox» job runs every outbox_seconds
            assert "Яма на дороге" in visible_text(await h.card(POS_CHAT, 1))
            assert "Нет мест в детском саду" in visible_text(await h.card(POS_CHAT, 2))
            notices = [t for t in h.texts(POS_CHAT) if "Неизвестная категория ПОС" in t]
            assert len(notices) == 1 and "«Образование»" in notices[0]
            sent = len(h.emu.sent(POS_CHAT))
            await h.delivery.drain()
            await h.delivery.settle()
            assert len(h.emu.sent(POS_CHAT)) == sent
    finally:
        await engine.dispose()
