"""A real aiogram Dispatcher with the project's routers, real Services over SQLite, the real Delivery and sender,
and the Telegram emulator on loopback. Updates are fed with `Dispatcher.feed_update` and delivery is let settle, so
each step has finished, cards and notices included, when the call returns."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import Update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.delivery import Delivery
from bot.directory import Directory
from bot.sender import TelegramSender
from emulators.telegram import ChatMessage, TelegramEmulator
from handlers import build_routers
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repository import SqlRepository
from tests.fakes import FakeClock
from views import texts
from workflow.calendar import WorkingCalendar
from workflow.model import Actor, Role, Source
from workflow.rules import Rules
from workflow.services import Services

NSK = ZoneInfo("Asia/Novosibirsk")
MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=NSK)

INTAKE, OFFICE, REGION, POS_CHAT, HEAD_CHAT = -1001, -1002, -1003, -1004, -1005
HOUSING_CHAT, EDUCATION_CHAT = -2001, -2002
OPERATOR, OFFICE_HEAD, CURATOR, POS_CURATOR = 11, 12, 13, 14
HOUSING_MAN, EDUCATION_MAN, STRANGER = 21, 22, 99


def make_directory(units: dict[str, str]) -> Directory:
    def actor(uid: int, *roles: Role, units: tuple[str, ...] = ()) -> Actor:
        return Actor(user_id=uid, roles=frozenset(roles), units=frozenset(units), name=f"Сотрудник {uid}")

    staff = {
        OPERATOR: actor(OPERATOR, Role.OPERATOR),
        OFFICE_HEAD: actor(OFFICE_HEAD, Role.OFFICE_HEAD),
        CURATOR: actor(CURATOR, Role.REGION_CURATOR),
        POS_CURATOR: actor(POS_CURATOR, Role.POS_CURATOR),
        HOUSING_MAN: actor(HOUSING_MAN, Role.UNIT_OFFICIAL, Role.EXECUTOR, units=("housing",)),
        EDUCATION_MAN: actor(EDUCATION_MAN, Role.UNIT_OFFICIAL, Role.EXECUTOR, units=("education",)),
    }
    return Directory(
        staff=staff,
        role_chats={
            Role.OPERATOR: INTAKE,
            Role.OFFICE_HEAD: OFFICE,
            Role.REGION_CURATOR: REGION,
            Role.POS_CURATOR: POS_CHAT,
            Role.COORDINATOR: POS_CHAT,
            Role.HEAD: HEAD_CHAT,
        },
        unit_chats={"housing": HOUSING_CHAT, "education": EDUCATION_CHAT},
        units=units,
    )


@dataclass
class Harness:
    emu: TelegramEmulator
    bot: Bot
    dp: Dispatcher
    services: Services
    delivery: Delivery
    clock: FakeClock
    repo: SqlRepository
    rules: Rules
    calendar: WorkingCalendar

    async def _feed(self, raw: dict[str, Any]) -> None:
        update = Update.model_validate(raw, context={"bot": self.bot})
        await self.dp.feed_update(self.bot, update)
        # The handler answered once its use case committed; the cards and notices it woke follow.
        await self.delivery.settle()

    async def send(
        self,
        chat_id: int,
        user_id: int,
        text: str | None = None,
        *,
        reply_to: int | None = None,
        photo: bytes | None = None,
        forward_origin: dict[str, Any] | None = None,
    ) -> ChatMessage:
        msg = self.emu.push_message(
            chat_id, user_id, text, reply_to_message_id=reply_to, photo=photo, forward_origin=forward_origin
        )
        await self._feed(self.emu.pending_updates[-1])
        return msg

    def answer_to(self, msg: ChatMessage) -> ChatMessage:
        """The bot's reply under a message (the intake question, a confirmation)."""
        found = [m for m in self.emu.sent(msg.chat_id) if m.reply_to_message_id == msg.message_id]
        assert len(found) == 1, f"{len(found)} bot replies to message {msg.message_id}"
        return found[0]

    async def intake(self, text: str, choice: str = "vk", user_id: int = OPERATOR) -> int:
        """Post `text` in the intake chat and answer the bot's question with `choice` (views.texts.BTN_INTAKE
        keys): the case registered."""
        msg = await self.send(INTAKE, user_id, text)
        question = self.answer_to(msg)
        data = next(
            str(b["callback_data"])
            for row in question.buttons
            for b in row
            if b["text"].endswith(texts.BTN_INTAKE[choice])
        )
        await self.press(INTAKE, user_id, question.message_id, data)
        case_id = await self.services.registered(Source.INTAKE, f"{INTAKE}:{msg.message_id}")
        assert case_id is not None, "the intake message was not registered"
        return case_id

    async def press(self, chat_id: int, user_id: int, message_id: int, data: str) -> str | None:
        query_id = self.emu.push_callback(chat_id, user_id, message_id, data)
        await self._feed(self.emu.pending_updates[-1])
        answer = self.emu.callback_answers.get(query_id)
        return answer.text if answer else None

    async def card(self, chat_id: int, case_id: int) -> ChatMessage:
        async with self.repo.transaction() as tx:
            cards = await tx.cards(case_id)
        return self.emu.message(chat_id, cards[chat_id])

    def texts(self, chat_id: int) -> list[str]:
        return [m.plain_text or "" for m in self.emu.sent(chat_id)]


def button(msg: ChatMessage, label: str) -> str:
    for row in msg.buttons:
        for b in row:
            if b["text"] == label:
                return str(b["callback_data"])
    raise AssertionError(f"no button {label!r} in {[b['text'] for row in msg.buttons for b in row]}")


def labels(msg: ChatMessage) -> list[str]:
    return [b["text"] for row in msg.buttons for b in row]


@asynccontextmanager
async def harness_on(engine: AsyncEngine) -> AsyncIterator[Harness]:
    """The harness over a given (empty) database: migrated, then the real stack on the emulator."""
    await upgrade(engine)
    clock = FakeClock(MONDAY_10)
    repo = SqlRepository(engine, clock=clock)
    rules = Rules.default()
    calendar = WorkingCalendar()
    directory = make_directory(dict(rules.units))
    async with TelegramEmulator(wall_clock=lambda: clock.now().timestamp()) as emu:
        for uid in (*directory.staff, STRANGER):
            emu.add_user(uid, f"Имя{uid}")
        for chat in (INTAKE, OFFICE, REGION, POS_CHAT, HEAD_CHAT, HOUSING_CHAT, EDUCATION_CHAT):
            emu.add_chat(chat, "supergroup")
        bot = emu.create_bot()
        sender = TelegramSender(bot, per_second=10_000, per_chat_interval=0.0, group_per_minute=1_000_000)
        delivery = Delivery(
            repo=repo,
            sender=sender,
            directory=directory,
            calendar=calendar,
            rules=rules,
            clock=clock,
            units=dict(rules.units),
        )
        services = Services(
            repo=repo, clock=clock, calendar=calendar, rules=rules, notifier=delivery, people=directory,
            reach=directory,
        )
        dp = Dispatcher(storage=MemoryStorage())
        dp.include_routers(*build_routers())
        dp.workflow_data.update(
            services=services, directory=directory, delivery=delivery, calendar=calendar, rules=rules,
            keyboard_limits=sender.keyboard_limits,
        )
        try:
            yield Harness(emu, bot, dp, services, delivery, clock, repo, rules, calendar)
        finally:
            await bot.session.close()


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'otklik.sqlite3'}")
    try:
        async with harness_on(engine) as harness:
            yield harness
    finally:
        await engine.dispose()
