"""VK Callback API instead of the long poll: the emulator's Callback sender posts to `callback_handler` on a real
aiohttp server; events are saved to the inbox under the long poll's keys, then the same workers take them in.
Real SQLite and PostgreSQL (the rig of test_vk_intake.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

import tests.e2e.conftest as e2e
from bot.channel_reader import ChannelReader, callback_handler
from bot.demo import INTAKE_CHAT
from bot.settings import ChannelsSettings, ConfigError, Settings, VkSettings
from emulators.telegram import TelegramEmulator
from emulators.telegram.records import visible_text
from emulators.vk import VkEmulator
from storage.inbox import Cursor, Inbox, Incoming
from tests.channels.test_vk_intake import CITIZEN, GID, Rig, engine
from tests.e2e.conftest import World, clock, emu, world
from workflow.ports import StorageUnavailable

# The e2e fixtures (the Telegram emulator `emu`, the clock, the world) and the intake tests' engine; the VK
# emulator here is `vk`, and `rig` is built on it.
__all__ = ["clock", "emu", "engine", "world"]

SECRET = "s3cr3t-callback"
CONFIRMATION = "a1b2c3d4"


class DownInbox(Inbox):
    """The database is down for the first `down` writes."""

    down = 2

    async def save_batch(self, items: Sequence[Incoming], *, cursor: Cursor | None = None) -> int:
        if DownInbox.down > 0:
            DownInbox.down -= 1
            raise StorageUnavailable("connection refused")
        return await super().save_batch(items, cursor=cursor)


async def serve(reader: ChannelReader) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post(
        "/vk/callback", callback_handler(reader, group_id=GID, secret=SECRET, confirmation=CONFIRMATION)
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/vk/callback"


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


@pytest.fixture
async def served(rig: Rig) -> AsyncIterator[tuple[Rig, str]]:
    run = rig.run(sweep=False)
    run.reader.listen = False
    await run.start()
    runner, url = await serve(run.reader)
    yield rig, url
    await runner.cleanup()


async def test_confirmed_then_a_comment_posted_five_times_is_one_case(served: tuple[Rig, str]) -> None:
    rig, url = served
    assert await rig.emu.connect_callback(
        GID, url, confirmation_code=CONFIRMATION, secret=SECRET, retry_delay=0.01
    )
    post = rig.emu.add_post(GID, "Ремонт дорог")
    comment = rig.emu.add_comment(GID, post.id, CITIZEN, "Когда починят дорогу у дома 5?")
    rig.emu.redeliver(GID, rig.emu.last_event_id(GID), times=4)
    await rig.until(lambda: rig.emu.callback_pending(GID) == 0)
    await rig.handled(1)
    assert await rig.cases() == [(f"-{GID}_{comment.id}", "Когда починят дорогу у дома 5?")]
    server = rig.emu.callback_servers[GID]
    assert all(a.accepted for a in server.attempts if a.type != "confirmation")
    assert not server.gave_up
    # An edit comes the same way and is one more row (its own event id), no new case.
    rig.emu.edit_comment(GID, comment.id, "Когда починят дорогу у дома 7?")
    await rig.until(lambda: rig.emu.callback_pending(GID) == 0)
    await rig.until(lambda: rig.runs[0].pool.quiet())
    assert await rig.inbox_rows() == 2
    assert len(await rig.cases()) == 1


async def test_a_wrong_secret_is_refused_and_nothing_is_saved(
    served: tuple[Rig, str], caplog: pytest.LogCaptureFixture
) -> None:
    rig, url = served
    assert not await rig.emu.connect_callback(GID, url, confirmation_code=CONFIRMATION, secret="guess")
    comment = {"id": 9, "from_id": CITIZEN, "post_id": 1, "owner_id": -GID, "date": 1, "text": "подлог"}
    forged = {"type": "wall_reply_new", "group_id": GID, "event_id": "e1", "object": comment}
    with caplog.at_level(logging.WARNING):
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json={**forged, "secret": "guess"}) as response:
                assert response.status == 403
            async with http.post(url, json=forged) as response:  # no secret at all
                assert response.status == 403
            other = {**forged, "group_id": GID + 1, "secret": SECRET}
            async with http.post(url, json=other) as response:
                assert response.status == 403
            async with http.post(url, data=b"\x00{not json") as response:
                assert response.status == 400
            async with http.post(url, json=[1, 2]) as response:
                assert response.status == 400
            # An unknown type and a comment without its ids: «ok» (VK must not retry them), nothing saved.
            for bad in (
                {"type": "group_join", "object": {}},
                {"type": "wall_reply_new", "object": {"id": "x"}},
            ):
                async with http.post(url, json={**bad, "group_id": GID, "secret": SECRET}) as response:
                    assert (response.status, await response.text()) == (200, "ok")
    assert await rig.inbox_rows() == 0
    assert sum("неверный секретный ключ" in r.getMessage() for r in caplog.records) == 3


async def test_while_the_database_is_down_vk_gets_503_and_its_retry_is_saved_once(rig: Rig) -> None:
    DownInbox.down = 2
    run = rig.run(sweep=False, inbox_class=DownInbox)
    run.reader.listen = False
    await run.start()
    runner, url = await serve(run.reader)
    try:
        assert await rig.emu.connect_callback(
            GID, url, confirmation_code=CONFIRMATION, secret=SECRET, retry_delay=0.01
        )
        post = rig.emu.add_post(GID, "Ремонт дорог")
        comment = rig.emu.add_comment(GID, post.id, CITIZEN, "Свет не горит")
        await rig.until(lambda: rig.emu.callback_pending(GID) == 0)
        await rig.handled(1)
    finally:
        await runner.cleanup()
    attempts = [a for a in rig.emu.callback_servers[GID].attempts if a.type == "wall_reply_new"]
    assert [(a.retry, a.status) for a in attempts] == [(0, 503), (1, 503), (2, 200)]
    assert attempts[-1].accepted
    assert await rig.cases() == [(f"-{GID}_{comment.id}", "Свет не горит")]
    assert await rig.inbox_rows() == 1


# --- the whole app: [channels.vk] mode = "callback" -------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_otklik_run_in_callback_mode_takes_a_comment_in_as_a_card(
    world: World, vk: VkEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = e2e.settings_for
    port = free_port()
    token, service = vk.group_token(GID), vk.service_key()
    monkeypatch.setenv("OTKLIK_VK_CALLBACK_SECRET", SECRET)
    monkeypatch.setenv("OTKLIK_VK_CONFIRMATION", CONFIRMATION)

    def settings_for(telegram: TelegramEmulator, db_path: Path, *, rate_limits: bool = False) -> Settings:
        settings = plain(telegram, db_path, rate_limits=rate_limits)
        settings.channels = Settings(
            channels=ChannelsSettings(
                vk=VkSettings(enabled=True, group_id=GID, token=token, service_key=service, api_base=vk.base_url,
                              mode="callback", callback_port=port)
            )
        ).channels  # fmt: skip
        return settings

    monkeypatch.setattr(e2e, "settings_for", settings_for)
    await world.start()
    await world.wait(lambda: world.app._callback_site is not None, "the Callback API server")
    url = f"http://127.0.0.1:{port}/vk/callback"
    assert await vk.connect_callback(
        GID, url, confirmation_code=CONFIRMATION, secret=SECRET, retry_delay=0.01
    )
    post = vk.add_post(GID, "Ремонт дорог в 2026 году")
    comment = vk.add_comment(GID, post.id, CITIZEN, "Яма на дороге у дома 5")

    def intake_cards() -> list[str]:
        return [
            visible_text(m) for m in world.emu.sent(INTAKE_CHAT) if visible_text(m).startswith("Сообщение №")
        ]

    await world.wait(lambda: len(intake_cards()) == 1, "the card of the comment VK posted to us")
    assert f"https://vk.com/wall-{GID}_{post.id}?reply={comment.id}" in intake_cards()[0]
    assert not vk.calls("groups.getLongPollServer")  # no long poll in callback mode
    await world.settle()
    await world.stop()


def test_callback_mode_needs_its_secret_and_confirmation(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.app import _channel_sources

    vk = VkSettings(enabled=True, group_id=GID, token="t", mode="callback")
    with pytest.raises(ConfigError, match="callback_secret"):
        _channel_sources(Settings(channels=ChannelsSettings(vk=vk)))
    monkeypatch.setenv("OTKLIK_VK_CALLBACK_SECRET", SECRET)
    with pytest.raises(ConfigError, match="OTKLIK_VK_CONFIRMATION"):
        _channel_sources(Settings(channels=ChannelsSettings(vk=vk)))


async def test_an_accepted_event_counts_as_a_read_for_the_channel_health(rig: Rig) -> None:
    from datetime import timedelta

    from bot.channel_health import ChannelHealth
    from storage.repository import SqlRepository

    run = rig.run(sweep=False)
    run.reader.listen = False
    health = ChannelHealth("vk", SqlRepository(rig.engine, clock=rig.clock), rig.clock, minutes=10)
    run.reader.health = health
    runner, url = await serve(run.reader)
    try:
        assert await health.check() is None  # the watch starts now
        rig.clock.advance(timedelta(minutes=9))
        assert await rig.emu.connect_callback(
            GID, url, confirmation_code=CONFIRMATION, secret=SECRET, retry_delay=0.01
        )
        rig.emu.add_post(GID, "Ремонт дорог")  # wall_post_new: no citizen's item, still VK reaching us
        await rig.until(lambda: rig.emu.callback_pending(GID) == 0)
        assert health.last_read == rig.clock.now()
        rig.clock.advance(timedelta(minutes=9))
        assert await health.check() is None  # 18 minutes since the start, 9 since VK last posted
    finally:
        await runner.cleanup()
