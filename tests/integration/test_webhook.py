"""Webhook mode: Telegram's secret token is checked on every update; a wrong or missing one changes nothing;
an update is answered 200 only once it is in the inbox."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import OtklikApp
from bot.demo import INTAKE_CHAT, OPERATOR, START, DemoClock, demo_settings
from bot.settings import ConfigError
from emulators.telegram import TelegramEmulator
from workflow.ports import StorageUnavailable

SECRET = "s3cret-token_for-webhook"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _update(update_id: int, text: str) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(START.timestamp()),
            "chat": {"id": INTAKE_CHAT, "type": "supergroup", "title": "Приём"},
            "from": {"id": OPERATOR.user_id, "is_bot": False, "first_name": "Мария"},
            "text": text,
        },
    }


def _posted(emu: TelegramEmulator, update_id: int, what: str) -> dict[str, object]:
    """A ЦУР card the operator really posted in the intake chat (the emulator holds it, so the bot's answer can
    reply under it), as Telegram hands it to the webhook. Its «Выявлено» line has it registered at once."""
    text = f"Карточка инцидента ЦУР\n{what}\nВыявлено: {START - timedelta(minutes=20):%d.%m.%Y %H:%M}"
    emu.push_message(INTAKE_CHAT, OPERATOR.user_id, text)
    message = dict(emu.pending_updates[-1]["message"])
    message["date"] = int(START.timestamp())
    return {"update_id": update_id, "message": message}


@pytest.fixture
async def webhook_app(tmp_path: Path) -> AsyncIterator[tuple[OtklikApp, TelegramEmulator, str]]:
    async with TelegramEmulator() as emu:
        settings = demo_settings(emu.base_url, emu.token, tmp_path / "otklik.sqlite3")
        port = _free_port()
        settings.telegram.mode = "webhook"
        settings.telegram.webhook_url = f"https://example.invalid/telegram/{port}"
        settings.telegram.webhook_secret = SECRET
        settings.telegram.webhook_port = port
        app = await OtklikApp.build(settings, clock=DemoClock(START))
        stop = asyncio.Event()
        server = asyncio.create_task(app.run_webhook(stop))
        await emu.wait_for(lambda: emu.webhook is not None and emu.webhook.get("url"), timeout=10)
        try:
            yield app, emu, f"http://127.0.0.1:{port}/telegram"
        finally:
            stop.set()
            await server
            await app.close()


async def _cases(app: OtklikApp) -> int:
    async with app.repo.transaction() as tx:
        return len(await tx.cases(open_only=False))


async def test_webhook_registers_with_the_secret_and_refuses_without_it(
    webhook_app: tuple[OtklikApp, TelegramEmulator, str],
) -> None:
    app, emu, url = webhook_app
    assert emu.webhook is not None and emu.webhook.get("secret_token") == SECRET
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
            async with http.post(url, json=_update(1, "Подделка без секрета"), headers=headers) as response:
                assert response.status == 401
        assert await _cases(app) == 0

        good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with http.post(url, json=_posted(emu, 2, "Яма на ул. Ленина"), headers=good) as r:
            assert r.status == 200
    # The workers handle it from the inbox after the webhook answers; wait for the card in the intake chat.
    await emu.wait_for(lambda: any(m.from_bot and m.buttons for m in emu.sent(INTAKE_CHAT)), timeout=10)
    assert await _cases(app) == 1


async def test_webhook_mode_needs_url_and_secret(tmp_path: Path) -> None:
    async with TelegramEmulator() as emu:
        settings = demo_settings(emu.base_url, emu.token, tmp_path / "otklik.sqlite3")
        settings.telegram.mode = "webhook"
        app = await OtklikApp.build(settings, clock=DemoClock(START))
        try:
            with pytest.raises(ConfigError, match="webhook_url"):
                await app.run_webhook(asyncio.Event())
        finally:
            await app.close()


async def test_webhook_answers_503_while_storage_is_down_and_200_once_saved(
    webhook_app: tuple[OtklikApp, TelegramEmulator, str],
) -> None:
    """Telegram retries a webhook that did not answer 200: the update is acknowledged only once it is saved."""
    app, emu, url = webhook_app
    save = app.inbox.save_batch
    down = [True]

    async def flaky(items: Any) -> int:
        if down[0]:
            raise StorageUnavailable("database is locked")
        return await save(items)

    app.inbox.save_batch = flaky  # type: ignore[method-assign]
    good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    update = _posted(emu, 7, "Нет света")
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=update, headers=good) as response:
            assert response.status == 503
        assert await _cases(app) == 0
        down[0] = False
        for _ in range(2):  # Telegram's retry, and once more: saved once, one case
            async with http.post(url, json=update, headers=good) as response:
                assert response.status == 200
    await emu.wait_for(lambda: any(m.from_bot and m.buttons for m in emu.sent(INTAKE_CHAT)), timeout=10)
    await emu.wait_for(lambda: app.quiet(), timeout=10)
    assert await _cases(app) == 1
