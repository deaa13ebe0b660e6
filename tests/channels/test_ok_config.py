"""[channels.ok]: secrets from the environment, the example config, a half-configured block as one Russian
line, and `otklik check`'s OK lines against the OK emulator through the real client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from bot.check import diagnose
from bot.ok_wiring import ok_findings, ok_parts
from bot.settings import ChannelsSettings, ConfigError, OkSettings, Settings, load_settings
from emulators.ok import OkEmulator

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def emu() -> AsyncIterator[OkEmulator]:
    async with OkEmulator() as emulator:
        yield emulator


def settings(emu: OkEmulator, **kw: object) -> Settings:
    values: dict[str, object] = {
        "enabled": True, "group_id": emu.group_id, "application_key": emu.application_key,
        "application_secret": emu.application_secret, "access_token": emu.user_token(), "api_base": emu.base_url,
        **kw,
    }  # fmt: skip
    return Settings(channels=ChannelsSettings(ok=OkSettings.model_validate(values)))


def test_the_secrets_come_from_their_own_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (
        ("APP_SECRET", "s"),
        ("ACCESS_TOKEN", "t"),
        ("BOT_TOKEN", "b"),
        ("WEBHOOK_SECRET", "w"),
    ):
        monkeypatch.setenv(f"OTKLIK_OK_{name}", value)
    ok = Settings().channels.ok
    assert (ok.application_secret, ok.access_token, ok.bot_token, ok.webhook_secret) == ("s", "t", "b", "w")
    assert (ok.enabled, ok.api_base, ok.poll_seconds, ok.webhook_path) == (
        False,
        "https://api.ok.ru",
        60,
        "/ok/webhook",
    )
    example = load_settings(ROOT / "config.example.toml").channels.ok
    assert example.enabled is False and example.webhook_port == 8082


def test_a_half_configured_block_is_one_russian_line() -> None:
    cases = [
        ({"enabled": True}, "group_id"),
        ({"enabled": True, "group_id": "1", "application_key": "K"}, "OTKLIK_OK_APP_SECRET"),
        ({"enabled": True, "group_id": "1", "webhook_url": "https://x/ok/webhook"}, "OTKLIK_OK_BOT_TOKEN"),
        ({"enabled": True, "group_id": "1"}, "не заданы"),
    ]
    for values, says in cases:
        with pytest.raises(ConfigError) as refused:
            ok_parts(Settings(channels=ChannelsSettings(ok=OkSettings.model_validate(values))))
        assert says in str(refused.value) and "\n" not in str(refused.value)
    assert ok_parts(Settings()) is None


async def test_check_renews_the_token_and_says_what_is_wrong_in_one_line(emu: OkEmulator) -> None:
    [(level, text), (warn, _)] = await ok_findings(settings(emu))
    assert level == "ok" and "продлён" in text and warn == "warn"  # no webhook: messages are not taken in
    [(level, text), _] = await ok_findings(settings(emu, application_secret="wrong"))
    assert level == "fail" and "подпись" in text and "104" in text
    lapsing = settings(emu)  # its token issued now
    emu.now += 31 * 86400  # a month without a call
    [(level, text), _] = await ok_findings(lapsing)
    assert level == "fail" and "истёк" in text
    [(level, text)] = await ok_findings(Settings(channels=ChannelsSettings(ok=OkSettings(enabled=True))))
    assert level == "fail" and "group_id" in text


async def test_the_check_command_carries_the_ok_lines(emu: OkEmulator) -> None:
    found = await diagnose(
        settings(emu, application_secret="wrong"), today=date(2026, 12, 2), source="config.toml"
    )
    assert any("Одноклассники" in f.text and "подпись" in f.text for f in found)


async def test_any_call_keeps_the_long_lived_token_alive(emu: OkEmulator) -> None:
    kept = settings(emu)
    for _ in range(3):  # 60 days in all, a call every 20: the token never lapses
        emu.now += 20 * 86400
        [(level, _text), _] = await ok_findings(kept)
        assert level == "ok"
