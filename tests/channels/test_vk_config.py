"""[channels.vk]: secrets from the environment, the example config, and `otklik check`'s VK lines against the
VK emulator through the real vk-api."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.check import Level, vk_findings
from bot.settings import ChannelsSettings, ConfigError, Settings, VkSettings, load_settings
from emulators.vk import VkEmulator

GID = 201


@pytest.fixture
async def vk() -> AsyncIterator[VkEmulator]:
    async with VkEmulator(max_wait=1, rate_limit=None) as emulator:
        emulator.add_group(GID, "Администрация Северного района")
        yield emulator


def settings(vk: VkEmulator, **kw: object) -> Settings:
    values: dict[str, object] = {"enabled": True, "group_id": GID, "api_base": vk.base_url, **kw}
    return Settings(channels=ChannelsSettings(vk=VkSettings.model_validate(values)))


def test_the_secrets_come_from_their_own_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTKLIK_VK_TOKEN", "community-token")
    monkeypatch.setenv("OTKLIK_VK_SERVICE_KEY", "service-key")
    vk = Settings().channels.vk
    assert (vk.token, vk.service_key, vk.enabled) == ("community-token", "service-key", False)
    assert (vk.api_base, vk.reconcile_minutes, vk.wait_seconds) == ("https://api.vk.com", 15, 25)


def test_bad_vk_settings_are_one_russian_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[channels.vk]\nenabled = true\nreconcile_minutes = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "channels.vk.reconcile_minutes: слишком маленькое значение" in str(caught.value)


async def test_check_says_the_token_has_its_rights_and_the_service_key_works(vk: VkEmulator) -> None:
    found = await vk_findings(settings(vk, token=vk.group_token(GID), service_key=vk.service_key()))
    assert [f.level for f in found] == [Level.OK, Level.OK]
    assert "права: wall, messages, docs" in found[0].text


async def test_check_names_the_missing_rights_and_a_wrong_service_key(vk: VkEmulator) -> None:
    token = vk.group_token(GID, permissions=("messages",))
    found = await vk_findings(settings(vk, token=token, service_key=vk.group_token(GID)))
    assert [f.level for f in found] == [Level.FAIL, Level.FAIL]
    assert "нет прав: wall, docs" in found[0].text
    assert found[1].text.startswith("channels.vk.service_key: сервисный ключ не работает")


async def test_check_of_a_revoked_token_a_missing_one_and_an_unreachable_api(vk: VkEmulator) -> None:
    token = vk.group_token(GID)
    vk.revoke_token(token)
    revoked = await vk_findings(settings(vk, token=token))
    assert revoked[0].level is Level.FAIL and "отклонил ключ сообщества" in revoked[0].text
    missing = await vk_findings(settings(vk))
    assert [f.text for f in missing] == [
        "channels.vk.token: не задан ключ доступа сообщества (задайте OTKLIK_VK_TOKEN)"
    ]
    down = await vk_findings(settings(vk, token=token, api_base="http://127.0.0.1:9"))
    assert down[0].level is Level.FAIL and "API ВКонтакте не отвечает" in down[0].text
    no_key = await vk_findings(settings(vk, token=vk.group_token(GID)))
    assert [f.level for f in no_key] == [Level.OK, Level.WARN]
    assert await vk_findings(Settings()) == []  # not enabled: nothing to say


async def test_check_reads_the_long_poll_settings_and_names_the_events_switched_off(vk: VkEmulator) -> None:
    from bot.check import vk_long_poll_findings
    from channels.vk import make_api
    from channels.vk_session import vk_session

    token = vk.group_token(GID)
    found = await vk_long_poll_findings(settings(vk, token=token))
    assert [(f.level, f.text) for f in found] == [
        (
            Level.OK,
            "ВКонтакте: Long Poll API включён, события: wall_reply_new, wall_reply_edit, wall_reply_delete, "
            "wall_reply_restore, message_new, message_edit",
        )
    ]
    api = make_api(token, vk_session(vk.base_url))
    await asyncio.to_thread(api.method, "groups.setLongPollSettings", {"group_id": GID, "wall_reply_edit": 0, "message_edit": 0})
    found = await vk_long_poll_findings(settings(vk, token=token))
    assert [f.level for f in found] == [Level.FAIL]
    assert "не включены события: wall_reply_edit, message_edit" in found[0].text
    await asyncio.to_thread(api.method, "groups.setLongPollSettings", {"group_id": GID, "enabled": 0})
    found = await vk_long_poll_findings(settings(vk, token=token))
    assert [f.level for f in found] == [Level.FAIL] and "Long Poll API выключен" in found[0].text
    # Callback mode has no long poll to check; a refused token is one line.
    assert await vk_long_poll_findings(settings(vk, token=token, mode="callback")) == []
    vk.revoke_token(token)
    found = await vk_long_poll_findings(settings(vk, token=token))
    assert [f.level for f in found] == [Level.FAIL] and "настройки Long Poll API не прочитаны" in found[0].text


async def test_check_asks_for_the_docs_right_only_when_attachments_are_kept(vk: VkEmulator) -> None:
    token = vk.group_token(GID, permissions=("wall", "messages"))
    assert "нет прав: docs" in (await vk_findings(settings(vk, token=token)))[0].text
    found = await vk_findings(settings(vk, token=token, attachments=False))
    assert found[0].level is Level.OK and "права: wall, messages" in found[0].text
