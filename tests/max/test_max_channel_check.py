"""`otklik check` of `[channels.max]` (issue 15 item 3): the citizens' MAX bot's token by GET /me through the
session, and the group named for citizens, against the MAX emulator; nothing is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.check import Level, max_channel_findings
from bot.settings import ChannelsSettings, MaxChannelSettings, MessengerSettings, Settings
from emulators.max import MaxEmulator

GROUP = -70001


@pytest.fixture
async def emu() -> AsyncIterator[MaxEmulator]:
    async with MaxEmulator("citizens-token", bot_username="rayon_priem") as emulator:
        emulator.add_chat(GROUP, title="Жители района", bot_admin=True)
        yield emulator


def own_bot(emu: MaxEmulator, token: str | None = None, group_id: int | None = None) -> Settings:
    channel = MaxChannelSettings(enabled=True, token=token if token is not None else emu.token,
                                 api_base=emu.base_url, group_id=group_id)  # fmt: skip
    return Settings(channels=ChannelsSettings(max=channel))


async def test_the_citizens_own_bot_and_its_group(emu: MaxEmulator) -> None:
    findings = await max_channel_findings(own_bot(emu, group_id=GROUP))
    assert [f.level for f in findings] == [Level.OK, Level.OK], findings
    assert findings[0].text == "channels.max: обращения граждан принимает бот MAX @rayon_priem (id 900001)"
    assert findings[1].text.startswith(f"channels.max.group_id = {GROUP}")
    emu.set_bot_membership(GROUP, "removed")
    [_me, group] = await max_channel_findings(own_bot(emu, group_id=GROUP))
    assert group.level is Level.FAIL
    assert emu.calls("POST /messages") == []


async def test_a_wrong_or_missing_token_is_one_line(emu: MaxEmulator) -> None:
    [wrong] = await max_channel_findings(own_bot(emu, token="wrong"))
    assert (wrong.level, wrong.text) == (
        Level.FAIL, "channels.max.token: MAX не принимает токен бота для граждан; проверьте его в кабинете бота"
    )  # fmt: skip
    [missing] = await max_channel_findings(own_bot(emu, token=""))
    assert missing.level is Level.FAIL and "OTKLIK_CHANNELS__MAX__TOKEN" in missing.text
    assert await max_channel_findings(Settings()) == []  # not enabled: nothing to say


async def test_with_the_staff_on_max_the_staff_bot_takes_citizens_in(emu: MaxEmulator) -> None:
    shared = Settings(
        messenger=MessengerSettings(kind="max", max_token=emu.token, max_api_base=emu.base_url),
        channels=ChannelsSettings(max=MaxChannelSettings(enabled=True)),
    )
    [finding] = await max_channel_findings(shared)
    assert finding.level is Level.OK and "бот сотрудников MAX @rayon_priem" in finding.text
    shared.channels.max.token = "another"
    [refused] = await max_channel_findings(shared)
    assert refused.level is Level.FAIL and "отдельный бот MAX для граждан не поддерживается" in refused.text
