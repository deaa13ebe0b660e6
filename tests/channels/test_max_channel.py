"""MAX as a citizens' channel (issue 15 item 3): the whole app (OtklikApp.build) long-polling the MAX emulator
through aiogram and MaxSession, with [channels.max] on, in both deployments:

(a) the staff on MAX and citizens writing to the same MAX bot: a stranger's dialog message is a case;
(b) the staff on Telegram (the Telegram emulator) and a MAX bot of the citizens' own (a second MAX emulator):
    its long poll goes into the same inbox under the source "max", through the citizens' intake router alone.

A citizen's message becomes one case whatever is delivered again or killed; the acknowledgement goes once, as a
reply; the approved answer goes once, as a reply in the dialog; a stopped bot or a deleted message is shown on
the card with the text to copy; edits reach the card; hostile input changes nothing but what it should.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import tests.e2e.conftest as e2e
from bot.app import MAX_CITIZENS_SOURCE, OtklikApp
from bot.demo import INTAKE_CHAT, OFFICE_HEAD, OPERATOR
from bot.settings import (
    ChannelsSettings,
    ConfigError,
    MaxChannelSettings,
    MessengerSettings,
    Settings,
    load_settings,
)
from channels.max import MaxPublisher
from channels.telegram import TEXT_LIMIT
from emulators.max import MaxEmulator, MaxMessage
from emulators.telegram import TelegramEmulator
from emulators.telegram.records import visible_text as tg_visible
from storage.inbox import InboxRow
from storage.tables import inbox
from tests.channels.test_telegram_channel_publish import DiesAfterTheCall
from tests.channels.test_vk_publish import Killed, _rows_at, approved, publication_rows
from tests.e2e.conftest import World, clock, emu, labels, world
from views import texts
from workflow.lifecycle import Status
from workflow.model import Case, InboundMessage, Network, Source

__all__ = ["clock", "emu", "world"]

CITIZEN = 8001
OTHER_CITIZEN = 8002
GROUP = -70001  # the administration's MAX group for citizens
DRAFT = "Здравствуйте! Крыльцо дома 3 отремонтируют до 20 декабря."
ON_MAX = pytest.mark.parametrize("messenger", ["max"], indirect=True)


def with_max_channel(monkeypatch: pytest.MonkeyPatch, channel: MaxChannelSettings) -> None:
    plain = e2e.settings_for

    def settings_for(emulator: TelegramEmulator, db_path: Path, *, rate_limits: bool = False) -> Settings:
        settings = plain(emulator, db_path, rate_limits=rate_limits)
        settings.channels = ChannelsSettings(max=channel)
        return settings

    monkeypatch.setattr(e2e, "settings_for", settings_for)


@pytest.fixture
def shared(emu: TelegramEmulator, monkeypatch: pytest.MonkeyPatch) -> MaxEmulator:
    """Deployment (a): the staff's MAX bot (the world's emulator) takes citizens' dialogs in too."""
    assert isinstance(emu, MaxEmulator)
    emu.add_user(CITIZEN, "Анна", "Смирнова")
    emu.add_user(OTHER_CITIZEN, "Пётр", "Козлов", username="petr_k")
    with_max_channel(monkeypatch, MaxChannelSettings(enabled=True))
    return emu


@pytest.fixture
async def citizens(emu: TelegramEmulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MaxEmulator]:
    """Deployment (b): the staff on Telegram (the world's emulator), the citizens on a MAX bot of their own."""
    assert not isinstance(emu, MaxEmulator)
    async with MaxEmulator("citizens-max-token", bot_id=900_777, bot_username="rayon_priem", rate_limit=None) as mx:
        mx.add_user(CITIZEN, "Анна", "Смирнова")
        mx.add_user(OTHER_CITIZEN, "Пётр", "Козлов")
        with_max_channel(monkeypatch, MaxChannelSettings(enabled=True, token=mx.token, api_base=mx.base_url))
        yield mx


def intake_cards(world: World) -> list[str]:
    return [tg_visible(m) for m in world.emu.sent(INTAKE_CHAT) if tg_visible(m).startswith("Сообщение №")]


def acks(mx: MaxEmulator, user_id: int) -> list[MaxMessage]:
    return [m for m in mx.sent(user_id) if "зарегистрировано" in m.plain_text]


async def case_of(world: World, key: str) -> tuple[Case, InboundMessage]:
    async with world.app.repo.reading() as tx:
        case_id = await tx.find_case_by_source(Source.MAX.value, key)
        assert case_id is not None, f"no case of {key}"
        case, message = await tx.get_case(case_id), await tx.get_message(case_id)
    assert case is not None and message is not None
    return case, message


async def cases_of(world: World, key: str) -> int:
    async with world.app.repo.reading() as tx:
        return 0 if await tx.find_case_by_source(Source.MAX.value, key) is None else 1


async def replay(world: World, source: str, chat_id: int, message_id: int) -> None:
    """The inbox row of this message handled once more, as after a crash before it was marked done."""
    async with world.app.engine.connect() as conn:
        rows = (await conn.execute(select(inbox).where(inbox.c.source == source))).mappings().all()
    row = next(
        r
        for r in rows
        if r["raw"].get("message", {}).get("message_id") == message_id
        and r["raw"]["message"]["chat"]["id"] == chat_id
    )
    again = InboxRow(row["id"], row["source"], row["key"], row["lane"], row["raw"], 1, row["received_at"])
    await world.app.pool._handle(again)


async def settle_both(world: World, mx: MaxEmulator) -> None:
    """Deployment (b): the citizens' MAX updates confirmed too, and everything they started done."""
    await world.wait(lambda: not mx.pending_updates, "the citizens' MAX updates confirmed")
    await world.settle()


def card_text(world: World, case_id: int) -> str:
    return tg_visible(world.card(INTAKE_CHAT, case_id))


# --- deployment (a): staff and citizens on the same MAX bot ---------------------------------------------------


@ON_MAX
async def test_a_dialog_message_is_one_case_acknowledged_once_across_redelivery_and_a_kill(
    world: World, shared: MaxEmulator
) -> None:
    mx = shared
    await world.start()
    position = mx.next_position
    written = world.clock.now()
    msg = mx.push_message(CITIZEN, CITIZEN, "Во дворе дома 12 не вывозят мусор вторую неделю")
    await world.wait(lambda: len(intake_cards(world)) == 1 and acks(mx, CITIZEN), "the card and the ack")
    await world.settle()
    mx.rewind(position)  # MAX delivers it again
    await world.settle()
    await replay(world, "telegram", CITIZEN, msg.message_id)  # and the inbox row is handled once more
    await world.settle()
    # Killed after receiving, before confirming: the next start asks without a marker and gets it again.
    await world.crash()
    mx.rewind(position)
    world.clock.advance(timedelta(minutes=3))
    await world.start()
    await world.settle()
    assert len(intake_cards(world)) == 1
    case, message = await case_of(world, f"{CITIZEN}:{msg.message_id}")
    assert case.t0 == written  # when the inbox first saved it
    [ack] = acks(mx, CITIZEN)
    assert ack.plain_text == texts.CITIZEN_ACK.format(case_id=case.id)
    assert ack.reply_to_message_id == msg.message_id
    assert message.network is Network.MAX and message.author_id == CITIZEN and message.link == ""
    assert message.author == f"Анна Смирнова (id{CITIZEN})"
    assert "Источник: MAX" in intake_cards(world)[0]
    await world.stop()


@ON_MAX
async def test_staff_dialogs_the_bots_own_messages_and_staff_chats_are_not_cases(
    world: World, shared: MaxEmulator
) -> None:
    mx = shared
    await world.start()
    staff = mx.push_message(OFFICE_HEAD.user_id, OFFICE_HEAD.user_id, "Проверка связи")
    in_intake = mx.push_message(INTAKE_CHAT, OTHER_CITIZEN, "Сообщение в чате приёма")  # the staff's routers
    await world.settle()
    assert await cases_of(world, f"{OFFICE_HEAD.user_id}:{staff.message_id}") == 0
    assert await cases_of(world, f"{INTAKE_CHAT}:{in_intake.message_id}") == 0
    assert acks(mx, OFFICE_HEAD.user_id) == []
    # «Начать» (bot_started, /start) with the staff on MAX gets the set-up answer, as on Telegram.
    mx.push_update({"update_type": "bot_started", "timestamp": 1, "chat_id": mx.dialog_id(OTHER_CITIZEN),
                    "user": mx.users[OTHER_CITIZEN].to_json(), "payload": None})  # fmt: skip
    [setup] = await mx.wait_sent(OTHER_CITIZEN)
    assert f"Ваш id: {OTHER_CITIZEN}." in setup.plain_text
    await world.settle()
    assert intake_cards(world) == []
    await world.stop()


@ON_MAX
async def test_an_edit_reaches_the_card_once_and_the_term_stays(world: World, shared: MaxEmulator) -> None:
    mx = shared
    await world.start()
    msg = mx.push_message(CITIZEN, CITIZEN, "Яма у дома 5")
    await world.wait(lambda: len(intake_cards(world)) == 1, "the card")
    await world.settle()
    case, _ = await case_of(world, f"{CITIZEN}:{msg.message_id}")
    world.clock.advance(timedelta(minutes=5))
    position = mx.next_position
    mx.user_edits(CITIZEN, msg.message_id, "Яма у дома 7, глубокая")
    await world.wait(lambda: "Яма у дома 7, глубокая" in card_text(world, case.id), "the edit on the card")
    await world.settle()
    mx.rewind(position)  # the same edit again: one change
    await world.settle()
    assert "Автор изменил" in card_text(world, case.id)
    assert len([e for e in await world.events(case.id) if e.action == "source_edited"]) == 1
    after, _ = await case_of(world, f"{CITIZEN}:{msg.message_id}")
    assert after.t0 == case.t0
    world.clock.advance(timedelta(minutes=1))
    mx.user_edits(CITIZEN, msg.message_id, "Яма у дома 9")  # a second edit is a change of its own
    await world.wait(lambda: "Яма у дома 9" in card_text(world, case.id), "the second edit")
    await world.settle()
    assert len([e for e in await world.events(case.id) if e.action == "source_edited"]) == 2
    assert len(acks(mx, CITIZEN)) == 1
    await world.stop()


@ON_MAX
async def test_hostile_input_is_one_clean_case_and_unknown_updates_are_skipped(
    world: World, shared: MaxEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    mx = shared
    await world.start()
    caplog.set_level(logging.INFO, logger="bot.max_session")
    mx.push_update({"update_type": "chat_title_changed", "timestamp": 1, "chat_id": INTAKE_CHAT, "title": "x"})
    mx.push_update({"update_type": "message_created", "timestamp": 1, "message": "не объект"})
    hostile = ("Жалоба\x00\x07\x1b[31m " * 7000) + "x" * 100_000
    msg = mx.push_message(CITIZEN, CITIZEN, hostile)
    await world.wait(lambda: len(intake_cards(world)) == 1 and acks(mx, CITIZEN), "the hostile message's case")
    await world.settle()
    _case, message = await case_of(world, f"{CITIZEN}:{msg.message_id}")
    assert len(message.text) == TEXT_LIMIT
    assert not any(ch in message.text for ch in "\x00\x07\x1b")
    assert "chat_title_changed" in caplog.text and "message_created" in caplog.text
    assert mx.pending_updates == []  # skipped and confirmed: not asked for again and again
    await world.stop()


@ON_MAX
async def test_the_approved_answer_goes_once_as_a_reply_in_the_dialog(world: World, shared: MaxEmulator) -> None:
    mx = shared
    await world.start()
    msg = mx.push_message(CITIZEN, CITIZEN, "Когда отремонтируют крыльцо дома 3?")
    case = await approved(world, Source.MAX, f"{CITIZEN}:{msg.message_id}", DRAFT)
    card = world.card(INTAKE_CHAT, case)
    assert labels(card)[:2] == [texts.BTN_PUBLISH_AUTO, texts.BTN_PUBLISH_MANUAL]
    answer = await world.press_on(card, OPERATOR, texts.BTN_PUBLISH_AUTO)
    assert answer.text == texts.PUBLICATION_QUEUED.format(network="в MAX")
    [ours] = await mx.wait_for(lambda: [m for m in mx.sent(CITIZEN) if m.plain_text == DRAFT])
    assert ours.reply_to_message_id == msg.message_id
    await world.settle()
    done = await world.app.services.case(case)
    assert done.status == Status.ANSWERED.value and done.published_link == ""  # a dialog has no public link
    assert await publication_rows(world.app) == [("published", "", "")]
    assert len([m for m in mx.sent(CITIZEN) if m.plain_text == DRAFT]) == 1
    await world.stop()


@ON_MAX
async def test_a_stopped_bot_and_a_deleted_message_are_on_the_card_with_the_text_to_copy(
    world: World, shared: MaxEmulator
) -> None:
    mx = shared
    await world.start()
    blocked = mx.push_message(CITIZEN, CITIZEN, "Вопрос про отопление")
    gone = mx.push_message(OTHER_CITIZEN, OTHER_CITIZEN, "Уберите мусор у подъезда")
    first = await approved(world, Source.MAX, f"{CITIZEN}:{blocked.message_id}", DRAFT)
    second = await approved(world, Source.MAX, f"{OTHER_CITIZEN}:{gone.message_id}", DRAFT)
    mx.block_bot(CITIZEN)
    mx.user_deletes(OTHER_CITIZEN, gone.message_id)
    await world.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, first)
    await world.wait(lambda: "автор остановил бота" in card_text(world, first), "the stopped bot on the card")
    await world.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, second)
    await world.wait(lambda: "удалён автором" in card_text(world, second), "the deletion on the card")
    await world.wait(lambda: "Сообщение удалено в MAX" in card_text(world, second), "what to do, on the card")
    await world.settle()
    assert [row[0] for row in await publication_rows(world.app)] == ["undeliverable", "undeliverable"]
    assert [m for m in mx.sent(CITIZEN) + mx.sent(OTHER_CITIZEN) if m.plain_text == DRAFT] == []
    notes = [tg_visible(m) for m in world.emu.sent(INTAKE_CHAT) if "разместите его вручную" in tg_visible(m)]
    assert len(notes) == 2 and all(DRAFT in note for note in notes)
    for case in (first, second):
        assert (await world.app.services.case(case)).status == Status.APPROVED.value
    await world.stop()


@ON_MAX
async def test_a_crash_after_the_call_is_left_to_the_operator_and_posted_once(
    world: World, shared: MaxEmulator
) -> None:
    mx = shared
    dying: list[DiesAfterTheCall] = []

    def die_after_the_call(app: OtklikApp) -> None:
        real = app.services.publishers.get(Network.MAX)
        assert isinstance(real, MaxPublisher)
        dying.append(DiesAfterTheCall(real))
        app.services.publishers.register(dying[0])  # type: ignore[arg-type]

    await world.start(prepare=die_after_the_call)
    msg = mx.push_message(CITIZEN, CITIZEN, "Когда починят фонарь?")
    case = await approved(world, Source.MAX, f"{CITIZEN}:{msg.message_id}", DRAFT)
    card = world.card(INTAKE_CHAT, case)
    mx.push_callback(INTAKE_CHAT, OPERATOR.user_id, card.message_id, world.button(card, texts.BTN_PUBLISH_AUTO))

    def posted() -> int:
        return len([m for m in mx.sent(CITIZEN) if m.plain_text == DRAFT])

    await world.wait(lambda: posted() == 1 and dying[0].calls == 1, "MAX took the answer")
    await world.wait(lambda: world.app.publisher is not None and world.app.publisher.task is not None
                     and world.app.publisher.task.done(), "the worker died")  # fmt: skip
    dead = world.app.publisher.task if world.app.publisher is not None else None
    assert dead is not None and isinstance(dead.exception(), Killed)
    await world.crash()
    assert [r[0] for r in await _rows_at(world)] == ["sending"]
    await world.start()
    await world.wait(lambda: "не позволяет проверить повтор" in card_text(world, case), "the operator asked")
    await world.settle()
    assert posted() == 1
    await world.stop()


# --- deployment (b): staff on Telegram, citizens on a MAX bot of their own -------------------------------------


async def test_b_a_citizen_on_the_citizens_max_bot_gets_a_card_in_telegram_and_the_answer_in_max(
    world: World, citizens: MaxEmulator
) -> None:
    mx = citizens
    await world.start()
    assert world.app.max_citizens is not None
    position = mx.next_position
    msg = mx.push_message(CITIZEN, CITIZEN, "Когда отремонтируют крыльцо дома 3?")
    await world.wait(lambda: len(intake_cards(world)) == 1 and acks(mx, CITIZEN), "the card and the ack")
    await settle_both(world, mx)
    mx.rewind(position)
    await settle_both(world, mx)
    await replay(world, MAX_CITIZENS_SOURCE, CITIZEN, msg.message_id)
    await settle_both(world, mx)
    assert len(intake_cards(world)) == 1 and len(acks(mx, CITIZEN)) == 1
    assert "Источник: MAX" in intake_cards(world)[0]
    case = await approved(world, Source.MAX, f"{CITIZEN}:{msg.message_id}", DRAFT)
    answer = await world.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, case)
    assert answer.text == texts.PUBLICATION_QUEUED.format(network="в MAX")
    [ours] = await mx.wait_for(lambda: [m for m in mx.sent(CITIZEN) if m.plain_text == DRAFT])
    assert ours.reply_to_message_id == msg.message_id
    await settle_both(world, mx)
    assert (await world.app.services.case(case)).status == Status.ANSWERED.value
    assert await publication_rows(world.app) == [("published", "", "")]
    assert world.emu.sent(CITIZEN) == []  # nothing of it went to Telegram
    await world.stop()


async def test_b_a_kill_between_receiving_and_confirming_and_only_the_citizens_router(
    world: World, citizens: MaxEmulator
) -> None:
    mx = citizens
    await world.start()
    position = mx.next_position
    msg = mx.push_message(CITIZEN, CITIZEN, "Не горит фонарь у школы")
    await world.wait(lambda: len(intake_cards(world)) == 1, "the card")
    await settle_both(world, mx)
    session = world.app.max_citizens.bot.session if world.app.max_citizens else None
    await world.crash()
    if session is not None:
        await session.close()
    mx.rewind(position)  # MAX never heard the marker that confirmed it
    await world.start()
    # «Начать» is greeted: no staff router runs on this bot; a command is nobody's business here.
    mx.push_update({"update_type": "bot_started", "timestamp": 1, "chat_id": mx.dialog_id(OTHER_CITIZEN),
                    "user": mx.users[OTHER_CITIZEN].to_json(), "payload": None})  # fmt: skip
    [greeting] = await mx.wait_sent(OTHER_CITIZEN)
    assert greeting.plain_text == texts.CITIZEN_GREETING
    mx.push_message(OTHER_CITIZEN, OTHER_CITIZEN, "/report")
    await settle_both(world, mx)
    assert len(intake_cards(world)) == 1 and len(acks(mx, CITIZEN)) == 1
    assert len(mx.sent(OTHER_CITIZEN)) == 1
    case, message = await case_of(world, f"{CITIZEN}:{msg.message_id}")
    assert message.network is Network.MAX and case.id > 0
    await world.stop()


async def test_b_the_administrations_max_group_is_read_and_answered_in(
    world: World, citizens: MaxEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    mx = citizens
    mx.add_chat(GROUP, title="Жители Северного района", members=(CITIZEN, OTHER_CITIZEN), bot_admin=True)
    with_max_channel(monkeypatch, MaxChannelSettings(enabled=True, token=mx.token, api_base=mx.base_url,
                                                     group_id=GROUP))  # fmt: skip
    await world.start()
    question = mx.push_message(GROUP, CITIZEN, "Когда уберут снег во дворе дома 4?")
    mx.push_message(GROUP, OTHER_CITIZEN, "/help")  # a command: nobody's case
    await world.wait(lambda: len(intake_cards(world)) == 1, "the group message's card")
    await settle_both(world, mx)
    assert mx.sent(GROUP) == []  # no acknowledgement in a group: the card alone
    case = await approved(world, Source.MAX, f"{GROUP}:{question.message_id}", DRAFT)
    await world.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, case)
    [ours] = await mx.wait_for(lambda: [m for m in mx.sent(GROUP) if m.plain_text == DRAFT])
    assert ours.reply_to_message_id == question.message_id
    await settle_both(world, mx)
    assert len(intake_cards(world)) == 1
    await world.stop()


async def test_b_settings_are_refused_in_one_line(tmp_path: Path) -> None:
    settings = Settings(channels=ChannelsSettings(max=MaxChannelSettings(enabled=True)))
    settings.telegram.token = "1:x"
    with pytest.raises(ConfigError, match=r"channels\.max\.token: не задан токен бота MAX для граждан"):
        await OtklikApp.build(settings)
    on_max = Settings(
        messenger=MessengerSettings(kind="max", max_token="staff"),
        channels=ChannelsSettings(max=MaxChannelSettings(enabled=True, token="other")),
    )
    with pytest.raises(ConfigError, match="отдельный бот MAX для граждан не поддерживается"):
        await OtklikApp.build(on_max)
    on_max.channels.max.token = ""
    on_max.channels.max.group_id = on_max.chats.intake = -301
    with pytest.raises(ConfigError, match="чат сотрудников из \\[chats\\], а не группа для граждан"):
        await OtklikApp.build(on_max)


def test_the_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[channels.max]\nenabled = true\ngroup_id = -70001\n', encoding="utf-8")
    monkeypatch.setenv("OTKLIK_CHANNELS__MAX__TOKEN", "from-env")
    mx = load_settings(path).channels.max
    assert (mx.enabled, mx.token, mx.group_id, mx.direct_messages) == (True, "from-env", -70001, True)
