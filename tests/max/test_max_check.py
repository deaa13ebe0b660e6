"""`otklik check` with `[messenger] kind = "max"` (issue 15): the MAX token by GET /me, and the bot's place in
each configured chat, against the MAX emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from bot.check import run_check
from bot.settings import load_settings
from emulators.max import MaxEmulator
from storage.migrate import upgrade
from workflow.rules import DEFAULT_UNITS

INTAKE, OFFICE_HEAD_ID = -301, 42  # the office head works alone: their dialog with the bot
UNIT_CHATS = {unit: -400 - n for n, unit in enumerate(DEFAULT_UNITS)}
TODAY = date(2026, 12, 2)


def config(folder: Path, emu: MaxEmulator, db: Path, token: str | None = None) -> Path:
    lines = [
        "[messenger]",
        'kind = "max"',
        f'max_token = "{token or emu.token}"',
        f'max_api_base = "{emu.base_url}"',
        "[database]",
        f'url = "sqlite+aiosqlite:///{db}"',
        "[chats]",
        f"intake = {INTAKE}",
        f"office_head = {OFFICE_HEAD_ID}",
        f"region_curator = {INTAKE}",
        f"pos_curator = {INTAKE}",
        f"head = {INTAKE}",
        "[chats.units]",
        *(f"{unit} = {chat}" for unit, chat in UNIT_CHATS.items()),
    ]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
async def emu(tmp_path: Path) -> AsyncIterator[MaxEmulator]:
    async with MaxEmulator() as emulator:
        emulator.add_user(OFFICE_HEAD_ID, "Ольга")
        for chat in (INTAKE, *UNIT_CHATS.values()):
            emulator.add_chat(chat, title=f"Чат {chat}")
        await upgrade(f"sqlite+aiosqlite:///{tmp_path / 'otklik.sqlite3'}")
        yield emulator


async def check(path: Path) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = await run_check(load_settings(path), today=TODAY, source=str(path), out=lines.append)
    return code, lines


async def test_a_good_max_config_is_green_and_sends_nothing(emu: MaxEmulator, tmp_path: Path) -> None:
    code, lines = await check(config(tmp_path, emu, tmp_path / "otklik.sqlite3"))
    assert code == 0, lines
    assert any("messenger.max_token: бот MAX @otklik_bot" in line for line in lines)
    assert any(f"chats.intake = {INTAKE}" in line and "видит все сообщения" in line for line in lines)
    assert any(f"chats.office_head = {OFFICE_HEAD_ID}: личный чат" in line for line in lines)
    assert emu.calls("POST /messages") == []


async def test_a_wrong_max_token_and_a_chat_the_bot_left(emu: MaxEmulator, tmp_path: Path) -> None:
    db = tmp_path / "otklik.sqlite3"
    code, lines = await check(config(tmp_path, emu, db, token="wrong"))
    assert code == 2
    assert [line for line in lines if line.startswith("✗")] == [
        "✗ messenger.max_token: MAX не принимает токен; проверьте его в кабинете бота"
    ]
    emu.set_bot_membership(INTAKE, "removed")
    code, lines = await check(config(tmp_path, emu, db))
    assert code == 2
    assert any(line.startswith(f"✗ chats.intake = {INTAKE}: бот не может открыть чат") for line in lines), (
        lines
    )
