"""`otklik run` with [channels.ok] enabled: the whole app (OtklikApp.build) on the Telegram emulator and the
OK emulator. A citizen's comment under a group post and a message to the group each become a card in the
intake chat by themselves (the comment by polling fb.do, the message by the Bot API webhook the app
subscribes at start), and a deleted comment shows on its card."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import tests.e2e.conftest as e2e
from bot.demo import INTAKE_CHAT
from bot.settings import ChannelsSettings, OkSettings, Settings
from emulators.ok import OkEmulator
from emulators.telegram import TelegramEmulator
from emulators.telegram.records import visible_text
from tests.e2e.conftest import World, clock, emu, world
from workflow.model import Source

__all__ = ["clock", "emu", "world"]

TOPIC = "155000000001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def ok_emu() -> AsyncIterator[OkEmulator]:
    async with OkEmulator() as emulator:
        emulator.add_topic(TOPIC)
        yield emulator


@pytest.fixture
def with_ok(ok_emu: OkEmulator, monkeypatch: pytest.MonkeyPatch) -> OkEmulator:
    plain = e2e.settings_for
    port = free_port()

    def settings_for(telegram: TelegramEmulator, db_path: Path, *, rate_limits: bool = False) -> Settings:
        settings = plain(telegram, db_path, rate_limits=rate_limits)
        settings.channels = ChannelsSettings(
            ok=OkSettings(enabled=True, group_id=ok_emu.group_id, application_key=ok_emu.application_key,
                          application_secret=ok_emu.application_secret, access_token=ok_emu.user_token(),
                          bot_token=ok_emu.bot_token(), api_base=ok_emu.base_url, poll_seconds=5,
                          webhook_url=f"http://127.0.0.1:{port}/ok/webhook", webhook_secret="s3cr3t",
                          webhook_port=port)
        )  # fmt: skip
        return settings

    monkeypatch.setattr(e2e, "settings_for", settings_for)
    return ok_emu


async def test_an_ok_comment_and_message_become_cards_and_a_deletion_shows(
    world: World, with_ok: OkEmulator
) -> None:
    ok = with_ok
    comment = ok.comment(TOPIC, "577123", "Яма на дороге у дома 5", name="Иван Петров")
    await world.start()

    def intake_cards() -> list[str]:
        return [
            visible_text(m) for m in world.emu.sent(INTAKE_CHAT) if visible_text(m).startswith("Сообщение №")
        ]

    await world.wait(lambda: len(intake_cards()) == 1, "the card of the comment")
    card = intake_cards()[0]
    assert "Одноклассники" in card and "Яма на дороге у дома 5" in card
    await world.wait(lambda: ok.webhook_url.endswith("?secret=s3cr3t"), "the webhook subscription")
    event = ok.message("577124", "chat:C3ec01", "Не вывозят мусор")
    assert [d.status for d in await ok.delivered(event)] == [200]
    await world.wait(lambda: len(intake_cards()) == 2, "the card of the message")
    assert "Не вывозят мусор" in intake_cards()[1]

    async with world.app.repo.reading() as tx:
        case_id = await tx.find_case_by_source(Source.OK.value, f"{TOPIC}:{comment.id}")
    assert case_id is not None
    ok.delete(TOPIC, comment.id)
    reader = next(r for r in world.app.readers if r.channel == "ok")
    await reader.reconcile()  # the periodic sweep (every reconcile_minutes), run now
    await world.wait(
        lambda: "удал" in visible_text(world.card(INTAKE_CHAT, case_id)), "the deletion on the card"
    )
    await world.settle()
    assert len(intake_cards()) == 2
    await world.stop()
