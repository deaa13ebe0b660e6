"""The Telegram channel as a citizens' network: the whole app (OtklikApp.build) long-polling the Telegram
emulator, with [channels.telegram] naming a channel and its discussion group. Comments under the channel's posts
and citizens' direct messages become cases by themselves; staff, the bot itself and the posts' copies do not;
an edit shows on the card; the approved answer goes back as a reply in the thread or to the person."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import tests.e2e.conftest as e2e
from bot.demo import INTAKE_CHAT, OPERATOR
from bot.settings import ChannelsSettings, Settings, TelegramChannelSettings
from channels.telegram import TEXT_LIMIT, SourceGone, TelegramPublisher, Undeliverable
from emulators.telegram import TelegramEmulator
from emulators.telegram.records import ChatMessage, visible_text
from storage.inbox import InboxRow
from storage.tables import inbox
from tests.e2e.conftest import World, clock, emu, world
from workflow.model import Case, InboundMessage, Network, Source
from workflow.ports import Answer

__all__ = ["clock", "emu", "world"]  # the e2e fixtures: the Telegram emulator, the clock, the world

CHANNEL = -1002000000001
GROUP = -1002000000002
CITIZEN = 5001
OTHER_CITIZEN = 5002


@pytest.fixture
def channel(emu: TelegramEmulator, monkeypatch: pytest.MonkeyPatch) -> TelegramEmulator:
    """The district's channel with its discussion group, the bot an administrator of both; two citizens."""
    emu.add_channel(CHANNEL, "Администрация Северного района", username="sever_adm", group_id=GROUP)
    emu.bot_status[GROUP] = "administrator"
    emu.add_user(CITIZEN, "Анна", "Смирнова", username="anna_s")
    emu.add_user(OTHER_CITIZEN, "Пётр", "Козлов")
    plain = e2e.settings_for

    def settings_for(telegram: TelegramEmulator, db_path: Path, *, rate_limits: bool = False) -> Settings:
        settings = plain(telegram, db_path, rate_limits=rate_limits)
        settings.channels = ChannelsSettings(
            telegram=TelegramChannelSettings(enabled=True, channel_id=CHANNEL, group_id=GROUP)
        )
        return settings

    monkeypatch.setattr(e2e, "settings_for", settings_for)
    return emu


def intake_cards(world: World) -> list[str]:
    return [visible_text(m) for m in world.emu.sent(INTAKE_CHAT) if visible_text(m).startswith("Сообщение №")]


async def case_of(world: World, key: str) -> tuple[Case, InboundMessage]:
    async with world.app.repo.reading() as tx:
        case_id = await tx.find_case_by_source(Source.TELEGRAM.value, key)
        assert case_id is not None, f"no case of {key}"
        case, message = await tx.get_case(case_id), await tx.get_message(case_id)
    assert case is not None and message is not None
    return case, message


async def no_case(world: World, key: str) -> bool:
    async with world.app.repo.reading() as tx:
        return await tx.find_case_by_source(Source.TELEGRAM.value, key) is None


async def replay(world: World, chat_id: int, message_id: int) -> None:
    """The inbox row of this message handled once more, as after a crash before it was marked done."""
    async with world.app.engine.connect() as conn:
        rows = (await conn.execute(select(inbox).where(inbox.c.source == "telegram"))).mappings().all()
    row = next(
        r
        for r in rows
        if r["raw"].get("message", {}).get("message_id") == message_id
        and r["raw"]["message"]["chat"]["id"] == chat_id
    )
    again = InboxRow(row["id"], row["source"], row["key"], row["lane"], row["raw"], 1, row["received_at"])
    await world.app.pool._handle(again)


def again(emu: TelegramEmulator, msg: ChatMessage, kind: str = "message") -> None:
    """The same message delivered once more, under a new update id (an inbox replay handles it twice)."""
    raw: dict[str, Any] = {kind: emu._message_json(msg)}
    emu.push_update(raw)


async def test_a_comment_becomes_exactly_one_case_with_t0_when_otklik_first_saw_it(
    world: World, channel: TelegramEmulator
) -> None:
    emu = channel
    _post, copy = emu.post_to_channel(CHANNEL, "Плановое отключение воды 3 декабря")
    assert copy is not None
    written = world.clock.now()
    comment = emu.comment(GROUP, CITIZEN, copy.message_id, "А на Лесной улице тоже отключат?")
    world.clock.advance(timedelta(hours=2))  # Отклик was off: Telegram kept the update
    await world.start()
    await world.wait(lambda: len(intake_cards(world)) == 1, "the comment's card")
    again(emu, comment)
    again(emu, comment)
    await world.settle()
    await replay(world, GROUP, comment.message_id)
    await world.settle()
    assert len(intake_cards(world)) == 1
    case, message = await case_of(world, f"{GROUP}:{comment.message_id}")
    assert case.t0 == written + timedelta(hours=2)  # when the inbox saved it, not the network's date
    assert message.network is Network.TELEGRAM and message.author_id == CITIZEN
    assert message.author == "Анна Смирнова (@anna_s)"
    assert message.link == f"https://t.me/sever_adm/{_post.message_id}?comment={comment.message_id}"
    card = intake_cards(world)[0]
    assert "Источник: Telegram" in card and "А на Лесной улице тоже отключат?" in card
    # The post's copy in the group (is_automatic_forward) and the channel post itself are no citizens' items.
    assert await no_case(world, f"{GROUP}:{copy.message_id}")
    await world.stop()


async def test_staff_in_the_group_and_the_bots_own_messages_are_not_cases(
    world: World, channel: TelegramEmulator
) -> None:
    emu = channel
    _post, copy = emu.post_to_channel(CHANNEL, "Приём граждан в пятницу")
    assert copy is not None
    await world.start()
    staff = emu.comment(GROUP, OPERATOR.user_id, copy.message_id, "Уточню у коллег и отвечу")
    own = emu._new_message(GROUP, emu.bot_user.id, from_bot=True, text="Ответ администрации")
    own.plain_text, own.message_thread_id, own.reply_to_message_id = (
        own.text,
        copy.message_id,
        copy.message_id,
    )
    again(emu, own)
    outside = emu.push_message(GROUP, OTHER_CITIZEN, "Сообщение в группе вне ветки поста")
    await world.settle()
    assert intake_cards(world) == []
    for msg in (staff, own, outside):
        assert await no_case(world, f"{GROUP}:{msg.message_id}")
    assert emu.sent(GROUP) == [own]  # the bot said nothing in the group
    await world.stop()


async def test_a_private_message_is_a_case_and_acknowledged_once(
    world: World, channel: TelegramEmulator
) -> None:
    emu = channel
    await world.start()
    start = emu.push_message(CITIZEN, CITIZEN, "/start kanal")
    [greeting] = await emu.wait_sent(CITIZEN)
    assert "Напишите, пожалуйста, ваше обращение" in visible_text(greeting)
    assert await no_case(world, f"{CITIZEN}:{start.message_id}")
    msg = emu.push_message(CITIZEN, CITIZEN, "Во дворе дома 12 не вывозят мусор вторую неделю")
    await emu.wait_sent(CITIZEN, 2)
    again(emu, msg)
    await world.settle()
    await replay(world, CITIZEN, msg.message_id)
    await world.settle()
    case, message = await case_of(world, f"{CITIZEN}:{msg.message_id}")
    acks = [m for m in emu.sent(CITIZEN) if "зарегистрировано" in visible_text(m)]
    assert [visible_text(m) for m in acks] == [
        f"Ваше обращение зарегистрировано, № {case.id}. Ответ придёт в этот чат."
    ]
    assert acks[0].reply_to_message_id == msg.message_id
    assert message.text == "Во дворе дома 12 не вывозят мусор вторую неделю" and message.link == ""
    assert len(intake_cards(world)) == 1
    # A stranger's /start without a payload still gets the set-up answer (issue 10), not the greeting.
    emu.push_message(OTHER_CITIZEN, OTHER_CITIZEN, "/start")
    [setup] = await emu.wait_sent(OTHER_CITIZEN)
    assert f"Ваш id: {OTHER_CITIZEN}." in visible_text(setup)
    await world.stop()


async def test_an_edit_shows_on_the_card_and_the_term_stays(world: World, channel: TelegramEmulator) -> None:
    emu = channel
    _post, copy = emu.post_to_channel(CHANNEL, "Ремонт дорог")
    assert copy is not None
    await world.start()
    comment = emu.comment(GROUP, CITIZEN, copy.message_id, "Яма у дома 5")
    await world.wait(lambda: len(intake_cards(world)) == 1, "the comment's card")
    case, _message = await case_of(world, f"{GROUP}:{comment.message_id}")
    world.clock.advance(timedelta(minutes=5))
    emu.user_edits(GROUP, comment.message_id, "Яма у дома 7, глубокая")
    await world.wait(
        lambda: "Автор изменил комментарий" in visible_text(world.card(INTAKE_CHAT, case.id)), "edit"
    )
    edited = emu.message(GROUP, comment.message_id)
    again(emu, edited, "edited_message")  # the same edit twice: one change on the card
    await world.settle()
    assert "Яма у дома 7, глубокая" in visible_text(world.card(INTAKE_CHAT, case.id))
    events = [e for e in await world.events(case.id) if e.action == "source_edited"]
    assert len(events) == 1
    after, _ = await case_of(world, f"{GROUP}:{comment.message_id}")
    assert after.t0 == case.t0
    await world.stop()


async def test_hostile_text_is_one_case_cut_and_clean(world: World, channel: TelegramEmulator) -> None:
    emu = channel
    _post, copy = emu.post_to_channel(CHANNEL, "Опрос")
    assert copy is not None
    await world.start()
    hostile = ("Жалоба\x00\x07\x1b[31m " * 7000) + "x" * 100_000
    comment = emu.comment(GROUP, CITIZEN, copy.message_id, hostile)
    await world.wait(lambda: len(intake_cards(world)) == 1, "the hostile comment's card")
    await world.settle()
    _case, message = await case_of(world, f"{GROUP}:{comment.message_id}")
    assert len(message.text) == TEXT_LIMIT
    assert not any(ch in message.text for ch in "\x00\x07\x1b")
    await world.stop()


async def test_the_answer_is_a_reply_in_the_thread_and_the_refusals_are_told(
    world: World, channel: TelegramEmulator
) -> None:
    emu = channel
    _post, copy = emu.post_to_channel(CHANNEL, "Благоустройство парка")
    assert copy is not None
    await world.start()
    comment = emu.comment(GROUP, CITIZEN, copy.message_id, "Когда поставят скамейки?")
    gone = emu.comment(GROUP, OTHER_CITIZEN, copy.message_id, "Уберите мусор у входа")
    private = emu.push_message(OTHER_CITIZEN, OTHER_CITIZEN, "Прошу ответить лично")
    await world.wait(lambda: len(intake_cards(world)) == 3, "three cards")
    await world.settle()
    publisher = TelegramPublisher(world.app.bot, world.clock, on_gone=world.app.services.take_in)
    case, _ = await case_of(world, f"{GROUP}:{comment.message_id}")

    link = await publisher.publish(
        Answer(case.id, f"{GROUP}:{comment.message_id}", "Скамейки поставят в мае.", case.id)
    )
    [answer] = [m for m in emu.sent(GROUP) if visible_text(m) == "Скамейки поставят в мае."]
    assert answer.reply_to_message_id == comment.message_id
    assert answer.message_thread_id == copy.message_id  # it landed under the post
    sent = emu.calls("sendMessage")[-1]
    assert "message_thread_id" not in sent.params
    assert link == f"https://t.me/c/2000000002/{answer.message_id}?thread={copy.message_id}"

    emu.user_deletes(GROUP, gone.message_id)  # silently: no update
    gone_case, _ = await case_of(world, f"{GROUP}:{gone.message_id}")
    with pytest.raises(SourceGone) as refused:
        await publisher.publish(
            Answer(gone_case.id, f"{GROUP}:{gone.message_id}", "Уберут завтра.", gone_case.id)
        )
    assert "удалён" in refused.value.reason
    assert emu.calls("sendMessage")[-1].description == "Bad Request: message to be replied not found"
    await world.wait(
        lambda: "Комментарий удалён автором" in visible_text(world.card(INTAKE_CHAT, gone_case.id)),
        "the deletion on the card",
    )

    emu.block_bot(OTHER_CITIZEN)
    private_case, _ = await case_of(world, f"{OTHER_CITIZEN}:{private.message_id}")
    with pytest.raises(Undeliverable) as blocked:
        await publisher.publish(Answer(private_case.id, f"{OTHER_CITIZEN}:{private.message_id}", "Ответ", 1))
    assert "заблокировал" in blocked.value.reason
    await world.stop()
