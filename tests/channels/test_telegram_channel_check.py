"""`otklik check` with [channels.telegram] enabled, against the Telegram emulator: the channel's linked
discussion group is the configured one, and the bot is its administrator — one Russian line each; and
`otklik run` refuses an enabled channel without a discussion group."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from bot.app import OtklikApp
from bot.check import Level, telegram_channel_findings
from bot.settings import (
    ChannelsSettings,
    ConfigError,
    Settings,
    TelegramChannelSettings,
    TelegramSettings,
    load_settings,
)
from emulators.telegram import TelegramEmulator

CHANNEL = -1003000000001
GROUP = -1003000000002
OTHER_GROUP = -1003000000003
TODAY = date(2026, 12, 2)


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    async with TelegramEmulator() as emulator:
        emulator.add_channel(CHANNEL, "Администрация района", group_id=GROUP)
        emulator.bot_status[GROUP] = "administrator"
        emulator.add_chat(OTHER_GROUP, "supergroup", title="Чужая группа")
        yield emulator


async def findings(emu: TelegramEmulator, **channel: object) -> list[tuple[Level, str]]:
    settings = Settings(
        telegram=TelegramSettings(token=emu.token, api_base=emu.base_url),
        channels=ChannelsSettings(telegram=TelegramChannelSettings(enabled=True, **channel)),  # type: ignore[arg-type]
    )
    bot = emu.create_bot()
    try:
        found = await telegram_channel_findings(bot, await bot.get_me(), settings)
    finally:
        await bot.session.close()
    return [(f.level, f.text) for f in found]


async def test_a_linked_group_with_the_bot_as_administrator_is_green(emu: TelegramEmulator) -> None:
    found = await findings(emu, channel_id=CHANNEL, group_id=GROUP)
    assert found == [
        (Level.OK, f"канал «Администрация района» связан с группой обсуждения {GROUP}"),
        (
            Level.OK,
            f"channels.telegram.group_id = {GROUP}: бот — администратор группы обсуждения и видит комментарии",
        ),
    ]


async def test_another_group_than_the_channels_is_a_problem(emu: TelegramEmulator) -> None:
    emu.bot_status[OTHER_GROUP] = "administrator"
    [linked, admin] = await findings(emu, channel_id=CHANNEL, group_id=OTHER_GROUP)
    assert linked == (
        Level.FAIL,
        f"channels.telegram.channel_id = {CHANNEL}: группа обсуждения канала «Администрация района» — {GROUP}, "
        f"а в настройках group_id = {OTHER_GROUP}",
    )
    assert admin[0] is Level.OK


async def test_the_bot_not_an_administrator_of_the_group_is_a_problem(emu: TelegramEmulator) -> None:
    emu.bot_status[GROUP] = "member"
    [_linked, admin] = await findings(emu, channel_id=CHANNEL, group_id=GROUP)
    assert admin[0] is Level.FAIL and "не администратор группы обсуждения" in admin[1]


async def test_a_channel_without_comments_and_one_the_bot_cannot_see(emu: TelegramEmulator) -> None:
    emu.add_channel(-1003000000009, "Канал без обсуждения")
    [linked, _admin] = await findings(emu, channel_id=-1003000000009, group_id=GROUP)
    assert linked[0] is Level.FAIL and "нет группы обсуждения" in linked[1]
    [unseen, _admin] = await findings(emu, channel_id=-1003000000077, group_id=GROUP)
    assert unseen[0] is Level.FAIL and "бот не видит канал (Bad Request: chat not found)" in unseen[1]


async def test_no_group_is_one_line_for_check_and_refuses_run(emu: TelegramEmulator, tmp_path: Path) -> None:
    assert await findings(emu, channel_id=CHANNEL) == [
        (Level.FAIL, "channels.telegram.group_id: не указан id группы обсуждения канала")
    ]
    settings = Settings(
        telegram=TelegramSettings(token=emu.token, api_base=emu.base_url),
        channels=ChannelsSettings(telegram=TelegramChannelSettings(enabled=True, channel_id=CHANNEL)),
    )
    settings.database.url = f"sqlite+aiosqlite:///{tmp_path / 'otklik.sqlite3'}"
    with pytest.raises(ConfigError, match=r"channels\.telegram\.group_id"):
        await OtklikApp.build(settings)


def test_the_config_block_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        "[channels.telegram]\nenabled = true\nchannel_id = -1001\ngroup_id = -1002\ndirect_messages = false\n",
        encoding="utf-8",
    )
    tg = load_settings(path).channels.telegram
    assert (tg.enabled, tg.channel_id, tg.group_id, tg.direct_messages) == (True, -1001, -1002, False)
    path.write_text("[channels.telegram]\ngroup_id = 5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"channels\.telegram\.group_id: слишком большое значение"):
        load_settings(path)
