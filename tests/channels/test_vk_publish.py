"""«Опубликовать»: the approved answer goes back under the citizen's VK comment (or into the conversation) by
itself, exactly once — the whole app (OtklikApp.build) on the Telegram emulator and the VK emulator, the press
through the real Dispatcher, the post through the real vk-api; SQLite and PostgreSQL.

The case is brought to «Согласовано» through the use cases (the cycle itself is tests/e2e's); everything about
publishing goes through the buttons. Each test waits for a state, never for a deadline.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import func, select, text

import tests.e2e.conftest as e2e
from bot.app import OtklikApp
from bot.demo import HOUSING, INTAKE_CHAT, OFFICE_HEAD, OPERATOR, REGION_CURATOR, Person
from bot.settings import ChannelsSettings, Settings, VkSettings
from channels.vk import VkPublisher
from emulators.telegram import TelegramEmulator
from emulators.telegram.records import visible_text
from emulators.vk import VkEmulator
from storage.engine import create_engine
from storage.tables import publications
from tests.e2e.conftest import OFFICE_CHAT, World, clock, emu, labels, world
from tests.support.pg import PG_URL
from views import texts
from workflow.lifecycle import Action, ActionPayload, Status
from workflow.model import Actor, Role, Source
from workflow.ports import Answer

__all__ = ["clock", "emu", "world"]  # the e2e fixtures: the Telegram emulator, the clock, the world

T = TypeVar("T")
GID = 201
CITIZEN = 42
DRAFT = "Здравствуйте! Яму у дома 5 заделают до 10 декабря."


class Killed(BaseException):
    """The process dies here (kill -9): nothing after it runs, no except clause of ours catches it."""


def actor(person: Person) -> Actor:
    return Actor(
        person.user_id, frozenset(Role(r) for r in person.roles), frozenset(person.units), person.name
    )


@pytest.fixture
async def vk() -> AsyncIterator[VkEmulator]:
    async with VkEmulator(max_wait=1, rate_limit=None) as emulator:
        emulator.add_user(CITIZEN, "Иван", "Петров")
        emulator.add_group(GID, "Администрация Северного района")
        yield emulator


@pytest.fixture(params=["sqlite", "pg"])
async def database(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """None: the world's SQLite file; else the URL of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    if not PG_URL:
        pytest.skip("PostgreSQL variant: no server")
    name = f"otklik_publish_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture
def w(world: World, vk: VkEmulator, database: str | None, monkeypatch: pytest.MonkeyPatch) -> World:
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
    world.database_url = database
    return world


async def approved(w: World, source: Source, key: str, draft: str = DRAFT, *, info: bool = True) -> int:
    """The case of the network item `key`, once taken in, routed, informed, drafted and approved."""
    app = w.app

    case = await until(lambda: app.services.registered(source, key))
    s = app.services
    await s.act(case, Action.ROUTE, actor(OPERATOR), payload=ActionPayload(units=("housing",)))
    await s.act(case, Action.APPROVE_ROUTING, actor(OFFICE_HEAD), payload=ActionPayload(units=("housing",)))
    if info:
        payload = ActionPayload(text="Ремонт 10.12", unit="housing")
        await s.act(case, Action.INFO, actor(HOUSING), payload=payload)
    await s.act(case, Action.SUBMIT, actor(OPERATOR), payload=ActionPayload(text=draft))
    await s.act(case, Action.APPROVE, actor(REGION_CURATOR))
    await w.settle()
    return case


async def until(check: Callable[[], Awaitable[T | None]], timeout: float = 15.0) -> T:
    """Wait for a state the app reaches by itself (polled; the deadline only fails a stuck test)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value is not None:
            return value
        assert loop.time() < deadline, "the expected state was not reached"
        await asyncio.sleep(0.02)


async def publication_rows(app: OtklikApp) -> list[tuple[str, str, str]]:
    async with app.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(publications.c.state, publications.c.link, publications.c.error).order_by(
                    publications.c.id
                )
            )
        ).all()
        await conn.rollback()
    return [(r.state, r.link or "", r.error or "") for r in rows]


async def row_count(app: OtklikApp) -> int:
    async with app.engine.connect() as conn:
        value = await conn.scalar(select(func.count()).select_from(publications))
        await conn.rollback()
    return int(value or 0)


def card_text(w: World, case: int) -> str:
    return visible_text(w.card(INTAKE_CHAT, case))


# --- the happy paths ----------------------------------------------------------------------------------------


async def test_the_press_posts_one_comment_under_the_citizens_comment(w: World, vk: VkEmulator) -> None:
    post = vk.add_post(GID, "Ремонт дорог")
    await w.start()
    await w.wait(lambda: vk.calls("groups.getLongPollServer"), "the long poll")
    comment = vk.add_comment(GID, post.id, CITIZEN, "Яма на дороге у дома 5")
    case = await approved(w, Source.VK, f"-{GID}_{comment.id}")
    card = w.card(INTAKE_CHAT, case)
    assert labels(card)[:4] == [
        texts.BTN_PUBLISH_AUTO, texts.BTN_PUBLISH_MANUAL, texts.BTN_INTERIM_AUTO, texts.BTN_INTERIM_MANUAL
    ]

    pressed = w.button(card, texts.BTN_PUBLISH_AUTO)
    answer = await w.press_on(card, OPERATOR, texts.BTN_PUBLISH_AUTO)
    assert answer.text == texts.PUBLICATION_QUEUED.format(network="во ВКонтакте")
    [ours] = await vk.wait_for(lambda: vk.published(GID, post.id))
    assert ours.text == DRAFT and ours.reply_to_comment == comment.id and ours.guid
    link = f"https://vk.com/wall-{GID}_{post.id}?reply={ours.id}"
    await w.wait(lambda: f"Ответ: {link}" in card_text(w, case), "the answer's link on the card")
    await w.settle()

    done = await w.app.services.case(case)
    assert done.status == Status.ANSWERED.value and done.published_link == link
    [publish_term] = [t for t in await w.terms(case) if t.term_id == "os.publish"]
    assert publish_term.met is True
    events = await w.events(case)
    publish = next(e for e in events if e.action == Action.PUBLISH.value)
    # The operator who pressed publishes; the event says through which publication.
    assert publish.actor_id == OPERATOR.user_id and publish.data["link"] == link
    assert publish.data["publication_id"] == int(ours.guid or 0)
    assert await publication_rows(w.app) == [("published", link, "")]
    # Our own comment came back through the long poll: no case of it.
    assert await w.app.services.registered(Source.VK, f"-{GID}_{ours.id}") is None

    # A second press of the old card (or a forged one): one line, nothing new.
    query = w.emu.push_callback(INTAKE_CHAT, OPERATOR.user_id, card.message_id, pressed)
    again = await w.wait(lambda: w.emu.callbacks[query].answer, "the second press answered")
    await w.settle()
    assert again is not None and again.show_alert and again.text
    assert await row_count(w.app) == 1 and len(vk.published(GID)) == 1
    await w.stop()


async def test_a_community_message_is_answered_in_the_conversation(w: World, vk: VkEmulator) -> None:
    await w.start()
    await w.wait(lambda: vk.calls("groups.getLongPollServer"), "the long poll")
    message = vk.push_message(GID, CITIZEN, "Когда будет горячая вода?")
    case = await approved(w, Source.VK, f"dm:{CITIZEN}:{message.conversation_message_id}")
    await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, case)
    [sent] = await vk.wait_for(lambda: vk.sent_messages(GID, CITIZEN))
    assert sent.text == DRAFT and sent.random_id > 0
    await w.wait(lambda: "Ответ: https://vk.com/gim" in card_text(w, case), "the link on the card")
    assert (await w.app.services.case(case)).status == Status.ANSWERED.value
    await w.stop()


# --- refusals -----------------------------------------------------------------------------------------------


async def test_closed_comments_leave_it_to_the_operator_with_the_text_ready(w: World, vk: VkEmulator) -> None:
    post = vk.add_post(GID, "Объявление")
    await w.start()
    await w.wait(lambda: vk.calls("groups.getLongPollServer"), "the long poll")
    comment = vk.add_comment(GID, post.id, CITIZEN, "Почему не убирают снег?")
    case = await approved(w, Source.VK, f"-{GID}_{comment.id}")
    vk.close_comments(GID, post.id)
    await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, case)
    await w.wait(lambda: "автоматически нельзя" in card_text(w, case), "the refusal on the card")
    await w.settle()
    shown = card_text(w, case)
    assert "комментарии к записи закрыты" in shown and "нажмите «Опубликовано»." in shown
    card = w.card(INTAKE_CHAT, case)
    assert texts.BTN_PUBLISH in labels(card) and texts.BTN_PUBLISH_AUTO not in labels(card)
    notes = [visible_text(m) for m in w.emu.sent(INTAKE_CHAT) if "разместите его вручную" in visible_text(m)]
    assert len(notes) == 1 and DRAFT in notes[0]
    assert vk.published(GID) == [] and (await publication_rows(w.app))[0][0] == "undeliverable"
    assert (await w.app.services.case(case)).status == Status.APPROVED.value
    await w.stop()


async def test_a_revoked_token_fails_and_the_office_head_is_told(w: World, vk: VkEmulator) -> None:
    post = vk.add_post(GID, "Объявление")
    await w.start()
    await w.wait(lambda: vk.calls("groups.getLongPollServer"), "the long poll")
    comment = vk.add_comment(GID, post.id, CITIZEN, "Где расписание автобусов?")
    case = await approved(w, Source.VK, f"-{GID}_{comment.id}")
    vk.fail_next(5, methods=["wall.createComment"])
    await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, case)
    await w.wait(lambda: "не удалась" in card_text(w, case), "the failure on the card")
    await w.settle()
    assert "ключ доступа сообщества" in card_text(w, case)
    told = [
        visible_text(m) for m in w.emu.sent(OFFICE_CHAT) if "Публикация ответа не удалась" in visible_text(m)
    ]
    assert len(told) == 1 and "ключ доступа" in told[0]
    # A token stays revoked until a new one is configured: «Опубликовать» is offered again for then.
    assert texts.BTN_PUBLISH_AUTO in labels(w.card(INTAKE_CHAT, case))
    assert vk.published(GID) == [] and (await w.app.services.case(case)).status == Status.APPROVED.value
    await w.stop()


async def test_a_bad_parameter_fails_with_the_reason_and_a_new_press_posts_it(
    w: World, vk: VkEmulator
) -> None:
    post = vk.add_post(GID, "Объявление")
    await w.start()
    await w.wait(lambda: vk.calls("groups.getLongPollServer"), "the long poll")
    comment = vk.add_comment(GID, post.id, CITIZEN, "Где расписание автобусов?")
    case = await approved(w, Source.VK, f"-{GID}_{comment.id}")
    vk.fail_next(100, methods=["wall.createComment"])
    await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, case)
    await w.wait(lambda: "не удалась" in card_text(w, case), "the failure on the card")
    await w.settle()
    assert "ВКонтакте отверг параметры запроса" in card_text(w, case)
    assert not [m for m in w.emu.sent(OFFICE_CHAT) if "Публикация ответа не удалась" in visible_text(m)]
    retried = await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, case)
    assert retried.text == texts.PUBLICATION_QUEUED.format(network="во ВКонтакте")
    await vk.wait_for(lambda: vk.published(GID, post.id))
    await w.wait(lambda: "Ответ: https://vk.com/wall" in card_text(w, case), "the link after the new press")
    assert [r[0] for r in await publication_rows(w.app)] == ["failed", "published"]
    await w.stop()


async def test_a_case_not_from_a_network_offers_no_publish_and_a_forged_press_changes_nothing(
    w: World, vk: VkEmulator
) -> None:
    await w.start()
    case = await w.register_os("Жалоба из чата приёма: яма у школы")
    s = w.app.services
    await s.act(case, Action.ROUTE, actor(OPERATOR), payload=ActionPayload(units=("housing",)))
    await s.act(case, Action.APPROVE_ROUTING, actor(OFFICE_HEAD), payload=ActionPayload(units=("housing",)))
    await s.act(case, Action.INFO, actor(HOUSING), payload=ActionPayload(text="Заделаем", unit="housing"))
    await s.act(case, Action.SUBMIT, actor(OPERATOR), payload=ActionPayload(text=DRAFT))
    approved_case = await s.act(case, Action.APPROVE, actor(REGION_CURATOR))
    await w.settle()
    card = w.card(INTAKE_CHAT, case)
    assert texts.BTN_PUBLISH_AUTO not in labels(card) and texts.BTN_PUBLISH in labels(card)
    version = approved_case.case.version
    for data in (f"c1:send:{case}:{version}", f"c1:send:{case}:{2**63}", f"c1:send:{2**64}:{version}"):
        query = w.emu.push_callback(INTAKE_CHAT, OPERATOR.user_id, card.message_id, data)
        answer = await w.wait(lambda q=query: w.emu.callbacks[q].answer, "the refusal")  # type: ignore[misc]
        assert answer is not None and answer.show_alert and answer.text
    await w.settle()
    assert await row_count(w.app) == 0
    # Nobody but the operator may press it, even where the card offers it.
    query = w.emu.push_callback(
        INTAKE_CHAT, OFFICE_HEAD.user_id, card.message_id, f"c1:send:{case}:{version}"
    )
    refused = await w.wait(lambda: w.emu.callbacks[query].answer, "the refusal")
    assert refused is not None and refused.show_alert
    assert await row_count(w.app) == 0
    await w.stop()


# --- exactly once across a crash ----------------------------------------------------------------------------


class DiesAfterTheCall:
    """The real VkPublisher, and the process dies right after VK took the answer, before the row is marked."""

    def __init__(self, real: VkPublisher) -> None:
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


@pytest.mark.parametrize("where", ["wall", "dm"])
async def test_a_crash_after_the_call_posts_once_after_the_restart(
    w: World, vk: VkEmulator, where: str
) -> None:
    post = vk.add_post(GID, "Ремонт дорог")
    dying: list[DiesAfterTheCall] = []

    def die_after_the_call(app: OtklikApp) -> None:
        real = app.services.publishers.get(VkPublisher.network)
        assert isinstance(real, VkPublisher)
        dying.append(DiesAfterTheCall(real))
        app.services.publishers.register(dying[0])  # type: ignore[arg-type]

    await w.start(prepare=die_after_the_call)
    await w.wait(lambda: vk.calls("groups.getLongPollServer"), "the long poll")
    if where == "wall":
        comment = vk.add_comment(GID, post.id, CITIZEN, "Яма у дома 5")
        key = f"-{GID}_{comment.id}"
    else:
        message = vk.push_message(GID, CITIZEN, "Нет горячей воды")
        key = f"dm:{CITIZEN}:{message.conversation_message_id}"
    case = await approved(w, Source.VK, key)

    def posted() -> int:
        return len(vk.published(GID)) if where == "wall" else len(vk.sent_messages(GID, CITIZEN))

    card = w.card(INTAKE_CHAT, case)
    query = w.emu.push_callback(
        INTAKE_CHAT, OPERATOR.user_id, card.message_id, w.button(card, "Опубликовать")
    )
    await w.wait(lambda: w.emu.callbacks[query].answer, "the press answered")
    await w.wait(lambda: posted() == 1 and dying[0].calls == 1, "VK took the answer")
    await w.wait(lambda: w.app.publisher is not None and w.app.publisher.task is not None
                 and w.app.publisher.task.done(), "the worker died")  # fmt: skip
    dead = w.app.publisher.task if w.app.publisher is not None else None
    assert dead is not None and isinstance(dead.exception(), Killed)  # retrieved: no «never retrieved» later
    await w.crash()
    assert [r[0] for r in await _rows_at(w)] == ["sending"]  # the dead run's claim

    await w.start()
    await w.wait(lambda: "Ответ: https://vk.com/" in card_text(w, case), "published after the restart")
    await w.settle()
    assert posted() == 1  # the same guid / random_id: VK kept the first one
    assert [r[0] for r in await publication_rows(w.app)] == ["published"]
    assert (await w.app.services.case(case)).status == Status.ANSWERED.value
    await w.stop()


async def _rows_at(w: World) -> list[tuple[str, str, str]]:
    url = w.database_url or f"sqlite+aiosqlite:///{w.db_path}"
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(publications.c.state).order_by(publications.c.id))).all()
            await conn.rollback()
        return [(r.state, "", "") for r in rows]
    finally:
        await engine.dispose()


# --- what retries, and when -----------------------------------------------------------------------------------


async def _queued(w: World, vk: VkEmulator, failure: str | int) -> tuple[int, int]:
    """A comment's approved answer pressed while VK is about to fail the call with `failure`; the case and post."""
    post = vk.add_post(GID, "Объявление")
    await w.start()
    await w.wait(lambda: vk.calls("groups.getLongPollServer"), "the long poll")
    comment = vk.add_comment(GID, post.id, CITIZEN, "Когда починят фонарь?")
    case = await approved(w, Source.VK, f"-{GID}_{comment.id}")
    if isinstance(failure, int):
        vk.fail_next(failure, methods=["wall.createComment"])
    else:
        vk.fail_next(methods=["wall.createComment"], kind=failure)  # type: ignore[arg-type]
    await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, case)
    await w.wait(lambda: "повтор не раньше" in card_text(w, case), "the retry on the card")
    await w.settle()
    return case, post.id


@pytest.mark.parametrize(
    ("failure", "wait", "reason"),
    [
        (10, timedelta(seconds=30), "внутренняя ошибка ВКонтакте"),
        ("non_json", timedelta(seconds=30), "ВКонтакте не ответил"),
        ("truncated", timedelta(seconds=30), "ВКонтакте не ответил"),
        (6, timedelta(seconds=1), "слишком много запросов"),
        (9, timedelta(minutes=5), "ограничил частоту"),
    ],
)
async def test_a_temporary_error_is_retried_after_its_back_off_and_posts_once(
    w: World, vk: VkEmulator, failure: str | int, wait: timedelta, reason: str
) -> None:
    case, post = await _queued(w, vk, failure)
    assert reason in card_text(w, case)
    [(state, _link, error)] = await publication_rows(w.app)
    assert state == "pending" and reason in error
    pressed_at = w.clock.now()
    async with w.app.repo.reading() as tx:
        row = await tx.latest_publication(case)
    assert row is not None and row.next_at == pressed_at + wait
    assert vk.published(GID) == []
    # Not before its time: a wake finds nothing due.
    publisher = w.app.publisher
    assert publisher is not None
    w.clock.set(pressed_at + wait - timedelta(seconds=1) if wait > timedelta(seconds=1) else pressed_at)
    publisher.wake()
    await w.settle()
    assert vk.published(GID) == [] and len(vk.calls("wall.createComment")) == 1
    w.clock.set(pressed_at + wait)
    publisher.wake()
    await w.wait(lambda: "Ответ: https://vk.com/wall" in card_text(w, case), "posted on the retry")
    assert len(vk.published(GID, post)) == 1
    await w.stop()


async def test_the_daily_quota_waits_until_local_midnight(w: World, vk: VkEmulator) -> None:
    case, _post = await _queued(w, vk, 29)
    assert "суточный лимит" in card_text(w, case)
    async with w.app.repo.reading() as tx:
        row = await tx.latest_publication(case)
    here = w.clock.now().astimezone(w.app.calendar.tz)
    midnight = datetime.combine(here.date() + timedelta(days=1), time(0), tzinfo=w.app.calendar.tz)
    assert row is not None and row.next_at == midnight
    await w.stop()


async def test_the_24_hour_window_leaves_the_message_to_the_operator(w: World, vk: VkEmulator) -> None:
    await w.start()
    await w.wait(lambda: vk.calls("groups.getLongPollServer"), "the long poll")
    message = vk.push_message(GID, CITIZEN, "Когда дадут свет?")
    case = await approved(w, Source.VK, f"dm:{CITIZEN}:{message.conversation_message_id}")
    vk.advance(25 * 3600)  # a day and an hour since the citizen wrote: VK refuses with 901
    await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, case)
    await w.wait(lambda: "автоматически нельзя" in card_text(w, case), "the refusal on the card")
    assert "больше суток" in card_text(w, case)
    assert vk.sent_messages(GID, CITIZEN) == []
    assert texts.BTN_PUBLISH in labels(w.card(INTAKE_CHAT, case))
    await w.stop()


@pytest.mark.parametrize("code", [212, 222, 223, 902, 943, 944, 950])
async def test_each_refusal_vk_gives_is_left_to_the_operator(w: World, vk: VkEmulator, code: int) -> None:
    post = vk.add_post(GID, "Объявление")
    await w.start()
    await w.wait(lambda: vk.calls("groups.getLongPollServer"), "the long poll")
    comment = vk.add_comment(GID, post.id, CITIZEN, "Вопрос")
    case = await approved(w, Source.VK, f"-{GID}_{comment.id}")
    vk.fail_next(code, methods=["wall.createComment"])
    await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, case)
    await w.wait(lambda: "автоматически нельзя" in card_text(w, case), "the refusal on the card")
    await w.settle()
    assert [r[0] for r in await publication_rows(w.app)] == ["undeliverable"]
    assert len(vk.calls("wall.createComment")) == 1  # never retried
    await w.stop()


async def test_an_answer_longer_than_vk_allows_is_refused_before_any_call(w: World, vk: VkEmulator) -> None:
    await w.start()
    await w.wait(lambda: vk.calls("groups.getLongPollServer"), "the long poll")
    message = vk.push_message(GID, CITIZEN, "Расскажите подробно")
    long_answer = "Ответ. " * 1500  # 10,500 characters: more than a VK message holds
    case = await approved(w, Source.VK, f"dm:{CITIZEN}:{message.conversation_message_id}", long_answer)
    answer = await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, case)
    assert answer.show_alert and "9000 знаков" in (answer.text or "")
    assert await row_count(w.app) == 0 and vk.calls("messages.send") == []
    await w.stop()


async def test_units_still_owing_information_are_confirmed_first(w: World, vk: VkEmulator) -> None:
    post = vk.add_post(GID, "Объявление")
    await w.start()
    await w.wait(lambda: vk.calls("groups.getLongPollServer"), "the long poll")
    comment = vk.add_comment(GID, post.id, CITIZEN, "Когда уберут мусор?")
    case = await approved(w, Source.VK, f"-{GID}_{comment.id}", info=False)
    asked = await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_PUBLISH_AUTO, case)
    assert asked.show_alert and "Подтвердите публикацию" in (asked.text or "")
    assert await row_count(w.app) == 0
    card = w.card(INTAKE_CHAT, case)
    assert labels(card) == [texts.BTN_PUBLISH_AUTO_CONFIRM, texts.BTN_CANCEL]
    await w.press_on(card, OPERATOR, texts.BTN_PUBLISH_AUTO_CONFIRM)
    await vk.wait_for(lambda: vk.published(GID, post.id))
    await w.wait(lambda: "Ответ: https://vk.com/wall" in card_text(w, case), "the link on the card")
    events = await w.events(case)
    publish = next(e for e in events if e.action == Action.PUBLISH.value)
    assert publish.data.get("without_info") == ["housing"]
    await w.stop()
