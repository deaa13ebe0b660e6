"""The composition root: builds Otklik from settings and runs it (`otklik run`).

Nothing here is created at import time; `OtklikApp.build()` wires storage, the domain, the Telegram bot, the
sender, delivery and the scheduler, and `close()` takes them down in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.delivery import Delivery
from bot.directory import Directory
from bot.domain_setup import build_calendar, build_rules
from bot.scheduler import build_scheduler
from bot.sender import FloodWaitMiddleware, TelegramSender
from bot.settings import ConfigError, Settings
from handlers import build_routers
from handlers.commands import set_commands
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repository import SqlRepository
from workflow.calendar import WorkingCalendar
from workflow.ports import Clock, Notification
from workflow.rules import Rules
from workflow.services import Services

log = logging.getLogger(__name__)

# How long a stop waits for the updates being handled (a handler may be waiting out Telegram's flood control).
SHUTDOWN_GRACE_SECONDS = 30.0


class SystemClock:
    """The only place that reads the wall clock: the use cases, delivery and storage's bookkeeping take it."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(self.tz)


@dataclass
class OtklikApp:
    settings: Settings
    engine: AsyncEngine
    repo: SqlRepository
    calendar: WorkingCalendar
    rules: Rules
    directory: Directory
    clock: Clock
    services: Services
    bot: Bot
    sender: TelegramSender
    delivery: Delivery
    dispatcher: Dispatcher
    scheduler: AsyncIOScheduler

    @classmethod
    async def build(cls, settings: Settings, *, clock: Clock | None = None) -> OtklikApp:
        if not settings.telegram.token:
            raise ConfigError("telegram.token: не задан токен бота (задайте OTKLIK_TELEGRAM__TOKEN)")
        calendar = build_calendar(settings)
        rules = build_rules(settings)
        directory = Directory.from_settings(settings)
        url = settings.database_url
        await upgrade(url)
        engine = create_engine(url)
        clock = clock or SystemClock(calendar.tz)
        repo = SqlRepository(engine, clock=clock)
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram.api_base))
        session.middleware(FloodWaitMiddleware())  # handlers' own calls wait out a 429 like the sender's
        bot = Bot(
            settings.telegram.token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML)
        )
        if settings.telegram.rate_limits:
            sender = TelegramSender(bot)
        else:
            sender = TelegramSender(bot, per_second=10_000, per_chat_interval=0.0, group_per_minute=1_000_000)
        delivery = Delivery(repo=repo, sender=sender, directory=directory, calendar=calendar, rules=rules,
                            clock=clock, units=settings.units)  # fmt: skip
        services = Services(repo=repo, clock=clock, calendar=calendar, rules=rules, notifier=delivery)
        dispatcher = Dispatcher(storage=MemoryStorage())
        dispatcher.include_routers(*build_routers())
        dispatcher.workflow_data.update(
            services=services, directory=directory, delivery=delivery, calendar=calendar, rules=rules
        )
        app = cls(settings=settings, engine=engine, repo=repo, calendar=calendar, rules=rules, directory=directory,
                  clock=clock, services=services, bot=bot, sender=sender, delivery=delivery,
                  dispatcher=dispatcher, scheduler=AsyncIOScheduler())  # fmt: skip
        app.scheduler = build_scheduler(
            sweep=app.sweep,
            sweep_seconds=settings.scheduler.sweep_seconds,
            drain=delivery.drain,
            drain_seconds=settings.scheduler.outbox_seconds,
        )

        async def finish_handlers_on_shutdown() -> None:
            await app.finish_handlers()

        # stop_polling() returns after the shutdown hooks: with this one, only once the handlers are done.
        dispatcher.shutdown.register(finish_handlers_on_shutdown)
        return app

    def in_flight(self) -> list[asyncio.Task[object]]:
        """The handlers of updates polling took, and the drains they (or sweeps) woke, not yet finished."""
        # aiogram keeps the tasks of the updates it is handling here (it has no public accessor).
        handlers: set[asyncio.Task[object]] = getattr(self.dispatcher, "_handle_update_tasks", set())
        running: list[asyncio.Task[object]] = [task for task in handlers if not task.done()]
        running += self.delivery.busy()
        current = asyncio.current_task()
        return [task for task in running if task is not current]

    async def finish_handlers(self, timeout: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Let the updates being handled, and the drains they started, finish (at most `timeout` seconds).

        aiogram's polling confirms an update to Telegram before its handler has run, so a handler cut short by
        a shutdown is an update lost for good (a draft, a press); a drain cut between Telegram's answer and its
        record is a notification sent twice after the restart.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while running := self.in_flight():
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.warning("остановка: %d обработчиков не успели завершиться", len(running))
                return
            await asyncio.wait(running, timeout=remaining)

    async def sweep(self) -> list[Notification]:
        """One sweeper tick: alerts into the outbox; delivery, woken by the commit, refreshes and sends."""
        return await self.services.sweep()

    async def start_background(self) -> None:
        """The scheduler jobs plus one drain of what a previous run left in the outbox."""

        for key in self.directory.missing_chats():
            log.warning("в настройках не задан чат %s: уведомления этой роли некуда доставить", key)
        await set_commands(self.bot, self.directory.staff)
        self.scheduler.start()
        await self.delivery.start()  # takes over a dead run's claims, drains, repairs every card

    async def close(self) -> None:
        await self.finish_handlers()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.bot.session.close()
        await self.engine.dispose()

    async def run_polling(self) -> None:
        await self.bot.delete_webhook(drop_pending_updates=False)
        await self.dispatcher.start_polling(self.bot, handle_signals=False, close_bot_session=False)

    async def run_webhook(self, stop: asyncio.Event) -> None:

        tg = self.settings.telegram
        if not tg.webhook_url or not tg.webhook_secret:
            raise ConfigError("telegram.webhook_url и telegram.webhook_secret обязательны в режиме webhook")
        web_app = web.Application()
        SimpleRequestHandler(self.dispatcher, self.bot, secret_token=tg.webhook_secret).register(
            web_app, path="/telegram"
        )
        setup_application(web_app, self.dispatcher, bot=self.bot)
        runner = web.AppRunner(web_app)
        await runner.setup()
        await web.TCPSite(runner, tg.webhook_host, tg.webhook_port).start()
        await self.bot.set_webhook(tg.webhook_url, secret_token=tg.webhook_secret)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()


async def serve(settings: Settings) -> None:
    app = await OtklikApp.build(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await app.start_background()
        log.info("Отклик запущен (%s)", settings.telegram.mode)
        if settings.telegram.mode == "webhook":
            await app.run_webhook(stop)
        else:
            polling = asyncio.create_task(app.run_polling())
            await stop.wait()
            await app.dispatcher.stop_polling()
            await polling
    finally:
        await app.close()
        log.info("Отклик остановлен")


def run_app(settings: Settings) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(settings))
    return 0
