"""Publication loose ends (issue 11): the interim answer (п.11) published through the network like the final
one; the card's words (a Telegram direct message is «сообщение»; «Опубликовать» + «Опубликовано вручную» as a
pair, «Опубликовано» alone); a Telegram publication cut short by a dead run finished in one press either way.
The whole app on the Telegram and VK emulators, the presses through the real Dispatcher, the posts through the
real vk-api and aiogram; SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import OtklikApp
from bot.demo import INTAKE_CHAT, OPERATOR, REGION_CURATOR
from channels.telegram import TelegramPublisher
from emulators.telegram import TelegramEmulator
from emulators.telegram.records import ChatMessage, visible_text
from emulators.vk import VkEmulator
from storage.tables import publications
from tests.channels.test_telegram_channel import CHANNEL as TG_CHANNEL
from tests.channels.test_telegram_channel import CITIZEN as TG_CITIZEN
from tests.channels.test_telegram_channel import GROUP as TG_GROUP
from tests.channels.test_telegram_channel import case_of, channel, intake_cards
from tests.channels.test_telegram_channel_publish import DiesAfterTheCall
from tests.channels.test_vk_publish import (
    CITIZEN,
    DRAFT,
    GID,
    Killed,
    _rows_at,
    actor,
    approved,
    card_text,
    database,
    publication_rows,
    vk,
    w,
)
from tests.e2e.conftest import World, clock, emu, labels, world
from views import texts
from views.cards import direct_message, publication_line
from views.keyboards import card_keyboard
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import Action, ActionPayload, Status
from workflow.model import Case, InboundMessage, Network, Procedure, Role, Source
from workflow.ports import Answer, Publication

__all__ = ["channel", "clock", "database", "emu", "vk", "w", "world"]  # fixtures

FINAL = "Здравствуйте! Яму у дома 5 заделали 9 декабря."


async def kinds(app: OtklikApp) -> list[tuple[str, str]]:
    async with app.engine.connect() as conn:
        rows = (
            await conn.execute(select(publications.c.kind, publications.c.state).order_by(publications.c.id))
        ).all()
        await conn.rollback()
    return [(r.kind, r.state) for r in rows]


async def a_comment(w: World, vk: VkEmulator, text: str = "Яма на дороге у дома 5") -> tuple[int, int, int]:
    """(case, post id, comment id) of a citizen's VK comment taken in and approved."""
    post = vk.add_post(GID, "Ремонт дорог")
    await w.start()
    await w.wait(lambda: vk.calls("groups.getLongPollServer"), "the long poll")
    comment = vk.add_comment(GID, post.id, CITIZEN, text)
    case = await approved(w, Source.VK, f"-{GID}_{comment.id}")
    return case, post.id, comment.id


# --- 1. the interim answer through the network --------------------------------------------------------------


async def test_the_interim_answer_is_published_then_the_final_one(w: World, vk: VkEmulator) -> None:
    case, post, comment = await a_comment(w, vk)
    card = w.card(INTAKE_CHAT, case)
    assert labels(card)[:4] == [
        texts.BTN_PUBLISH_AUTO, texts.BTN_PUBLISH_MANUAL, texts.BTN_INTERIM_AUTO, texts.BTN_INTERIM_MANUAL
    ]  # fmt: skip
    answer = await w.press_on(card, OPERATOR, texts.BTN_INTERIM_AUTO)
    assert answer.text == texts.INTERIM_QUEUED.format(network="во ВКонтакте")
    [interim] = await vk.wait_for(lambda: vk.published(GID, post))
    assert interim.text == DRAFT and interim.reply_to_comment == comment
    link = f"https://vk.com/wall-{GID}_{post}?reply={interim.id}"
    await w.wait(lambda: f"Ответ: {link}" in card_text(w, case), "the interim answer's link on the card")
    await w.settle()

    done = await w.app.services.case(case)
    assert done.status == Status.INTERIM.value and done.interim and done.published_link == link
    step = next(e for e in await w.events(case) if e.action == Action.INTERIM.value)
    assert step.actor_id == OPERATOR.user_id and step.data["link"] == link
    terms = {t.term_id: t for t in await w.terms(case)}
    assert terms["os.publish"].met is True and terms["os.final"].met is None  # the final answer is due now
    assert await kinds(w.app) == [("interim", "published")]
    assert texts.BTN_INTERIM_AUTO not in labels(w.card(INTAKE_CHAT, case))
    assert "промежуточный ответ поставлен в очередь на публикацию" in card_text(w, case)

    # The final answer: drafted, approved, and «Опубликовать» posts it as the second comment.
    s = w.app.services
    await s.act(case, Action.SUBMIT, actor(OPERATOR), payload=ActionPayload(text=FINAL))
    await s.act(case, Action.APPROVE, actor(REGION_CURATOR))
    await w.settle()
    card = w.card(INTAKE_CHAT, case)
    assert labels(card)[:2] == [texts.BTN_PUBLISH_AUTO, texts.BTN_PUBLISH_MANUAL]
    assert texts.BTN_INTERIM_AUTO not in labels(card) and texts.BTN_INTERIM_MANUAL not in labels(card)
    assert "публикуется" not in card_text(w, case)  # the interim row is history, not the final's state
    await w.press_on(card, OPERATOR, texts.BTN_PUBLISH_AUTO)
    [_, final] = await vk.wait_for(lambda: (lambda p: p if len(p) == 2 else None)(vk.published(GID, post)))
    assert final.text == FINAL and final.guid != interim.guid
    await w.wait(lambda: f"?reply={final.id}" in card_text(w, case), "the final answer's link on the card")
    await w.settle()
    assert (await w.app.services.case(case)).status == Status.ANSWERED.value
    assert await kinds(w.app) == [("interim", "published"), ("final", "published")]
    await w.stop()


async def test_an_interim_press_of_an_old_card_changes_nothing(w: World, vk: VkEmulator) -> None:
    case, post, _comment = await a_comment(w, vk)
    card = w.card(INTAKE_CHAT, case)
    pressed = w.button(card, texts.BTN_INTERIM_AUTO)
    await w.press_on(card, OPERATOR, texts.BTN_INTERIM_AUTO)
    await vk.wait_for(lambda: vk.published(GID, post))
    await w.wait(lambda: "Ответ: https://vk.com" in card_text(w, case), "the link on the card")
    await w.settle()
    query = w.emu.push_callback(INTAKE_CHAT, OPERATOR.user_id, card.message_id, pressed)
    again = await w.wait(lambda: w.emu.callbacks[query].answer, "the second press answered")
    await w.settle()
    assert again is not None and again.show_alert and again.text
    assert await kinds(w.app) == [("interim", "published")] and len(vk.published(GID)) == 1
    await w.stop()


async def test_an_interim_answer_marked_by_hand_while_queued_is_not_posted_after(
    w: World, vk: VkEmulator
) -> None:
    case, post, _comment = await a_comment(w, vk)
    vk.fail_next(6, methods=["wall.createComment"])  # too many requests: the row waits for its retry
    await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_INTERIM_AUTO, case)
    await w.wait(lambda: "повтор не раньше" in card_text(w, case), "the retry on the card")
    await w.settle()
    assert "⏳ Промежуточный ответ публикуется во ВКонтакте: повтор не раньше" in card_text(w, case)
    # The operator posts it himself and marks it; the queued row's turn comes after.
    await w.app.services.act(case, Action.INTERIM, actor(OPERATOR), payload=ActionPayload(link=""))
    w.clock.set(w.clock.now() + timedelta(seconds=1))
    publisher = w.app.publisher
    assert publisher is not None
    publisher.wake()
    await w.wait(lambda: "публикуется" not in card_text(w, case), "the card redrawn")
    await w.settle()
    assert vk.published(GID, post) == [] and len(vk.calls("wall.createComment")) == 1
    assert await kinds(w.app) == [("interim", "failed")]
    shown = card_text(w, case)
    assert "❌" not in shown  # the row belongs to a step taken by hand: no failure for the operator to act on
    assert (await w.app.services.case(case)).status == Status.INTERIM.value
    await w.stop()


# --- 3. the card's words ------------------------------------------------------------------------------------

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("Asia/Novosibirsk"))
APPROVED = Case(id=7, procedure=Procedure.OPEN_SOURCES, status=Status.APPROVED.value, version=9, t0=NOW)
PAIR = [texts.BTN_PUBLISH_AUTO, texts.BTN_PUBLISH_MANUAL, texts.BTN_INTERIM_AUTO, texts.BTN_INTERIM_MANUAL]
ALONE = [texts.BTN_PUBLISH, texts.BTN_INTERIM]


def publication(state: str, kind: str = "final") -> Publication:
    return Publication(id=3, case_id=7, network=Network.VK, item_key=f"-{GID}_5", item_link="", text="Ответ",
                       state=state, kind=kind)  # fmt: skip


def button_labels(
    case: Case, channel: Network | None, pub: Publication | None, roles: set[Role]
) -> list[str]:
    keyboard = card_keyboard(case, roles, set(), channel=channel, publication=pub)
    return [b.text for row in (keyboard.inline_keyboard if keyboard else []) for b in row]


@pytest.mark.parametrize(
    ("case", "channel", "pub", "expected"),
    [
        (APPROVED, None, None, ALONE),  # typed into the intake chat: the marks alone
        (APPROVED, Network.VK, None, PAIR),
        (APPROVED, Network.VK, publication("failed"), PAIR),  # after a fix, «Опубликовать» again
        (APPROVED, Network.VK, publication("undeliverable"), ALONE),  # by hand only: «Опубликовано»
        (APPROVED, Network.VK, publication("pending"), []),
        (APPROVED, Network.VK, publication("sending", "interim"), []),
        # The final draft approved after the interim answer: no second interim, the interim row is history.
        (replace(APPROVED, interim=True), Network.VK, publication("published", "interim"), PAIR[:2]),
        (replace(APPROVED, interim=True), None, None, ALONE[:1]),
        (replace(APPROVED, procedure=Procedure.POS), None, None, ALONE),
    ],
)
def test_the_publishing_buttons_read_as_a_pair_or_alone(
    case: Case, channel: Network | None, pub: Publication | None, expected: list[str]
) -> None:
    roles = {Role.POS_CURATOR} if case.procedure is Procedure.POS else {Role.OPERATOR}
    shown = button_labels(case, channel, pub, roles)
    publishing = [label for label in shown if label in {*PAIR, *ALONE}]
    assert publishing == expected
    assert len(set(shown)) == len(shown)  # no two buttons alike
    assert not any(re.search("[A-Za-z]", label) for label in shown)  # no English


async def test_an_edited_telegram_direct_message_is_called_a_message(
    world: World, channel: TelegramEmulator
) -> None:
    emu = channel
    await world.start()
    msg = emu.push_message(TG_CITIZEN, TG_CITIZEN, "Во дворе дома 12 не вывозят мусор")
    await world.wait(lambda: len(intake_cards(world)) == 1, "the message's card")
    case, _message = await case_of(world, f"{TG_CITIZEN}:{msg.message_id}")
    emu.user_edits(TG_CITIZEN, msg.message_id, "Во дворе дома 12 не вывозят мусор третью неделю")
    await world.wait(
        lambda: "Автор изменил сообщение" in visible_text(world.card(INTAKE_CHAT, case.id)), "the edit"
    )
    shown = visible_text(world.card(INTAKE_CHAT, case.id))
    assert "комментари" not in shown.lower() and "третью неделю" in shown
    await world.stop()


def test_which_items_are_messages() -> None:
    def item(source: Source, key: str) -> InboundMessage:
        return InboundMessage(source, key, Procedure.OPEN_SOURCES, "текст", NOW)

    assert direct_message(item(Source.VK, "dm:42:7"))
    assert not direct_message(item(Source.VK, f"-{GID}_5"))
    assert direct_message(item(Source.TELEGRAM, "5001:17"))
    assert not direct_message(item(Source.TELEGRAM, "-1002000000002:17"))
    assert not direct_message(item(Source.INTAKE, "5001:17"))


# --- 4. a Telegram publication cut short by a dead run ----------------------------------------------------


class DiesBeforeTheCall(DiesAfterTheCall):
    """The process dies with the row marked «sending», before Telegram was called: the answer did not go."""

    async def publish(self, answer: Answer) -> str:
        self.calls += 1
        raise Killed


async def cut_short(world: World, channel: TelegramEmulator, dies: type[DiesAfterTheCall]) -> tuple[int, int]:
    """A comment whose approved answer (confirmed without a unit's information) was being sent to Telegram
    when the run died; the app restarted. (case, the comment's id)."""
    dying: list[DiesAfterTheCall] = []

    def prepare(app: OtklikApp) -> None:
        real = app.services.publishers.get(Network.TELEGRAM)
        assert isinstance(real, TelegramPublisher)
        dying.append(dies(real))
        app.services.publishers.register(dying[0])  # type: ignore[arg-type]

    await world.start(prepare=prepare)
    _post, copy = channel.post_to_channel(TG_CHANNEL, "Благоустройство парка")
    assert copy is not None
    comment = channel.comment(TG_GROUP, TG_CITIZEN, copy.message_id, "Когда поставят скамейки?")
    case = await approved(world, Source.TELEGRAM, f"{TG_GROUP}:{comment.message_id}", DRAFT, info=False)
    asked = await world.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, case)
    assert asked.show_alert and "Информацию для ответа ещё не направили" in (asked.text or "")
    card = world.card(INTAKE_CHAT, case)
    query = world.emu.push_callback(
        INTAKE_CHAT, OPERATOR.user_id, card.message_id, world.button(card, texts.BTN_PUBLISH_AUTO_CONFIRM)
    )
    await world.wait(lambda: world.emu.callbacks[query].answer, "the press answered")
    app = world.app
    await world.wait(lambda: app.publisher is not None and app.publisher.task is not None
                     and app.publisher.task.done(), "the worker died")  # fmt: skip
    await world.crash()
    assert [r[0] for r in await _rows_at(world)] == ["sending"]
    await world.start()
    await world.wait(lambda: "❓ Отклик был перезапущен во время публикации" in tg_card(world, case), "the operator asked")
    await world.settle()
    return case, comment.message_id


def tg_card(world: World, case: int) -> str:
    return visible_text(world.card(INTAKE_CHAT, case))


def ours(channel: TelegramEmulator) -> list[ChatMessage]:
    return [m for m in channel.sent(TG_GROUP) if visible_text(m) == DRAFT]


async def test_seen_in_the_thread_is_one_press(world: World, channel: TelegramEmulator) -> None:
    case, _comment = await cut_short(world, channel, DiesAfterTheCall)
    assert len(ours(channel)) == 1  # it did go; nothing is sent again behind the operator's back
    recorded = [e.action for e in await world.events(case)]
    assert "publication_unclear" in recorded and "publication_failed" not in recorded  # not «не удалась»
    shown = tg_card(world, case)
    assert "посмотрите, появился ли ответ" in shown
    card = world.card(INTAKE_CHAT, case)
    assert labels(card)[:2] == [texts.BTN_PUBLISH_AGAIN, texts.BTN_PUBLISH_MANUAL]
    assert texts.BTN_PUBLISH_AUTO not in labels(card)
    pressed = world.button(card, texts.BTN_PUBLISH_MANUAL)
    answer = await world.press_on(card, OPERATOR, texts.BTN_PUBLISH_MANUAL)
    assert not answer.show_alert
    await world.settle()
    done = await world.app.services.case(case)
    assert done.status == Status.ANSWERED.value  # one press, the units' confirmation carried from the first
    step = next(e for e in await world.events(case) if e.action == Action.PUBLISH.value)
    assert step.actor_id == OPERATOR.user_id and step.data.get("without_info") == ["housing"]
    assert len(ours(channel)) == 1 and [r[0] for r in await publication_rows(world.app)] == ["unclear"]
    # The old card's button again: one line, nothing changes.
    query = world.emu.push_callback(INTAKE_CHAT, OPERATOR.user_id, card.message_id, pressed)
    again = await world.wait(lambda: world.emu.callbacks[query].answer, "the second press answered")
    await world.settle()
    assert again is not None and again.show_alert and again.text
    assert [e.action for e in await world.events(case)].count(Action.PUBLISH.value) == 1
    await world.stop()


async def test_not_there_is_published_again_in_one_press(world: World, channel: TelegramEmulator) -> None:
    case, comment = await cut_short(world, channel, DiesBeforeTheCall)
    assert ours(channel) == []
    card = world.card(INTAKE_CHAT, case)
    answer = await world.press_on(card, OPERATOR, texts.BTN_PUBLISH_AGAIN)
    assert answer.text == texts.PUBLICATION_QUEUED.format(network="в Telegram")  # no second confirmation
    [posted] = await channel.wait_for(lambda: ours(channel))
    assert posted.reply_to_message_id == comment
    await world.wait(lambda: "Ответ: https://t.me/c/" in tg_card(world, case), "the link on the card")
    await world.settle()
    assert (await world.app.services.case(case)).status == Status.ANSWERED.value
    assert [r[0] for r in await publication_rows(world.app)] == ["unclear", "published"]
    assert len(ours(channel)) == 1
    await world.stop()


def test_an_unclear_publication_reads_as_a_question_on_the_card() -> None:
    unclear = replace(publication("unclear"), error="Неясно, опубликован ли ответ: посмотрите")
    assert publication_line(unclear, WorkingCalendar(), NOW) == "❓ Неясно, опубликован ли ответ: посмотрите"
    interim = publication("unclear", "interim")
    shown = button_labels(APPROVED, Network.TELEGRAM, interim, {Role.OPERATOR})
    assert shown[:2] == [texts.BTN_PUBLISH_AGAIN, texts.BTN_INTERIM_MANUAL]
    assert texts.BTN_PUBLISH_AUTO not in shown and texts.BTN_PUBLISH_MANUAL not in shown
