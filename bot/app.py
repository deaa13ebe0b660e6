"""The composition root: builds Otklik from settings and runs it (`otklik run`).

Nothing here is created at import time; `OtklikApp.build()` wires storage, the domain, the Telegram bot, the
sender, delivery and the scheduler, and `close()` takes them down in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast
from zoneinfo import ZoneInfo

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.storage.memory import MemoryStorage
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channel_files import FileFetcher
from bot.channel_health import ChannelHealth
from bot.channel_reader import ChannelReader, callback_handler, row_handler
from bot.check import Level, calendar_findings, chat_findings, telegram_channel_findings
from bot.delivery import Delivery
from bot.directory import Directory
from bot.domain_setup import build_calendar, build_rules, build_spikes, pos_category_table
from bot.events import LoggedServices
from bot.links import link_book
from bot.max_convert import KEYBOARD_LIMITS as MAX_KEYBOARD_LIMITS
from bot.max_convert import TEXT_LIMIT as MAX_TEXT_LIMIT
from bot.max_session import MAX_REQUESTS_PER_SECOND, MaxBot, MaxSession
from bot.ok_webhook import ok_webhook_handler
from bot.ok_wiring import OkParts, ok_findings, ok_parts
from bot.pollerlock import PollerLock
from bot.polling import (
    Backoff,
    OutageWatch,
    Pacing,
    Poller,
    RowHandler,
    WorkerPool,
    dispatch_handler,
    webhook_handler,
)
from bot.pos_mail import CHANNEL as POS_MAIL_CHANNEL
from bot.pos_mail import PosMailReader, mail_handler, mailbox_config, mailbox_problem
from bot.publisher import PublicationWorker
from bot.report_files import WeeklyReportFiles
from bot.retention_job import erase_due
from bot.scheduler import build_scheduler
from bot.sender import FloodWaitMiddleware, Outgoing, TelegramSender
from bot.settings import (
    VK_CALLBACK_SECRET_ENV,
    VK_CONFIRMATION_ENV,
    VK_TOKEN_ENV,
    ConfigError,
    Settings,
    max_channel_problem,
)
from bot.shutdown import (
    CANCEL_WAIT_SECONDS,
    STOP_MARGIN_SECONDS,
    HardStop,
    StopSteps,
    cancel_and_wait,
    wait_at_most,
)
from bot.startup import StartupError, check_setup
from channels.ok import inbox_key as ok_inbox_key
from channels.pos.mail import ImapMailbox
from channels.pos.mail_parse import LabelPatterns
from handlers import build_routers
from handlers.commands import set_commands
from storage.engine import create_engine
from storage.inbox import Inbox, InboxRow
from storage.max_messages import MaxMessageMap
from storage.migrate import MigrationFailed, upgrade, upgrade_in_child
from storage.personal_data import PersonalData
from storage.repository import ChannelFile, SqlRepository
from storage.writer import stop_writer
from views.privacy import Privacy
from views.report_text import ReportNames
from workflow.calendar import WorkingCalendar
from workflow.model import ChannelItem, Role
from workflow.ports import Clock, Notification, PublisherRegistry
from workflow.quiet import in_working_day
from workflow.rules import Rules
from workflow.services import Services
from workflow.services.digest import DigestUseCase, MorningDigestUseCase
from workflow.services.reporting import ReportingUseCase, WeeklyReportUseCase

if TYPE_CHECKING:
    from aiohttp import web

    from channels.max import MaxChannelConfig
    from channels.telegram import ChannelConfig
    from channels.vk import VkLongPoll

log = logging.getLogger(__name__)

# How long a stop waits for the drains the last handlers woke, after the workers' own grace.
DRAIN_GRACE_SECONDS = 2.0
# The inbox source of the citizens' own MAX bot's updates (the staff on Telegram): its update ids are its own.
MAX_CITIZENS_SOURCE = "max"


class SystemClock:
    """The only place that reads the wall clock: the use cases, delivery and storage's bookkeeping take it."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(self.tz)


@dataclass
class MaxCitizens:
    """The citizens' own MAX bot, when the staff work in Telegram (issue 15 item 3, deployment «b»): its long
    poll into the same inbox under its own source, and a dispatcher with the citizens' intake router alone."""

    bot: MaxBot
    dispatcher: Dispatcher
    poller: Poller
    task: asyncio.Task[None] | None = None


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
    inbox: Inbox
    pacing: Pacing
    watch: OutageWatch
    pool: WorkerPool
    poller: Poller
    readers: tuple[ChannelReader, ...] = ()  # the citizens' networks read into the inbox (issue 11)
    _poll: asyncio.Task[None] | None = None
    _reading: tuple[asyncio.Task[None], ...] = ()
    _halted: asyncio.Event | None = None
    # Starting and stopping one at a time: a stop that comes while the start is under way (a signal, a test's
    # teardown) waits for it, then stops all it started, rather than leave a long poll started after the stop.
    _lifecycle: asyncio.Lock = field(default_factory=asyncio.Lock)
    _callback_site: web.AppRunner | None = None  # the VK Callback API's own server (Telegram polling)
    digests: DigestUseCase | None = None  # the office head's daily digest; None: `[notify] digest = false`
    publisher: PublicationWorker | None = None  # approved answers out to their networks (issue 11)
    pos_mail: PosMailReader | None = None  # the ПОС notification mailbox (issue 12), read by a scheduler job
    ok: OkParts | None = None  # Odnoklassniki's clients (issue 12), closed with the app
    # Issue 14: the weekly п.18 report and each person's morning digest; None: turned off in [notify].
    weekly: WeeklyReportUseCase | None = None
    mornings: MorningDigestUseCase | None = None
    max_citizens: MaxCitizens | None = None  # the citizens' own MAX bot (issue 15 item 3), staff on Telegram

    @classmethod
    async def build(
        cls, settings: Settings, *, clock: Clock | None = None, pacing: Pacing | None = None,
        migrate: Callable[[str], Awaitable[None]] = upgrade,
    ) -> OtklikApp:  # fmt: skip
        """`pacing`: how the app waits between retries (tests pass a fake sleep and monotonic source).
        `migrate`: how the schema is brought to the head, once the settings are checked (`otklik run` does it in
        a child process: `migrate_in_child`)."""
        on_max = settings.messenger.kind == "max"
        if on_max:
            check_max_settings(settings)
        elif not settings.telegram.token:
            raise ConfigError("telegram.token: не задан токен бота (задайте OTKLIK_TELEGRAM__TOKEN)")
        calendar = build_calendar(settings)
        rules = build_rules(settings)
        pos_categories = pos_category_table(settings, rules)  # a value that is no class: one line, no start
        telegram_channel = _telegram_channel(settings)  # before anything is opened: a bad block is one line
        max_channel = _max_channel(settings)
        ok = ok_parts(settings)
        directory = Directory.from_settings(settings)
        url = settings.database_url
        await migrate(url)
        engine = create_engine(url)
        clock = clock or SystemClock(calendar.tz)
        repo = SqlRepository(engine, clock=clock)
        if on_max:  # issue 15: the same aiogram Bot, its calls carried to MAX (bot/max_session.py)
            bot, sender = _max_bot(settings, engine)
        else:
            session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram.api_base))
            session.middleware(FloodWaitMiddleware())  # handlers' own calls wait out a 429 like the sender's
            bot = Bot(
                settings.telegram.token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML)
            )
            if settings.telegram.rate_limits:
                sender = TelegramSender(bot)
            else:
                sender = TelegramSender(bot, per_second=10_000, per_chat_interval=0.0, group_per_minute=1_000_000)
        vk = settings.channels.vk
        files = (
            FileFetcher(repo, clock, max_bytes=vk.attachment_max_mb * 1_000_000, timeout=vk.attachment_timeout_seconds)
            if vk.attachments
            else None
        )
        # Cards and notices in a foreign messenger show no author's identity when asked (issue 15 item 4).
        privacy = Privacy.for_messenger(settings.staff_messenger, settings.privacy.mask_personal_data)
        delivery = Delivery(repo=repo, sender=sender, directory=directory, calendar=calendar, rules=rules,
                            clock=clock, units=settings.units, privacy=privacy)  # fmt: skip
        if files is not None:
            delivery.kept_files = kept_files_of(repo)
        # The directory is the domain's Reach (routing to a unit with no chat is refused before anything changes)
        # and its People (the only holder of a role is named on the terms it owes).
        publishers = _publishers(settings)
        if ok is not None:
            publishers.register(ok.publisher())
        services = LoggedServices(repo=repo, clock=clock, calendar=calendar, rules=rules, notifier=delivery,
                                  people=directory, reach=directory, publishers=publishers,
                                  spikes=build_spikes(settings))  # fmt: skip
        if telegram_channel is not None:  # replies to comments and direct messages; a deleted comment shows on its card
            # The Telegram channel's parts are imported only when it is on (issue 16).
            from channels.telegram import TelegramPublisher

            publishers.register(TelegramPublisher(bot, clock, on_gone=services.take_in))
        citizens_bot: MaxBot | None = None
        if max_channel is not None:  # the staff's MAX bot, or the citizens' own, answers in the citizen's dialog
            from channels.max import MaxPublisher

            citizens_bot = cast(MaxBot, bot) if on_max else _max_citizens_bot(settings, engine)
            publishers.register(MaxPublisher(citizens_bot, clock, on_gone=services.take_in))
        publisher = PublicationWorker(services, clock)
        publishers.on_queued = publisher.wake
        dispatcher = Dispatcher(storage=MemoryStorage())
        # /report and the weekly report's files (issue 14)
        reporting = ReportingUseCase(repo=repo, clock=clock, calendar=calendar, rules=rules)
        delivery.weekly_report = WeeklyReportFiles(reporting, ReportNames.of(rules))
        if telegram_channel is not None or max_channel is not None:  # imported only when a channel is on
            from handlers import channel_intake
        if telegram_channel is not None:  # citizens' comments and messages first: they never meet the staff gate
            dispatcher.include_router(channel_intake.router())
            dispatcher.workflow_data["citizen_channel"] = telegram_channel
        elif max_channel is not None and on_max:  # deployment «a»: a stranger writing to the staff's MAX bot
            dispatcher.include_router(channel_intake.router())
            dispatcher.workflow_data["citizen_channel"] = max_channel
        dispatcher.include_routers(*build_routers())
        dispatcher.workflow_data.update(
            services=services, directory=directory, delivery=delivery, calendar=calendar, rules=rules,
            pos_categories=pos_categories, links=link_book(settings), reporting=reporting, privacy=privacy,
            keyboard_limits=sender.keyboard_limits,
        )  # fmt: skip
        inbox = Inbox(engine, clock=clock)
        pacing = pacing or Pacing()

        async def tell_office_head(text: str) -> None:
            # Straight through the sender: the outbox lives in the database that is down.
            quiet = not in_working_day(clock.now(), calendar)  # at night without sound (workflow/quiet.py)
            for chat_id in directory.chats_for(Role.OFFICE_HEAD):
                await sender.send(Outgoing(key="storage-outage", chat_id=chat_id, text=text, parse_mode=None,
                                           disable_notification=quiet))  # fmt: skip

        watch = OutageWatch(pacing=pacing, clock=clock, tell=tell_office_head)
        sources = _channel_sources(settings)
        handlers: dict[str, RowHandler] = {
            source.channel: row_handler(source, services, clock, files) for source, _sweep in sources
        }
        pos_mail = _pos_mail(settings, inbox)  # ПОС notification e-mails (issue 12): None when not enabled
        if pos_mail is not None:
            handlers[POS_MAIL_CHANNEL] = _discard(mail_handler(
                services, repo, clock, patterns=LabelPatterns.build(settings.channels.pos_mail.labels),
                categories=settings.pos.categories, tz=calendar.tz,
                max_attachment_bytes=pos_mail.max_attachment_bytes,
            ))  # fmt: skip
        pool = WorkerPool(inbox=inbox, dispatcher=dispatcher, bot=bot, size=settings.telegram.workers,
                          pacing=pacing, watch=watch, handlers=handlers)  # fmt: skip
        poller = Poller(bot=bot, dispatcher=dispatcher, inbox=inbox, pool=pool, pacing=pacing, watch=watch)
        max_citizens: MaxCitizens | None = None
        if max_channel is not None and not on_max and citizens_bot is not None:  # deployment «b»
            citizens = Dispatcher(storage=MemoryStorage())
            citizens.include_router(channel_intake.router())
            citizens.workflow_data.update(services=services, directory=directory, citizen_channel=max_channel)
            pool.handlers[MAX_CITIZENS_SOURCE] = dispatch_handler(citizens, citizens_bot)
            max_citizens = MaxCitizens(citizens_bot, citizens, Poller(
                bot=citizens_bot, dispatcher=citizens, inbox=inbox, pool=pool, pacing=pacing, watch=watch,
                source=MAX_CITIZENS_SOURCE,
            ))  # fmt: skip
        readers = tuple(
            ChannelReader(source=source, inbox=inbox, pool=pool, clock=clock, pacing=pacing, watch=watch,
                          key_of=_vk_inbox_key(), sweep=sweep, reconcile_seconds=vk.reconcile_minutes * 60,
                          health=ChannelHealth(source.channel, repo, clock, vk.health_minutes, notifier=delivery),
                          listen=vk.mode == "longpoll")
            for source, sweep in sources
        )  # fmt: skip
        if ok is not None:  # comments polled (with the includeRemoved sweep), messages by the webhook
            pool.handlers[ok.source.channel] = row_handler(ok.source, services, clock)
            readers += (ChannelReader(
                source=ok.source, inbox=inbox, pool=pool, clock=clock, pacing=pacing, watch=watch, key_of=ok_inbox_key,
                sweep=ok.comments.sweep if ok.comments is not None else None,
                reconcile_seconds=ok.settings.reconcile_minutes * 60, listen=ok.comments is not None,
                health=ChannelHealth(ok.source.channel, repo, clock, ok.settings.health_minutes, notifier=delivery)
                if ok.comments is not None else None,  # messages alone may be few: no silence alarm on them
            ),)  # fmt: skip
        app = cls(settings=settings, engine=engine, repo=repo, calendar=calendar, rules=rules, directory=directory,
                  clock=clock, services=services, bot=bot, sender=sender, delivery=delivery,
                  dispatcher=dispatcher, scheduler=AsyncIOScheduler(), inbox=inbox, pacing=pacing, watch=watch,
                  pool=pool, poller=poller, readers=readers, publisher=publisher, pos_mail=pos_mail, ok=ok,
                  max_citizens=max_citizens)  # fmt: skip
        if pos_mail is not None:
            pos_mail.pool = pool
        if settings.notify.weekly_report:  # issue 14
            app.weekly = WeeklyReportUseCase(repo=repo, clock=clock, calendar=calendar, notifier=delivery,
                                             at=settings.notify.weekly_report_at())  # fmt: skip
        if settings.notify.morning:
            app.mornings = MorningDigestUseCase(repo=repo, clock=clock, calendar=calendar, rules=rules,
                                                staff=tuple(directory.staff.values()), notifier=delivery,
                                                at=settings.notify.morning_at())  # fmt: skip
        if settings.notify.digest:
            app.digests = DigestUseCase(repo=repo, clock=clock, calendar=calendar, rules=rules, notifier=delivery,
                                        at=settings.notify.digest_at())  # fmt: skip
        app.scheduler = build_scheduler(
            sweep=app.sweep,
            sweep_seconds=settings.scheduler.sweep_seconds,
            drain=delivery.drain,
            drain_seconds=settings.scheduler.outbox_seconds,
            purge=app.purge_inbox,
            digest=app.digest if app.digests is not None else None,
            pos_mail=pos_mail.poll if pos_mail is not None else None,
            pos_mail_seconds=settings.channels.pos_mail.interval_minutes * 60,
            retention=app.erase_personal_data if settings.retention.enabled else None,  # issue 14 (helper D)
            weekly_report=app.weekly.run if app.weekly is not None else None,
            morning=app.mornings.run if app.mornings is not None else None,
        )
        return app

    def quiet(self) -> bool:
        """Nothing in hand: no inbox row being handled or claimable, no drain running (tests wait for this)."""
        publishing = self.publisher is not None and self.publisher.busy()
        return self.pool.quiet() and not self.delivery.busy() and not self.watch._tasks and not publishing

    def in_flight(self) -> list[asyncio.Task[object]]:
        """The workers and the drains they woke, still running (a crash test cancels them)."""
        running: list[asyncio.Task[object]] = [*self.pool.tasks(), *self.delivery.busy()]
        running += [task for task in self._reading if not task.done()]
        if self.publisher is not None and self.publisher.task is not None and not self.publisher.task.done():
            running.append(self.publisher.task)
        if self._poll is not None and not self._poll.done():
            running.append(self._poll)
        citizens = self.max_citizens
        if citizens is not None and citizens.task is not None and not citizens.task.done():
            running.append(citizens.task)
        current = asyncio.current_task()
        return [task for task in running if task is not current]

    async def purge_inbox(self) -> int:
        """The daily job: done inbox rows older than the retention go."""
        days = self.settings.scheduler.inbox_retention_days
        return await self.inbox.purge(timedelta(days=days))

    async def erase_personal_data(self) -> list[int]:
        """The hourly job (issue 14): personal data past `[retention]` erased (bot/retention_job.py)."""
        policy = self.settings.retention.policy()
        return await erase_due(PersonalData(self.repo), self.clock, policy, self.calendar.tz)

    async def sweep(self) -> list[Notification]:
        """One sweeper tick: alerts into the outbox; delivery, woken by the commit, refreshes and sends."""
        return await self.services.sweep()

    async def digest(self) -> Notification | None:
        """One digest tick: today's digest into the outbox once it is due; delivery, woken, sends it."""
        digest = await self.digests.run() if self.digests is not None else None
        if digest is not None:
            log.info(
                "сводка за %s поставлена в очередь начальнику управления делами", digest.payload.get("day")
            )
        return digest

    async def start_background(self) -> None:
        """The scheduler jobs plus one drain of what a previous run left in the outbox."""

        for key in self.directory.missing_chats():
            log.warning("в настройках не задан чат %s: уведомления этой роли некуда доставить", key)
        await set_commands(self.bot, self.directory.staff)
        self.scheduler.start()
        await self.delivery.start()  # takes over a dead run's claims, drains, repairs every card

    async def close(self, steps: StopSteps | None = None) -> None:
        steps = steps if steps is not None else StopSteps()
        await self.stop_polling(steps)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        with steps.step("уведомление о базе"):  # a notice about an outage, on its way to the office head
            await wait_at_most(self.watch.settle(), CANCEL_WAIT_SECONDS, "уведомление о базе")
        with steps.step("сеанс Telegram"):
            await wait_at_most(self.bot.session.close(), CANCEL_WAIT_SECONDS, "сеанс Telegram")
        if self.max_citizens is not None:
            with steps.step("сеанс MAX для граждан"):
                await wait_at_most(self.max_citizens.bot.session.close(), CANCEL_WAIT_SECONDS, "сеанс MAX")
        with steps.step("соединения с базой"):
            # The SQLite writer first: the writes queued on it commit before its connection closes.
            await wait_at_most(stop_writer(self.engine), CANCEL_WAIT_SECONDS, "запись в базу")
            await wait_at_most(self.engine.dispose(), CANCEL_WAIT_SECONDS, "соединения с базой")
        if self.ok is not None:
            with steps.step("Одноклассники"):
                await wait_at_most(self.ok.close(), CANCEL_WAIT_SECONDS, "Одноклассники")

    async def start_polling(self) -> None:
        """Start the workers (on what a previous run left unfinished) and the long poll, in the background
        (and the VK Callback API's server when VK posts its events)."""
        async with self._lifecycle:
            await self._start_polling()

    async def _start_polling(self) -> None:
        await self.bot.delete_webhook(drop_pending_updates=False)
        await self._start_workers()
        self._poll = asyncio.create_task(self.poller.run(), name="getUpdates")
        route = self.vk_callback_route()
        ok_route = self.ok_webhook_route()
        if route is not None or ok_route is not None:
            from aiohttp import web  # aiohttp's server side only where events are posted to us (issue 16)

            vk, ok = self.settings.channels.vk, self.settings.channels.ok
            web_app = web.Application()
            for each in (route, ok_route):
                if each is not None:
                    web_app.router.add_post(*each)
            # One server: VK's Callback API address when VK posts here, else OK's webhook address.
            host, port = (vk.callback_host, vk.callback_port) if route else (ok.webhook_host, ok.webhook_port)
            runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=CANCEL_WAIT_SECONDS)
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
            self._callback_site = runner  # set once it listens (tests wait for it)
            log.info("события соцсетей принимаются на %s:%s (%s)", host, port,
                     ", ".join(each[0] for each in (route, ok_route) if each))  # fmt: skip
            if ok_route is not None and self.ok is not None:
                await self.ok.subscribe()

    def vk_callback_route(self) -> tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] | None:
        """The Callback API's path and handler, when [channels.vk] mode = "callback"."""
        vk = self.settings.channels.vk
        if not vk.enabled or vk.mode != "callback" or vk.group_id is None:
            return None
        from channels.vk import CHANNEL as VK_CHANNEL

        reader = next(r for r in self.readers if r.channel == VK_CHANNEL)
        handler = callback_handler(reader, group_id=vk.group_id, secret=vk.callback_secret,
                                   confirmation=vk.confirmation)  # fmt: skip
        return vk.callback_path, handler

    def ok_webhook_route(self) -> tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] | None:
        """OK's Bot API webhook path and handler, when [channels.ok] has a webhook_url and a Bot API key."""
        if self.ok is None or self.ok.bot is None or not self.ok.settings.webhook_url:
            return None
        reader = next(r for r in self.readers if r.channel == self.ok.source.channel)
        return self.ok.settings.webhook_path, ok_webhook_handler(reader, secret=self.ok.settings.webhook_secret)

    async def _start_workers(self) -> None:
        self._halted = asyncio.Event()
        await self._known_max_identities()
        await self.pool.start()
        # The networks' readers feed the same workers: started with them (polling or webhook), stopped first.
        self._reading = tuple(
            asyncio.create_task(reader.run(), name=f"channel-{reader.channel}") for reader in self.readers
        )
        if self.max_citizens is not None:  # what it got but did not save, MAX gives again (no marker sent)
            self.max_citizens.task = asyncio.create_task(self.max_citizens.poller.run(), name="max-citizens")
        if self.publisher is not None:
            await self.publisher.start()  # takes over what a dead run was sending

    async def _known_max_identities(self) -> None:
        """A MAX bot's own id comes from ``GET /me`` (bot/max_session.py), and the handlers need it (a reply to
        the bot, a press on its card): before the workers take a row left from a previous run, ask for it, or
        every such row would fail for want of it and count its tries. Waits out MAX being unreachable."""
        citizens = self.max_citizens.bot if self.max_citizens is not None else None
        for bot in (b for b in (self.bot, citizens) if isinstance(b, MaxBot)):
            backoff = Backoff(self.pacing)
            while bot.max_session.bot_id is None:
                try:
                    await bot.get_me()
                except TelegramAPIError as exc:
                    log.warning("MAX: не удалось узнать id бота (GET /me): %s; повтор", exc)
                    await backoff.wait()

    async def run_polling(self) -> None:
        """Poll until `stop_polling()` (or `close()`)."""
        await self.start_polling()
        halted = self._halted
        if halted is not None:  # (None: stopped already, the stop having waited for the start)
            await halted.wait()

    async def stop_polling(self, steps: StopSteps | None = None) -> None:
        """Stop at once: the long poll is cancelled (what it got but did not save, Telegram keeps: it was not
        confirmed), the handlers in flight get `stop_grace_seconds`, then are cancelled; their rows stay
        unfinished and the next start handles them again. Every wait is bounded (bot/shutdown.py)."""
        steps = steps if steps is not None else StopSteps()
        async with self._lifecycle:
            await self._stop_polling(steps)

    async def _stop_polling(self, steps: StopSteps) -> None:
        poll, self._poll = self._poll, None
        with steps.step("опрос Telegram"):
            await cancel_and_wait([poll] if poll is not None else [])
        site, self._callback_site = self._callback_site, None
        if site is not None:  # VK gets no «ok» now: it delivers again to the next run
            with steps.step("приём ВКонтакте"):
                await site.cleanup()
        reading, self._reading = self._reading, ()
        if self.max_citizens is not None and self.max_citizens.task is not None:
            reading += (self.max_citizens.task,)
            self.max_citizens.task = None
        # What a reader got but did not save, the network gives again from the saved cursor.
        with steps.step("чтение сетей"):
            await cancel_and_wait(reading)
        if self.publisher is not None:  # a post in flight stays «sending»: the next start posts it once
            with steps.step("публикация"):
                await self.publisher.stop()
        if self._halted is None:
            return
        with steps.step("обработчики"):
            await self.pool.stop(self.settings.telegram.stop_grace_seconds)
        # The drains the last handlers woke: a short grace, then cut (the outbox keeps what is not sent).
        busy = self.delivery.busy()
        if busy:
            with steps.step("доставка"):
                _done, late = await asyncio.wait(busy, timeout=DRAIN_GRACE_SECONDS)
                await cancel_and_wait(late)
        self._halted.set()
        self._halted = None

    async def run_webhook(self, stop: asyncio.Event) -> None:
        """Telegram posts updates here; each is answered 200 only once it is in the inbox (503 while the
        database is down, so Telegram retries), and the same workers handle them."""
        tg = self.settings.telegram
        if not tg.webhook_url or not tg.webhook_secret:
            raise ConfigError("telegram.webhook_url и telegram.webhook_secret обязательны в режиме webhook")
        from aiohttp import web

        web_app = web.Application()
        web_app.router.add_post("/telegram", webhook_handler(self.inbox, self.pool, tg.webhook_secret))
        route = self.vk_callback_route()
        if route is not None:  # one web server: VK's events come in beside Telegram's
            web_app.router.add_post(*route)
        ok_route = self.ok_webhook_route()
        if ok_route is not None:  # and OK's messages
            web_app.router.add_post(*ok_route)
        runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=CANCEL_WAIT_SECONDS)
        await runner.setup()
        await self._start_workers()
        await web.TCPSite(runner, tg.webhook_host, tg.webhook_port).start()
        allowed = self.dispatcher.resolve_used_update_types()
        await self.bot.set_webhook(tg.webhook_url, secret_token=tg.webhook_secret, allowed_updates=allowed)
        if ok_route is not None and self.ok is not None:
            await self.ok.subscribe()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            await self.stop_polling()


def check_max_settings(settings: Settings) -> None:
    """`[messenger] kind = "max"`: the token is set, and nothing asks for what only Telegram has."""
    if not settings.messenger.max_token:
        raise ConfigError("messenger.max_token: не задан токен бота MAX (задайте OTKLIK_MESSENGER__MAX_TOKEN)")
    if settings.telegram.mode != "polling":
        raise ConfigError(
            'messenger.kind = "max": бот MAX опрашивает платформу сам, telegram.mode = "webhook" для него '
            "не поддерживается"
        )
    if settings.channels.telegram.enabled:
        raise ConfigError('channels.telegram: канал Telegram читает бот Telegram, а messenger.kind = "max"')


def _max_bot(settings: Settings, engine: AsyncEngine) -> tuple[Bot, TelegramSender]:
    """The MAX bot (issue 15): message ids kept in max_messages; MAX's limits in the sender (30 requests a
    second in all, no per-chat rule documented [?], 4,000 characters a message)."""
    m = settings.messenger
    session = MaxSession(m.max_token, MaxMessageMap(engine), api_url=m.max_api_base)
    session.middleware(FloodWaitMiddleware())
    bot = MaxBot(session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    per_second = MAX_REQUESTS_PER_SECOND if m.max_rate_limits else 10_000
    sender = TelegramSender(
        bot, per_second=per_second, per_chat_interval=0.0, group_per_minute=1_000_000, text_limit=MAX_TEXT_LIMIT,
        keyboard_limits=MAX_KEYBOARD_LIMITS,
    )
    return bot, sender


def _max_channel(settings: Settings) -> MaxChannelConfig | None:
    mx = settings.channels.max
    problem = max_channel_problem(settings)
    if problem is not None:
        raise ConfigError(problem)
    if not mx.enabled:
        return None
    own_bot = settings.messenger.kind != "max"  # no staff router behind it: «Начать» is greeted
    from channels.max import MaxChannelConfig

    return MaxChannelConfig(group_id=mx.group_id, direct_messages=mx.direct_messages, greet_any_start=own_bot)


def _max_citizens_bot(settings: Settings, engine: AsyncEngine) -> MaxBot:
    """The citizens' own MAX bot (the staff on Telegram): its message ids kept in max_messages, as the staff's
    would be; its calls (acknowledgements, answers one at a time) stay far below MAX's 30 a second."""
    mx = settings.channels.max
    session = MaxSession(mx.token, MaxMessageMap(engine), api_url=mx.api_base)
    session.middleware(FloodWaitMiddleware())
    return MaxBot(session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def _telegram_channel(settings: Settings) -> ChannelConfig | None:
    tg = settings.channels.telegram
    if not tg.enabled:
        return None
    if tg.group_id is None:
        raise ConfigError("channels.telegram.group_id: не указан id группы обсуждения канала")
    from channels.telegram import ChannelConfig

    return ChannelConfig(group_id=tg.group_id, channel_id=tg.channel_id, direct_messages=tg.direct_messages)


def _channel_sources(settings: Settings) -> list[tuple[VkLongPoll, Callable[[], Awaitable[list[dict[str, object]]]] | None]]:
    """The enabled networks' feeds, each with its reconciliation sweep (None without a service key)."""
    vk = settings.channels.vk
    if not vk.enabled:
        return []
    # VK's client stack (vk_api, requests, urllib3: ~4 MiB) is imported only when VK is on (issue 16).
    from channels.vk import VkLongPoll, VkReconciler, make_api
    from channels.vk_session import vk_session

    if vk.group_id is None:
        raise ConfigError("channels.vk.group_id: не указан номер сообщества ВКонтакте")
    if not vk.token:
        raise ConfigError(f"channels.vk.token: не задан ключ доступа сообщества (задайте {VK_TOKEN_ENV})")
    if vk.mode == "callback" and not vk.callback_secret:
        raise ConfigError(f"channels.vk.callback_secret: не задан секретный ключ Callback API ({VK_CALLBACK_SECRET_ENV})")
    if vk.mode == "callback" and not vk.confirmation:
        raise ConfigError(f"channels.vk.confirmation: не задана строка подтверждения Callback API ({VK_CONFIRMATION_ENV})")
    source = VkLongPoll(make_api(vk.token, vk_session(vk.api_base)), vk.group_id, wait=vk.wait_seconds)
    if not vk.service_key:
        log.warning("ВКонтакте: не задан сервисный ключ: сверки не будет, пропущенное при перерыве не найдётся")
        return [(source, None)]
    reconciler = VkReconciler(make_api(vk.service_key, vk_session(vk.api_base)), vk.group_id)
    return [(source, reconciler.sweep)]


def _vk_inbox_key() -> Callable[[ChannelItem], str]:
    from channels.vk import inbox_key

    return inbox_key


def _pos_mail(settings: Settings, inbox: Inbox) -> PosMailReader | None:
    mail = settings.channels.pos_mail
    if not mail.enabled:
        return None
    problem = mailbox_problem(mail)
    if problem is not None:
        raise ConfigError(problem)
    return PosMailReader(ImapMailbox(mailbox_config(mail)), inbox,
                         max_attachment_bytes=int(mail.attachment_max_mb * 1_000_000), batch=mail.batch)  # fmt: skip


def _discard(handler: Callable[[InboxRow], Awaitable[object]]) -> RowHandler:
    async def run(row: InboxRow) -> None:
        await handler(row)

    return run


def _publishers(settings: Settings) -> PublisherRegistry:
    """The networks approved answers go back to: VK when [channels.vk] is on (its community token answers)."""
    registry = PublisherRegistry()
    vk = settings.channels.vk
    if vk.enabled and vk.group_id is not None and vk.token:
        from channels.vk import VkPublisher, make_api
        from channels.vk_session import vk_session

        registry.register(VkPublisher(make_api(vk.token, vk_session(vk.api_base)), vk.group_id))
    return registry


def kept_files_of(repo: SqlRepository) -> Callable[[str], Awaitable[list[ChannelFile]]]:
    async def read(item_key: str) -> list[ChannelFile]:
        async with repo.reading() as tx:
            return await tx.channel_files(item_key)

    return read


async def warn_about_setup(app: OtklikApp) -> None:
    """What `otklik check` would say about the chats and the calendar, as warnings: the bot runs anyway."""
    try:
        me = await app.bot.get_me()
        findings = await chat_findings(app.bot, me, app.settings)
        findings += await telegram_channel_findings(app.bot, me, app.settings)
    except Exception as exc:  # the Bot API answered a moment ago; a hiccup now is no reason to stop
        log.warning("чаты не проверены: %s", exc)
        findings = []
    findings += calendar_findings(app.settings, app.clock.now().date())
    for finding in findings:
        if finding.level is not Level.OK:
            log.warning("%s (проверка: otklik check)", finding.text)
    for level, text in await ok_findings(app.settings):  # also renews OK's long-lived token at start
        if level != "ok":
            log.warning("%s (проверка: otklik check)", text)


async def serve(settings: Settings) -> None:
    # Issue 8: a broken set-up ends with one line and exit 2 before anything is written; one poller a database.
    await check_setup(settings)
    app = await OtklikApp.build(settings, migrate=migrate_in_child)
    lock = PollerLock(app.engine, app.clock, tz=app.calendar.tz)
    try:
        await lock.acquire()
    except BaseException:
        await app.close()
        raise
    stop = asyncio.Event()
    steps: StopSteps | None = None
    # The watchdog counts from the signal: the handlers' grace, then a short margin for the rest (bot/shutdown.py).
    hard_stop = HardStop(settings.telegram.stop_grace_seconds + STOP_MARGIN_SECONDS, lambda: steps)

    def request_stop() -> None:
        stop.set()
        hard_stop.arm()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)
    try:
        lock.start_heartbeat(on_lost=request_stop)
        await app.start_background()
        await warn_about_setup(app)
        log.info("Отклик запущен (%s)", settings.telegram.mode)
        if settings.telegram.mode == "webhook":
            await app.run_webhook(stop)
        else:
            await app.start_polling()
            await stop.wait()
    finally:
        steps = StopSteps()
        await app.stop_polling(steps)
        with steps.step("блокировка опроса"):
            await lock.release()
        await app.close(steps)
        steps.report()
        log.info("Отклик остановлен")
    lock.raise_if_lost()
    lock.raise_if_lost()


async def migrate_in_child(url: str) -> None:
    """The schema to the head with Alembic in a child process (storage/migrate.py, issue 16): the serving process
    never holds it. A failed migration stops the start with one line; its traceback is logged with --verbose
    and shown by `otklik db upgrade`."""
    try:
        await upgrade_in_child(url)
    except MigrationFailed as exc:
        log.debug("миграция схемы не удалась:\n%s", exc.details)
        why = exc.error or f"процесс миграции завершился с кодом {exc.code}"
        raise StartupError(
            f"база данных: не удалось применить миграции схемы ({why}); подробности покажет otklik db upgrade"
        ) from None


# The libraries' own loggers: their INFO lines (aiogram's «Update id=… is handled», APScheduler's «Running job»
# and «executed successfully» every couple of seconds, Alembic's «Context impl») say nothing to an administrator.
LIBRARY_LOGGERS = ("aiogram", "apscheduler", "aiosqlite", "sqlalchemy", "alembic", "asyncio", "aiohttp")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(*, verbose: bool = False) -> None:
    """Otklik's own lines at INFO (a line per business event: bot/events.py), the libraries at WARNING;
    `--verbose`: ours at DEBUG and the libraries at INFO."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT, force=True)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)


def run_app(settings: Settings, *, verbose: bool = False) -> int:
    configure_logging(verbose=verbose)
    asyncio.run(serve(settings))
    return 0
