"""«Опубликовать» for the Telegram channel: the approved answer goes back as a reply to the citizen's comment (it
lands in the post's thread) or to their direct message, through the publication queue (bot/publisher.py) and
TelegramPublisher — the whole app on the Telegram emulator, the press through the real Dispatcher.

Telegram takes no idempotency key: a deleted comment (400) shows on the card and is left to the operator, a
blocked citizen is undeliverable, a failure after which nobody knows whether the answer went (5xx, a crash after
the call) is the operator's to settle and never posted twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.e2e.conftest as e2e
from bot.app import OtklikApp
from bot.demo import INTAKE_CHAT, OPERATOR
from bot.settings import ChannelsSettings, Settings, TelegramChannelSettings
from channels.telegram import TelegramPublisher
from emulators.telegram import TelegramEmulator
from emulators.telegram.records import visible_text
from tests.channels.test_vk_publish import Killed, _rows_at, approved, publication_rows
from tests.e2e.conftest import World, clock, emu, labels, world
from views import texts
from workflow.lifecycle import Status
from workflow.model import Network, Source
from workflow.ports import Answer

__all__ = ["clock", "emu", "world"]

CHANNEL = -1005000000001
GROUP = -1005000000002
CITIZEN = 7001
DRAFT = "Здравствуйте! Скамейки в парке поставят до 15 мая."


@pytest.fixture
def w(world: World, emu: TelegramEmulator, monkeypatch: pytest.MonkeyPatch) -> World:
    emu.add_channel(CHANNEL, "Администрация Северного района", group_id=GROUP)
    emu.bot_status[GROUP] = "administrator"
    emu.add_user(CITIZEN, "Анна", "Смирнова")
    plain = e2e.settings_for

    def settings_for(telegram: TelegramEmulator, db_path: Path, *, rate_limits: bool = False) -> Settings:
        settings = plain(telegram, db_path, rate_limits=rate_limits)
        settings.channels = ChannelsSettings(
            telegram=TelegramChannelSettings(enabled=True, channel_id=CHANNEL, group_id=GROUP)
        )
        return settings

    monkeypatch.setattr(e2e, "settings_for", settings_for)
    return world


def card_text(w: World, case: int) -> str:
    return visible_text(w.card(INTAKE_CHAT, case))


async def a_comment(w: World, text: str = "Когда поставят скамейки?") -> tuple[int, int, int]:
    """(case, comment id, the post's copy id) of a citizen's comment taken in and approved."""
    _post, copy = w.emu.post_to_channel(CHANNEL, "Благоустройство парка")
    assert copy is not None
    comment = w.emu.comment(GROUP, CITIZEN, copy.message_id, text)
    case = await approved(w, Source.TELEGRAM, f"{GROUP}:{comment.message_id}", DRAFT)
    return case, comment.message_id, copy.message_id


async def test_the_press_replies_to_the_comment_in_its_thread(w: World) -> None:
    await w.start()
    case, comment, copy = await a_comment(w)
    card = w.card(INTAKE_CHAT, case)
    assert labels(card)[:2] == [texts.BTN_PUBLISH_AUTO, texts.BTN_PUBLISH_MANUAL]
    answer = await w.press_on(card, OPERATOR, texts.BTN_PUBLISH_AUTO)
    assert answer.text == texts.PUBLICATION_QUEUED.format(network="в Telegram")
    [ours] = await w.emu.wait_for(lambda: [m for m in w.emu.sent(GROUP) if visible_text(m) == DRAFT])
    assert ours.reply_to_message_id == comment and ours.message_thread_id == copy
    assert "message_thread_id" not in w.emu.calls("sendMessage")[-1].params
    link = f"https://t.me/c/5000000002/{ours.message_id}?thread={copy}"
    await w.wait(lambda: f"Ответ: {link}" in card_text(w, case), "the answer's link on the card")
    await w.settle()
    assert (await w.app.services.case(case)).status == Status.ANSWERED.value
    assert await publication_rows(w.app) == [("published", link, "")]
    await w.stop()


async def test_a_direct_message_is_answered_in_the_private_chat(w: World) -> None:
    await w.start()
    msg = w.emu.push_message(CITIZEN, CITIZEN, "Прошу ответить, когда будет отопление")
    case = await approved(w, Source.TELEGRAM, f"{CITIZEN}:{msg.message_id}", DRAFT)
    await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, case)
    [ours] = await w.emu.wait_for(lambda: [m for m in w.emu.sent(CITIZEN) if visible_text(m) == DRAFT])
    assert ours.reply_to_message_id == msg.message_id
    await w.settle()
    done = await w.app.services.case(case)
    assert done.status == Status.ANSWERED.value and done.published_link == ""  # a private chat has no link
    assert await publication_rows(w.app) == [("published", "", "")]
    await w.stop()


async def test_a_deleted_comment_shows_on_the_card_and_is_left_to_the_operator(w: World) -> None:
    await w.start()
    case, comment, _copy = await a_comment(w, "Уберите мусор у входа")
    w.emu.user_deletes(GROUP, comment)  # no update: Telegram says nothing of deletions
    await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, case)
    await w.wait(lambda: "Комментарий удалён автором" in card_text(w, case), "the deletion on the card")
    await w.settle()
    shown = card_text(w, case)
    assert "ответьте под постом" in shown
    [refused] = [c for c in w.emu.calls("sendMessage") if c.chat_id == GROUP]
    assert refused.description == "Bad Request: message to be replied not found"
    assert [m for m in w.emu.sent(GROUP) if visible_text(m) == DRAFT] == []
    notes = [visible_text(m) for m in w.emu.sent(INTAKE_CHAT) if "разместите его вручную" in visible_text(m)]
    assert len(notes) == 1 and DRAFT in notes[0]
    assert (await publication_rows(w.app))[0][0] == "undeliverable"
    assert texts.BTN_PUBLISH in labels(w.card(INTAKE_CHAT, case))
    assert (await w.app.services.case(case)).status == Status.APPROVED.value
    await w.stop()


async def test_a_blocked_citizen_is_undeliverable(w: World) -> None:
    await w.start()
    msg = w.emu.push_message(CITIZEN, CITIZEN, "Вопрос про отопление")
    case = await approved(w, Source.TELEGRAM, f"{CITIZEN}:{msg.message_id}", DRAFT)
    w.emu.block_bot(CITIZEN)
    await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, case)
    await w.wait(lambda: "автор заблокировал бота" in card_text(w, case), "the refusal on the card")
    await w.settle()
    assert (await publication_rows(w.app))[0][0] == "undeliverable"
    await w.stop()


async def test_a_server_error_is_not_retried_blindly(w: World) -> None:
    await w.start()
    case, _comment, _copy = await a_comment(w)
    calls = len(w.emu.calls("sendMessage"))
    w.emu.fail_next(1, "server_error", status=500, methods=["sendMessage"])
    await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, case)
    await w.wait(lambda: "Неясно, опубликован ли ответ" in card_text(w, case), "the doubt on the card")
    await w.settle()
    sends = [c for c in w.emu.calls("sendMessage")[calls:] if c.chat_id == GROUP]
    assert len(sends) == 1  # one try, then the operator
    assert (await publication_rows(w.app))[0][0] == "unclear"
    await w.stop()


class DiesAfterTheCall:
    """The real TelegramPublisher, and the process dies right after Telegram took the answer."""

    def __init__(self, real: TelegramPublisher) -> None:
        self.real = real
        self.network = real.network
        self.idempotent = real.idempotent
        self.rate_per_second = real.rate_per_second
        self.calls = 0

    def refusal(self, answer: Answer) -> str | None:
        return self.real.refusal(answer)

    async def publish(self, answer: Answer) -> str:
        self.calls += 1
        await self.real.publish(answer)
        raise Killed


async def test_a_crash_after_the_call_is_left_to_the_operator_and_posted_once(w: World) -> None:
    dying: list[DiesAfterTheCall] = []

    def die_after_the_call(app: OtklikApp) -> None:
        real = app.services.publishers.get(Network.TELEGRAM)
        assert isinstance(real, TelegramPublisher)
        dying.append(DiesAfterTheCall(real))
        app.services.publishers.register(dying[0])  # type: ignore[arg-type]

    await w.start(prepare=die_after_the_call)
    case, _comment, _copy = await a_comment(w)
    card = w.card(INTAKE_CHAT, case)
    query = w.emu.push_callback(
        INTAKE_CHAT, OPERATOR.user_id, card.message_id, w.button(card, "Опубликовать")
    )
    await w.wait(lambda: w.emu.callbacks[query].answer, "the press answered")

    def posted() -> int:
        return len([m for m in w.emu.sent(GROUP) if visible_text(m) == DRAFT])

    await w.wait(lambda: posted() == 1 and dying[0].calls == 1, "Telegram took the answer")
    await w.wait(lambda: w.app.publisher is not None and w.app.publisher.task is not None
                 and w.app.publisher.task.done(), "the worker died")  # fmt: skip
    dead = w.app.publisher.task if w.app.publisher is not None else None
    assert dead is not None and isinstance(dead.exception(), Killed)
    await w.crash()
    assert [r[0] for r in await _rows_at(w)] == ["sending"]

    await w.start()
    await w.wait(lambda: "не позволяет проверить повтор" in card_text(w, case), "the operator asked")
    await w.settle()
    assert posted() == 1  # not posted again behind the operator's back
    assert [r[0] for r in await publication_rows(w.app)] == ["unclear"]
    await w.stop()
