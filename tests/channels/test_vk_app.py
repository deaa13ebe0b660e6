"""`otklik run` with [channels.vk] enabled: the whole app (OtklikApp.build) on the Telegram emulator and the VK
emulator; a citizen's VK comment becomes a card in the intake chat by itself, and its edit and deletion show
on that card."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import tests.e2e.conftest as e2e
from bot.demo import INTAKE_CHAT
from bot.settings import ChannelsSettings, Settings, VkSettings
from emulators.telegram import TelegramEmulator
from emulators.telegram.records import visible_text
from emulators.vk import VkEmulator
from tests.e2e.conftest import World, clock, emu, world
from workflow.model import Source

__all__ = ["clock", "emu", "world"]  # the e2e fixtures: the Telegram emulator, the clock, the world

GID = 201
CITIZEN = 42
MODERATOR = 7


@pytest.fixture
async def vk() -> AsyncIterator[VkEmulator]:
    async with VkEmulator(max_wait=1, rate_limit=None) as emulator:
        emulator.add_user(CITIZEN, "Иван", "Петров")
        emulator.add_user(MODERATOR, "Мария", "Иванова")
        emulator.add_group(GID, "Администрация Северного района")
        yield emulator


@pytest.fixture
def with_vk(vk: VkEmulator, monkeypatch: pytest.MonkeyPatch) -> VkEmulator:
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
    return vk


async def test_a_vk_comment_becomes_a_card_and_its_changes_show_on_it(
    world: World, with_vk: VkEmulator
) -> None:
    vk = with_vk
    post = vk.add_post(GID, "Ремонт дорог в 2026 году")
    vk.add_comment(GID, post.id, CITIZEN, "Написано, пока Отклик был выключен")
    await world.start()

    def intake_cards() -> list[str]:
        return [
            visible_text(m) for m in world.emu.sent(INTAKE_CHAT) if visible_text(m).startswith("Сообщение №")
        ]

    # The start's sweep finds the comment written while Отклик was off; the long poll brings the new one.
    await world.wait(lambda: len(intake_cards()) == 1, "the card of the comment written before the start")
    await world.wait(lambda: vk.calls("groups.getLongPollServer"), "the long poll")
    comment = vk.add_comment(GID, post.id, CITIZEN, "Яма на дороге у дома 5")
    vk.redeliver(GID, vk.last_event_id(GID), times=4)
    await world.wait(lambda: len(intake_cards()) == 2, "the card of the new comment")
    await world.settle()
    card = intake_cards()[1]
    assert "Источник: ВКонтакте" in card and "Яма на дороге у дома 5" in card
    assert f"https://vk.com/wall-{GID}_{post.id}?reply={comment.id}" in card
    assert "Написано, пока Отклик был выключен" in intake_cards()[0]

    async with world.app.repo.reading() as tx:
        case_id = await tx.find_case_by_source(Source.VK.value, f"-{GID}_{comment.id}")
    assert case_id is not None

    def card_now() -> str:
        return visible_text(world.card(INTAKE_CHAT, case_id))

    vk.edit_comment(GID, comment.id, "Яма на дороге у дома 7")
    await world.wait(lambda: "Автор изменил комментарий" in card_now(), "the edit on the card")
    assert "Яма на дороге у дома 7" in card_now()
    vk.delete_comment(GID, comment.id, deleter_id=MODERATOR)
    await world.wait(lambda: "Комментарий удалён модератором" in card_now(), "the deletion on the card")
    await world.settle()
    assert len(intake_cards()) == 2  # five deliveries, a sweep, an edit and a deletion: still two cards
    await world.stop()
